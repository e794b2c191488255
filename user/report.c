// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* faultline report: the model of a recording, printed as text or JSON (docs/json-schema.md). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "alloc.h"
#include "cli.h"
#include "commands.h"
#include "findings.h"
#include "html.h"
#include "jw.h"
#include "model.h"
#include "perfetto.h"
#include "reqreport.h"
#include "util.h"
#include "verdict.h"

#define JSON_VERSION 1
#define MAX_FINDINGS 16
#define WRAP_COLS 100 /* the header's command lines wrap here */

struct report_opts {
	const char *input;
	bool json;
	const char *perfetto, *html; /* --perfetto FILE, --html FILE */
	struct req_opts req; /* --requests FILE, --clock */
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: faultline report [-i FILE] [--json] [--perfetto FILE] [--html FILE]\n"
"                        [--requests FILE [--clock monotonic|realtime]] [--max-memory SIZE]\n"
"\n"
"Print what a recording shows: stalls per cause with latency histograms, faults by memory\n"
"region, RSS, the probe plan, faultline's own overhead, and findings.\n"
"\n"
"  -i, --input FILE   the recording (default faultline.data)\n"
"      --json         the same data as JSON (schema: docs/json-schema.md)\n"
"      --perfetto FILE    write a timeline (Chrome Trace Event JSON) for ui.perfetto.dev,\n"
"                         chrome://tracing or speedscope; no text report unless --json\n"
"      --html FILE        write a self-contained HTML report; no text report unless --json\n"
"      --requests FILE    line stalls up with a client's requests instead of those seen on\n"
"                         the wire: a 'vllm bench serve --save-result --save-detailed' JSON\n"
"                         file, or JSON lines {\"id\",\"start\",\"first_token\",\"end\"} (seconds)\n"
"      --clock CLOCK      clock of the JSON lines' times: monotonic (default) or realtime\n"
"      --max-memory SIZE  refuse a recording that needs more memory than SIZE to report\n"
"                         (512M, 2G; 'unlimited'); default half of MemAvailable\n"
"  -h, --help         this text\n"
"\n"
"Examples:\n"
"  faultline report\n"
"  faultline report -i run1.data --json > run1.json\n"
"  faultline report --requests bench.json\n"
"  faultline report --perfetto trace.json --html report.html\n"
"  faultline report --requests reqs.jsonl --clock realtime\n");
}

static int cmp_region(const void *a, const void *b)
{
	const struct region_stat *x = a, *y = b;

	return x->faults < y->faults ? 1 : x->faults > y->faults ? -1 : 0;
}

static uint64_t pct(const struct model *m, int cause, double p)
{
	return u64vec_pct((struct u64vec *)&m->stalls[cause].durs, p);
}

