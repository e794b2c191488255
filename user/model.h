/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one in-memory model a recording is analysed into. Text, JSON and the other views are
 * printers of it; nothing else re-reads the events.
 */
#ifndef FL_MODEL_H
#define FL_MODEL_H

#include "faultline.h"
#include "hist.h"
#include "maptl.h"
#include "model_meta.h"
#include "procfs.h"
#include "recfile.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

extern const char *const fl_cause_names[FL_CAUSE_MAX];

struct stall_stats {
	uint64_t count, total_ns;
	uint64_t arg0_sum;		 /* reclaim: pages reclaimed (the stall's arg0), summed */
	uint64_t p50_ns, p99_ns, max_ns; /* of durs, set where the model is finished */
	struct u64vec durs;
	struct log2hist hist;
};

/* One stall of one thread, for attribution to requests. */
struct stall_rec {
	uint64_t ts_ns, dur_ns;
	uint32_t tid, pid;
	uint16_t cause, flags;
	int16_t order;
	uint64_t arg0;
};

/* Faults by the mapping that held their address when they happened (user/maptl.c). */
struct region_stat {
	char *name;
	uint64_t faults, kernel, write;
	uint64_t major;	  /* of the faults with a duration event, those that were major */
	const char *kind; /* "file", "anon", "heap", "stack", "special" or "unknown" */
	char *path;	  /* file: its path where a maps list showed it, else NULL */
	char *creator;	  /* anon mmap: the library that called mmap, else NULL */
	uint32_t kdev;	  /* file: dev (kernel s_dev) and inode, else 0 */
	uint64_t ino;
	uint64_t maps, unmaps;	       /* mmap calls that made one, munmap calls that removed one */
	uint64_t bytes_min, bytes_max; /* sizes of the mmaps that made one */
	bool before;		       /* seen in the maps at the start of the session */
	char *why;		       /* unknown: why */
};

struct pid_maps {
	int pid;
	struct vmas start, end;
};

struct rss_stat {
	int pid;
	uint64_t samples;
	int64_t min_pages, max_pages, last_pages;
	int64_t min_anon, max_anon;
	uint64_t series_ts; /* when its last point went into model.rss_series */
	/* The program the process runs last (an exec starts a new image): its samples, the first
	 * and last above 0 (a new image starts from nothing, an exiting one ends at 0), its peak.
	 */
	bool exec; /* exec'd since the last sample */
	uint64_t img_samples, img_first_ts, img_last_ts;
	int64_t img_first, img_last, img_peak;
};

#define MODEL_COLLAPSE_THREADS 8
/* RSS over time, for the timeline views: at most one point per process per RSS_SERIES_STEP_NS. */
struct rss_point {
	uint64_t ts_ns;
	int64_t pages;
	int pid;
};

/* Faults of one thread in one millisecond, for the timeline views (unordered, may repeat). */
struct fault_bucket {
	uint64_t ms; /* ts_ns / 1000000 */
	uint32_t pid, tid;
	uint64_t count;
};

/*
 * Fault times, for exact counts per window (requests, timelines). A run (FL_EV_FAULT_RUN) of
 * COUNT faults keeps its first time and span, not a time per fault: its fault I happened at
 * fault_run_ts(), as when the model spread them one by one.
 */
struct fault_time_run {
	uint64_t ts;
	uint32_t span_ns, count;
};

struct fault_times {
	struct u64vec one; /* single faults (and runs of 1 or 2), sorted by model_finish */
	struct fault_time_run *runs; /* runs of 3 or more, sorted by ts at model_finish */
	size_t nruns, cap_runs;
	uint64_t *before;  /* faults in runs[0..i), nruns + 1 of them (model_finish) */
	uint32_t max_span; /* the longest run's span: how far back a run can reach into a window */
	uint64_t n;	   /* faults in all */
	uint64_t last;	   /* the latest fault's time (model_finish) */
};

/* The time of fault I (0..count) of a run that starts at TS and spans SPAN_NS. */
static inline uint64_t fault_run_ts(uint64_t ts, uint32_t span_ns, uint32_t count, uint32_t i)
{
	return ts + (count > 1 ? (uint64_t)span_ns * i / (count - 1) : 0);
}

#define FAULT_BUCKETS_MAX (1u << 22)
#define RSS_SERIES_STEP_NS 10000000ULL
#define RSS_SERIES_MAX (1u << 20)

struct model {
	const char *path;
	/* the header and trailer, decoded (model_meta.c) */
	struct model_session session;
	struct model_probe_plan probes;
	struct model_overhead overhead;
	struct model_counters counters;
	/* their raw JSON: only for the allocator's trailer decoder (alloc.c) and diff.c */
	json_t *meta, *trailer;
	uint64_t page_size; /* the recording host's, from the header: RSS events count pages */
	struct fl_reader_status status;
	uint64_t first_ts, last_ts;
	uint64_t events, dropped;

