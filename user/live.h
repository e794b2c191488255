/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Live views (top, serve): snapshots of the in-kernel aggregation (per-CPU log2 histograms per
 * cause, per-thread counters, per-CPU counters), read once per interval, and the arithmetic on
 * two snapshots. Only request capture goes through the ring buffer for these views (livereq.h).
 */
#ifndef FL_LIVE_H
#define FL_LIVE_H

#include "faultline.h"
#include "session.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct session_opts;

struct live_thread {
	uint32_t tid;
	struct fl_tstat st;
};

struct live_snap {
	uint64_t ts_ns; /* CLOCK_MONOTONIC when read */
	uint64_t hist[FL_CAUSE_MAX][FL_HIST_SLOTS];
	uint64_t counters[FL_CNT_MAX];
	uint64_t alloc_hist[FL_AF_MAX][FL_HIST_SLOTS]; /* --alloc=full, per function */
	uint64_t alloc_ns[FL_AF_MAX];
	struct live_thread *threads; /* sorted by tid */
	size_t nthreads, cap;
	uint64_t bpf_run_ns, bpf_run_cnt;		   /* over every program */
	struct session_prog_stat progs[SESSION_MAX_PROGS]; /* the same order at every read */
	int nprogs;
	bool bpf_stats_on;    /* the kernel counts BPF run time (else run_ns stays 0) */
	uint64_t self_cpu_ns; /* faultline's own user+sys time */
};

/* Reads every aggregation map once. 0 or -errno. */
int live_snap_read(struct session *s, struct live_snap *snap);
void live_snap_free(struct live_snap *snap);
void live_snap_move(struct live_snap *dst, struct live_snap *src);
const struct live_thread *live_snap_find(const struct live_snap *snap, uint32_t tid);
/*
 * What thread CUR did since PREV (NULL: since it appeared). An entry the LRU map evicted and
 * re-created counts from zero again, so a counter that went backwards is taken whole.
 */
void live_thread_delta(const struct live_snap *prev, const struct live_thread *cur,
		       struct fl_tstat *out);
/* Sum of what every thread did between PREV and CUR (threads gone from CUR are not lost:
 * their last values were counted at the previous step). */
void live_threads_delta_sum(const struct live_snap *prev, const struct live_snap *cur,
			    struct fl_tstat *out);
/* Histogram difference CUR - PREV for one cause (per-CPU sums only grow). */
void live_hist_delta(const struct live_snap *prev, const struct live_snap *cur, int cause,
		     uint64_t *out);

/* What the header shows about a target process. */
struct live_proc {
	int pid;
	char comm[FL_COMM_LEN + 16];
	uint64_t rss_kb, anon_huge_kb;
	uint64_t uptime_s;
	char allocator[16];
};

/* Reads /proc/PID/{comm,status,smaps_rollup,stat}; with WITH_MAPS also the allocator. */
int live_proc_read(int pid, struct live_proc *p, bool with_maps);
/* THP "enabled" and "defrag" modes from sysfs ("-" when missing). */
void live_thp_modes(char *enabled, size_t elen, char *defrag, size_t dlen);

/* PID exists and has not exited (a zombie has). */
bool live_pid_running(int pid);
/* /proc/PID/cmdline with NULs as spaces, into BUF. 0 or -errno. */
int live_cmdline(int pid, char *buf, size_t len);
/*
 * The oldest process whose command line contains PATTERN (like pgrep -o -f), skipping faultline
 * itself and its ancestors (whose command lines carry the pattern as an argument); a launcher
 * (a shim running the program without exec) gives way to its one child when that matches too.
 * 0 if none.
 */
int live_match(const char *pattern);

/* Interval "1", "0.2", "1.5s", "500ms" -> ms (10 ms .. 1 hour). 0 or -EINVAL. */
int live_parse_interval(const char *s, uint64_t *out_ms);
struct uprobes;
struct livereq;
/*
 * Opens the session of a live view: in-kernel aggregation, no fault or stall events; the ring
 * buffer carries only the targets' TCP traffic, read into REQ for the request counts
 * (user/livereq.c; none with O->wire_off); allocator uprobes with --alloc=full, pinned-memory
 * uprobes (--cuda auto). O is adjusted in place. 0 or -errno (with a message).
 */
int live_session_open(struct session *s, struct session_opts *o, struct uprobes **up,
		      struct livereq *req);
/* A target added after open (serve --match): probe its allocator and CUDA libraries too. */
void live_session_added(struct uprobes *up, int pid);
void live_session_close(struct session *s, struct uprobes *up, struct livereq *req);

#endif