static uint64_t overhead_u64(const struct model *m, const char *key)
{
	json_t *v = json_object_get(json_object_get(m->trailer, "overhead"), key);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* --- text ------------------------------------------------------------------------------ */

static long long jpid(json_t *o)
{
	return (long long)json_integer_value(json_object_get(o, "pid"));
}

/* "comm, allocator A: CMDLINE", the command line whole, wrapped at WRAP_COLS. */
static void text_process(json_t *p, size_t col, FILE *f)
{
	size_t k;
	json_t *a;

	col += fprintf(f, " %s, allocator %s:", fl_esc(json_string_value(json_object_get(p, "comm"))) ?: "?",
		       fl_esc(json_string_value(json_object_get(p, "allocator"))) ?: "?");
	json_array_foreach(json_object_get(p, "cmdline"), k, a) {
		/* the target's own strings: control characters (a newline, an escape) come out as \xNN */
		const char *s = fl_esc(json_string_value(a)) ?: "?";

		/* the whole command line, wrapped: the last flag is often the one that matters */
		if (col > 4 && col + 1 + strlen(s) > WRAP_COLS) {
			fprintf(f, "\n     ");
			col = 5;
		}
		col += fprintf(f, " %s", s);
	}
	fprintf(f, "\n");
}

/* A target, described by the process that did the work (a launcher's child, or after an exec). */
static void text_target(const struct model *m, json_t *t, FILE *f)
{
	enum model_worker_kind kind;
	json_t *w = model_worker(m, t, &kind), *child = json_object_get(t, "launcher_child");

	if (kind == WORKER_CHILD) {
		text_process(w, fprintf(f, "  target pid %lld", jpid(w)), f);
		fprintf(f, "    (the child of launcher pid %lld %s, the pid given; traced with --children)\n",
			jpid(t), fl_esc(json_string_value(json_object_get(t, "comm"))) ?: "?");
		return;
	}
	text_process(w, fprintf(f, "  target pid %lld", jpid(t)), f);
	if (kind == WORKER_EXECD)
		fprintf(f, "    (exec'd during the recording: at the start it was %s)\n",
			fl_esc(json_string_value(json_object_get(t, "exe"))) ?: "?");
	else if (child)
		fprintf(f, "    (pid %lld is a launcher: its child pid %lld %s does the work and was not "
			   "traced; record -p %lld or add --children)\n",
			jpid(t), jpid(child), fl_esc(json_string_value(json_object_get(child, "comm"))) ?: "?",
			jpid(child));
}

/* record --capture-payload: raw socket bytes in the file, rather than parsed requests. */
static bool payload_captured(const struct model *m)
{
	return json_is_true(json_object_get(json_object_get(m->meta, "options"), "capture_payload"));
}

static void text_session(const struct model *m, FILE *f)
{
	json_t *targets = json_object_get(m->meta, "targets");
	json_t *real = json_object_get(json_object_get(m->meta, "clocks"), "realtime_ns");
	char when[64] = "?";
	size_t i;
	json_t *t;

	if (json_is_integer(real)) {
		time_t s = json_integer_value(real) / 1000000000;
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&s, &tm));
	}
	fprintf(f, "faultline report: %s\n", fl_esc(m->path));
	fprintf(f, "  recorded %s on %s (kernel %s), %.1f s", when,
		fl_esc(model_meta_str(m, "host", "hostname")) ?: "?",
		fl_esc(model_meta_str(m, "host", "kernel")) ?: "?", model_duration_s(m));
	if (m->trailer)
		fprintf(f, ", stopped: %s",
			fl_esc(json_string_value(json_object_get(m->trailer, "stop_reason"))) ?: "?");
	fprintf(f, "\n");
	if (payload_captured(m))
		fprintf(f, "  payload captured (record --capture-payload): this file holds the first "
			   "256 bytes of every socket read and write: headers, keys, prompts\n");
	json_array_foreach(targets, i, t)
		text_target(m, t, f);
	fprintf(f, "  THP enabled=%s defrag=%s, khugepaged defrag=%s, hugepages reserved %s\n",
		model_meta_str(m, "thp", "enabled") ?: "?", model_meta_str(m, "thp", "defrag") ?: "?",
		model_meta_str(m, "thp", "khugepaged_defrag") ?: "?",
		model_meta_str(m, "hugepages", "nr_hugepages") ?: "?");
	fprintf(f, "  events %" PRIu64 ", dropped %" PRIu64 "%s\n", m->events, m->dropped,
		m->dropped ? " (ring buffer full: counts are lower bounds)" : "");
	if (m->status.truncated)
		fprintf(f, "  WARNING: %s\n", fl_esc(m->status.message));
}

static void text_probes(const struct model *m, FILE *f)
{
	json_t *probes = json_object_get(m->meta, "probes");
	const char *name;
	json_t *p;

	fprintf(f, "\nProbes\n");
	json_object_foreach(probes, name, p) {
		const char *attach = json_string_value(json_object_get(p, "attach"));
		const char *status = json_string_value(json_object_get(p, "status"));
		const char *reason = json_string_value(json_object_get(p, "reason"));

		fprintf(f, "  %-18s %-12s %s\n", name, attach ? attach : status ? status : "?",
			reason ? reason : "");
	}
}

