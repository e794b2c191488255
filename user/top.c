// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline top: a live, top-like view of a process tree's memory stalls. The BPF programs only
 * update in-kernel aggregates (per-CPU log2 histograms per cause, per-thread counters); this reads
 * them once per interval and shows the difference of two snapshots, so the view costs almost
 * nothing. Full-screen on ncurses, or plain frames with --batch.
 */
#include "cli.h"
#include "commands.h"
#include "faultline.skel.h"
#include "hist.h"
#include "live.h"
#include "livereq.h"
#include "model.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Thread-view columns; stall columns are milliseconds stalled per second of wall time. */
enum tcol {
	TC_FLT,
	TC_MAJ,
	TC_FAVG,
	TC_RECL,
	TC_COMPACT,
	TC_KHUGE,
	TC_LOCK,
	TC_ALLOC,
	TC_PINNED,
	TC_MAX
};
static const char *const tcol_names[TC_MAX] = {"FLT/s", "MAJ/s",  "F-AVG", "RECLM", "COMPCT",
					       "KHUGE", "MMLOCK", "ALLOC", "PINNED"};
enum ccol { CC_RATE, CC_TIME, CC_P50, CC_P99, CC_MAX, CC_TOTAL, CC_N };
static const char *const ccol_names[CC_N] = {"EVENTS/s", "MS/s", "P50", "P99", "MAX", "TOTAL"};

struct trow {
	uint32_t tid, pid;
	char comm[FL_COMM_LEN];
	double v[TC_MAX]; /* < 0: not available */
};

struct crow {
	int cause;
	double v[CC_N];
};

struct top {
	struct session_opts sopts;
	uint64_t interval_ms;
	bool batch;
	int frames; /* --batch -n: frames to print (0: until stopped) */
	struct session sess;
	struct uprobes *up;
	struct livereq req;
	struct live_snap base, prev, cur;
	struct live_proc proc;
	char thp_enabled[16], thp_defrag[32];
	bool have_fault_dur;
	/* the current frame */
	double dt_s;
	uint64_t faults, faults_major, drops, events;
	double cpu_pct, cpu_user_pct, cpu_bpf_pct;
	double req_rate;		   /* requests counted per second; < 0 before the first */
	uint64_t ttft_p50_ns, ttft_p99_ns; /* this interval's, exact; 0 when none */
	struct trow *rows;
	size_t nrows, cap_rows;
	struct crow causes[FL_CAUSE_MAX];
	uint64_t cause_hist[FL_CAUSE_MAX][FL_HIST_SLOTS]; /* this interval */
	bool show_alloc, show_pinned;
	int nframe;
	/* the screen */
	bool cause_view, paused, show_hist;
	int tsort, csort, selected;
	const char *stop_reason;
};

#define POLL_MS 100 /* --batch reads the requests' ring buffer this often between frames */

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: faultline top -p PID[,PID...] [--children] [-i SECONDS] [--batch [-n N]]\n"
	       "\n"
	       "A live view of a process tree's memory stalls, per thread or per cause, like top.\n"
	       "In-kernel aggregates are read once per interval; the only events are the targets' "
	       "HTTP\n"
	       "traffic (first bytes each way), parsed for requests/s and time to first token "
	       "(TTFT).\n"
	       "\n"
	       "  -p, --pid PID[,PID]     watch these processes (all their threads)\n"
	       "      --children          also their descendants, current and future\n"
	       "  -i, --interval SECONDS  refresh interval (default 1; 0.2, 500ms, 2s)\n"
	       "  -b, --batch             print plain-text frames to stdout (no terminal control)\n"
	       "  -n, --frames N          with --batch: stop after N "
	       "frames\n" CLI_USAGE_LIVE_ALLOC_CUDA
	       "      --wire on|off       requests/s and TTFT from the targets' TCP sockets "
	       "(default on)\n" CLI_USAGE_LIVE_TAIL "\n"
	       "Keys: t threads/causes, < > sort column, up/down select, h histogram of the "
	       "selected cause,\n"
	       "      p or space pause, q quit (as do Ctrl-C, SIGTERM and SIGHUP).\n"
	       "Columns: FLT/s and MAJ/s faults per second; F-AVG mean fault time (us, needs fault "
	       "durations);\n"
	       "      RECLM COMPCT KHUGE MMLOCK ALLOC PINNED: milliseconds stalled per second.\n"
	       "\n"
	       "Examples:\n"
	       "  sudo faultline top -p $(pgrep -f 'vllm serve') --children\n"
	       "  sudo faultline top -p 4242 --batch -n 5 -i 0.5 > frames.txt\n");
}

