// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline diff BASE NEW: two recordings side by side (glibc vs jemalloc, THP always vs madvise).
 * Each file is built into the one model (user/model.c); the figures are read from the model's
 * structs (the allocator's from user/alloc_model.h, the requests' from reqview_ttft), the ones
 * the report prints. Settings that differ come first: they usually explain the rest.
 */
#include "alloc_model.h"
#include "commands.h"
#include "jw.h"
#include "model.h"
#include "reqreport.h"
#include "util.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_JSON_VERSION 1
#define SIDES 2
#define NAME_LEN 96
#define SETTING_LEN 256
#define CMD_WHOLE_LEN 100     /* a longer command is shown by the arguments that differ */
#define BIG_RATIO 2.0	      /* a cause "changed a lot": x2 either way ... */
#define BIG_MIN_COUNT 5	      /* ... by at least this many stalls ... */
#define BIG_MIN_NS 1000000ull /* ... or this much stall time */
#define REQ_RATIO 1.1	      /* TTFT "changed": by 10% either way ... */
#define REQ_MIN_NS 1000000.0  /* ... and by at least 1 ms */

static const char *const side_names[SIDES] = {"base", "new"};

enum section {
	SEC_SESSION,
	SEC_EVENTS,
	SEC_FAULTS,
	SEC_STALLS,
	SEC_ALLOC,
	SEC_PINNED,
	SEC_REQUESTS,
	SEC_MAX
};
static const char *const section_titles[SEC_MAX] = {
    "Session",
    "Events",
    "Page faults",
    "Stalls",
    "Allocator",
    "Pinned memory",
    "Requests (time to first token, from the wire)",
};

enum unit { U_COUNT, U_NS, U_BYTES, U_RATE, U_SEC };

struct metric {
	char name[NAME_LEN];  /* JSON "metric": faults.total, stalls.direct_compaction.p99_ns */
	char label[NAME_LEN]; /* text row */
	enum section sec;
	enum unit unit;
	bool have[SIDES];
	double v[SIDES];
};

/* Settings compared as strings, in the order they are shown. */
enum setting {
	SET_THP_ENABLED,
	SET_THP_DEFRAG,
	SET_KHUGEPAGED_DEFRAG,
	SET_HUGEPAGES,
	SET_ALLOCATOR,
	SET_ALLOC_MODE,
	SET_ENV,
	SET_COMMAND,
	SET_KERNEL,
	SET_MAX
};
static const char *const setting_names[SET_MAX] = {
    "thp.enabled",
    "thp.defrag",
    "thp.khugepaged_defrag",
    "hugepages.nr_hugepages",
    "allocator",
    "alloc.mode",
    "env",
    "command",
    "kernel",
};
static const char *const setting_labels[SET_MAX] = {
    "THP enabled",	  "THP defrag", "khugepaged defrag",
    "hugepages reserved", "allocator",	"--alloc",
    "environment",	  "command",	"kernel",
};

struct diff_opts {
	const char *path[SIDES];
	bool json;
};

struct diff {
	struct model m[SIDES];
	bool built[SIDES];
	struct req_ttft req[SIDES];
	bool have_req[SIDES]; /* requests to compare (the report's "requests" is not null) */
	char settings[SIDES][SET_MAX][SETTING_LEN];
	struct metric *mv;
	size_t n, cap;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: faultline diff [--json] [--max-memory SIZE] BASE.data NEW.data\n"
	    "\n"
	    "Compare two recordings side by side: settings that differ (THP, allocator, "
	    "environment,\n"
	    "command), events, page faults, each stall cause (count, total, p50, p99, max, per "
	    "second),\n"
	    "allocator and pinned-memory calls, and TTFT when both recordings saw requests on the "
	    "wire.\n"
	    "Changes are NEW - BASE, and in %% of BASE.\n"
	    "\n"
	    "      --json   the comparison as JSON: {version, base, new, changes[], verdicts[]}\n"
	    "      --max-memory SIZE   refuse recordings that need more memory than SIZE, both "
	    "together\n"
	    "               (512M, 2G; 'unlimited'); default half of MemAvailable\n"
	    "  -h, --help   this text\n"
	    "\n"
	    "Examples:\n"
	    "  faultline diff glibc.data jemalloc.data\n"
	    "  faultline diff thp-always.data thp-madvise.data --json > change.json\n");
}

/* --- metrics ---------------------------------------------------------------------------------- */

