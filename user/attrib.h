/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attribution arithmetic: which stalls overlap a request's window, for how long, how many
 * faults fell in it, and how strongly two series move together. Windows and stalls are
 * half-open intervals [start, end) in CLOCK_MONOTONIC ns.
 */
#ifndef FL_ATTRIB_H
#define FL_ATTRIB_H

#include "model.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who spent a stall or took a fault, seen from the thread that answered a request. */
enum who { WHO_OWN_THREAD = 0, WHO_OTHER_THREADS, WHO_OTHER_PROCESSES, WHO_MAX };
extern const char *const who_names[WHO_MAX]; /* "own_thread", "other_threads", ... */

struct win_attr {
	uint64_t stall_ns[FL_CAUSE_MAX]; /* overlap with the window, per cause */
	uint64_t total_ns;		 /* sum over causes (stalls of several threads add up) */
	uint32_t nstalls;		 /* stalls that overlapped */
	uint64_t faults;		 /* faults of any traced thread in the window */
	/*
	 * The part of total_ns spent by other processes than the window's own (its pid given to
	 * attribute_window_thread; all 0 without one): in vLLM V1 the request arrives in the API
	 * process and stalls in the engine process. other_pid: the one with the most of it.
	 */
	uint64_t other_ns;
	uint32_t other_stalls, other_pid;
	/*
	 * Stall time and faults split by who (attribute_window_thread, for a window whose
	 * answering thread is known): that thread, other threads of its process, other
	 * processes. by_thread false: not split (no thread known). faults_split false: the
	 * per-thread fault buckets cannot split this window's faults (they were capped).
	 */
	bool by_thread, faults_split;
	uint64_t who_ns[WHO_MAX];
	uint32_t who_stalls[WHO_MAX];
	uint64_t who_faults[WHO_MAX];
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
/* How many of the faults FT (sorted: model_finish; NULL: none) happened in [a, b). */
uint64_t fault_times_count(const struct fault_times *ft, uint64_t a, uint64_t b);
/* Index of the first stall (sorted by start) that can overlap a window starting at A. */
size_t stalls_from(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a);
/*
 * The stalls and faults of window [a, b). PID: the process whose window it is (0: unknown, no
 * split), splitting the stall time into that process's and other processes' (other_ns). TID: the
 * thread that answered it (0: no split by thread), also splitting stall time and faults into
 * that thread's, other threads' of PID and other processes' (who_*). FB[0..nfb): the model's
 * per-thread 1 ms fault buckets, sorted by fault_buckets_sort(); CAPPED: some faults were left
 * out of them. The fault split is exact for the milliseconds wholly inside the window and
 * prorated in the two at its edges; it always adds up to out->faults, the exact count.
 */
void attribute_window_thread(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
			     const struct fault_times *ft, const struct fault_bucket *fb,
			     size_t nfb, bool capped, uint64_t a, uint64_t b, uint32_t pid,
			     uint32_t tid, struct win_attr *out);
/* attribute_window_thread() of a window of no known process or thread. */
void attribute_window(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
		      const struct fault_times *ft, uint64_t a, uint64_t b, struct win_attr *out);
/* Sorts the fault buckets by millisecond, for attribute_window_thread(). */
void fault_buckets_sort(struct fault_bucket *fb, size_t n);
/*
 * The stalls overlapping [a, b) summed per process into OUT[0..max), the most stall time
 * first; returns how many processes (at most MAX: the rest are left out, which *dropped says
 * when not NULL).
 */
size_t window_by_process(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a,
			 uint64_t b, struct proc_attr *out, size_t max, bool *dropped);
/* One call site's share of a window's stalls, spent by WHO (WHO_MAX: no thread known). */
struct site_attr {
	uint32_t site;	/* the call site (stallstack_sites_of's index) */
	uint16_t cause; /* the stalls' cause (a site has one) */
	enum who who;	/* whose stalls, seen from the window's thread */
	uint32_t count; /* stalls */
	uint64_t ns;	/* their overlap with the window */
};
/*
 * The stalls overlapping [a, b) that have a call site (SITE_OF[i] >= 0 for stall i; SITE_OF may
 * be NULL: none) summed per site and who into *OUT (allocated; the caller frees it), the most
 * time first. PID and TID as attribute_window_thread (either 0: who is WHO_MAX). Returns how
 * many, or -ENOMEM (*OUT NULL).
 */
int window_by_site(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, const int32_t *site_of,
		   uint64_t a, uint64_t b, uint32_t pid, uint32_t tid, struct site_attr **out);
/* Correlation coefficients; NAN when fewer than 3 points or a series is constant. */
double corr_pearson(const double *x, const double *y, size_t n);
double corr_spearman(const double *x, const double *y, size_t n);

#endif
