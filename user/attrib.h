/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attribution arithmetic: which stalls overlap a request's window, for how long, how many
 * faults fell in it, and how strongly two series move together. Windows and stalls are
 * half-open intervals [start, end) in CLOCK_MONOTONIC ns.
 */
#ifndef FL_ATTRIB_H
#define FL_ATTRIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model.h"

struct win_attr {
	uint64_t stall_ns[FL_CAUSE_MAX]; /* overlap with the window, per cause */
	uint64_t total_ns;               /* sum over causes (stalls of several threads add up) */
	uint32_t nstalls;                /* stalls that overlapped */
	uint64_t faults;                 /* faults of any traced thread in the window */
	/*
	 * The part of total_ns spent by other processes than the window's own (its pid given to
	 * attribute_window_pid; all 0 without one): in vLLM V1 the request arrives in the API
	 * process and stalls in the engine process. other_pid: the one with the most of it.
	 */
	uint64_t other_ns;
	uint32_t other_stalls, other_pid;
};

/* One process's share of the stalls overlapping a window (window_by_process). */
struct proc_attr {
	uint32_t pid;
	uint32_t nstalls;
	uint64_t total_ns;
	uint64_t stall_ns[FL_CAUSE_MAX];
};

/* Length of [a0, a1) ∩ [b0, b1); 0 when they only touch or an interval is empty. */
uint64_t overlap_ns(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1);
/*
 * Whether stall S counts for window [a, b): a positive overlap, or a zero-length stall that
 * starts inside the window. An empty window (a == b) overlaps nothing.
 */
bool stall_overlaps(const struct stall_rec *s, uint64_t a, uint64_t b);
/* How many of the sorted timestamps T[0..n) lie in [a, b). */
size_t count_in_window(const uint64_t *t, size_t n, uint64_t a, uint64_t b);
/* Index of the first stall (sorted by start) that can overlap a window starting at A. */
size_t stalls_from(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a);
void attribute_window(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
		      const uint64_t *fault_ts, size_t nfaults, uint64_t a, uint64_t b,
		      struct win_attr *out);
/*
 * attribute_window() for a window of process PID (0: unknown, no split), splitting the stall
 * time into that process's and other processes' (other_ns).
 */
void attribute_window_pid(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
			  const uint64_t *fault_ts, size_t nfaults, uint64_t a, uint64_t b,
			  uint32_t pid, struct win_attr *out);
/*
 * The stalls overlapping [a, b) summed per process into OUT[0..max), the most stall time
 * first; returns how many processes (at most MAX: the rest are left out, which *dropped says
 * when not NULL).
 */
size_t window_by_process(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a,
			 uint64_t b, struct proc_attr *out, size_t max, bool *dropped);
/* Correlation coefficients; NAN when fewer than 3 points or a series is constant. */
double corr_pearson(const double *x, const double *y, size_t n);
double corr_spearman(const double *x, const double *y, size_t n);

#endif