static struct metric *metric_get(struct diff *d, const char *name)
{
	struct metric *nv;

	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->mv[i].name, name))
			return &d->mv[i];
	if (grow_array((void **)&d->mv, &d->cap, d->n, sizeof(*d->mv), 64))
		return NULL;
	nv = &d->mv[d->n++];
	memset(nv, 0, sizeof(*nv));
	snprintf(nv->name, sizeof(nv->name), "%s", name);
	return nv;
}

/* Value V of metric NAME (shown as LABEL in SEC) for SIDE. */
static void put(struct diff *d, int side, enum section sec, enum unit unit, double v,
		const char *name, const char *label)
{
	struct metric *mt = metric_get(d, name);

	if (!mt)
		return;
	snprintf(mt->label, sizeof(mt->label), "%s", label);
	mt->sec = sec;
	mt->unit = unit;
	mt->have[side] = true;
	mt->v[side] = v;
}

static bool metric_changed(const struct metric *mt)
{
	return mt->have[0] != mt->have[1] || (mt->have[0] && mt->v[0] != mt->v[1]);
}

static const struct metric *metric_find(const struct diff *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->mv[i].name, name))
			return &d->mv[i];
	return NULL;
}

/* --- collecting one side ---------------------------------------------------------------------- */

/* Appends S to OUT (USED so far, ", " between) unless OUT already holds it. */
static size_t join_once(char *out, size_t len, size_t used, const char *s)
{
	if (!s || strstr(out, s))
		return used;
	return used +
	       snprintf(out + used, used < len ? len - used : 0, "%s%s", used ? ", " : "", s);
}

/*
 * Distinct allocators (ENV false) or environment hints (ENV true) over the targets, joined by
 * ", ": each target as the process that did the work (a launcher's child, the program it exec'd).
 */
static void targets_join(const struct model *m, bool env, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < m->session.ntargets; i++) {
		const struct model_process *w = m->session.targets[i].worker;

		if (!w)
			continue;
		if (!env)
			used = join_once(out, len, used, w->allocator);
		for (size_t k = 0; env && k < w->env.n; k++)
			used = join_once(out, len, used, w->env.v[k]);
	}
	if (!out[0])
		snprintf(out, len, "%s", env ? "(none of interest)" : "?");
}

/*
 * The allocators the probes found (--alloc=full: what the processes really used, after any
 * exec), else those the metadata saw in the targets at the start.
 */
static void allocators(const struct diff *d, int side, char *out, size_t len)
{
	const struct alloc_model *a = d->m[side].alloc;
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; a && i < a->nlibs; i++) {
		const char *name = a->libs[i].allocator;

		if (!alloc_lib_is_allocator(&a->libs[i]) || !name || strstr(out, name))
			continue;
		used += snprintf(out + used, used < len ? len - used : 0, "%s%s", used ? ", " : "",
				 name);
	}
	if (!out[0])
		targets_join(&d->m[side], false, out, len);
}

/* The first target's command line as the process that did the work, or NULL. */
static const struct model_strv *target_cmdline(const struct model *m)
{
	const struct model_process *w = m->session.ntargets ? m->session.targets[0].worker : NULL;

	return w && w->cmdline.n ? &w->cmdline : NULL;
}

static const char *arg_at(const struct model_strv *cmd, size_t i)
{
	const char *s = cmd && i < cmd->n ? cmd->v[i] : NULL, *slash;

	if (!s)
		return "?";
	slash = i ? NULL : strrchr(s, '/');
	return slash ? slash + 1 : s;
}

static bool strv_equal(const struct model_strv *a, const struct model_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i] ?: "", b->v[i] ?: ""))
			return false;
	return true;
}

/* Appends "SEP S" to OUT (USED so far); "…" at the end when it does not fit. */
static size_t put_arg(char *out, size_t len, size_t used, const char *s)
{
	int n = snprintf(out + used, used < len ? len - used : 0, "%s%s", used ? " " : "", s);

	if (used + n >= len && len > 4)
		strcpy(out + len - 4, "…");
	return used + n;
}

/* Arguments FROM..TO (exclusive) of CMD, the program by its base name. */
static void join_args(const struct model_strv *cmd, size_t from, size_t to, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = from; i < to; i++)
		used = put_arg(out, len, used, arg_at(cmd, i));
}

/*
 * The command setting of both sides: the whole command line (program by its base name) when both
 * are short or they are the same; else the program and the arguments that differ, with "…" for
 * the common ones around them (the option before a differing value is kept: "--thp none").
 */
