/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where the stalls came from: the user stacks of timed stalls (FL_EV_STACK), symbolized against
 * the traced processes' mappings and aggregated per cause and call site.
 */
#ifndef FL_STALLSTACK_H
#define FL_STALLSTACK_H

#include "faultline.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/*
 * Per stall of m->stall_list (after stallstack_finish): the index of its call site, or -1 when it
 * has none (no stack, a fault, or beyond the sites kept). NULL without stall stacks.
 */
const int32_t *stallstack_sites_of(const struct model *m);
/* Call site K: its cause, its index among that cause's sites in stallstack_json, its depth. */
struct stall_site_ref {
	uint16_t cause;
	size_t index, nframes;
};
bool stallstack_site(const struct model *m, size_t k, struct stall_site_ref *out);
/* Frame FRAME (< nframes) of call site K, as the report names it: "sym (module)" or "module+0x..".
 */
void stallstack_frame_name(const struct model *m, size_t k, size_t frame, char *buf, size_t len);

#endif
