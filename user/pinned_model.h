/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pinned-memory model: every CUDA pinned-memory call (runtime and driver, --cuda=auto) in
 * time order, the size an unregister/free undid (from its register/alloc), totals per function.
 * Held by the allocator model (m->alloc->pinned); printed by user/pinned_report.c.
 */
#ifndef FL_PINNED_MODEL_H
#define FL_PINNED_MODEL_H

#include "faultline.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- pinned memory -----------------------------------------------------------------------------
 */

/* A pinned-memory call and the size it concerns (for unregister/free: of the matching call). */
struct cuda_call {
	struct fl_cuda ev;
	uint64_t size;
	bool size_known;
	bool undone; /* a register/alloc that a later unregister/free matched */
};

struct cuda_fn_stat {
	uint64_t calls, failed, sized, bytes, total_ns, max_ns;
};

struct pinned_model {
	struct cuda_call *calls; /* in time order */
	size_t ncalls, cap;
	struct cuda_fn_stat fn[FL_CF_MAX];
};

void pinned_model_add(struct pinned_model *p, const struct fl_cuda *e);
/* Once every event is read: sorts, matches unregister/free to their register/alloc, sums. */
void pinned_model_finish(struct pinned_model *p);
void pinned_model_free(struct pinned_model *p);

bool cuda_is_driver(uint32_t fn);
bool cuda_is_register(uint32_t fn);
bool cuda_is_alloc(uint32_t fn);

#endif