static void command_settings(struct diff *d)
{
	const struct model_strv *cmd[SIDES] = {target_cmdline(&d->m[0]), target_cmdline(&d->m[1])};
	size_t n[SIDES], pre = 0, suf = 0, used;
	bool longer = false;

	for (int s = 0; s < SIDES; s++) {
		char *out = d->settings[s][SET_COMMAND];

		n[s] = cmd[s] ? cmd[s]->n : 0;
		join_args(cmd[s], 0, n[s], out, SETTING_LEN);
		if (!cmd[s])
			snprintf(out, SETTING_LEN, "?");
		longer |= strlen(out) > CMD_WHOLE_LEN;
	}
	if (!cmd[0] || !cmd[1] || strv_equal(cmd[0], cmd[1]) || !longer)
		return;
	while (pre < n[0] && pre < n[1] && !strcmp(arg_at(cmd[0], pre), arg_at(cmd[1], pre)))
		pre++;
	while (suf < n[0] - pre && suf < n[1] - pre &&
	       !strcmp(arg_at(cmd[0], n[0] - 1 - suf), arg_at(cmd[1], n[1] - 1 - suf)))
		suf++;
	/* keep the option whose value differs, and the program's name */
	if (pre > 1 && arg_at(cmd[0], pre - 1)[0] == '-')
		pre--;
	for (int s = 0; s < SIDES; s++) {
		char *out = d->settings[s][SET_COMMAND], mid[SETTING_LEN];

		out[0] = '\0';
		used = 0;
		if (pre > 0)
			used = put_arg(out, SETTING_LEN, used, arg_at(cmd[s], 0));
		if (pre > 1)
			used = put_arg(out, SETTING_LEN, used, "…");
		join_args(cmd[s], pre ? pre : 0, n[s] - suf, mid, sizeof(mid));
		if (mid[0])
			used = put_arg(out, SETTING_LEN, used, mid);
		else
			used = put_arg(out, SETTING_LEN, used, "(no argument)");
		if (suf)
			put_arg(out, SETTING_LEN, used, "…");
	}
}

static void collect_settings(struct diff *d, int side)
{
	const struct model *m = &d->m[side];
	char(*s)[SETTING_LEN] = d->settings[side];
	const char *mode = m->alloc ? m->alloc->mode : NULL;

	snprintf(s[SET_THP_ENABLED], SETTING_LEN, "%s", m->session.thp.enabled ?: "?");
	snprintf(s[SET_THP_DEFRAG], SETTING_LEN, "%s", m->session.thp.defrag ?: "?");
	snprintf(s[SET_KHUGEPAGED_DEFRAG], SETTING_LEN, "%s",
		 m->session.thp.khugepaged_defrag ?: "?");
	snprintf(s[SET_HUGEPAGES], SETTING_LEN, "%s", m->session.hugepages.nr_hugepages ?: "?");
	allocators(d, side, s[SET_ALLOCATOR], SETTING_LEN);
	snprintf(s[SET_ALLOC_MODE], SETTING_LEN, "%s", mode ?: "unknown (no trailer)");
	targets_join(m, true, s[SET_ENV], SETTING_LEN);
	snprintf(s[SET_KERNEL], SETTING_LEN, "%s", m->session.host.kernel ?: "?");
}

static void collect_session(struct diff *d, int side)
{
	const struct model *m = &d->m[side];
	double dur = model_duration_s(m);
	uint64_t faults = m->faults_user + m->faults_kernel;

	put(d, side, SEC_SESSION, U_SEC, dur, "session.duration_s", "duration");
	put(d, side, SEC_SESSION, U_COUNT, m->session.ntargets, "session.targets", "targets");
	put(d, side, SEC_EVENTS, U_COUNT, m->events, "events.total", "events");
	put(d, side, SEC_EVENTS, U_COUNT, m->dropped, "events.dropped", "dropped");
	put(d, side, SEC_FAULTS, U_COUNT, faults, "faults.total", "total");
	if (dur > 0)
		put(d, side, SEC_FAULTS, U_RATE, faults / dur, "faults.per_s", "per second");
	put(d, side, SEC_FAULTS, U_COUNT, m->faults_user, "faults.user", "user");
	put(d, side, SEC_FAULTS, U_COUNT, m->faults_kernel, "faults.kernel", "kernel-mode");
	put(d, side, SEC_FAULTS, U_COUNT, m->file_faults, "faults.file_backed", "file-backed");
}