/* Top's own options; the shared ones went to cli_session_opt(). */
static int top_opt(struct top *t, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'i':
		if (live_parse_interval(arg, &t->interval_ms)) {
			fl_err("-i '%s': expected seconds from 0.01 to 3600 (1, 0.2, 500ms)", arg);
			return -EINVAL;
		}
		return 0;
	case 'b':
		t->batch = true;
		return 0;
	case 'n':
		if (parse_u64(arg, 1, 1000000, &v)) {
			fl_err("-n '%s': expected a number of frames from 1 to 1000000", arg);
			return -EINVAL;
		}
		t->frames = (int)v;
		return 0;
	case 'h':
		usage(stdout);
		exit(0);
	default:
		return cli_try_help("top");
	}
}

static int parse_args(struct top *t, int argc, char **argv)
{
	static const struct option longopts[] = {CLI_LONGOPTS_SESSION,
						 {"interval", required_argument, NULL, 'i'},
						 {"batch", no_argument, NULL, 'b'},
						 {"frames", required_argument, NULL, 'n'},
						 {}};
	int c, err;

	t->interval_ms = 1000;
	t->sopts.alloc_mode = FL_ALLOC_OFF;
	t->sopts.bpf_stats = true; /* the footer shows faultline's BPF time */
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:bn:vh", longopts, NULL)) != -1) {
		err = cli_session_opt(&t->sopts, c, optarg);
		if (err == CLI_NOT_MINE)
			err = top_opt(t, c, optarg);
		if (err)
			return err;
	}
	if (cli_no_operands("top", "", argc, argv))
		return -EINVAL;
	if (!t->sopts.npids) {
		fl_err("top: nothing to watch: give -p PID");
		return -EINVAL;
	}
	if (t->frames && !t->batch) {
		fl_err("top: -n only applies to --batch");
		return -EINVAL;
	}
	return cli_check_pids(&t->sopts);
}

/* --- one frame: the difference of two snapshots ---------------------------------------- */

static double per_s(const struct top *t, uint64_t v)
{
	return t->dt_s > 0 ? v / t->dt_s : 0;
}

static bool thread_alive(uint32_t pid, uint32_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/task/%u", pid, tid);
	return access(path, F_OK) == 0;
}

static bool tstat_active(const struct fl_tstat *d)
{
	if (d->faults)
		return true;
	for (int c = 0; c < FL_CAUSE_MAX; c++)
		if (d->stall_count[c])
			return true;
	return false;
}

static void fill_trow(const struct top *t, const struct live_thread *th, const struct fl_tstat *d,
		      struct trow *r)
{
	const double ms = 1e6;

	r->tid = th->tid;
	r->pid = th->st.pid;
	memcpy(r->comm, th->st.comm, FL_COMM_LEN);
	r->comm[FL_COMM_LEN - 1] = 0;
	r->v[TC_FLT] = per_s(t, d->faults);
	r->v[TC_MAJ] = t->have_fault_dur ? per_s(t, d->faults_major) : -1;
	r->v[TC_FAVG] = !t->have_fault_dur ? -1
			: d->stall_count[FL_CAUSE_FAULT]
			    ? d->stall_ns[FL_CAUSE_FAULT] / 1e3 / d->stall_count[FL_CAUSE_FAULT]
			    : 0;
	r->v[TC_RECL] =
	    per_s(t, d->stall_ns[FL_CAUSE_DIRECT_RECLAIM] + d->stall_ns[FL_CAUSE_MEMCG_RECLAIM]) /
	    ms;
	r->v[TC_COMPACT] = per_s(t, d->stall_ns[FL_CAUSE_DIRECT_COMPACTION]) / ms;
	r->v[TC_KHUGE] = per_s(t, d->stall_ns[FL_CAUSE_KHUGEPAGED]) / ms;
	r->v[TC_LOCK] = per_s(t, d->stall_ns[FL_CAUSE_MMAP_LOCK_WAIT]) / ms;
	r->v[TC_ALLOC] = per_s(t, d->stall_ns[FL_CAUSE_ALLOC]) / ms;
	r->v[TC_PINNED] = per_s(t, d->stall_ns[FL_CAUSE_PINNED]) / ms;
}

