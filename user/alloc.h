/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The allocator and pinned-memory part of the model: memory syscalls (--alloc=lite), per-function
 * counts and histograms kept in the kernel (--alloc=full, from the trailer), slow calls, the
 * libraries and symbols probed, RSS trend, and every CUDA pinned-memory call. Printed as the
 * report's "Allocator" and "Pinned memory" sections and the JSON keys "alloc" and "pinned".
 */
#ifndef FL_ALLOC_H
#define FL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct model;
struct jw;

/* From model.c's add_event: FL_EV_MEMSYS, FL_EV_ALLOC, FL_EV_CUDA and FL_EV_RSS (length checked). */
void alloc_model_add(struct model *m, const void *ev);
/* Once every event and the trailer are read: resolves callers, sorts. */
void alloc_model_finish(struct model *m);
void alloc_model_free(struct model *m);

void alloc_print_text(const struct model *m, FILE *f);
void pinned_print_text(const struct model *m, FILE *f);
/* The values of the JSON keys "alloc" and "pinned" (docs/json-schema.md). */
void alloc_print_json(const struct model *m, struct jw *w);
void pinned_print_json(const struct model *m, struct jw *w);

/* A timed allocator call (the slow ones kept) or pinned-memory call, for the timeline views. */
struct timed_call {
	uint64_t ts_ns, dur_ns, size;
	uint32_t pid, tid;
	const char *name; /* malloc, cudaHostRegister, ... */
	bool pinned;
	int64_t ret; /* pinned calls: the CUDA status; 0 for allocator calls */
};

/* Calls FN for each of them (allocator calls first, then pinned ones); returns how many. */
size_t alloc_timed_calls(const struct model *m, void (*fn)(const struct timed_call *, void *),
			 void *arg);

#endif