/* Major/minor and fault durations only when both recordings have them (fexit or kprobes). */
static void collect_fault_dur(struct diff *d, int side)
{
	const struct model *m = &d->m[side];

	if (!d->m[0].have_fault_dur || !d->m[1].have_fault_dur)
		return;
	put(d, side, SEC_FAULTS, U_COUNT, m->faults_major, "faults.major", "major");
	put(d, side, SEC_FAULTS, U_COUNT, m->faults_minor, "faults.minor", "minor");
}

/* Metric stalls.CAUSE.KEY, shown as "CAUSE WHAT". */
static void put_stall(struct diff *d, int side, int cause, const char *key, const char *what,
		      enum unit unit, double v)
{
	char name[NAME_LEN], label[NAME_LEN];

	snprintf(name, sizeof(name), "stalls.%s.%s", fl_cause_names[cause], key);
	snprintf(label, sizeof(label), "%s %s", fl_cause_names[cause], what);
	put(d, side, SEC_STALLS, unit, v, name, label);
}

static void collect_stalls(struct diff *d, int side)
{
	struct model *m = &d->m[side];
	double dur = model_duration_s(m);

	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		struct stall_stats *s = &m->stalls[c];

		if (c == FL_CAUSE_ALLOC || c == FL_CAUSE_PINNED)
			continue;
		if (c == FL_CAUSE_FAULT && (!d->m[0].have_fault_dur || !d->m[1].have_fault_dur))
			continue;
		put_stall(d, side, c, "count", "count", U_COUNT, s->count);
		put_stall(d, side, c, "total_ns", "total", U_NS, s->total_ns);
		put_stall(d, side, c, "p50_ns", "p50", U_NS, u64vec_pct(&s->durs, 50));
		put_stall(d, side, c, "p99_ns", "p99", U_NS, u64vec_pct(&s->durs, 99));
		put_stall(d, side, c, "max_ns", "max", U_NS, u64vec_pct(&s->durs, 100));
		if (dur > 0)
			put_stall(d, side, c, "per_s", "per second", U_RATE, s->count / dur);
	}
}

/* Allocator: calls and p99 per probed function (--alloc=full), memory syscalls, DONTNEED bytes. */
static void collect_alloc(struct diff *d, int side)
{
	const struct alloc_model *a = d->m[side].alloc;
	char name[NAME_LEN], label[NAME_LEN];

	for (size_t i = 0; a && i < a->nfns; i++) {
		const struct alloc_fn_stat *fn = &a->fns[i];
		const char *key = fn->name ?: "?";

		snprintf(name, sizeof(name), "alloc.functions.%s.count", key);
		snprintf(label, sizeof(label), "%s calls", key);
		put(d, side, SEC_ALLOC, U_COUNT, fn->count, name, label);
		snprintf(name, sizeof(name), "alloc.functions.%s.p99_ns", key);
		snprintf(label, sizeof(label), "%s p99 (%s)", key,
			 fn->calibrated ? "probe cost out"
			 : fn->fine	? "probe cost in"
					: "log2 bound");
		put(d, side, SEC_ALLOC, U_NS, fn->p99_ns, name, label);
	}
	for (int k = 0; a && k < SYS_MAX; k++) {
		snprintf(name, sizeof(name), "alloc.syscalls.%s.count", alloc_sys_names[k]);
		snprintf(label, sizeof(label), "%s calls", alloc_sys_names[k]);
		put(d, side, SEC_ALLOC, U_COUNT, a->sys[k].count, name, label);
	}
	put(d, side, SEC_ALLOC, U_BYTES, a ? a->madv_bytes[FL_MADV_DONTNEED] : 0,
	    "alloc.madvise_dontneed_bytes", "madvise DONTNEED bytes");
	put(d, side, SEC_ALLOC, U_COUNT, a ? a->slow_total : 0, "alloc.slow_calls", "slow calls");
}

/* A function called in one recording only was called 0 times in the other, if it was probed. */
static void alloc_zero_calls(struct diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct metric *mt = &d->mv[i];
		int missing = !mt->have[0] ? 0 : 1;

		if (mt->sec != SEC_ALLOC || mt->have[missing] || !strstr(mt->name, ".count") ||
		    !alloc_mode_is(&d->m[missing], "full"))
			continue;
		mt->have[missing] = true;
		mt->v[missing] = 0;
	}
}