static int build_thread_rows(struct top *t)
{
	t->nrows = 0;
	for (size_t i = 0; i < t->cur.nthreads; i++) {
		const struct live_thread *th = &t->cur.threads[i];
		struct fl_tstat d, since;

		live_thread_delta(&t->prev, th, &d);
		live_thread_delta(&t->base, th, &since);
		/* active now, or active since top started and still there */
		if (!tstat_active(&d) &&
		    !(tstat_active(&since) && thread_alive(th->st.pid, th->tid)))
			continue;
		if (grow_array((void **)&t->rows, &t->cap_rows, t->nrows, sizeof(*t->rows), 64))
			return -ENOMEM;
		fill_trow(t, th, &d, &t->rows[t->nrows++]);
	}
	return 0;
}

static void build_cause_rows(struct top *t, const struct fl_tstat *sum)
{
	uint64_t since[FL_HIST_SLOTS];

	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		uint64_t *h = t->cause_hist[c];
		struct crow *r = &t->causes[c];

		live_hist_delta(&t->prev, &t->cur, c, h);
		live_hist_delta(&t->base, &t->cur, c, since);
		r->cause = c;
		r->v[CC_RATE] = per_s(t, log2hist_total(h));
		r->v[CC_TIME] = per_s(t, sum->stall_ns[c]) / 1e6;
		r->v[CC_P50] = (double)log2hist_pct(h, 50, 0, UINT64_MAX);
		r->v[CC_P99] = (double)log2hist_pct(h, 99, 0, UINT64_MAX);
		r->v[CC_MAX] =
		    (double)log2hist_pct(h, 100, 0, UINT64_MAX); /* the top slot's bound */
		r->v[CC_TOTAL] = (double)log2hist_total(since);
		if (c == FL_CAUSE_FAULT && !t->have_fault_dur)
			for (int k = 0; k < CC_N; k++)
				r->v[k] = -1; /* no fault durations on this kernel */
	}
	/* allocator and pinned-memory columns once those probes have seen a call */
	t->show_pinned = t->causes[FL_CAUSE_PINNED].v[CC_TOTAL] > 0;
	t->show_alloc = t->causes[FL_CAUSE_ALLOC].v[CC_TOTAL] > 0;
}

static void build_totals(struct top *t, const struct fl_tstat *sum)
{
	uint64_t run_ns = t->cur.bpf_run_ns - t->prev.bpf_run_ns;
	uint64_t user_ns = t->cur.self_cpu_ns - t->prev.self_cpu_ns;
	uint64_t *c = t->cur.counters, *p = t->prev.counters;
	double wall_ns = t->dt_s * 1e9;

	t->faults = c[FL_CNT_FAULTS_USER] - p[FL_CNT_FAULTS_USER] + c[FL_CNT_FAULTS_KERNEL] -
		    p[FL_CNT_FAULTS_KERNEL];
	t->faults_major = sum->faults_major;
	t->drops = c[FL_CNT_DROPS] - p[FL_CNT_DROPS];
	t->events = t->faults;
	for (int i = 0; i < FL_CAUSE_MAX; i++)
		t->events += i == FL_CAUSE_FAULT ? 0 : sum->stall_count[i];
	t->cpu_user_pct = wall_ns > 0 ? 100.0 * user_ns / wall_ns : 0;
	t->cpu_bpf_pct = wall_ns > 0 ? 100.0 * run_ns / wall_ns : 0;
	t->cpu_pct = t->cpu_user_pct + t->cpu_bpf_pct;
}

/* This interval's requests (counted at their first token) and their exact TTFT percentiles. */
static void build_requests(struct top *t)
{
	struct livereq *lr = &t->req;

	if (!lr->total) {
		t->req_rate = -1;
		return;
	}
	t->req_rate = per_s(t, lr->interval_reqs);
	t->ttft_p50_ns = u64vec_pct(&lr->interval_ttft_ns, 50);
	t->ttft_p99_ns = u64vec_pct(&lr->interval_ttft_ns, 99);
	livereq_interval_reset(lr);
}

static int tsort_cmp_col;

