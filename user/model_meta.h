/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The recording's header and trailer (JSON written by record, see meta.c and record.c), decoded
 * once into the model's types: the session (host, settings, clocks, targets), the probe plan,
 * faultline's own overhead and the BPF counters. This is the only place of the model that reads
 * them with jansson; the printers read these structs. A member the file lacks is NULL (strings),
 * false (have_* flags) or 0; the printers write null or "?" for it.
 */
#ifndef FL_MODEL_META_H
#define FL_MODEL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

/* A list of strings (a command line, environment hints); HAVE: the file gave a list. */
struct model_strv {
	char **v;
	size_t n;
	bool have;
};

/* A process as the header ("targets") or the trailer ("targets_end") describes it. */
struct model_process {
	bool have_pid;
	int64_t pid;
	char *comm, *exe, *allocator, *allocator_lib;
	char *maps; /* /proc/PID/maps text, for the regions of the faults */
	struct model_strv cmdline, env;
	/* a launcher (a shell or env-style wrapper) and its one child (issue #14) */
	bool have_launcher_child;
	int64_t child_pid;
	char *child_comm;
};

enum model_worker_kind { WORKER_SELF, WORKER_EXECD, WORKER_CHILD };

/* A target of the recording, and the process that did the work for it. */
struct model_target {
	struct model_process start; /* the pid given, as it was at the start */
	/*
	 * Set where the model is finished: START itself; START as it was at the end when it
	 * exec'd another program during the session; or, for a launcher traced with --children,
	 * its child as it was at the end. KIND says which.
	 */
	const struct model_process *worker;
	enum model_worker_kind kind;
};

struct model_clocks {
	bool have; /* the file has the object */
	bool have_monotonic, have_realtime, have_boottime;
	uint64_t monotonic_ns, realtime_ns, boottime_ns;
};

/* /proc/meminfo lines the header keeps (kB, or pages for HugePages_*), in this order. */
enum model_meminfo {
	MI_MEM_TOTAL,
	MI_MEM_AVAILABLE,
	MI_HUGEPAGES_TOTAL,
	MI_HUGEPAGES_FREE,
	MI_HUGEPAGESIZE,
	MI_ANON_HUGEPAGES,
	MI_MAX
};
extern const char *const model_meminfo_names[MI_MAX];

struct model_host {
	bool have;
	char *hostname, *kernel, *machine, *boot_id;
	bool have_cpus, have_page_size, have_meminfo;
	uint64_t cpus, page_size;
	bool have_mi[MI_MAX];
	uint64_t meminfo[MI_MAX];
};

/* /sys/kernel/mm/transparent_hugepage settings at the start (NULL: unreadable). */
struct model_thp {
	bool have;
	char *enabled, *defrag, *shmem_enabled, *khugepaged_defrag, *khugepaged_pages_to_scan,
	    *khugepaged_scan_sleep_millisecs, *khugepaged_max_ptes_none;
};

/* hugetlb pool settings at the start (NULL: unreadable). */
struct model_hugepages {
	bool have;
	char *nr_hugepages, *nr_overcommit_hugepages, *free_2048kB, *nr_1048576kB;
};

/* record's options that shape what the file holds. */
struct model_options {
	bool children, all, capture_payload, keep_cmdline;
	uint64_t ringbuf_bytes;
	char *command;
	/* record --fault-events: "runs", "all" or "off"; "all" where the header has none (format
	 * 3, or damaged) */
	char fault_events[8];
};

struct model_session {
	bool have_meta;	   /* the header is valid JSON */
	bool have_trailer; /* the file ended with a trailer (a valid one) */
	struct model_host host;
	struct model_thp thp;
	struct model_hugepages hugepages;
	struct model_clocks clocks, clocks_end; /* at the start (header) and the end (trailer) */
	struct model_options opts;
	struct model_target *targets;
	size_t ntargets;
	struct model_process *targets_end; /* the targets again at the end (trailer) */
	size_t ntargets_end;
	char *stop_reason;
	/* record's wire parser's counts (trailer "wire"): FL_EV_REQ files cannot count them */
	bool have_wire_stats;
	uint64_t wire_connections, wire_ignored_events;
	double duration_s; /* set where the model is finished: the clocks', else the events' */
};

/* One concern of the probe plan (header "probes"), in the plan's order. */
struct model_probe {
	char *name;   /* "fault_duration" */
	char *attach; /* "tp_btf", "fentry"...; NULL when not attached */
	char *status; /* "ok", "off", "unavailable" */
	char *reason; /* why not, or NULL */
};

struct model_probe_plan {
	bool have;
	struct model_probe *probes;
	size_t n;
};

/* faultline's own cost (trailer "overhead"); the derived figures set where the model is finished.
 */
struct model_overhead {
	bool have;
	bool bpf_stats_enabled;
	uint64_t bpf_run_ns, bpf_run_cnt;
	uint64_t user_cpu_ns, sys_cpu_ns;
	uint64_t max_rss_kb, rss_end_kb, rss_anon_end_kb;
	uint64_t ringbuf_bytes;
	double bpf_ns_per_run; /* bpf_run_ns / bpf_run_cnt, 0 without runs */
	double bpf_cpu_pct;    /* BPF time as a share of one CPU over the session, in % */
	double user_cpu_s;     /* faultline's user + system CPU time */
};

/* BPF counters at the end (trailer "counters"). */
struct model_counters {
	bool have;
	uint64_t faults_user, faults_kernel, khugepaged_scans, kcompactd_wakes, compaction_deferred;
};

/*
 * Decode the header's JSON text (may be NULL) into M: session, probe plan. Keeps the parsed
 * tree in m->meta for the allocator's decoder. An invalid header is said on stderr; 0 or
 * -ENOMEM.
 */
int model_meta_decode(struct model *m, const char *json);
/*
 * Decode the trailer's JSON text (NULL: none) into M: session, overhead, counters, and
 * m->dropped. Keeps the parsed tree in m->trailer for the allocator's decoder. 0 or -ENOMEM.
 */
int model_trailer_decode(struct model *m, const char *json);
/* The derived figures of the header and trailer: target workers, duration, overhead. */
void model_meta_finish(struct model *m);
void model_meta_free(struct model *m);

/* The probe plan's entry for concern NAME, or NULL. */
const struct model_probe *model_probe_find(const struct model *m, const char *name);
/* The command name of target PID from the header, or NULL. */
const char *model_target_comm(const struct model *m, int64_t pid);

#endif