static void collect_pinned(struct diff *d, int side)
{
	const struct alloc_model *a = d->m[side].alloc;
	uint64_t calls = 0, total_ns = 0, failed = 0;

	for (int fn = 0; a && fn < FL_CF_MAX; fn++) {
		calls += a->pinned.fn[fn].calls;
		failed += a->pinned.fn[fn].failed;
		total_ns += a->pinned.fn[fn].total_ns;
	}
	put(d, side, SEC_PINNED, U_COUNT, calls, "pinned.calls", "calls");
	put(d, side, SEC_PINNED, U_COUNT, failed, "pinned.failed", "failed calls");
	put(d, side, SEC_PINNED, U_NS, total_ns, "pinned.total_ns", "total duration");
}

static void collect_requests(struct diff *d, int side)
{
	const struct req_ttft *r = &d->req[side];

	if (!d->have_req[0] || !d->have_req[1])
		return;
	put(d, side, SEC_REQUESTS, U_COUNT, r->count, "requests.count", "requests");
	put(d, side, SEC_REQUESTS, U_NS, r->p50_ns, "requests.ttft_p50_ns", "TTFT p50");
	put(d, side, SEC_REQUESTS, U_NS, r->p99_ns, "requests.ttft_p99_ns", "TTFT p99");
	put(d, side, SEC_REQUESTS, U_NS, r->max_ns, "requests.ttft_max_ns", "TTFT max");
}

/* --- building --------------------------------------------------------------------------------- */

static int build_side(struct diff *d, int side, const char *path)
{
	struct model *m = &d->m[side];
	struct req_opts ro = {};
	int err = model_build(m, path);

	if (err == -E2BIG || err == -ENOMEM)
		return err; /* over the memory budget, or out of memory: said above */
	if (err) {
		fl_err("diff: cannot read the %s recording '%s' (see above); give two files "
		       "written by 'faultline record'",
		       side_names[side], path);
		return -EINVAL;
	}
	d->built[side] = true;
	if (reqview_build(m, &ro))
		fl_err("%s: requests not compared: they could not be lined up", path);
	d->have_req[side] = reqview_ttft(m, &d->req[side]);
	if (model_check_oom(m)) {
		d->built[side] = false; /* freed */
		return -ENOMEM;
	}
	return 0;
}

static int diff_build(struct diff *d, const struct diff_opts *o)
{
	for (int s = 0; s < SIDES; s++) {
		int err = build_side(d, s, o->path[s]);

		if (err)
			return err;
	}
	for (int s = 0; s < SIDES; s++) {
		collect_settings(d, s);
		collect_session(d, s);
		collect_fault_dur(d, s);
		collect_stalls(d, s);
		collect_alloc(d, s);
		collect_pinned(d, s);
		collect_requests(d, s);
	}
	command_settings(d);
	alloc_zero_calls(d);
	return 0;
}

static void diff_free(struct diff *d)
{
	for (int s = 0; s < SIDES; s++) {
		if (d->built[s])
			model_free(&d->m[s]);
	}
	free(d->mv);
}

/* --- formatting ------------------------------------------------------------------------------- */

static const char *fmt_value(enum unit u, double v, char *buf, size_t len)
{
	/* Out-of-range double to integer conversion is undefined: clamp what a damaged file gave.
	 */
	uint64_t uv = 0;

	if (v >= 18446744073709551616.0) /* 2^64 */
		uv = UINT64_MAX;
	else if (v > 0)
		uv = v;

	switch (u) {
	case U_NS:
		return fmt_ns(uv, buf, len);
	case U_BYTES:
		return fmt_bytes(uv, buf, len);
	case U_RATE:
		snprintf(buf, len, "%.1f/s", v);
		return buf;
	case U_SEC:
		snprintf(buf, len, "%.2f s", v);
		return buf;
	default:
		snprintf(buf, len, "%.0f", v);
		return buf;
	}
}

/* "+40035 (+199.5%)", "-2.30 s (-100.0%)", "=" when equal, "+37 (was 0)". */
static const char *fmt_change(const struct metric *mt, char *buf, size_t len)
{
	double delta = mt->v[1] - mt->v[0];
	char v[32];
	int n;

	if (!mt->have[0] || !mt->have[1]) {
		snprintf(buf, len, "(only in %s)", mt->have[0] ? "base" : "new");
		return buf;
	}
	if (delta == 0) {
		snprintf(buf, len, "=");
		return buf;
	}
	n = snprintf(buf, len, "%c%s", delta < 0 ? '-' : '+',
		     fmt_value(mt->unit, fabs(delta), v, sizeof(v)));
	if (mt->v[0])
		snprintf(buf + n, len - n, " (%+.1f%%)", 100.0 * delta / mt->v[0]);
	else
		snprintf(buf + n, len - n, " (was 0)");
	return buf;
}