static int trow_cmp(const void *a, const void *b)
{
	const struct trow *x = a, *y = b;
	double u = x->v[tsort_cmp_col], w = y->v[tsort_cmp_col];

	if (u != w)
		return u < w ? 1 : -1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int crow_cmp(const void *a, const void *b)
{
	const struct crow *x = a, *y = b;
	double u = x->v[tsort_cmp_col], w = y->v[tsort_cmp_col];

	if (u != w)
		return u < w ? 1 : -1;
	return x->cause - y->cause;
}

static int build_frame(struct top *t)
{
	struct fl_tstat sum;
	int err;

	t->dt_s = (t->cur.ts_ns - t->prev.ts_ns) / 1e9;
	live_threads_delta_sum(&t->prev, &t->cur, &sum);
	err = build_thread_rows(t);
	if (err)
		return err;
	build_cause_rows(t, &sum);
	build_totals(t, &sum);
	build_requests(t);
	tsort_cmp_col = t->tsort;
	sort_n(t->rows, t->nrows, sizeof(*t->rows), trow_cmp);
	tsort_cmp_col = t->csort;
	sort_n(t->causes, FL_CAUSE_MAX, sizeof(*t->causes), crow_cmp);
	return 0;
}

/* --- text of a frame, shared by the screen and --batch ---------------------------------- */

typedef void (*line_fn)(struct top *t, int attr, const char *line);

/* Fits in 6 columns: 0.3 42 9999 12.3k 123k 1.2M; "-" when not available. */
static const char *fmt_num(double v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else if (v == 0)
		snprintf(buf, len, "0");
	else if (v < 10 && v != (double)(uint64_t)v)
		snprintf(buf, len, "%.1f", v);
	else if (v < 10000)
		snprintf(buf, len, "%.0f", v);
	else if (v < 1e5)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else if (v < 1e7)
		snprintf(buf, len, "%.0fk", v / 1e3);
	else
		snprintf(buf, len, "%.1fM", v / 1e6);
	return buf;
}

static const char *fmt_dur(uint64_t ns, char *buf, size_t len)
{
	return ns ? fmt_ns(ns, buf, len) : strcpy(buf, "-");
}

static const char *fmt_uptime(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
	else
		snprintf(buf, len, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s % 3600 / 60,
			 s % 60);
	return buf;
}

static void header_lines(struct top *t, line_fn out)
{
	char line[512], a[32], b[32], c[32], d[32], e[32];
	const struct live_proc *p = &t->proc;
	uint64_t *ah = t->cause_hist[FL_CAUSE_ALLOC], *ph = t->cause_hist[FL_CAUSE_PINNED];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(d, sizeof(d), "%H:%M:%S", &tm);
	snprintf(line, sizeof(line), "faultline top - %s  pid %d (%s)%s  up %s  interval %.2fs%s",
		 d, p->pid, fl_esc(p->comm), t->sopts.children ? " +children" : "",
		 fmt_uptime(p->uptime_s, a, sizeof(a)), t->interval_ms / 1000.0,
		 t->paused ? "  [paused]" : "");
	out(t, 0, line);
	snprintf(line, sizeof(line),
		 "RSS %s  huge %s (%.0f%%)  THP enabled=%s defrag=%s  allocator %s",
		 fmt_bytes(p->rss_kb << 10, a, sizeof(a)),
		 fmt_bytes(p->anon_huge_kb << 10, b, sizeof(b)),
		 p->rss_kb ? 100.0 * p->anon_huge_kb / p->rss_kb : 0.0, t->thp_enabled,
		 t->thp_defrag, p->allocator);
	out(t, 0, line);
	/* "-" until the first request is seen (or with --wire off) */
	snprintf(line, sizeof(line),
		 "requests/s %s  TTFT p50 %s  p99 %s  events/s %s  drops %" PRIu64
		 "  faultline CPU %.2f%% (user %.2f%% + BPF %.2f%%)",
		 fmt_num(t->req_rate, a, sizeof(a)), fmt_dur(t->ttft_p50_ns, b, sizeof(b)),
		 fmt_dur(t->ttft_p99_ns, c, sizeof(c)), fmt_num(per_s(t, t->events), e, sizeof(e)),
		 t->drops, t->cpu_pct, t->cpu_user_pct, t->cpu_bpf_pct);
	out(t, 0, line);
	snprintf(
	    line, sizeof(line),
	    "Faults: %" PRIu64 " in %.3fs (%s/s)  major %s  fault p99 %s  alloc p99 %s  "
	    "pinned p99 %s",
	    t->faults, t->dt_s, fmt_num(per_s(t, t->faults), a, sizeof(a)),
	    t->have_fault_dur ? fmt_num(per_s(t, t->faults_major), b, sizeof(b)) : "-",
	    fmt_dur(log2hist_pct(t->cause_hist[FL_CAUSE_FAULT], 99, 0, UINT64_MAX), c, sizeof(c)),
	    fmt_dur(log2hist_pct(ah, 99, 0, UINT64_MAX), d, sizeof(d)),
	    fmt_dur(log2hist_pct(ph, 99, 0, UINT64_MAX), e, sizeof(e)));
	out(t, 0, line);
}

static bool tcol_shown(const struct top *t, int col)
{
	return (col != TC_ALLOC || t->show_alloc) && (col != TC_PINNED || t->show_pinned);
}

static void thread_table(struct top *t, line_fn out, int max_rows)
{
	char line[512], num[16];
	int n = 0;

	n = snprintf(line, sizeof(line), "%8s %7s %-15s", "PID", "TID", "COMM");
	for (int c = 0; c < TC_MAX; c++)
		if (tcol_shown(t, c))
			n += snprintf(line + n, sizeof(line) - n, " %6s%c", tcol_names[c],
				      c == t->tsort ? '*' : ' ');
	out(t, A_REVERSE, line);
	for (size_t i = 0; i < t->nrows && (max_rows < 0 || (int)i < max_rows); i++) {
		const struct trow *r = &t->rows[i];

		n = snprintf(line, sizeof(line), "%8u %7u %-15s", r->pid, r->tid, fl_esc(r->comm));
		for (int c = 0; c < TC_MAX; c++)
			if (tcol_shown(t, c))
				n += snprintf(line + n, sizeof(line) - n, " %6s ",
					      fmt_num(r->v[c], num, sizeof(num)));
		out(t, !t->batch && (int)i == t->selected ? A_BOLD | A_UNDERLINE : 0, line);
	}
}

static void cause_table(struct top *t, line_fn out)
{
	char line[512], v[CC_N][32];
	int n;

	n = snprintf(line, sizeof(line), "%-18s", "CAUSE");
	for (int c = 0; c < CC_N; c++)
		n += snprintf(line + n, sizeof(line) - n, " %9s%c", ccol_names[c],
			      c == t->csort ? '*' : ' ');
	out(t, A_REVERSE, line);
	for (int i = 0; i < FL_CAUSE_MAX; i++) {
		const struct crow *r = &t->causes[i];

		fmt_num(r->v[CC_RATE], v[CC_RATE], sizeof(v[0]));
		snprintf(v[CC_TIME], sizeof(v[0]), r->v[CC_TIME] < 0 ? "-" : "%.2f", r->v[CC_TIME]);
		for (int c = CC_P50; c <= CC_MAX; c++)
			fmt_dur(r->v[c] < 0 ? 0 : (uint64_t)r->v[c], v[c], sizeof(v[0]));
		fmt_num(r->v[CC_TOTAL], v[CC_TOTAL], sizeof(v[0]));
		n = snprintf(line, sizeof(line), "%-18s", fl_cause_names[r->cause]);
		for (int c = 0; c < CC_N; c++)
			n += snprintf(line + n, sizeof(line) - n, " %9s ", v[c]);
		out(t, !t->batch && i == t->selected ? A_BOLD | A_UNDERLINE : 0, line);
	}
}

/* The selected cause in the cause view; in the thread view, the cause of the sort column. */
static int selected_cause(const struct top *t)
{
	static const int of_col[TC_MAX] = {
	    [TC_FLT] = FL_CAUSE_FAULT,
	    [TC_MAJ] = FL_CAUSE_FAULT,
	    [TC_FAVG] = FL_CAUSE_FAULT,
	    [TC_RECL] = FL_CAUSE_DIRECT_RECLAIM,
	    [TC_COMPACT] = FL_CAUSE_DIRECT_COMPACTION,
	    [TC_KHUGE] = FL_CAUSE_KHUGEPAGED,
	    [TC_LOCK] = FL_CAUSE_MMAP_LOCK_WAIT,
	    [TC_ALLOC] = FL_CAUSE_ALLOC,
	    [TC_PINNED] = FL_CAUSE_PINNED,
	};

	if (t->cause_view && t->selected >= 0 && t->selected < FL_CAUSE_MAX)
		return t->causes[t->selected].cause;
	return of_col[t->tsort];
}

static void hist_lines(struct top *t, line_fn out)
{
	int cause = selected_cause(t);
	struct log2hist h;
	char line[160], *buf = NULL, *p, *nl;
	size_t len = 0;
	FILE *f;

	live_hist_delta(&t->base, &t->cur, cause, h.slots);
	snprintf(line, sizeof(line), "%s latency since start (%" PRIu64 " stalls; h to close)",
		 fl_cause_names[cause], log2hist_total(h.slots));
	out(t, A_REVERSE, line);
	f = open_memstream(&buf, &len);
	if (!f)
		return;
	log2hist_print(f, &h, "usecs", true);
	fclose(f);
	for (p = buf; p && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = 0;
		out(t, 0, p);
	}
	if (!log2hist_total(h.slots))
		out(t, 0,
		    cause == FL_CAUSE_FAULT && !t->have_fault_dur
			? "  (no fault durations on this kernel: fentry and kprobes are refused)"
			: "  (none yet)");
	free(buf);
}

struct prog_delta {
	const char *name;
	uint64_t ns, cnt;
};

static int prog_delta_cmp(const void *a, const void *b)
{
	const struct prog_delta *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? 1 : -1;
	return strcmp(x->name, y->name);
}

/*
 * The footer: faultline's own BPF time this interval, per program (bpf_stats run_time_ns and
 * run_cnt), the costliest first. The kernel counts it only while BPF_ENABLE_STATS is held (top
 * asks for it, which needs CAP_SYS_ADMIN) or kernel.bpf_stats_enabled is 1.
 */
#define FOOTER_PROGS 4

static void bpf_footer(struct top *t, line_fn out)
{
	const struct live_snap *c = &t->cur, *p = &t->prev;
	struct prog_delta d[SESSION_MAX_PROGS];
	char line[512], a[32], b[32];
	int n = 0, len;

	if (!c->bpf_stats_on && !t->sopts.bpf_stats) {
		out(t, 0, "BPF time: not counted (--bpf-stats off)");
		return;
	}
	if (!c->bpf_stats_on) {
		out(t, 0,
		    "BPF time: not counted: kernel.bpf_stats_enabled=0 and faultline could not "
		    "turn the stats on (needs CAP_SYS_ADMIN); sysctl -w "
		    "kernel.bpf_stats_enabled=1 does");
		return;
	}
	for (int i = 0; i < c->nprogs; i++) {
		bool same = p->nprogs == c->nprogs && !strcmp(p->progs[i].name, c->progs[i].name);
		uint64_t cnt = c->progs[i].run_cnt - (same ? p->progs[i].run_cnt : 0);
		uint64_t ns = c->progs[i].run_ns - (same ? p->progs[i].run_ns : 0);

		if (cnt)
			d[n++] = (struct prog_delta){c->progs[i].name, ns, cnt};
	}
	sort_n(d, n, sizeof(*d), prog_delta_cmp);
	len = snprintf(line, sizeof(line), "BPF time %.2f%% of a core:", t->cpu_bpf_pct);
	for (int i = 0; i < n && i < FOOTER_PROGS && len < (int)sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - len, "  %s %s x %s/s", d[i].name,
				fmt_dur(d[i].ns / d[i].cnt, a, sizeof(a)),
				fmt_num(per_s(t, d[i].cnt), b, sizeof(b)));
	if (n > FOOTER_PROGS && len < (int)sizeof(line))
		snprintf(line + len, sizeof(line) - len, "  +%d more", n - FOOTER_PROGS);
	else if (!n && len < (int)sizeof(line))
		snprintf(line + len, sizeof(line) - len, "  no program ran");
	out(t, 0, line);
}

/* --- --batch ------------------------------------------------------------------------- */

static void batch_line(struct top *t, int attr, const char *line)
{
	puts(line);
}

static void batch_frame(struct top *t)
{
	header_lines(t, batch_line);
	puts("");
	thread_table(t, batch_line, -1);
	puts("");
	cause_table(t, batch_line);
	puts("");
	bpf_footer(t, batch_line);
	puts("");
	fflush(stdout);
}

/* --- the screen ------------------------------------------------------------------------ */

static int screen_y;

static void screen_line(struct top *t, int attr, const char *line)
{
	if (screen_y >= LINES - 1)
		return;
	attrset(attr);
	mvaddnstr(screen_y, 0, line, COLS);
	if (attr & A_REVERSE)
		for (int x = (int)strlen(line); x < COLS; x++)
			mvaddch(screen_y, x, ' ');
	attrset(A_NORMAL);
	screen_y++;
}

static void screen_draw(struct top *t)
{
	static const char help[] = "q quit  t threads/causes  < > sort  up/down select  "
				   "h histogram  p pause";

	erase();
	screen_y = 0;
	header_lines(t, screen_line);
	screen_y++;
	if (t->show_hist)
		hist_lines(t, screen_line);
	else if (t->cause_view)
		cause_table(t, screen_line);
	else
		thread_table(t, screen_line, LINES - screen_y - 3);
	screen_y = LINES - 2;
	bpf_footer(t, screen_line);
	attrset(A_REVERSE);
	mvaddnstr(LINES - 1, 0, help, COLS);
	for (int x = (int)strlen(help); x < COLS; x++)
		mvaddch(LINES - 1, x, ' ');
	attrset(A_NORMAL);
	refresh();
}

static void screen_open(void)
{
	setlocale(LC_ALL, "");
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
}

/* Returns true when the key asks to quit. */
static bool on_key(struct top *t, int key)
{
	int ncols = t->cause_view ? CC_N : TC_MAX;
	int *sort = t->cause_view ? &t->csort : &t->tsort;
	int nrows = t->cause_view ? FL_CAUSE_MAX : (int)t->nrows;

	switch (key) {
	case 'q':
	case 'Q':
		return true;
	case 't':
	case '\t':
		t->cause_view = !t->cause_view;
		t->selected = 0;
		break;
	case '<':
	case ',':
	case '>':
	case '.':
		/* only over the columns on screen: ALLOC and PINNED are hidden until they have data
		 */
		do
			*sort = (*sort + (key == '<' || key == ',' ? ncols - 1 : 1)) % ncols;
		while (!t->cause_view && !tcol_shown(t, *sort));
		break;
	case KEY_UP:
	case 'k':
		t->selected = t->selected > 0 ? t->selected - 1 : 0;
		break;
	case KEY_DOWN:
	case 'j':
		t->selected = t->selected + 1 < nrows ? t->selected + 1 : t->selected;
		break;
	case 'h':
	case '\n':
	case KEY_ENTER:
		t->show_hist = !t->show_hist;
		break;
	case 'p':
	case ' ':
		t->paused = !t->paused;
		break;
	}
	return false;
}

/* --- the loop ------------------------------------------------------------------------- */

static bool targets_left(struct top *t)
{
	__u32 key;

	session_prune_dead(&t->sess);
	return bpf_map_get_next_key(bpf_map__fd(t->sess.skel->maps.targets), NULL, &key) == 0;
}

/* Takes a new snapshot and builds the frame from it. 0, 1 when the targets are gone, -errno. */
static int tick(struct top *t)
{
	int err;

	live_snap_move(&t->prev, &t->cur);
	err = live_snap_read(&t->sess, &t->cur);
	if (err) {
		fl_err("reading the in-kernel aggregates: %s", strerror(-err));
		return err;
	}
	live_proc_read(t->proc.pid, &t->proc, false);
	uprobes_poll(t->up);
	livereq_poll(&t->req, &t->sess, 0);
	err = build_frame(t);
	if (err)
		return err;
	t->nframe++;
	if (!targets_left(t)) {
		t->stop_reason = "every target has exited";
		return 1;
	}
	return 0;
}

static int sleep_ms(uint64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		if (cli_stop_signal)
			return -EINTR;
	return 0;
}

/* Waits MS, reading the requests' ring buffer every 100 ms meanwhile. -EINTR when stopped. */
static int wait_ms(struct top *t, uint64_t ms)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC), end = now + ms * 1000000ull;

	if (!t->req.on)
		return sleep_ms(ms);
	for (; now < end && !cli_stop_signal; now = clock_ns(CLOCK_MONOTONIC)) {
		uint64_t left_ms = (end - now + 999999) / 1000000;

		livereq_poll(&t->req, &t->sess, left_ms < POLL_MS ? (int)left_ms : POLL_MS);
	}
	return cli_stop_signal ? -EINTR : 0;
}