/* Who collapsed: the khugepaged daemon, or MADV_COLLAPSE asked for by the process, in which threads. */
static void text_collapse_split(const struct model *m, FILE *f)
{
	const struct collapse_stats *d = &m->collapse_daemon, *a = &m->collapse_asked;
	char b[32], c[32];

	if (!d->count && !a->count)
		return;
	fprintf(f, "  khugepaged: %" PRIu64 " by the khugepaged daemon (%s), %" PRIu64
		   " by MADV_COLLAPSE the process asked for (%s)", d->count,
		fmt_ns(d->total_ns, b, sizeof(b)), a->count, fmt_ns(a->total_ns, c, sizeof(c)));
	for (size_t i = 0; i < m->ncollapse_threads; i++)
		fprintf(f, "%s tid %u (pid %u) %" PRIu64, i ? "," : ": in", m->collapse_threads[i].tid,
			m->collapse_threads[i].pid, m->collapse_threads[i].count);
	fprintf(f, "%s\n", m->ncollapse_threads == MODEL_COLLAPSE_THREADS ? ", ..." : "");
}

static void text_stalls(const struct model *m, FILE *f)
{
	char a[32], b[32], c[32], d[32];

	fprintf(f, "\nStalls                      count        total          p50          p99          max\n");
	for (int i = 0; i < FL_CAUSE_MAX; i++) {
		const struct stall_stats *s = &m->stalls[i];

		if (i == FL_CAUSE_ALLOC || i == FL_CAUSE_PINNED)
			continue;
		if (i == FL_CAUSE_FAULT && !m->have_fault_dur) {
			fprintf(f, "  %-20s %10s   (durations unavailable on this kernel: see Probes)\n",
				fl_cause_names[i], "-");
			continue;
		}
		fprintf(f, "  %-20s %10" PRIu64 " %12s %12s %12s %12s\n", fl_cause_names[i], s->count,
			fmt_ns(s->total_ns, a, sizeof(a)), fmt_ns(pct(m, i, 50), b, sizeof(b)),
			fmt_ns(pct(m, i, 99), c, sizeof(c)), fmt_ns(pct(m, i, 100), d, sizeof(d)));
	}
	text_collapse_split(m, f);
	for (int i = 0; i < FL_CAUSE_MAX; i++) {
		if (!m->stalls[i].count)
			continue;
		fprintf(f, "\n  %s latency\n", fl_cause_names[i]);
		log2hist_print(f, &m->stalls[i].hist, "nsecs", false);
	}
}

/* Why the record has no fault durations: the plan's reason (e.g. fentry and kprobes refused). */
static const char *fault_dur_why(const struct model *m)
{
	json_t *p = json_object_get(json_object_get(m->meta, "probes"), "fault_duration");
	const char *reason = json_string_value(json_object_get(p, "reason"));

	if (reason && *reason)
		return reason;
	return p ? "the fault_duration probe timed no fault" : "the fault_duration probe was not planned";
}

static void text_faults(const struct model *m, FILE *f)
{
	uint64_t total = m->faults_user + m->faults_kernel;
	struct region_stat *regions;

	fprintf(f, "\nPage faults: %" PRIu64 " (user %" PRIu64 ", kernel-mode on user memory %" PRIu64
		   ", writes %" PRIu64 ")\n", total, m->faults_user, m->faults_kernel, m->faults_write);
	if (m->have_fault_dur)
		fprintf(f, "  major %" PRIu64 ", minor %" PRIu64 ", failed %" PRIu64 ", retries %" PRIu64
			   "\n", m->faults_major, m->faults_minor, m->faults_error, m->fault_retries);
	else
		fprintf(f, "  major/minor, retries and fault durations: unavailable (%s)\n",
			fault_dur_why(m));
	if (m->file_faults)
		fprintf(f, "  file-backed faults (filemap): %" PRIu64 "\n", m->file_faults);
	if (!m->nregions)
		return;
	regions = malloc(m->nregions * sizeof(*regions));
	if (!regions) {
		fl_nomem();
		return;
	}
	memcpy(regions, m->regions, m->nregions * sizeof(*regions));
	sort_n(regions, m->nregions, sizeof(*regions), cmp_region);
	fprintf(f, "\n  %-36s %12s %8s %10s\n", "region", "faults", "share", "kernel");
	for (size_t i = 0; i < m->nregions && i < 20; i++)
		fprintf(f, "  %-36.36s %12" PRIu64 " %7.1f%% %10" PRIu64 "\n", fl_esc(regions[i].name),
			regions[i].faults, total ? 100.0 * regions[i].faults / total : 0.0,
			regions[i].kernel);
	free(regions);
}

