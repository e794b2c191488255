/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The periodic look at the targets' /proc/PID/maps during record (trailer "maps_periodic"):
 * mappings made by paths faultline does not trace (--alloc=off, io_uring, an exec whose look
 * was missed) get their file's name from it. It reads in steps of at most MAPSLOOK_STEP bytes
 * between two polls of the ring buffer, one target at a time, so that a process with tens of
 * thousands of mappings never holds the consumer loop up for long; a look identical to the
 * process's previous one is not kept again.
 */
#ifndef FL_MAPSLOOK_H
#define FL_MAPSLOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jw;

#define MAPSLOOK_STEP (32u << 10)
#define MAPSLOOK_DEFAULT_NS (10 * 1000000000ull)

struct mapslook {
	uint64_t every_ns; /* 0: off */
	uint64_t next_ns;  /* when the next round begins */
	int *pids;	   /* this round's targets */
	size_t npids, at;
	int fd; /* the maps being read, -1: none */
	char *buf;
	size_t len, cap;
	uint64_t ts_ns; /* when the read of buf began (CLOCK_MONOTONIC, the events' clock) */
	struct mapslook_rec {
		int pid;
		uint64_t ts_ns;
		char *maps;
	} * recs;
	size_t nrecs, cap_recs;
	uint64_t bytes_kept;
	/* its cost, in the trailer: what a reader or a test can check */
	uint64_t reads, steps, step_max_ns, total_ns, skipped_same, bytes_read, largest;
};

void mapslook_init(struct mapslook *l, uint64_t every_ns);
/* True when a round is due at NOW and none is under way: the caller then gives the targets. */
bool mapslook_due(const struct mapslook *l, uint64_t now_ns);
void mapslook_begin(struct mapslook *l, const int *pids, size_t n, uint64_t now_ns);
/* One step of the round under way (nothing when none): at most MAPSLOOK_STEP bytes read. */
void mapslook_step(struct mapslook *l);
/* "maps_periodic": [{pid, ts_ns, maps}...] and "maps_periodic_cost": {...} (trailer members). */
void mapslook_json(struct mapslook *l, struct jw *w);
void mapslook_free(struct mapslook *l);

#endif
