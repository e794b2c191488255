/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where the stalls came from: the user stacks of timed stalls (FL_EV_STACK), symbolized against
 * the traced processes' mappings and aggregated per cause and call site.
 */
#ifndef FL_STALLSTACK_H
#define FL_STALLSTACK_H

#include "faultline.h"
#include <stdio.h>

struct model;
struct jw;

void stallstack_add(struct model *m, const struct fl_stack *e);
/* After the stalls are sorted and the maps loaded (model_finish). */
void stallstack_finish(struct model *m);
void stallstack_free(struct model *m);
void stallstack_text(const struct model *m, FILE *f);
/* "stall_stacks": {...}, or null when the recording has no stall stacks. */
void stallstack_json(const struct model *m, struct jw *w);

#endif
