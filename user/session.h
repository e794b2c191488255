/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A tracing session: the BPF skeleton configured between open and load, the probe plan, the
 * target set and the ring buffer. record, top and serve each run one.
 */
#ifndef FL_SESSION_H
#define FL_SESSION_H

#include "probes.h"
#include <stdbool.h>
#include <stdint.h>

#define FL_MAX_TARGETS 64

struct ring_buffer;
struct faultline_bpf;

enum fl_alloc_mode { FL_ALLOC_LITE = 0, FL_ALLOC_OFF, FL_ALLOC_FULL, FL_ALLOC_SLOW };
enum fl_cuda_mode { FL_CUDA_AUTO = 0, FL_CUDA_OFF };

struct session_opts {
	int pids[FL_MAX_TARGETS];
	int npids;
	bool children;
	bool all;
	bool emit_events; /* record: every event into the ring buffer */
	bool aggregate;	  /* top/serve: in-kernel histograms and per-thread counters */
	uint64_t ringbuf_bytes;
	const char *probes;	/* --probes overrides */
	int alloc_mode;		/* enum fl_alloc_mode: --alloc (default lite) */
	int cuda_mode;		/* enum fl_cuda_mode: --cuda (default auto) */
	uint64_t alloc_slow_ns; /* --alloc-slow: slower allocator calls become events (0: 50 us) */
	bool wire_off;		/* --wire=off: no request capture on TCP sockets */
	bool emit_net;		/* top/serve: request capture (FL_EV_NET) without emit_events */
	int fault_events;	/* enum fl_fault_events: record --fault-events (0: all) */
	/* --bpf-stats: BPF_STATS_RUN_TIME while the session runs. It is machine-wide: every BPF
	 * program then reads the clock before and after each run (~35 ns a run on a KVM guest). */
	bool bpf_stats;
};

struct session {
	struct session_opts opts;
	struct faultline_bpf *skel;
	struct probe_plan plan;
	struct ring_buffer *rb;
	int *cpu_ring_fds; /* the per-CPU fault rings, by CPU (-1: none; see cpu_rings_create) */
	uint64_t cpu_ring_bytes; /* their size; 0: no per-CPU rings */
	int stats_fd;		 /* BPF run-time stats stay on while this is open */
	int ncpus;
};

typedef int (*session_event_fn)(void *ctx, void *data, size_t size);

/*
 * Opens, configures and loads the BPF object (a concern the kernel refuses is dropped and the
 * load retried; a --probes choice that fails stops the session), adds the -p targets and
 * attaches. Privileges are not checked up front: a load refused with EPERM or EACCES is reported
 * as needing root or CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN.
 */
int session_open(struct session *s, const struct session_opts *o);
/* Adds PID (and, with children, its current descendants) to the in-kernel target set. */
int session_add_target(struct session *s, int pid);
int session_ring_open(struct session *s, session_event_fn fn, void *ctx);
/* Polls the ring buffer for up to TIMEOUT_MS and consumes what is there. */
int session_poll(struct session *s, int timeout_ms);
/* Removes targets that no longer exist or are zombies (exits the kernel did not report). */
void session_prune_dead(struct session *s);
uint64_t session_counter(struct session *s, int idx);
/*
 * Faults counted so far, [0] user-mode, [1] kernel-mode: the counters map and the fault
 * program's per-CPU value (fault_cpu), each read once. session_counter() of either is one of
 * these; a caller that needs both asks here.
 */
void session_fault_totals(struct session *s, uint64_t out[2]);
/*
 * The fault runs still open in the kernel (--fault-events=runs or off), each passed to FN as an
 * FL_EV_FAULT_RUN, and the slots emptied. Only once the programs are detached: a fault running
 * at the same time would be lost or counted twice. Returns the number of runs, or -errno.
 */
int session_fault_counts(struct session *s, uint64_t out[2]);
int session_fault_runs(struct session *s, void (*fn)(void *ctx, void *data, size_t size),
		       void *ctx);
/* Sum over faultline's programs of BPF run time and runs. */
void session_prog_stats(struct session *s, uint64_t *run_ns, uint64_t *run_cnt);

#define SESSION_MAX_PROGS 64
/* One of faultline's BPF programs: its cumulative run time and runs (bpf_stats). */
struct session_prog_stat {
	char name[40];
	uint64_t run_ns, run_cnt;
};
/*
 * Every loaded program, in the object's order (the same at each call of a session): the number
 * filled in OUT, at most MAX.
 */
int session_prog_stats_each(struct session *s, struct session_prog_stat *out, int max);
/*
 * Whether the kernel counts BPF run time now: faultline turned it on (BPF_ENABLE_STATS, for as
 * long as it runs) or kernel.bpf_stats_enabled is 1. Without, run_time_ns stays 0.
 */
bool session_bpf_stats_on(const struct session *s);
void session_close(struct session *s);
/* Whether PID exists (also one we may not signal); prints nothing: the caller says why not. */
bool pid_alive(int pid);
/* Whether PID is a kernel thread (PF_KTHREAD): no mm, nothing of its own to trace or audit. */
bool pid_is_kthread(int pid);
/*
 * When PID is a shell or an env-style launcher (bash, sh, env, sudo, nohup...) with exactly one
 * child, that child (its comm in COMM): the process doing the work. 0 otherwise.
 */
int pid_launcher_child(int pid, char *comm, size_t len);

#endif