static int run_batch(struct top *t)
{
	int err = 0;

	while (!cli_stop_signal && (!t->frames || t->nframe < t->frames)) {
		if (wait_ms(t, t->interval_ms))
			break;
		err = tick(t);
		if (err < 0)
			return err;
		batch_frame(t);
		if (err)
			break;
	}
	return 0;
}

/*
 * How long getch() may wait for a key: until the next frame, but at most TOP_KEY_WAIT_MS, so a
 * SIGINT/SIGTERM that lands just before getch() (between the cli_stop_signal check and its poll,
 * or while ncurses retries an interrupted read) still ends top, and restores the terminal,
 * within that time.
 */
#define TOP_KEY_WAIT_MS 100

static int key_wait_ms(uint64_t left_ns)
{
	uint64_t ms = left_ns / 1000000 + 1;

	return ms < TOP_KEY_WAIT_MS ? (int)ms : TOP_KEY_WAIT_MS;
}

static int run_screen(struct top *t)
{
	uint64_t next = clock_ns(CLOCK_MONOTONIC) + t->interval_ms * 1000000ull;
	int err = 0;

	screen_open();
	screen_draw(t);
	while (!cli_stop_signal) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		int key;

		timeout(now >= next ? 0 : key_wait_ms(next - now));
		key = getch();
		livereq_poll(&t->req, &t->sess, 0); /* read at least every TOP_KEY_WAIT_MS */
		if (key != ERR && key != KEY_RESIZE && on_key(t, key))
			break;
		if (key == ERR && clock_ns(CLOCK_MONOTONIC) < next)
			continue; /* woke up early to look at cli_stop_signal: nothing to draw */
		if (clock_ns(CLOCK_MONOTONIC) >= next) {
			next += t->interval_ms * 1000000ull;
			if (next < clock_ns(CLOCK_MONOTONIC))
				next = clock_ns(CLOCK_MONOTONIC) + t->interval_ms * 1000000ull;
			if (!t->paused && (err = tick(t)))
				break;
		}
		if (t->selected >= (t->cause_view ? FL_CAUSE_MAX : (int)t->nrows))
			t->selected = 0;
		screen_draw(t);
	}
	endwin();
	return err < 0 ? err : 0;
}