/* --- verdicts --------------------------------------------------------------------------------- */

static bool big_change(double a, double b, double min_abs)
{
	double lo = fmin(a, b), hi = fmax(a, b);

	return hi - lo >= min_abs && (lo == 0 || hi / lo >= BIG_RATIO);
}

static bool setting_differs(const struct diff *d, int s)
{
	return strcmp(d->settings[0][s], d->settings[1][s]) != 0;
}

/*
 * "settings that differ: THP defrag always → madvise; allocator glibc → jemalloc", said once
 * after the verdict lines; the command only as "the command" (both are under Settings): "" if no
 * setting differs.
 */
static void verdict_reason(const struct diff *d, char *out, size_t len)
{
	size_t used = 0;
	int shown = 0;

	out[0] = '\0';
	for (int s = 0; s < SET_MAX && shown < 2; s++) {
		if (!setting_differs(d, s) || s == SET_COMMAND)
			continue;
		used += snprintf(out + used, used < len ? len - used : 0, "%s%s %s → %s",
				 shown ? "; " : "settings that differ: ", setting_labels[s],
				 d->settings[0][s], d->settings[1][s]);
		shown++;
	}
	if (setting_differs(d, SET_COMMAND))
		snprintf(out + used, used < len ? len - used : 0, "%s",
			 shown ? "; and the command (see Settings)"
			       : "settings that differ: the command (see Settings)");
}

static int verdict_out(const char *line, FILE *f, struct jw *w);

/* TTFT p50/p99 that moved by 10% and 1 ms, when both recordings have requests: first. */
static int verdicts_requests(const struct diff *d, FILE *f, struct jw *w)
{
	static const char *const names[] = {"requests.ttft_p99_ns", "requests.ttft_p50_ns"};
	char line[256], a[32], b[32];
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const struct metric *mt = metric_find(d, names[i]);
		double lo, hi;

		if (!mt || !mt->have[0] || !mt->have[1])
			continue;
		lo = fmin(mt->v[0], mt->v[1]);
		hi = fmax(mt->v[0], mt->v[1]);
		if (hi - lo < REQ_MIN_NS || (lo > 0 && hi / lo < REQ_RATIO))
			continue;
		snprintf(line, sizeof(line), "%s: %s → %s (%+.0f%%): %s", mt->label,
			 fmt_ns(mt->v[0], a, sizeof(a)), fmt_ns(mt->v[1], b, sizeof(b)),
			 mt->v[0] ? 100 * (mt->v[1] - mt->v[0]) / mt->v[0] : 100.0,
			 mt->v[1] < mt->v[0] ? "first tokens came sooner"
					     : "first tokens came later");
		n += verdict_out(line, f, w);
	}
	return n;
}

/* One verdict line to F (text) or W (a JSON string). */
static int verdict_out(const char *line, FILE *f, struct jw *w)
{
	if (f)
		fprintf(f, "  %s\n", fl_esc(line));
	else
		jw_str(w, line);
	return 1;
}

/* The verdict lines for faults and each stall cause that changed a lot; how many. */
static int verdicts(const struct diff *d, FILE *f, struct jw *w)
{
	char reason[2 * SETTING_LEN + 64], line[512], name[NAME_LEN], a[64], b[32];
	const struct metric *cnt, *tot;
	int n = 0;

	verdict_reason(d, reason, sizeof(reason));
	n += verdicts_requests(d, f, w);
	cnt = metric_find(d, "faults.total");
	if (cnt && cnt->have[0] && cnt->have[1] &&
	    big_change(cnt->v[0], cnt->v[1], BIG_MIN_COUNT)) {
		a[0] = '\0';
		if (cnt->v[0])
			snprintf(a, sizeof(a), " (%+.0f%%)",
				 100 * (cnt->v[1] - cnt->v[0]) / cnt->v[0]);
		snprintf(line, sizeof(line), "faults: %.0f → %.0f%s", cnt->v[0], cnt->v[1], a);
		n += verdict_out(line, f, w);
	}
	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		snprintf(name, sizeof(name), "stalls.%s.count", fl_cause_names[c]);
		cnt = metric_find(d, name);
		snprintf(name, sizeof(name), "stalls.%s.total_ns", fl_cause_names[c]);
		tot = metric_find(d, name);
		if (!cnt || !tot || !cnt->have[0] || !cnt->have[1] ||
		    (!big_change(cnt->v[0], cnt->v[1], BIG_MIN_COUNT) &&
		     !big_change(tot->v[0], tot->v[1], BIG_MIN_NS)))
			continue;
		snprintf(line, sizeof(line), "%s: %.0f → %.0f stalls, %s → %s in total",
			 fl_cause_names[c], cnt->v[0], cnt->v[1], fmt_ns(tot->v[0], a, sizeof(a)),
			 fmt_ns(tot->v[1], b, sizeof(b)));
		n += verdict_out(line, f, w);
	}
	/* once, not on every line: with long command lines each line repeated both */
	if (n && reason[0])
		verdict_out(reason, f, w);
	return n;
}