#define RSS_SHOWN 5

static int cmp_rss(const void *a, const void *b)
{
	const struct rss_stat *x = a, *y = b;

	return x->max_pages < y->max_pages ? 1 : x->max_pages > y->max_pages ? -1 : 0;
}

static void text_memory(const struct model *m, FILE *f)
{
	int64_t ps = m->page_size;
	char a[32], b[32], c[32];

	if (m->nrss) {
		struct rss_stat *byrss = malloc(m->nrss * sizeof(*byrss));
		size_t shown = m->nrss < RSS_SHOWN ? m->nrss : RSS_SHOWN;

		if (!byrss) {
			fl_nomem();
			return;
		}
		memcpy(byrss, m->rss, m->nrss * sizeof(*byrss));
		sort_n(byrss, m->nrss, sizeof(*byrss), cmp_rss);
		fprintf(f, "\nRSS (largest first)\n");
		for (size_t i = 0; i < shown; i++)
			fprintf(f, "  pid %-8d min %-12s max %-12s anon max %s (%" PRIu64 " samples)\n",
				byrss[i].pid, fmt_bytes(byrss[i].min_pages * ps, a, sizeof(a)),
				fmt_bytes(byrss[i].max_pages * ps, b, sizeof(b)),
				fmt_bytes(byrss[i].max_anon * ps, c, sizeof(c)), byrss[i].samples);
		if (m->nrss > shown)
			fprintf(f, "  ... and %zu more processes (all of them in --json)\n",
				m->nrss - shown);
		free(byrss);
	}
	fprintf(f, "\nOther\n");
	fprintf(f, "  kcompactd wake-ups (system-wide) %" PRIu64 ", mmap_lock long write holds %" PRIu64
		   " (max %s)\n", m->kcompactd_wakes, m->lock_holds,
		fmt_ns(m->lock_hold_max_ns, a, sizeof(a)));
	fprintf(f, "  processes: %" PRIu64 " forked, %" PRIu64 " exec'd, %" PRIu64 " exited\n",
		m->forks, m->execs, m->exits);
}

static void text_overhead(const struct model *m, FILE *f)
{
	uint64_t run_ns = overhead_u64(m, "bpf_run_ns"), cnt = overhead_u64(m, "bpf_run_cnt");
	double dur = model_duration_s(m);
	char a[32], b[32];

	if (!m->trailer)
		return;
	fprintf(f, "\nfaultline overhead\n");
	fprintf(f, "  BPF programs: %" PRIu64 " runs, %s in total, %.0f ns per run, %.3f%% of one CPU\n",
		cnt, fmt_ns(run_ns, a, sizeof(a)), cnt ? (double)run_ns / cnt : 0.0,
		dur > 0 ? run_ns / (dur * 1e9) * 100 : 0.0);
	fprintf(f, "  user space: %.2f s CPU; memory at the end: ring buffer %s + %s of its own "
		   "(RssAnon)\n",
		(overhead_u64(m, "user_cpu_ns") + overhead_u64(m, "sys_cpu_ns")) / 1e9,
		fmt_bytes(overhead_u64(m, "ringbuf_bytes"), a, sizeof(a)),
		fmt_bytes(overhead_u64(m, "rss_anon_end_kb") * 1024, b, sizeof(b)));
}