	uint64_t faults_user, faults_kernel, faults_write;
	uint64_t fault_runs;	 /* FL_EV_FAULT_RUN events read (their faults count above) */
	uint64_t fault_runs_bad; /* malformed ones, skipped: a count or span no kernel makes */
	bool fault_addrs_off;	 /* --fault-events=off: no fault addresses nor instructions */
	bool have_fault_dur;
	uint64_t faults_major, faults_minor, faults_error, fault_retries;
	struct fault_times fault_ts; /* every fault's time: counts per request window */
	uint64_t file_faults;

	struct stall_stats stalls[FL_CAUSE_MAX];
	struct stall_rec *stall_list;
	size_t nstalls, cap_stalls;
	struct stallstacks *sstacks; /* the stalls' user stacks and call sites (stallstack.c) */

	struct region_stat *regions;
	size_t nregions, cap_regions;
	struct pid_maps *maps;
	size_t nmaps;
	struct maptl *maptl;	 /* the mapping timeline (user/maptl.c) */
	struct file_stat *files; /* file-backed faults by file, set by maptl_finish */
	size_t nfiles;
	bool maptl_syscalls;	 /* mmap & co were traced: anonymous mappings are named */
	uint64_t faults_unknown; /* faults in regions of kind "unknown" */

	struct rss_stat *rss;
	size_t nrss;
	struct rss_point *rss_series;
	size_t nrss_series, cap_rss_series;
	bool rss_series_capped; /* RSS_SERIES_MAX reached: later points dropped */
	struct fault_bucket *fault_buckets;
	size_t nfault_buckets, cap_fault_buckets;
	bool fault_buckets_capped; /* FAULT_BUCKETS_MAX reached: later faults not bucketed */

	struct alloc_model *alloc; /* user/alloc_model.c: allocator and pinned-memory calls */
	struct faultsite_model *faultsite; /* user/faultsite.c: faults by code (the fault's ip) */

	uint64_t kcompactd_wakes, lock_holds, lock_hold_max_ns;
	uint64_t collapses_ok; /* khugepaged/MADV_COLLAPSE stalls whose collapse succeeded */
	/* FL_CAUSE_KHUGEPAGED split by who did it: the khugepaged daemon, or a thread's own
	 * MADV_COLLAPSE (the threads that asked, the first MODEL_COLLAPSE_THREADS of them) */
	struct collapse_stats {
		uint64_t count, total_ns, ok;
	} collapse_daemon, collapse_asked;
	struct collapse_thread {
		uint32_t pid, tid;
		uint64_t count, total_ns;
	} collapse_threads[MODEL_COLLAPSE_THREADS];
	size_t ncollapse_threads;
	uint64_t forks, execs, exits;

	struct wire *wire;	  /* HTTP requests seen on the wire (user/wire.c) */
	struct req_view *reqview; /* requests lined up with stalls (user/reqreport.c) */
	struct verdict *verdict;  /* the answer first (user/verdict.c), after reqview */
};

/*
 * The memory budget of report and diff: model_build() refuses a recording that would take the
 * process's heap past it, before reading when the chunk headers already say so, else while
 * reading. Default: half of MemAvailable.
 */
struct model_budget {
	uint64_t bytes; /* 0: unlimited */
	char why[64];	/* "half of MemAvailable", "--max-memory 2G" */
	bool refused;	/* a recording was refused for it (the fuzzers tell this from a crash) */
};
extern struct model_budget model_budget;
/* Sets the budget from --max-memory's argument (a size, or "unlimited"). 0 or -EINVAL. */
int model_budget_option(const char *arg);
/* Sets the default budget unless --max-memory set one. */
void model_budget_default(void);
/* Heap bytes in use by the process (malloc's count), or 0 where it cannot tell. */
uint64_t model_heap_used(void);

/*
 * Reads PATH and builds the model. 0 or -errno, with a message printed: -E2BIG over the memory
 * budget, -ENOMEM when an allocation failed (the model would have a hole).
 */
int model_build(struct model *m, const char *path);
/*
 * The finish step of model_build(), after the last event: every derived figure (percentiles,
 * the header's and trailer's, the allocator's), so that the printers only format.
 */
void model_finish(struct model *m);
void model_free(struct model *m);
/*
 * After a step that allocates (model_build, reqview_build, printing): if any allocation failed
 * (fl_oom), says so, frees M and returns -ENOMEM; else 0.
 */
int model_check_oom(struct model *m);
/* The session's duration: m->session.duration_s. */
double model_duration_s(const struct model *m);

/*
 * The raw header, for diff.c until it reads m->session: string A.B of the header, and the
 * process that did the work for the header's target T (see struct model_target).
 */

#endif
