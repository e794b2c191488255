// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* faultline report: the model of a recording, printed as text or JSON (docs/json-schema.md). */
#include "alloc_report.h"
#include "cli.h"
#include "commands.h"
#include "faultsite.h"
#include "findings.h"
#include "html.h"
#include "jw.h"
#include "model.h"
#include "perfetto.h"
#include "reqreport.h"
#include "stallstack.h"
#include "util.h"
#include "verdict.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_VERSION 1
#define WRAP_COLS 100 /* the header's command lines wrap here */

struct report_opts {
	const char *input;
	bool json;
	const char *perfetto, *html; /* --perfetto FILE, --html FILE */
	struct req_opts req;	     /* --requests FILE, --clock */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: faultline report [-i FILE] [--json] [--perfetto FILE] [--html FILE]\n"
		"                        [--requests FILE [--clock monotonic|realtime]] "
		"[--max-memory SIZE]\n"
		"\n"
		"Print what a recording shows: stalls per cause with latency histograms, faults by "
		"memory\n"
		"region, RSS, the probe plan, faultline's own overhead, and findings.\n"
		"\n"
		"  -i, --input FILE   the recording (default faultline.data)\n"
		"      --json         the same data as JSON (schema: docs/json-schema.md)\n"
		"      --perfetto FILE    write a timeline (Chrome Trace Event JSON) for "
		"ui.perfetto.dev,\n"
		"                         chrome://tracing or speedscope; no text report unless "
		"--json\n"
		"      --html FILE        write a self-contained HTML report; no text report "
		"unless --json\n"
		"      --requests FILE    line stalls up with a client's requests instead of those "
		"seen on\n"
		"                         the wire: a 'vllm bench serve --save-result "
		"--save-detailed' JSON\n"
		"                         file, or JSON lines "
		"{\"id\",\"start\",\"first_token\",\"end\"} (seconds)\n"
		"      --clock CLOCK      clock of the JSON lines' times: monotonic (default) or "
		"realtime\n"
		"      --max-memory SIZE  refuse a recording that needs more memory than SIZE to "
		"report\n"
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

/* --- text ------------------------------------------------------------------------------ */

/* "comm, allocator A: CMDLINE", the command line whole, wrapped at WRAP_COLS. */
static void text_process(const struct model_process *p, size_t col, FILE *f)
{
	col +=
	    fprintf(f, " %s, allocator %s:", fl_esc(p->comm) ?: "?", fl_esc(p->allocator) ?: "?");
	for (size_t k = 0; k < p->cmdline.n; k++) {
		/* the target's own strings: control characters (a newline, an escape) come out as
		 * \xNN */
		const char *s = fl_esc(p->cmdline.v[k]) ?: "?";

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
static void text_target(const struct model_target *t, FILE *f)
{
	const struct model_process *w = t->worker, *p = &t->start;

	if (t->kind == WORKER_CHILD) {
		text_process(w, fprintf(f, "  target pid %lld", (long long)w->pid), f);
		fprintf(f,
			"    (the child of launcher pid %lld %s, the pid given; traced with "
			"--children)\n",
			(long long)p->pid, fl_esc(p->comm) ?: "?");
		return;
	}
	text_process(w, fprintf(f, "  target pid %lld", (long long)p->pid), f);
	if (t->kind == WORKER_EXECD)
		fprintf(f, "    (exec'd during the recording: at the start it was %s)\n",
			fl_esc(p->exe) ?: "?");
	else if (p->have_launcher_child)
		fprintf(
		    f,
		    "    (pid %lld is a launcher: its child pid %lld %s does the work and was not "
		    "traced; record -p %lld or add --children)\n",
		    (long long)p->pid, (long long)p->child_pid, fl_esc(p->child_comm) ?: "?",
		    (long long)p->child_pid);
}

/* How faults were recorded (record --fault-events): what the counts below rest on. */
static void text_fault_events(const struct model *m, FILE *f)
{
	const char *fe = m->session.opts.fault_events;

	if (!strcmp(fe, "runs"))
		fprintf(f,
			"  fault events: runs (%" PRIu64 " runs of faults, each fault counted as "
			"with --fault-events=all)\n",
			m->fault_runs);
	else if (!strcmp(fe, "off"))
		fprintf(f, "  fault events: off (counts per thread and millisecond; no fault "
			   "addresses nor faulting code)\n");
	else
		fprintf(f, "  fault events: all (one event per fault)\n");
}

static void text_session(const struct model *m, FILE *f)
{
	const struct model_session *s = &m->session;
	char when[64] = "?";

	if (s->clocks.have_realtime) {
		time_t sec = (int64_t)s->clocks.realtime_ns / 1000000000;
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&sec, &tm));
	}
	fprintf(f, "faultline report: %s\n", fl_esc(m->path));
	fprintf(f, "  recorded %s on %s (kernel %s), %.1f s", when, fl_esc(s->host.hostname) ?: "?",
		fl_esc(s->host.kernel) ?: "?", s->duration_s);
	if (s->have_trailer)
		fprintf(f, ", stopped: %s", fl_esc(s->stop_reason) ?: "?");
	fprintf(f, "\n");
	if (s->opts.capture_payload)
		fprintf(f,
			"  payload captured (record --capture-payload): this file holds the first "
			"256 bytes of every socket read and write: headers, keys, prompts\n");
	for (size_t i = 0; i < s->ntargets; i++)
		text_target(&s->targets[i], f);
	fprintf(f, "  THP enabled=%s defrag=%s, khugepaged defrag=%s, hugepages reserved %s\n",
		s->thp.enabled ?: "?", s->thp.defrag ?: "?", s->thp.khugepaged_defrag ?: "?",
		s->hugepages.nr_hugepages ?: "?");
	fprintf(f, "  events %" PRIu64 ", dropped %" PRIu64 "%s\n", m->events, m->dropped,
		m->dropped ? " (ring buffer full: counts are lower bounds)" : "");
	text_fault_events(m, f);
	if (m->status.truncated)
		fprintf(f, "  WARNING: %s\n", fl_esc(m->status.message));
}

static void text_probes(const struct model *m, FILE *f)
{
	fprintf(f, "\nProbes\n");
	for (size_t i = 0; i < m->probes.n; i++) {
		const struct model_probe *p = &m->probes.probes[i];

		fprintf(f, "  %-18s %-12s %s\n", p->name, p->attach ?: p->status ?: "?",
			p->reason ?: "");
	}
}

/* Who collapsed: the khugepaged daemon, or MADV_COLLAPSE asked for by the process, in which
 * threads. */
static void text_collapse_split(const struct model *m, FILE *f)
{
	const struct collapse_stats *d = &m->collapse_daemon, *a = &m->collapse_asked;
	char b[32], c[32];

	if (!d->count && !a->count)
		return;
	fprintf(f,
		"  khugepaged: %" PRIu64 " by the khugepaged daemon (%s), %" PRIu64
		" by MADV_COLLAPSE the process asked for (%s)",
		d->count, fmt_ns(d->total_ns, b, sizeof(b)), a->count,
		fmt_ns(a->total_ns, c, sizeof(c)));
	for (size_t i = 0; i < m->ncollapse_threads; i++)
		fprintf(f, "%s tid %u (pid %u) %" PRIu64, i ? "," : ": in",
			m->collapse_threads[i].tid, m->collapse_threads[i].pid,
			m->collapse_threads[i].count);
	fprintf(f, "%s\n", m->ncollapse_threads == MODEL_COLLAPSE_THREADS ? ", ..." : "");
}

static void text_stalls(const struct model *m, FILE *f)
{
	char a[32], b[32], c[32], d[32];

	fprintf(f, "\nStalls                      count        total          p50          p99     "
		   "     max\n");
	for (int i = 0; i < FL_CAUSE_MAX; i++) {
		const struct stall_stats *s = &m->stalls[i];

		if (i == FL_CAUSE_ALLOC || i == FL_CAUSE_PINNED)
			continue;
		if (i == FL_CAUSE_FAULT && !m->have_fault_dur) {
			fprintf(
			    f,
			    "  %-20s %10s   (durations unavailable on this kernel: see Probes)\n",
			    fl_cause_names[i], "-");
			continue;
		}
		fprintf(f, "  %-20s %10" PRIu64 " %12s %12s %12s %12s\n", fl_cause_names[i],
			s->count, fmt_ns(s->total_ns, a, sizeof(a)),
			fmt_ns(s->p50_ns, b, sizeof(b)), fmt_ns(s->p99_ns, c, sizeof(c)),
			fmt_ns(s->max_ns, d, sizeof(d)));
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
	const struct model_probe *p = model_probe_find(m, "fault_duration");
	const char *reason = p ? p->reason : NULL;

	if (reason && *reason)
		return reason;
	return p ? "the fault_duration probe timed no fault"
		 : "the fault_duration probe was not planned";
}

/* The fault_duration probe was turned off (--probes), not refused by the kernel. */
static bool fault_dur_off(const struct model *m)
{
	const struct model_probe *p = model_probe_find(m, "fault_duration");

	return p && p->status && !strcmp(p->status, "off");
}

#define TEXT_REGIONS 15
#define TEXT_FILES 10

/* Under a region's row: how mappings made it (grouped buffers), or why it is unknown. */
static void text_region_detail(const struct region_stat *r, FILE *f)
{
	char a[32], b[32];

	if (r->why) {
		fprintf(f, "      %s\n", fl_esc(r->why));
		return;
	}
	if (!r->kind || strcmp(r->kind, "anon"))
		return;
	if (r->maps > 1 && r->bytes_min == r->bytes_max)
		fprintf(f, "      %s x %" PRIu64 ", %" PRIu64 " unmapped during the session\n",
			fmt_bytes(r->bytes_max, a, sizeof(a)), r->maps, r->unmaps);
	else if (r->maps > 1)
		fprintf(f,
			"      %" PRIu64 " mmaps of %s to %s, %" PRIu64 " unmapped during the "
			"session\n",
			r->maps, fmt_bytes(r->bytes_min, a, sizeof(a)),
			fmt_bytes(r->bytes_max, b, sizeof(b)), r->unmaps);
}

static int cmp_file(const void *a, const void *b)
{
	const struct file_stat *x = a, *y = b;

	return x->faults < y->faults ? 1 : x->faults > y->faults ? -1 : 0;
}

/* File-backed faults (mm_filemap_fault) by file, the most first. */
static void text_files(const struct model *m, FILE *f)
{
	struct file_stat *files;

	if (!m->nfiles)
		return;
	files = malloc(m->nfiles * sizeof(*files));
	if (!files) {
		fl_nomem();
		return;
	}
	memcpy(files, m->files, m->nfiles * sizeof(*files));
	sort_n(files, m->nfiles, sizeof(*files), cmp_file);
	fprintf(f, "\n  %-48s %12s %8s %10s  %s\n", "file (filemap faults)", "faults", "major",
		"mapped", "path");
	for (size_t i = 0; i < m->nfiles && i < TEXT_FILES; i++) {
		char maj[24] = "-", mb[32] = "-";

		if (m->have_fault_dur)
			snprintf(maj, sizeof(maj), "%" PRIu64, files[i].major);
		if (files[i].mapped_bytes)
			fmt_bytes(files[i].mapped_bytes, mb, sizeof(mb));
		fprintf(f, "  %-48.48s %12" PRIu64 " %8s %10s  %s\n", fl_esc(files[i].name),
			files[i].faults, maj, mb, files[i].path ? fl_esc(files[i].path) : "");
	}
	if (m->nfiles > TEXT_FILES)
		fprintf(f, "  (%zu more files)\n", m->nfiles - TEXT_FILES);
	/* "-" is no zero: without handle_mm_fault's result no fault is known to be major */
	if (!m->have_fault_dur)
		fprintf(f, "  major faults per file: not known %s (%s)\n",
			fault_dur_off(m) ? "in this recording" : "on this kernel",
			fault_dur_why(m));
	free(files);
}

static void text_faults(const struct model *m, FILE *f)
{
	uint64_t total = m->faults_user + m->faults_kernel;
	struct region_stat *regions;

	fprintf(f,
		"\nPage faults: %" PRIu64 " (user %" PRIu64 ", kernel-mode on user memory %" PRIu64
		", writes %" PRIu64 ")\n",
		total, m->faults_user, m->faults_kernel, m->faults_write);
	if (m->have_fault_dur)
		fprintf(f,
			"  major %" PRIu64 ", minor %" PRIu64 ", failed %" PRIu64
			", retries %" PRIu64 "\n",
			m->faults_major, m->faults_minor, m->faults_error, m->fault_retries);
	else
		fprintf(f, "  major/minor, retries and fault durations: unavailable (%s)\n",
			fault_dur_why(m));
	if (m->file_faults)
		fprintf(f, "  file-backed faults (filemap): %" PRIu64 "\n", m->file_faults);
	if (m->fault_addrs_off) {
		fprintf(f, "  by mapping: not recorded (--fault-events=off: no fault addresses)\n");
		text_files(m, f);
		return;
	}
	if (!m->nregions)
		return;
	regions = malloc(m->nregions * sizeof(*regions));
	if (!regions) {
		fl_nomem();
		return;
	}
	memcpy(regions, m->regions, m->nregions * sizeof(*regions));
	sort_n(regions, m->nregions, sizeof(*regions), cmp_region);
	/* as wide as the longest name shown (names such as "anon: jemalloc arenas and large
	 * blocks (libjemalloc.so.2)" say what made the mapping), within 80 columns */
	int w = 48;
	for (size_t i = 0; i < m->nregions && i < TEXT_REGIONS; i++) {
		int n = (int)strlen(fl_esc(regions[i].name));
		w = n > w ? (n < 80 ? n : 80) : w;
	}
	fprintf(f, "\n  %-*s %12s %8s %10s\n", w, "region", "faults", "share", "kernel");
	for (size_t i = 0; i < m->nregions && i < TEXT_REGIONS; i++) {
		fprintf(f, "  %-*.*s %12" PRIu64 " %7.1f%% %10" PRIu64 "\n", w, w,
			fl_esc(regions[i].name), regions[i].faults,
			total ? 100.0 * regions[i].faults / total : 0.0, regions[i].kernel);
		text_region_detail(&regions[i], f);
	}
	if (m->nregions > TEXT_REGIONS) {
		uint64_t rest = 0;

		for (size_t i = TEXT_REGIONS; i < m->nregions; i++)
			rest += regions[i].faults;
		fprintf(f, "  %-*s %12" PRIu64 " %7.1f%%\n", w, "(the other regions, summed)", rest,
			total ? 100.0 * rest / total : 0.0);
	}
	free(regions);
	fprintf(f, "  unknown: %" PRIu64 " faults (%.1f%%)%s\n", m->faults_unknown,
		total ? 100.0 * m->faults_unknown / total : 0.0,
		m->maptl_syscalls ? ""
				  : "; memory syscalls not traced (--alloc=off): mappings "
				    "made during the session are named only if a maps list "
				    "shows them");
	text_files(m, f);
}

static void text_memory(const struct model *m, FILE *f)
{
	char a[32];

	rss_print_text(m, f); /* user/alloc_report.c */
	fprintf(f, "\nOther\n");
	fprintf(f,
		"  kcompactd wake-ups (system-wide) %" PRIu64
		", mmap_lock long write holds %" PRIu64 " (max %s)\n",
		m->kcompactd_wakes, m->lock_holds, fmt_ns(m->lock_hold_max_ns, a, sizeof(a)));
	fprintf(f, "  processes: %" PRIu64 " forked, %" PRIu64 " exec'd, %" PRIu64 " exited\n",
		m->forks, m->execs, m->exits);
}

static void text_overhead(const struct model *m, FILE *f)
{
	const struct model_overhead *oh = &m->overhead;
	char a[32], b[32];

	if (!oh->have)
		return;
	fprintf(f, "\nfaultline overhead\n");
	if (oh->bpf_stats_enabled)
		fprintf(f,
			"  BPF programs: %" PRIu64
			" runs, %s in total, %.0f ns per run, %.3f%% of one CPU\n",
			oh->bpf_run_cnt, fmt_ns(oh->bpf_run_ns, a, sizeof(a)), oh->bpf_ns_per_run,
			oh->bpf_cpu_pct);
	else
		fprintf(f, "  BPF programs: not timed (record --bpf-stats on times them; while it "
			   "does, every BPF program on the machine reads the clock twice a run)\n");
	fprintf(f,
		"  user space: %.2f s CPU; memory at the end: ring buffer %s + %s of its own "
		"(RssAnon)\n",
		oh->user_cpu_s, fmt_bytes(oh->ringbuf_bytes, a, sizeof(a)),
		fmt_bytes(oh->rss_anon_end_kb * 1024, b, sizeof(b)));
}

static void text_findings(const struct model *m, FILE *f)
{
	const struct finding *fs = m->verdict ? m->verdict->findings : NULL;
	int n = m->verdict ? m->verdict->nfindings : 0;

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
	stallstack_text(m, f);
	text_faults(m, f);
	faultsite_text(m, f); /* user/faultsite.c */
	text_memory(m, f);
	alloc_print_text(m, f);
	pinned_print_text(m, f);
	text_overhead(m, f);
	reqview_text(m, f);
	text_findings(m, f);
}

/* --- JSON ------------------------------------------------------------------------------ */

/* KEY: V, or null when the file did not have it. */
static void kopt_u64(struct jw *w, const char *key, bool have, uint64_t v)
{
	jw_key(w, key);
	have ? jw_u64(w, v) : jw_null(w);
}

/*
 * The header's objects (host, thp, hugepages, clocks, probes, targets' lists) and the trailer's
 * counters are written on one line each, as they are in the file.
 */
static void hdr_meminfo(struct jw *w, const struct model_host *h)
{
	jw_key(w, "meminfo");
	if (!h->have_meminfo) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	for (int i = 0; i < MI_MAX; i++)
		if (h->have_mi[i])
			jw_ku64(w, model_meminfo_names[i], h->meminfo[i]);
	jw_obj_close(w);
}

static void hdr_host(struct jw *w, const struct model_host *h)
{
	jw_key(w, "host");
	if (!h->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_obj_open(w);
	jw_kstr(w, "hostname", h->hostname);
	jw_kstr(w, "kernel", h->kernel);
	jw_kstr(w, "machine", h->machine);
	kopt_u64(w, "cpus", h->have_cpus, h->cpus);
	kopt_u64(w, "page_size", h->have_page_size, h->page_size);
	jw_kstr(w, "boot_id", h->boot_id);
	hdr_meminfo(w, h);
	jw_obj_close(w);
	jw_inline_end(w);
}

static void hdr_thp(struct jw *w, const struct model_thp *t)
{
	jw_key(w, "thp");
	if (!t->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_obj_open(w);
	jw_kstr(w, "enabled", t->enabled);
	jw_kstr(w, "defrag", t->defrag);
	jw_kstr(w, "shmem_enabled", t->shmem_enabled);
	jw_kstr(w, "khugepaged_defrag", t->khugepaged_defrag);
	jw_kstr(w, "khugepaged_pages_to_scan", t->khugepaged_pages_to_scan);
	jw_kstr(w, "khugepaged_scan_sleep_millisecs", t->khugepaged_scan_sleep_millisecs);
	jw_kstr(w, "khugepaged_max_ptes_none", t->khugepaged_max_ptes_none);
	jw_obj_close(w);
	jw_inline_end(w);
}

static void hdr_hugepages(struct jw *w, const struct model_hugepages *h)
{
	jw_key(w, "hugepages");
	if (!h->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_obj_open(w);
	jw_kstr(w, "nr_hugepages", h->nr_hugepages);
	jw_kstr(w, "nr_overcommit_hugepages", h->nr_overcommit_hugepages);
	jw_kstr(w, "free_2048kB", h->free_2048kB);
	jw_kstr(w, "nr_1048576kB", h->nr_1048576kB);
	jw_obj_close(w);
	jw_inline_end(w);
}

static void hdr_clocks(struct jw *w, const struct model_clocks *c)
{
	jw_key(w, "clocks");
	if (!c->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_obj_open(w);
	kopt_u64(w, "monotonic_ns", c->have_monotonic, c->monotonic_ns);
	kopt_u64(w, "realtime_ns", c->have_realtime, c->realtime_ns);
	kopt_u64(w, "boottime_ns", c->have_boottime, c->boottime_ns);
	jw_obj_close(w);
	jw_inline_end(w);
}

static void hdr_strv(struct jw *w, const char *key, const struct model_strv *sv)
{
	jw_key(w, key);
	if (!sv->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_arr_open(w);
	for (size_t i = 0; i < sv->n; i++)
		jw_str(w, sv->v[i]);
	jw_arr_close(w);
	jw_inline_end(w);
}

/* A target, described by the process that did the work; the pid given, when another. */
static void json_target(const struct model_target *t, struct jw *w)
{
	const struct model_process *p = t->worker;

	jw_obj_open(w);
	jw_key(w, "pid");
	p->have_pid ? jw_i64(w, p->pid) : jw_null(w);
	jw_kstr(w, "comm", p->comm);
	hdr_strv(w, "cmdline", &p->cmdline);
	jw_kstr(w, "allocator", p->allocator);
	hdr_strv(w, "env", &p->env);
	if (t->kind == WORKER_CHILD)
		jw_ku64(w, "launcher_pid", t->start.pid);
	if (t->kind == WORKER_EXECD)
		jw_kstr(w, "exe_at_start", t->start.exe);
	jw_obj_close(w);
}

static void json_session(const struct model *m, struct jw *w)
{
	const struct model_session *s = &m->session;

	jw_key(w, "session");
	jw_obj_open(w);
	jw_kstr(w, "file", m->path);
	hdr_host(w, &s->host);
	hdr_thp(w, &s->thp);
	hdr_hugepages(w, &s->hugepages);
	hdr_clocks(w, &s->clocks);
	jw_kdouble(w, "duration_s", s->duration_s);
	jw_kstr(w, "stop_reason", s->stop_reason);
	jw_kbool(w, "truncated", m->status.truncated);
	jw_kbool(w, "payload_captured", s->opts.capture_payload);
	jw_kstr(w, "fault_events", s->opts.fault_events);
	jw_ku64(w, "fault_runs", m->fault_runs);
	jw_kstr(w, "truncated_message", m->status.truncated ? m->status.message : NULL);
	jw_key(w, "targets");
	jw_arr_open(w);
	for (size_t i = 0; i < s->ntargets; i++)
		json_target(&s->targets[i], w);
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
		jw_ku64(w, "p50_ns", s->p50_ns);
		jw_ku64(w, "p99_ns", s->p99_ns);
		jw_ku64(w, "max_ns", s->max_ns);
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

/* The mapping timeline's members of a region (user/maptl.c). */
static void json_region(struct jw *w, const struct model *m, const struct region_stat *r)
{
	jw_kstr(w, "kind", r->kind);
	jw_key(w, "major");
	m->have_fault_dur ? jw_u64(w, r->major) : jw_null(w);
	jw_kstr(w, "path", r->path);
	jw_kstr(w, "creator", r->creator);
	jw_ku64(w, "maps", r->maps);
	jw_ku64(w, "unmaps", r->unmaps);
	jw_ku64(w, "bytes_min", r->bytes_min);
	jw_ku64(w, "bytes_max", r->bytes_max);
	jw_kbool(w, "before_session", r->before);
	jw_kstr(w, "why", r->why);
}

/* File-backed faults (mm_filemap_fault) by file. */
static void json_files(struct jw *w, const struct model *m)
{
	char dev[32];

	jw_key(w, "files");
	jw_arr_open(w);
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct file_stat *f = &m->files[i];

		snprintf(dev, sizeof(dev), "%u:%u", f->kdev >> 20, f->kdev & 0xfffff);
		jw_obj_open(w);
		jw_kstr(w, "file", f->name);
		jw_kstr(w, "path", f->path);
		jw_kstr(w, "dev", dev);
		jw_ku64(w, "inode", f->ino);
		jw_ku64(w, "faults", f->faults);
		jw_key(w, "major");
		m->have_fault_dur ? jw_u64(w, f->major) : jw_null(w);
		jw_ku64(w, "mapped_bytes", f->mapped_bytes);
		jw_kbool(w, "code", f->code);
		jw_obj_close(w);
	}
	jw_arr_close(w);
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
	jw_key(w, "major_why"); /* why major is null (totals, regions, files), else null */
	m->have_fault_dur ? jw_null(w) : jw_str(w, fault_dur_why(m));
	jw_ku64(w, "file_backed", m->file_faults);
	/* record --fault-events=off: regions and code hold no faults, not "unknown" ones */
	jw_kbool(w, "addresses_recorded", !m->fault_addrs_off);
	jw_key(w, "regions");
	jw_arr_open(w);
	for (size_t i = 0; i < m->nregions; i++) {
		jw_obj_open(w);
		jw_kstr(w, "region", m->regions[i].name);
		jw_ku64(w, "faults", m->regions[i].faults);
		jw_ku64(w, "kernel", m->regions[i].kernel);
		jw_ku64(w, "write", m->regions[i].write);
		json_region(w, m, &m->regions[i]);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_ku64(w, "unknown", m->faults_unknown);
	jw_kbool(w, "mapping_syscalls", m->maptl_syscalls);
	json_files(w, m);
	jw_key(w, "code");
	faultsite_json(m, w); /* user/faultsite.c */
	jw_obj_close(w);
}

static void hdr_counters(struct jw *w, const struct model_counters *c)
{
	jw_key(w, "counters");
	if (!c->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_obj_open(w);
	jw_ku64(w, "faults_user", c->faults_user);
	jw_ku64(w, "faults_kernel", c->faults_kernel);
	jw_ku64(w, "khugepaged_scans", c->khugepaged_scans);
	jw_ku64(w, "kcompactd_wakes", c->kcompactd_wakes);
	jw_ku64(w, "compaction_deferred", c->compaction_deferred);
	jw_obj_close(w);
	jw_inline_end(w);
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
	hdr_counters(w, &m->counters);
	jw_obj_close(w);
}

static void json_findings(const struct model *m, struct jw *w)
{
	const struct finding *fs = m->verdict ? m->verdict->findings : NULL;
	int n = m->verdict ? m->verdict->nfindings : 0;

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
	const struct model_overhead *oh = &m->overhead;

	jw_key(w, "overhead");
	jw_obj_open(w);
	jw_kbool(w, "bpf_timed", oh->bpf_stats_enabled);
	jw_ku64(w, "bpf_run_ns", oh->bpf_run_ns);
	jw_ku64(w, "bpf_run_cnt", oh->bpf_run_cnt);
	jw_kdouble(w, "bpf_ns_per_run", oh->bpf_ns_per_run);
	jw_ku64(w, "user_cpu_ns", oh->user_cpu_ns);
	jw_ku64(w, "sys_cpu_ns", oh->sys_cpu_ns);
	jw_ku64(w, "max_rss_kb", oh->max_rss_kb);
	jw_ku64(w, "rss_end_kb", oh->rss_end_kb);
	jw_ku64(w, "rss_anon_end_kb", oh->rss_anon_end_kb);
	jw_ku64(w, "ringbuf_bytes", oh->ringbuf_bytes);
	jw_obj_close(w);
}

/* The probe plan: {"NAME": {"attach", "status", "reason"}, ...} on one line. */
static void hdr_probes(struct jw *w, const struct model_probe_plan *pp)
{
	jw_key(w, "probes");
	if (!pp->have) {
		jw_null(w);
		return;
	}
	jw_inline_begin(w);
	jw_obj_open(w);
	for (size_t i = 0; i < pp->n; i++) {
		jw_key(w, pp->probes[i].name);
		jw_obj_open(w);
		jw_kstr(w, "attach", pp->probes[i].attach);
		jw_kstr(w, "status", pp->probes[i].status);
		jw_kstr(w, "reason", pp->probes[i].reason);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_inline_end(w);
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
	hdr_probes(&w, &m->probes);
	jw_key(&w, "events");
	jw_obj_open(&w);
	jw_ku64(&w, "total", m->events);
	jw_ku64(&w, "dropped", m->dropped);
	jw_obj_close(&w);
	json_faults(m, &w);
	json_stalls(m, &w);
	jw_key(&w, "stall_stacks");
	stallstack_json(m, &w);
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
	    {"input", required_argument, NULL, 'i'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"requests", required_argument, NULL, OPT_REQUESTS},
	    {"clock", required_argument, NULL, OPT_CLOCK},
	    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
	    {"perfetto", required_argument, NULL, OPT_PERFETTO},
	    {"html", required_argument, NULL, OPT_HTML},
	    {"help", no_argument, NULL, 'h'},
	    {}};
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