static int top_start(struct top *t)
{
	int err;

	err = live_session_open(&t->sess, &t->sopts, &t->up, &t->req);
	if (err)
		return err;
	t->req_rate = -1;
	t->have_fault_dur = probe_plan_active(&t->sess.plan, "fault_duration");
	live_thp_modes(t->thp_enabled, sizeof(t->thp_enabled), t->thp_defrag,
		       sizeof(t->thp_defrag));
	err = live_proc_read(t->sopts.pids[0], &t->proc, true);
	if (err) {
		fl_err("pid %d exited before faultline could watch it", t->sopts.pids[0]);
		return err;
	}
	err = live_snap_read(&t->sess, &t->cur);
	if (err) {
		fl_err("reading the in-kernel aggregates: %s", strerror(-err));
		return err;
	}
	t->base = t->cur;
	t->base.threads = NULL;
	t->base.nthreads = t->base.cap = 0;
	t->prev = t->base;
	if (t->batch)
		fprintf(stderr, "faultline: watching pid %d (%s), a frame every %.2fs\n",
			t->proc.pid, fl_esc(t->proc.comm), t->interval_ms / 1000.0);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct top t = {};
	int err;

	if (parse_args(&t, argc, argv))
		return 2;
	cli_catch_stop_signals();
	err = top_start(&t);
	if (!err)
		err = t.batch ? run_batch(&t) : run_screen(&t);
	if (t.stop_reason && !err)
		fprintf(stderr, "faultline: %s\n", t.stop_reason);
	live_snap_free(&t.cur);
	live_snap_free(&t.prev);
	live_snap_free(&t.base);
	free(t.rows);
	live_session_close(&t.sess, t.up, &t.req);
	return err ? 1 : 0;
}