/* --- text ------------------------------------------------------------------------------------- */

static void text_header(const struct diff *d, FILE *f)
{
	fprintf(f, "faultline diff: base %s, new %s (change = new - base)\n", fl_esc(d->m[0].path),
		fl_esc(d->m[1].path));
	for (int s = 0; s < SIDES; s++)
		if (d->m[s].status.truncated)
			fprintf(f, "  WARNING: %s %s: %s\n", side_names[s], fl_esc(d->m[s].path),
				fl_esc(d->m[s].status.message));
}

static void text_settings(const struct diff *d, FILE *f)
{
	int differ = 0;

	fprintf(f, "\nSettings that differ (they usually explain the rest)\n");
	for (int s = 0; s < SET_MAX; s++) {
		if (!setting_differs(d, s))
			continue;
		fprintf(f, "  %-20s %s → %s\n", setting_labels[s], fl_esc(d->settings[0][s]),
			fl_esc(d->settings[1][s]));
		differ++;
	}
	if (!differ)
		fprintf(f, "  none\n");
	fprintf(f, "Settings the same in both\n");
	for (int s = 0; s < SET_MAX; s++)
		if (!setting_differs(d, s))
			fprintf(f, "  %-20s %s\n", setting_labels[s], fl_esc(d->settings[0][s]));
}

/* Rows where both sides are zero are left out of the per-cause and per-function sections. */
static bool row_shown(const struct metric *mt)
{
	if (mt->sec <= SEC_FAULTS)
		return true;
	return (mt->have[0] && mt->v[0]) || (mt->have[1] && mt->v[1]);
}

static void text_section(const struct diff *d, enum section sec, FILE *f)
{
	char a[32], b[32], c[64];
	int shown = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct metric *mt = &d->mv[i];

		if (mt->sec != sec || !row_shown(mt))
			continue;
		if (!shown++)
			fprintf(f, "\n%-36s %14s %14s   %s\n", section_titles[sec], "base", "new",
				"change");
		fprintf(f, "  %-34s %14s %14s   %s\n", fl_esc(mt->label),
			mt->have[0] ? fmt_value(mt->unit, mt->v[0], a, sizeof(a)) : "-",
			mt->have[1] ? fmt_value(mt->unit, mt->v[1], b, sizeof(b)) : "-",
			fmt_change(mt, c, sizeof(c)));
	}
	if (!shown && sec == SEC_STALLS)
		fprintf(f, "\nStalls: none of any cause in either recording\n");
}

static void text_requests_note(const struct diff *d, FILE *f)
{
	const bool *have = d->have_req;

	if (have[0] != have[1])
		fprintf(f,
			"\nRequests: not compared: only the %s recording saw requests on the "
			"wire\n",
			have[0] ? "base" : "new");
}

static void print_text(const struct diff *d, FILE *f)
{
	text_header(d, f);
	text_settings(d, f);
	for (int s = 0; s < SEC_MAX; s++)
		text_section(d, s, f);
	text_requests_note(d, f);
	fprintf(f, "\nVerdict\n");
	if (!verdicts(d, f, NULL))
		fprintf(f,
			"  no big change: %sfaults and every stall cause within x%.0f (or fewer "
			"than %d stalls and 1 ms apart)\n",
			metric_find(d, "requests.ttft_p99_ns")
			    ? "TTFT p50 and p99 within 10% (or 1 ms), "
			    : "",
			BIG_RATIO, BIG_MIN_COUNT);
	if (!d->m[0].have_fault_dur != !d->m[1].have_fault_dur)
		fprintf(f, "  (fault durations and major/minor are in only one recording: not "
			   "compared)\n");
}

/* --- JSON ------------------------------------------------------------------------------------- */

static void json_num(struct jw *w, enum unit u, double v)
{
	if (u == U_RATE || u == U_SEC)
		jw_double(w, v);
	else
		jw_i64(w, (int64_t)llround(v));
}