static void text_findings(const struct model *m, FILE *f)
{
	struct finding fs[MAX_FINDINGS];
	int n = findings_build(m, fs, MAX_FINDINGS);

	verdict_rank_findings(m, fs, n);

	fprintf(f, "\nFindings\n");
	if (!n)
		fprintf(f, "  none: no stall cause stood out in this recording\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "  [%s] %s\n", fs[i].severity, fs[i].text);
}

static void print_text(const struct model *m, FILE *f)
{
	verdict_text(m, f);
	text_session(m, f);
	text_probes(m, f);
	text_stalls(m, f);
	text_faults(m, f);
	text_memory(m, f);
	alloc_print_text(m, f);
	pinned_print_text(m, f);
	text_overhead(m, f);
	reqview_text(m, f);
	text_findings(m, f);
}

/* --- JSON ------------------------------------------------------------------------------ */

static void json_session(const struct model *m, struct jw *w)
{
	jw_key(w, "session");
	jw_obj_open(w);
	jw_kstr(w, "file", m->path);
	jw_jansson_members(w, m->meta, "host", "thp", "hugepages", "clocks", NULL);
	jw_kdouble(w, "duration_s", model_duration_s(m));
	jw_kstr(w, "stop_reason", json_string_value(json_object_get(m->trailer, "stop_reason")));
	jw_kbool(w, "truncated", m->status.truncated);
	jw_kbool(w, "payload_captured", payload_captured(m));
	jw_kstr(w, "truncated_message", m->status.truncated ? m->status.message : NULL);
	jw_key(w, "targets");
	jw_arr_open(w);
	{
		size_t i;
		json_t *t;

		json_array_foreach(json_object_get(m->meta, "targets"), i, t) {
			enum model_worker_kind kind;
			json_t *wk = model_worker(m, t, &kind);

			/* described by the process that did the work; the pid given, when another */
			jw_obj_open(w);
			jw_jansson_members(w, wk, "pid", "comm", "cmdline", "allocator", "env", NULL);
			if (kind == WORKER_CHILD)
				jw_ku64(w, "launcher_pid", jpid(t));
			if (kind == WORKER_EXECD)
				jw_kstr(w, "exe_at_start",
					json_string_value(json_object_get(t, "exe")));
			jw_obj_close(w);
		}
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

/* "KEY": {"count", "succeeded", "total_ns", left open for the caller to add to and close */
static void json_collapse_counts(struct jw *w, const char *key, const struct collapse_stats *c)
{
	jw_key(w, key);
	jw_obj_open(w);
	jw_ku64(w, "count", c->count);
	jw_ku64(w, "succeeded", c->ok);
	jw_ku64(w, "total_ns", c->total_ns);
}

/* Collapses by the khugepaged daemon apart from those a thread asked for (MADV_COLLAPSE). */
static void json_collapse_split(const struct model *m, struct jw *w)
{
	jw_ku64(w, "succeeded", m->collapses_ok);
	json_collapse_counts(w, "daemon", &m->collapse_daemon);
	jw_obj_close(w);
	json_collapse_counts(w, "madv_collapse", &m->collapse_asked);
	jw_key(w, "threads");
	jw_arr_open(w);
	for (size_t i = 0; i < m->ncollapse_threads; i++) {
		const struct collapse_thread *t = &m->collapse_threads[i];

		jw_obj_open(w);
		jw_ku64(w, "pid", t->pid);
		jw_ku64(w, "tid", t->tid);
		jw_ku64(w, "count", t->count);
		jw_ku64(w, "total_ns", t->total_ns);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

static void json_stalls(const struct model *m, struct jw *w)
{
	jw_key(w, "stalls");
	jw_obj_open(w);
	for (int i = 0; i < FL_CAUSE_MAX; i++) {
		const struct stall_stats *s = &m->stalls[i];

		if (i == FL_CAUSE_ALLOC || i == FL_CAUSE_PINNED)
			continue;
		jw_key(w, fl_cause_names[i]);
		if (i == FL_CAUSE_FAULT && !m->have_fault_dur) {
			jw_null(w); /* no durations on this kernel */
			continue;
		}
		jw_obj_open(w);
		jw_ku64(w, "count", s->count);
		jw_ku64(w, "total_ns", s->total_ns);
		jw_ku64(w, "p50_ns", pct(m, i, 50));
		jw_ku64(w, "p99_ns", pct(m, i, 99));
		jw_ku64(w, "max_ns", pct(m, i, 100));
		if (i == FL_CAUSE_DIRECT_RECLAIM || i == FL_CAUSE_MEMCG_RECLAIM)
			jw_ku64(w, "reclaimed_pages", s->arg0_sum);
		if (i == FL_CAUSE_KHUGEPAGED)
			json_collapse_split(m, w);
		jw_key(w, "hist");
		log2hist_json(w, &s->hist);
		jw_obj_close(w);
	}
	jw_obj_close(w);
}

static void json_faults(const struct model *m, struct jw *w)
{
	jw_key(w, "faults");
	jw_obj_open(w);
	jw_ku64(w, "user", m->faults_user);
	jw_ku64(w, "kernel", m->faults_kernel);
	jw_ku64(w, "total", m->faults_user + m->faults_kernel);
	jw_ku64(w, "write", m->faults_write);
	jw_key(w, "major");
	m->have_fault_dur ? jw_u64(w, m->faults_major) : jw_null(w);
	jw_key(w, "minor");
	m->have_fault_dur ? jw_u64(w, m->faults_minor) : jw_null(w);
	jw_key(w, "retries");
	m->have_fault_dur ? jw_u64(w, m->fault_retries) : jw_null(w);
	jw_ku64(w, "file_backed", m->file_faults);
	jw_key(w, "regions");
	jw_arr_open(w);
	for (size_t i = 0; i < m->nregions; i++) {
		jw_obj_open(w);
		jw_kstr(w, "region", m->regions[i].name);
		jw_ku64(w, "faults", m->regions[i].faults);
		jw_ku64(w, "kernel", m->regions[i].kernel);
		jw_ku64(w, "write", m->regions[i].write);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

static void json_memory(const struct model *m, struct jw *w)
{
	int64_t ps = m->page_size;

	jw_key(w, "rss");
	jw_arr_open(w);
	for (size_t i = 0; i < m->nrss; i++) {
		jw_obj_open(w);
		jw_ku64(w, "pid", m->rss[i].pid);
		jw_ki64(w, "min_bytes", m->rss[i].min_pages * ps);
		jw_ki64(w, "max_bytes", m->rss[i].max_pages * ps);
		jw_ki64(w, "last_bytes", m->rss[i].last_pages * ps);
		jw_ki64(w, "anon_max_bytes", m->rss[i].max_anon * ps);
		jw_ku64(w, "samples", m->rss[i].samples);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_key(w, "other");
	jw_obj_open(w);
	jw_ku64(w, "kcompactd_wakes", m->kcompactd_wakes);
	jw_ku64(w, "mmap_lock_long_write_holds", m->lock_holds);
	jw_ku64(w, "mmap_lock_hold_max_ns", m->lock_hold_max_ns);
	jw_ku64(w, "forks", m->forks);
	jw_ku64(w, "execs", m->execs);
	jw_ku64(w, "exits", m->exits);
	jw_key(w, "counters");
	jw_jansson(w, json_object_get(m->trailer, "counters"));
	jw_obj_close(w);
}

static void json_findings(const struct model *m, struct jw *w)
{
	struct finding fs[MAX_FINDINGS];
	int n = findings_build(m, fs, MAX_FINDINGS);

	verdict_rank_findings(m, fs, n);

	jw_key(w, "findings");
	jw_arr_open(w);
	for (int i = 0; i < n; i++) {
		jw_obj_open(w);
		jw_kstr(w, "id", fs[i].id);
		jw_kstr(w, "severity", fs[i].severity);
		jw_kstr(w, "text", fs[i].text);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_overhead(const struct model *m, struct jw *w)
{
	uint64_t run_ns = overhead_u64(m, "bpf_run_ns"), cnt = overhead_u64(m, "bpf_run_cnt");

	jw_key(w, "overhead");
	jw_obj_open(w);
	jw_ku64(w, "bpf_run_ns", run_ns);
	jw_ku64(w, "bpf_run_cnt", cnt);
	jw_kdouble(w, "bpf_ns_per_run", cnt ? (double)run_ns / cnt : 0);
	jw_ku64(w, "user_cpu_ns", overhead_u64(m, "user_cpu_ns"));
	jw_ku64(w, "sys_cpu_ns", overhead_u64(m, "sys_cpu_ns"));
	jw_ku64(w, "max_rss_kb", overhead_u64(m, "max_rss_kb"));
	jw_ku64(w, "rss_end_kb", overhead_u64(m, "rss_end_kb"));
	jw_ku64(w, "rss_anon_end_kb", overhead_u64(m, "rss_anon_end_kb"));
	jw_ku64(w, "ringbuf_bytes", overhead_u64(m, "ringbuf_bytes"));
	jw_obj_close(w);
}

static void print_json(const struct model *m, FILE *f)
{
	struct jw w;

	jw_init(&w, f, true);
	jw_obj_open(&w);
	jw_ku64(&w, "version", JSON_VERSION);
	jw_key(&w, "verdict");
	verdict_json(m, &w);
	json_session(m, &w);
	jw_key(&w, "probes");
	jw_jansson(&w, json_object_get(m->meta, "probes"));
	jw_key(&w, "events");
	jw_obj_open(&w);
	jw_ku64(&w, "total", m->events);
	jw_ku64(&w, "dropped", m->dropped);
	jw_obj_close(&w);
	json_faults(m, &w);
	json_stalls(m, &w);
	json_memory(m, &w);
	jw_key(&w, "alloc");
	alloc_print_json(m, &w);
	jw_key(&w, "pinned");
	pinned_print_json(m, &w);
	jw_key(&w, "requests");
	reqview_json(m, &w);
	json_findings(m, &w);
	json_overhead(m, &w);
	jw_obj_close(&w);
}

static int parse_args(struct report_opts *o, int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_REQUESTS, OPT_CLOCK, OPT_MAX_MEMORY, OPT_PERFETTO, OPT_HTML };
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "clock", required_argument, NULL, OPT_CLOCK },
		{ "max-memory", required_argument, NULL, OPT_MAX_MEMORY },
		{ "perfetto", required_argument, NULL, OPT_PERFETTO },
		{ "html", required_argument, NULL, OPT_HTML },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->input = "faultline.data";
	optind = 1;
	while ((c = getopt_long(argc, argv, "i:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->input = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_REQUESTS:
			o->req.file = optarg;
			break;
		case OPT_PERFETTO:
			o->perfetto = optarg;
			break;
		case OPT_HTML:
			o->html = optarg;
			break;
		case OPT_CLOCK:
			if (req_clock_parse(optarg, &o->req.clock)) {
				fl_err("--clock '%s': expected monotonic or realtime", optarg);
				return -EINVAL;
			}
			o->req.clock_given = true;
			break;
		case OPT_MAX_MEMORY:
			if (model_budget_option(optarg))
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return cli_try_help("report");
		}
	}
	return cli_no_operands("report", " (use -i FILE)", argc, argv);
}

int cmd_report(int argc, char **argv)
{
	struct report_opts o = {};
	struct model m;
	int err;

	if (parse_args(&o, argc, argv))
		return 2;
	model_budget_default();
	err = model_build(&m, o.input);
	if (err)
		return 1;
	if (reqview_build(&m, &o.req) || verdict_build(&m)) {
		if (!model_check_oom(&m))
			model_free(&m);
		return 1;
	}
	if (model_check_oom(&m))
		return 1;
	err = 0; /* a file cut short still reports what it holds; the warning went to stderr */
	if (o.perfetto && perfetto_write(&m, o.perfetto))
		err = 1;
	if (o.html && html_write(&m, o.html))
		err = 1;
	if (o.json)
		print_json(&m, stdout);
	else if (!o.perfetto && !o.html)
		print_text(&m, stdout);
	/* a report printed with a failed allocation does not count as one */
	if (model_check_oom(&m))
		return 1;
	model_free(&m);
	return err;
}