static void json_side(const struct diff *d, int side, struct jw *w)
{
	const struct model *m = &d->m[side];

	jw_key(w, side_names[side]);
	jw_obj_open(w);
	jw_kstr(w, "file", m->path);
	jw_kdouble(w, "duration_s", model_duration_s(m));
	jw_kbool(w, "truncated", m->status.truncated);
	jw_kstr(w, "truncated_message", m->status.truncated ? m->status.message : NULL);
	jw_key(w, "settings");
	jw_obj_open(w);
	for (int s = 0; s < SET_MAX; s++)
		jw_kstr(w, setting_names[s], d->settings[side][s]);
	jw_obj_close(w);
	jw_key(w, "metrics");
	jw_obj_open(w);
	for (size_t i = 0; i < d->n; i++) {
		if (!d->mv[i].have[side])
			continue;
		jw_key(w, d->mv[i].name);
		json_num(w, d->mv[i].unit, d->mv[i].v[side]);
	}
	jw_obj_close(w);
	jw_obj_close(w);
}

static void json_setting_changes(const struct diff *d, struct jw *w)
{
	char name[NAME_LEN];

	for (int s = 0; s < SET_MAX; s++) {
		if (!setting_differs(d, s))
			continue;
		snprintf(name, sizeof(name), "settings.%s", setting_names[s]);
		jw_obj_open(w);
		jw_kstr(w, "metric", name);
		jw_kstr(w, "base", d->settings[0][s]);
		jw_kstr(w, "new", d->settings[1][s]);
		jw_key(w, "delta");
		jw_null(w);
		jw_key(w, "pct");
		jw_null(w);
		jw_obj_close(w);
	}
}

static void json_metric_change(const struct metric *mt, struct jw *w)
{
	bool both = mt->have[0] && mt->have[1];

	jw_obj_open(w);
	jw_kstr(w, "metric", mt->name);
	for (int s = 0; s < SIDES; s++) {
		jw_key(w, side_names[s]);
		mt->have[s] ? json_num(w, mt->unit, mt->v[s]) : jw_null(w);
	}
	jw_key(w, "delta");
	both ? json_num(w, mt->unit, mt->v[1] - mt->v[0]) : jw_null(w);
	jw_key(w, "pct");
	both && mt->v[0] ? jw_double(w, 100.0 * (mt->v[1] - mt->v[0]) / mt->v[0]) : jw_null(w);
	jw_obj_close(w);
}

static void print_json(const struct diff *d, FILE *f)
{
	struct jw w;

	jw_init(&w, f, true);
	jw_obj_open(&w);
	jw_ku64(&w, "version", DIFF_JSON_VERSION);
	json_side(d, 0, &w);
	json_side(d, 1, &w);
	jw_key(&w, "changes");
	jw_arr_open(&w);
	json_setting_changes(d, &w);
	for (size_t i = 0; i < d->n; i++)
		if (metric_changed(&d->mv[i]))
			json_metric_change(&d->mv[i], &w);
	jw_arr_close(&w);
	jw_key(&w, "verdicts");
	jw_arr_open(&w);
	verdicts(d, NULL, &w);
	jw_arr_close(&w);
	jw_obj_close(&w);
	fputc('\n', f);
}

/* --- command line ----------------------------------------------------------------------------- */

static int parse_args(struct diff_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
						 {"max-memory", required_argument, NULL, 'M'},
						 {"help", no_argument, NULL, 'h'},
						 {}};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'M':
			if (model_budget_option(optarg))
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'faultline diff --help'.\n");
			return -EINVAL;
		}
	}
	if (argc - optind != SIDES) {
		fl_err("diff: expected two recordings, BASE.data and NEW.data, got %d argument%s "
		       "(try 'faultline diff --help')",
		       argc - optind, argc - optind == 1 ? "" : "s");
		return -EINVAL;
	}
	o->path[0] = argv[optind];
	o->path[1] = argv[optind + 1];
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_opts o = {};
	struct diff d = {};
	int err;

	if (parse_args(&o, argc, argv))
		return 2;
	model_budget_default();
	err = diff_build(&d, &o);
	if (!err && !fl_oom) {
		if (o.json)
			print_json(&d, stdout);
		else
			print_text(&d, stdout);
	}
	if (!err && fl_oom) { /* a comparison with a hole in it is no comparison */
		fl_err("diff: out of memory (an allocation failed); free some memory, or compare "
		       "on a machine with more");
		err = -ENOMEM;
	}
	diff_free(&d);
	return err ? 1 : 0;
}
