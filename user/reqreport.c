// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The requests section of faultline report (text and JSON); see reqreport.h. */
#include "reqreport.h"
#include "attrib.h"
#include "model.h"
#include "stallstack.h"
#include "util.h"
#include "wire.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NBANDS 4
#define NSLOW 10
#define STALLS_SHOWN 5
#define SITES_SHOWN 3	   /* call sites per request and window in the text report */
#define SITE_FRAMES_TEXT 3 /* frames of each, on its one line */
#define SITE_FRAMES_JSON 4 /* frames of each in JSON (the whole stack: stall_stacks) */

enum { WIN_PREFILL = 0, WIN_DECODE, WIN_MAX };

static const char *const win_names[WIN_MAX] = {"prefill", "decode"};
static const char *const win_spans[WIN_MAX] = {"[start, first token]", "[first token, end]"};
static const char *const win_metric[WIN_MAX] = {"TTFT", "decode time"};

struct req_row {
	const struct request *r;
	const struct request *wire; /* the same request on the wire, when matched */
	bool has[WIN_MAX];
	uint64_t a[WIN_MAX], b[WIN_MAX];
	struct win_attr attr[WIN_MAX];
	/* the window's stalls per call site and who (window_by_site), most time first */
	struct site_attr *sites[WIN_MAX];
	size_t nsites[WIN_MAX];
};

struct band {
	uint64_t hi_ns; /* upper bound (inclusive); UINT64_MAX for the last */
	size_t n, with_stall;
	double metric_sum, total_sum, faults_sum, stall_sum[FL_CAUSE_MAX];
};

struct win_summary {
	size_t n;
	uint64_t p50, p90, p99, max;
	double mean;
	struct band bands[NBANDS];
	double pearson, spearman, faults_spearman;
	size_t slow[NSLOW], nslow;
};

#define REQ_MAX_WARN 4

struct req_view {
	int source;
	const char *file;
	enum req_clock clock;
	struct reqlist file_reqs;
	const struct reqlist *list;
	const struct reqlist *wire;
	size_t matched, aborted, failed, incomplete;
	uint64_t wire_conns;
	uint64_t max_stall_ns;
	struct req_row *rows;
	size_t n;
	struct win_summary win[WIN_MAX];
	/* requests with a time to first token, and those a stall of each cause overlapped in it */
	size_t nprefill, exposed[FL_CAUSE_MAX];
	/* what changes the meaning of the figures: printed in the text and JSON, not only stderr */
	char warn[REQ_MAX_WARN][320];
	int nwarn;
};

size_t reqview_exposed(const struct model *m, int cause, size_t *n)
{
	const struct req_view *v = m->reqview;

	*n = 0;
	if (!v || cause < 0 || cause >= FL_CAUSE_MAX)
		return 0;
	*n = v->nprefill;
	return v->exposed[cause];
}

size_t reqview_count(const struct model *m)
{
	return m->reqview ? m->reqview->n : 0;
}

const struct request *reqview_request(const struct model *m, size_t i)
{
	return m->reqview && i < m->reqview->n ? m->reqview->rows[i].r : NULL;
}

const struct win_attr *reqview_prefill_attr(const struct model *m, size_t i)
{
	const struct req_row *row = m->reqview && i < m->reqview->n ? &m->reqview->rows[i] : NULL;

	return row && row->has[WIN_PREFILL] ? &row->attr[WIN_PREFILL] : NULL;
}

int req_clock_parse(const char *s, enum req_clock *out)
{
	if (!strcmp(s, "monotonic"))
		*out = REQ_CLOCK_MONOTONIC;
	else if (!strcmp(s, "realtime"))
		*out = REQ_CLOCK_REALTIME;
	else
		return -EINVAL;
	return 0;
}

void reqview_free(struct req_view *v)
{
	if (!v)
		return;
	reqlist_free(&v->file_reqs);
	for (size_t i = 0; v->rows && i < v->n; i++)
		for (int k = 0; k < WIN_MAX; k++)
			free(v->rows[i].sites[k]);
	free(v->rows);
	free(v);
}

/* --- building -------------------------------------------------------------------------- */

static void clockmap(const struct model *m, enum req_clock clock, struct req_clockmap *cm)
{
	const struct model_clocks *c = &m->session.clocks;

	memset(cm, 0, sizeof(*cm));
	cm->clock = clock;
	if (c->have_monotonic && c->have_realtime) {
		cm->have_pair = true;
		cm->real_minus_mono_ns = (int64_t)c->realtime_ns - (int64_t)c->monotonic_ns;
	}
}

static int load_file(struct model *m, struct req_view *v, const struct req_opts *o)
{
	struct req_clockmap cm;
	char err[512] = "";
	size_t len;
	char *buf = read_file(o->file, &len);
	int rc;

	if (!buf) {
		fl_err("--requests %s: cannot read: %s", o->file, strerror(errno));
		return -errno;
	}
	clockmap(m, o->clock, &cm);
	rc = requests_parse(o->file, buf, len, &cm, &v->file_reqs, err, sizeof(err));
	free(buf);
	if (rc) {
		fl_err("%s", err);
		return rc;
	}
	v->source = v->file_reqs.v[0].source;
	v->list = &v->file_reqs;
	if (v->wire)
		v->matched = requests_match(&v->file_reqs, v->wire);
	return 0;
}

__attribute__((format(printf, 2, 3))) static void req_warn(struct req_view *v, const char *fmt, ...)
{
	va_list ap;

	if (v->nwarn >= REQ_MAX_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(v->warn[v->nwarn], sizeof(v->warn[0]), fmt, ap);
	va_end(ap);
	fl_info("%s", v->warn[v->nwarn++]);
}

/*
 * A client log whose requests all lie outside the recording is on another clock or host: an
 * error (a table of "0% stalled" rows would say nothing true). Partly outside, on another clock
 * than its lines say, or matching none of the requests seen on the wire: warnings in the output.
 */
static int check_overlap(const struct model *m, struct req_view *v, const char *file)
{
	size_t inside = 0;

	if (v->file_reqs.clock_mismatch)
		req_warn(v,
			 "%s: %zu lines say \"clock\": \"%s\" but were read as %s times: "
			 "give --clock %s",
			 file, v->file_reqs.clock_mismatch, v->file_reqs.clock_said,
			 v->clock == REQ_CLOCK_REALTIME ? "realtime" : "monotonic",
			 v->file_reqs.clock_said);
	if (!m->first_ts)
		return 0;
	for (size_t i = 0; i < v->n; i++)
		inside +=
		    v->rows[i].r->end_ns >= m->first_ts && v->rows[i].r->start_ns <= m->last_ts;
	if (!inside) {
		fl_err("%s: none of its %zu requests fall inside the recording: another host or "
		       "recording, or the wrong --clock?%s",
		       file, v->n,
		       v->file_reqs.clock_mismatch ? " (its lines name another clock)" : "");
		return -ERANGE;
	}
	if (inside < v->n)
		req_warn(v,
			 "%s: %zu of its %zu requests fall outside the recording (another run, or "
			 "the wrong --clock?): they show no stalls",
			 file, v->n - inside, v->n);
	if (v->wire && v->wire->n && !v->matched)
		req_warn(v,
			 "%s: none of its requests match the %zu seen on the wire: another run, "
			 "or another server?",
			 file, v->wire->n);
	return 0;
}

/* The process that answered ROW (seen on the wire); 0 when unknown (a client log alone). */
static uint32_t row_pid(const struct req_row *row)
{
	if (row->wire)
		return row->wire->pid;
	return row->r->source == REQ_SRC_WIRE ? row->r->pid : 0;
}

/* The thread that answered ROW (seen on the wire); 0 when unknown. */
static uint32_t row_tid(const struct req_row *row)
{
	if (row->wire)
		return row->wire->tid;
	return row->r->source == REQ_SRC_WIRE ? row->r->tid : 0;
}

static void attribute_rows(struct model *m, struct req_view *v)
{
	const int32_t *site_of = stallstack_sites_of(m);

	fault_buckets_sort(m->fault_buckets, m->nfault_buckets);
	for (size_t i = 0; i < m->nstalls; i++)
		if (m->stall_list[i].dur_ns > v->max_stall_ns)
			v->max_stall_ns = m->stall_list[i].dur_ns;
	for (size_t i = 0; i < v->n; i++) {
		struct req_row *row = &v->rows[i];
		const struct request *r = row->r;

		row->has[WIN_PREFILL] = r->first_token_ns != 0;
		row->a[WIN_PREFILL] = r->start_ns;
		row->b[WIN_PREFILL] = r->first_token_ns;
		row->has[WIN_DECODE] = r->first_token_ns != 0 && r->end_ns > r->first_token_ns;
		row->a[WIN_DECODE] = r->first_token_ns;
		row->b[WIN_DECODE] = r->end_ns;
		for (int k = 0; k < WIN_MAX; k++) {
			int ns;

			if (!row->has[k])
				continue;
			attribute_window_thread(m->stall_list, m->nstalls, v->max_stall_ns,
						&m->fault_ts, m->fault_buckets, m->nfault_buckets,
						m->fault_buckets_capped, row->a[k], row->b[k],
						row_pid(row), row_tid(row), &row->attr[k]);
			ns = window_by_site(m->stall_list, m->nstalls, v->max_stall_ns, site_of,
					    row->a[k], row->b[k], row_pid(row), row_tid(row),
					    &row->sites[k]);
			if (ns < 0)
				fl_nomem(); /* the request shows no call sites */
			row->nsites[k] = ns > 0 ? ns : 0;
		}
		v->aborted += r->aborted;
		v->failed += r->failed;
		v->incomplete += r->incomplete;
	}
}

static uint64_t row_metric(const struct req_row *row, int k)
{
	return row->b[k] - row->a[k];
}

static void summarize_bands(struct req_view *v, int k, struct win_summary *s)
{
	s->bands[0].hi_ns = s->p50;
	s->bands[1].hi_ns = s->p90;
	s->bands[2].hi_ns = s->p99;
	s->bands[3].hi_ns = UINT64_MAX;
	for (size_t i = 0; i < v->n; i++) {
		const struct req_row *row = &v->rows[i];
		uint64_t x;
		struct band *b;
		int j = 0;

		if (!row->has[k])
			continue;
		x = row_metric(row, k);
		while (j < NBANDS - 1 && x > s->bands[j].hi_ns)
			j++;
		b = &s->bands[j];
		b->n++;
		b->metric_sum += x;
		b->total_sum += row->attr[k].total_ns;
		b->faults_sum += row->attr[k].faults;
		b->with_stall += row->attr[k].nstalls > 0;
		for (int c = 0; c < FL_CAUSE_MAX; c++)
			b->stall_sum[c] += row->attr[k].stall_ns[c];
	}
}

static void summarize_corr(struct req_view *v, int k, struct win_summary *s)
{
	double *x = calloc(s->n + 1, sizeof(double)), *y = calloc(s->n + 1, sizeof(double));
	double *f = calloc(s->n + 1, sizeof(double));
	size_t n = 0;

	s->pearson = s->spearman = s->faults_spearman = NAN;
	if (!x || !y || !f)
		fl_nomem();
	if (x && y && f) {
		for (size_t i = 0; i < v->n; i++) {
			if (!v->rows[i].has[k])
				continue;
			x[n] = v->rows[i].attr[k].total_ns;
			f[n] = v->rows[i].attr[k].faults;
			y[n++] = row_metric(&v->rows[i], k);
		}
		s->pearson = corr_pearson(x, y, n);
		s->spearman = corr_spearman(x, y, n);
		s->faults_spearman = corr_spearman(f, y, n);
	}
	free(x);
	free(y);
	free(f);
}

/* Keeps the NSLOW largest metrics, largest first (insertion: NSLOW is small). */
static void summarize_slowest(struct req_view *v, int k, struct win_summary *s)
{
	for (size_t i = 0; i < v->n; i++) {
		size_t j;

		if (!v->rows[i].has[k])
			continue;
		j = s->nslow < NSLOW ? s->nslow++ : NSLOW;
		while (j > 0 &&
		       row_metric(&v->rows[s->slow[j - 1]], k) < row_metric(&v->rows[i], k)) {
			if (j < NSLOW)
				s->slow[j] = s->slow[j - 1];
			j--;
		}
		if (j < NSLOW)
			s->slow[j] = i;
	}
}

static void count_exposed(struct req_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		if (!v->rows[i].has[WIN_PREFILL])
			continue;
		v->nprefill++;
		for (int c = 0; c < FL_CAUSE_MAX; c++)
			v->exposed[c] += v->rows[i].attr[WIN_PREFILL].stall_ns[c] > 0;
	}
}

static void summarize(struct req_view *v, int k)
{
	struct win_summary *s = &v->win[k];
	struct u64vec vals = {};
	double sum = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (!v->rows[i].has[k])
			continue;
		u64vec_push(&vals, row_metric(&v->rows[i], k));
		sum += row_metric(&v->rows[i], k);
	}
	s->n = vals.n;
	s->p50 = u64vec_pct(&vals, 50);
	s->p90 = u64vec_pct(&vals, 90);
	s->p99 = u64vec_pct(&vals, 99);
	s->max = u64vec_pct(&vals, 100);
	s->mean = vals.n ? sum / vals.n : 0;
	u64vec_free(&vals);
	summarize_bands(v, k, s);
	summarize_corr(v, k, s);
	summarize_slowest(v, k, s);
}

int reqview_build(struct model *m, const struct req_opts *o)
{
	struct req_view *v = calloc(1, sizeof(*v));
	uint64_t ignored;
	int rc;

	if (!v)
		return fl_nomem();
	m->reqview = v;
	v->file = o->file;
	v->clock = o->clock;
	if (m->wire) {
		v->wire = wire_requests(m->wire);
		wire_stats(m->wire, &v->wire_conns, &ignored);
	}
	v->list = v->wire;
	v->source = REQ_SRC_WIRE;
	if (o->file && (rc = load_file(m, v, o)))
		return rc;
	if (!o->file && o->clock_given)
		fl_info("--clock only applies to --requests FILE; ignored");
	v->n = v->list ? v->list->n : 0;
	v->rows = calloc(v->n + 1, sizeof(*v->rows));
	if (!v->rows)
		return fl_nomem();
	for (size_t i = 0; i < v->n; i++) {
		v->rows[i].r = &v->list->v[i];
		if (v->list->v[i].wire_match >= 0 && v->wire)
			v->rows[i].wire = &v->wire->v[v->list->v[i].wire_match];
	}
	if (o->file && (rc = check_overlap(m, v, o->file)))
		return rc;
	attribute_rows(m, v);
	count_exposed(v);
	for (int k = 0; k < WIN_MAX; k++)
		summarize(v, k);
	return 0;
}

/* --- text ------------------------------------------------------------------------------ */

static void text_source(const struct model *m, const struct req_view *v, FILE *f)
{
	fprintf(f, "\nRequests: %zu from ", v->n);
	if (v->source == REQ_SRC_WIRE)
		fprintf(f, "the wire (%" PRIu64 " TCP connections)", v->wire_conns);
	else
		fprintf(f, "%s (%s, %s clock)", fl_esc(v->file),
			v->source == REQ_SRC_BENCH ? "vllm bench JSON" : "JSON lines",
			v->clock == REQ_CLOCK_REALTIME ? "realtime" : "monotonic");
	if (v->source != REQ_SRC_WIRE && v->wire)
		fprintf(f, "; %zu of them matched to the %zu seen on the wire", v->matched,
			v->wire->n);
	fprintf(f, "\n");
	for (int i = 0; i < v->nwarn; i++)
		fprintf(f, "  WARNING: %s\n", v->warn[i]);
	if (v->aborted || v->failed || v->incomplete)
		fprintf(f, "  %zu aborted by the client, %zu failed, %zu still open at the end\n",
			v->aborted, v->failed, v->incomplete);
}

static void text_band_header(const struct req_view *v, int k, const bool *cols, FILE *f)
{
	fprintf(f, "  %-22s %8s %11s %11s", "band", "requests", win_metric[k], "stalled");
	for (int c = 0; c < FL_CAUSE_MAX; c++)
		if (cols[c])
			fprintf(f, " %17s", fl_cause_names[c]);
	fprintf(f, " %9s\n", "faults");
}

static void text_bands(const struct req_view *v, int k, FILE *f)
{
	static const char *const names[NBANDS] = {"<= p50", "p50..p90", "p90..p99", "> p99"};
	const struct win_summary *s = &v->win[k];
	bool cols[FL_CAUSE_MAX] = {};
	char a[32];

	for (int b = 0; b < NBANDS; b++)
		for (int c = 0; c < FL_CAUSE_MAX; c++)
			cols[c] |= s->bands[b].stall_sum[c] > 0;
	fprintf(f, "  mean stall time per request in %s, by %s band:\n", win_spans[k],
		win_metric[k]);
	text_band_header(v, k, cols, f);
	for (int b = 0; b < NBANDS; b++) {
		const struct band *bd = &s->bands[b];
		double n = bd->n ? bd->n : 1;

		if (!bd->n)
			continue;
		fprintf(f, "  %-22s %8zu %11s %10.0f%%", names[b], bd->n,
			fmt_ns(bd->metric_sum / n, a, sizeof(a)), 100.0 * bd->with_stall / n);
		for (int c = 0; c < FL_CAUSE_MAX; c++)
			if (cols[c])
				fprintf(f, " %17s", fmt_ns(bd->stall_sum[c] / n, a, sizeof(a)));
		fprintf(f, " %9.1f\n", bd->faults_sum / n);
	}
}

/* Per window: how much of the requests' stall time other processes than theirs spent. */
struct other_sum {
	uint64_t total_ns, other_ns;
	size_t n, with_other;
	uint32_t pid; /* the other process most often the largest; 0 when none */
};

static void other_summary(const struct req_view *v, int k, struct other_sum *o)
{
	uint32_t best = 0;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < v->n; i++) {
		const struct win_attr *wa = &v->rows[i].attr[k];

		if (!v->rows[i].has[k] || !row_pid(&v->rows[i]))
			continue;
		o->n++;
		o->total_ns += wa->total_ns;
		o->other_ns += wa->other_ns;
		o->with_other += wa->other_ns > 0;
		if (!wa->other_pid)
			continue;
		/* a vote over the rows: Boyer-Moore majority, no table of pids needed */
		if (!best || o->pid == wa->other_pid) {
			o->pid = wa->other_pid;
			best++;
		} else {
			best--;
		}
	}
}

static void text_other_processes(const struct req_view *v, int k, FILE *f)
{
	struct other_sum o;
	char a[32], b[32];

	other_summary(v, k, &o);
	if (!o.other_ns)
		return;
	fprintf(f,
		"  in other processes than the one that answered (e.g. vLLM's engine): %s of "
		"the %s of stalls overlapping %s, in %zu of %zu requests (mostly pid %u)\n",
		fmt_ns(o.other_ns, a, sizeof(a)), fmt_ns(o.total_ns, b, sizeof(b)), win_spans[k],
		o.with_other, o.n, o.pid);
}

static void text_corr(const struct win_summary *s, int k, FILE *f)
{
	fprintf(f, "  stall time vs %s: ", win_metric[k]);
	if (isnan(s->spearman) && isnan(s->pearson))
		fprintf(f, "no correlation to measure (too few requests, or no stall overlapped)");
	else
		fprintf(f, "Spearman %.2f, Pearson %.2f", s->spearman, s->pearson);
	if (!isnan(s->faults_spearman))
		fprintf(f, "; faults in window vs %s: Spearman %.2f", win_metric[k],
			s->faults_spearman);
	fprintf(f, "\n");
}

/* The STALLS_SHOWN stalls that overlapped the window longest, longest first. */
static size_t top_stalls(const struct model *m, const struct req_view *v, const struct req_row *row,
			 int k, size_t *top, uint64_t *ov)
{
	size_t n = 0;

	for (size_t i = stalls_from(m->stall_list, m->nstalls, v->max_stall_ns, row->a[k]);
	     i < m->nstalls && m->stall_list[i].ts_ns < row->b[k]; i++) {
		const struct stall_rec *s = &m->stall_list[i];
		uint64_t o = overlap_ns(s->ts_ns, s->ts_ns + s->dur_ns, row->a[k], row->b[k]);
		size_t j;

		if (!stall_overlaps(s, row->a[k], row->b[k]))
			continue;
		j = n < STALLS_SHOWN ? n++ : STALLS_SHOWN;
		while (j > 0 && ov[j - 1] < o) {
			if (j < STALLS_SHOWN) {
				top[j] = top[j - 1];
				ov[j] = ov[j - 1];
			}
			j--;
		}
		if (j < STALLS_SHOWN) {
			top[j] = i;
			ov[j] = o;
		}
	}
	return n;
}

static void text_request_stalls(const struct model *m, const struct req_view *v,
				const struct req_row *row, int k, FILE *f)
{
	size_t top[STALLS_SHOWN], n = top_stalls(m, v, row, k, top, (uint64_t[STALLS_SHOWN]){});
	char a[32], b[32], c[32];

	if (row->attr[k].nstalls) {
		fprintf(f, "      by cause:");
		for (int cause = 0; cause < FL_CAUSE_MAX; cause++)
			if (row->attr[k].stall_ns[cause])
				fprintf(f, " %s %s", fl_cause_names[cause],
					fmt_ns(row->attr[k].stall_ns[cause], a, sizeof(a)));
		fprintf(f, "\n");
	}
	for (size_t j = 0; j < n; j++) {
		const struct stall_rec *s = &m->stall_list[top[j]];

		fprintf(f, "      %-18s tid %-7u at +%-10s %10s (overlap %s)",
			fl_cause_names[s->cause], s->tid,
			fmt_ns(s->ts_ns > row->r->start_ns ? s->ts_ns - row->r->start_ns : 0, a,
			       sizeof(a)),
			fmt_ns(s->dur_ns, b, sizeof(b)),
			fmt_ns(overlap_ns(s->ts_ns, s->ts_ns + s->dur_ns, row->a[k], row->b[k]), c,
			       sizeof(c)));
		if (row_pid(row) && s->pid != row_pid(row))
			fprintf(f, " in pid %u, another process", s->pid);
		fprintf(f, "\n");
	}
	if (row->attr[k].nstalls > n)
		fprintf(f, "      ... and %u more\n", (unsigned)(row->attr[k].nstalls - n));
}

/* whose, seen from the request's thread; nothing when that thread is unknown */
static const char *const who_text[WHO_MAX + 1] = {
    "own thread: ", "another thread: ", "another process: ", ""};

/* "own thread: 1 khugepaged stall 12.3 ms at madvise (libc.so.6) <- kv_collapse (libkvops.so)" */
static void text_request_sites(const struct model *m, const struct req_row *row, int k, FILE *f)
{
	char a[32], name[256];

	for (size_t j = 0; j < row->nsites[k] && j < SITES_SHOWN; j++) {
		const struct site_attr *sa = &row->sites[k][j];
		struct stall_site_ref ref;

		if (!stallstack_site(m, sa->site, &ref))
			continue;
		fprintf(f, "      %s%u %s stall%s %s at ", who_text[sa->who], sa->count,
			fl_cause_names[sa->cause], sa->count == 1 ? "" : "s",
			fmt_ns(sa->ns, a, sizeof(a)));
		for (size_t fr = 0; fr < ref.nframes && fr < SITE_FRAMES_TEXT; fr++) {
			stallstack_frame_name(m, sa->site, fr, name, sizeof(name));
			fprintf(f, "%s%s", fr ? " <- " : "", fl_esc(name));
		}
		fprintf(f, "%s\n", ref.nframes > SITE_FRAMES_TEXT ? " <- ..." : "");
	}
	if (row->nsites[k] > SITES_SHOWN)
		fprintf(f, "      ... %zu more call sites in --json\n",
			row->nsites[k] - SITES_SHOWN);
}

/* " (own thread 10 ms, other threads 2 ms, other processes 0)" after a stall or fault figure */
static void text_who(const struct win_attr *wa, bool faults, FILE *f)
{
	static const char *const names[WHO_MAX] = {"own thread", "other threads",
						   "other processes"};
	char a[32];

	if (!wa->by_thread)
		return;
	if (faults && !wa->faults_split) {
		fprintf(f, " (not split by thread: the per-thread fault buckets were capped)");
		return;
	}
	for (int w = 0; w < WHO_MAX; w++) {
		fprintf(f, "%s%s ", w ? ", " : " (", names[w]);
		if (faults)
			fprintf(f, "%" PRIu64, wa->who_faults[w]);
		else
			fprintf(f, "%s", wa->who_ns[w] ? fmt_ns(wa->who_ns[w], a, sizeof(a)) : "0");
	}
	fprintf(f, ")");
}

/*
 * A client-log request matched to the wire: from the client's start to the server's first read
 * of the request (connect and accept queueing, which the wire alone cannot see). Signed: a
 * client clock off by more than the queueing makes it negative.
 */
static bool row_queue_ns(const struct req_row *row, int64_t *ns)
{
	if (!row->wire || row->r->source == REQ_SRC_WIRE)
		return false;
	*ns = (int64_t)(row->wire->start_ns - row->r->start_ns);
	return true;
}

static void text_queue(const struct req_row *row, FILE *f)
{
	int64_t q;
	char a[32];

	if (!row_queue_ns(row, &q))
		return;
	if (q >= 0)
		fprintf(f, "; %s from the client's start to the server's first read",
			fmt_ns(q, a, sizeof(a)));
	else
		fprintf(f, "; the server read it %s before the client's start (clocks?)",
			fmt_ns(-q, a, sizeof(a)));
}

static void text_slowest(const struct model *m, const struct req_view *v, int k, FILE *f)
{
	const struct win_summary *s = &v->win[k];
	char a[32], b[32];

	fprintf(f, "  slowest %zu by %s:\n", s->nslow, win_metric[k]);
	for (size_t j = 0; j < s->nslow; j++) {
		const struct req_row *row = &v->rows[s->slow[j]];
		const struct request *r = row->r;

		fprintf(f, "    %-40.40s %11s  stalls %s in %u",
			fl_esc(r->id[0]	    ? r->id
			       : r->xrid[0] ? r->xrid
					    : "(no id)"),
			fmt_ns(row_metric(row, k), a, sizeof(a)),
			fmt_ns(row->attr[k].total_ns, b, sizeof(b)), row->attr[k].nstalls);
		text_who(&row->attr[k], false, f);
		fprintf(f, ", faults %" PRIu64, row->attr[k].faults);
		text_who(&row->attr[k], true, f);
		fprintf(f, "%s", r->aborted ? " (aborted)" : "");
		if (row->attr[k].other_ns)
			fprintf(f, "; %s of it in other processes than pid %u (most in pid %u)",
				fmt_ns(row->attr[k].other_ns, b, sizeof(b)), row_pid(row),
				row->attr[k].other_pid);
		if (k == WIN_PREFILL)
			text_queue(row, f);
		fprintf(f, "\n");
		text_request_stalls(m, v, row, k, f);
		text_request_sites(m, row, k, f);
	}
}

static void text_window(const struct model *m, const struct req_view *v, int k, FILE *f)
{
	const struct win_summary *s = &v->win[k];
	char a[32], b[32], c[32], d[32], e[32];

	if (!s->n) {
		fprintf(f, "\n  %s %s: no request has one\n", win_names[k], win_spans[k]);
		return;
	}
	fprintf(f, "\n  %s %s, %zu requests: p50 %s  p90 %s  p99 %s  max %s  mean %s\n",
		win_metric[k], win_spans[k], s->n, fmt_ns(s->p50, a, sizeof(a)),
		fmt_ns(s->p90, b, sizeof(b)), fmt_ns(s->p99, c, sizeof(c)),
		fmt_ns(s->max, d, sizeof(d)), fmt_ns(s->mean, e, sizeof(e)));
	text_bands(v, k, f);
	text_other_processes(v, k, f);
	text_corr(s, k, f);
	text_slowest(m, v, k, f);
}

void reqview_text(const struct model *m, FILE *f)
{
	const struct req_view *v = m->reqview;

	if (!v || (!v->n && v->source == REQ_SRC_WIRE)) {
		const struct model_probe *rp = model_probe_find(m, "requests");
		const char *st = rp ? rp->status : NULL;

		if (st && strcmp(st, "ok"))
			/* --wire=off or a kernel without the probe: nothing could be seen */
			fprintf(f,
				"\nRequests\n  not traced: the requests probe was %s (%s); give a "
				"client log with --requests FILE\n",
				st, rp->reason ?: "no reason given");
		else
			fprintf(f, "\nRequests\n  none seen on the wire (the requests probe saw no "
				   "HTTP on the targets' TCP sockets); give a client log with "
				   "--requests FILE\n");
		return;
	}
	text_source(m, v, f);
	for (int k = 0; k < WIN_MAX; k++)
		text_window(m, v, k, f);
}

/* --- JSON ------------------------------------------------------------------------------ */

static void json_causes(struct jw *w, const char *key, const double *ns, double div)
{
	jw_key(w, key);
	jw_obj_open(w);
	for (int c = 0; c < FL_CAUSE_MAX; c++)
		if (ns[c] > 0)
			jw_kdouble(w, fl_cause_names[c], ns[c] / div);
	jw_obj_close(w);
}

static void json_corr(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	isnan(v) ? jw_null(w) : jw_double(w, v);
}

static void json_row_stalls(const struct model *m, const struct req_view *v,
			    const struct req_row *row, int k, struct jw *w)
{
	jw_key(w, "stalls");
	jw_arr_open(w);
	for (size_t i = stalls_from(m->stall_list, m->nstalls, v->max_stall_ns, row->a[k]);
	     i < m->nstalls && m->stall_list[i].ts_ns < row->b[k]; i++) {
		const struct stall_rec *s = &m->stall_list[i];

		if (!stall_overlaps(s, row->a[k], row->b[k]))
			continue;
		jw_obj_open(w);
		jw_kstr(w, "cause", fl_cause_names[s->cause]);
		jw_ku64(w, "pid", s->pid);
		jw_ku64(w, "tid", s->tid);
		jw_ku64(w, "start_ns", s->ts_ns);
		jw_ku64(w, "dur_ns", s->dur_ns);
		jw_ku64(w, "overlap_ns",
			overlap_ns(s->ts_ns, s->ts_ns + s->dur_ns, row->a[k], row->b[k]));
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

/* "other_processes": the split of other_summary(); null when no request's process is known. */
static void json_other_processes(const struct req_view *v, int k, struct jw *w)
{
	struct other_sum o;

	other_summary(v, k, &o);
	jw_key(w, "other_processes");
	if (!o.n) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	jw_ku64(w, "requests", o.n);
	jw_ku64(w, "with_stalls", o.with_other);
	jw_ku64(w, "stall_ns", o.other_ns);
	jw_ku64(w, "all_stall_ns", o.total_ns);
	jw_key(w, "pid");
	o.pid ? jw_u64(w, o.pid) : jw_null(w);
	jw_obj_close(w);
}

static void json_window(const struct model *m, const struct req_view *v, int k, struct jw *w)
{
	static const char *const names[NBANDS] = {"<=p50", "p50-p90", "p90-p99", ">p99"};
	const struct win_summary *s = &v->win[k];

	jw_key(w, win_names[k]);
	jw_obj_open(w);
	jw_kstr(w, "window", win_spans[k]);
	jw_ku64(w, "count", s->n);
	jw_ku64(w, "p50_ns", s->p50);
	jw_ku64(w, "p90_ns", s->p90);
	jw_ku64(w, "p99_ns", s->p99);
	jw_ku64(w, "max_ns", s->max);
	jw_kdouble(w, "mean_ns", s->mean);
	jw_key(w, "bands");
	jw_arr_open(w);
	for (int b = 0; b < NBANDS; b++) {
		const struct band *bd = &s->bands[b];
		double n = bd->n ? bd->n : 1;

		jw_obj_open(w);
		jw_kstr(w, "band", names[b]);
		jw_key(w, "hi_ns");
		bd->hi_ns == UINT64_MAX ? jw_null(w) : jw_u64(w, bd->hi_ns);
		jw_ku64(w, "count", bd->n);
		jw_kdouble(w, "mean_ns", bd->metric_sum / n);
		jw_ku64(w, "with_stalls", bd->with_stall);
		jw_kdouble(w, "mean_stall_ns", bd->total_sum / n);
		json_causes(w, "mean_stall_ns_by_cause", bd->stall_sum, n);
		jw_kdouble(w, "mean_faults", bd->faults_sum / n);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_key(w, "correlation");
	jw_obj_open(w);
	json_corr(w, "stall_spearman", s->spearman);
	json_corr(w, "stall_pearson", s->pearson);
	json_corr(w, "faults_spearman", s->faults_spearman);
	jw_obj_close(w);
	json_other_processes(v, k, w);
	jw_key(w, "slowest");
	jw_arr_open(w);
	for (size_t j = 0; j < s->nslow; j++) {
		const struct req_row *row = &v->rows[s->slow[j]];

		jw_obj_open(w);
		jw_ku64(w, "index", row->r->index);
		jw_kstr(w, "id", row->r->id);
		jw_ku64(w, "window_ns", row_metric(row, k));
		jw_ku64(w, "stall_ns", row->attr[k].total_ns);
		jw_ku64(w, "faults", row->attr[k].faults);
		json_row_stalls(m, v, row, k, w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

#define PROCS_SHOWN 8

/*
 * "by_process": the window's stalls per process, "this_process" true for the one that answered
 * (null when that is unknown); the list stops at PROCS_SHOWN processes ("more_processes").
 */
static void json_by_process(const struct model *m, const struct req_view *v,
			    const struct req_row *row, int k, struct jw *w)
{
	struct proc_attr pa[PROCS_SHOWN];
	bool more;
	size_t np = window_by_process(m->stall_list, m->nstalls, v->max_stall_ns, row->a[k],
				      row->b[k], pa, PROCS_SHOWN, &more);
	uint32_t pid = row_pid(row);

	jw_key(w, "other_processes_stall_ns");
	pid ? jw_u64(w, row->attr[k].other_ns) : jw_null(w);
	jw_key(w, "other_processes_stalls");
	pid ? jw_u64(w, row->attr[k].other_stalls) : jw_null(w);
	jw_key(w, "by_process");
	jw_arr_open(w);
	for (size_t i = 0; i < np; i++) {
		double ns[FL_CAUSE_MAX];

		for (int c = 0; c < FL_CAUSE_MAX; c++)
			ns[c] = pa[i].stall_ns[c];
		jw_obj_open(w);
		jw_ku64(w, "pid", pa[i].pid);
		jw_key(w, "this_process");
		pid ? jw_bool(w, pa[i].pid == pid) : jw_null(w);
		jw_ku64(w, "stall_ns", pa[i].total_ns);
		jw_ku64(w, "stalls", pa[i].nstalls);
		json_causes(w, "by_cause", ns, 1);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_kbool(w, "more_processes", more);
}

/*
 * "by_thread": the window's stall time and faults split into the answering thread's, other
 * threads' of its process and other processes'; null when the thread is unknown, "faults" null
 * where the per-thread fault buckets cannot split them.
 */
static void json_by_thread(const struct win_attr *wa, struct jw *w)
{
	jw_key(w, "by_thread");
	if (!wa->by_thread) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	for (int k = 0; k < WHO_MAX; k++) {
		jw_key(w, who_names[k]);
		jw_obj_open(w);
		jw_ku64(w, "stall_ns", wa->who_ns[k]);
		jw_ku64(w, "stalls", wa->who_stalls[k]);
		jw_key(w, "faults");
		wa->faults_split ? jw_u64(w, wa->who_faults[k]) : jw_null(w);
		jw_obj_close(w);
	}
	jw_obj_close(w);
}

static void json_window_attr(const struct model *m, const struct req_view *v, struct jw *w,
			     const char *key, const struct req_row *row, int k)
{
	double ns[FL_CAUSE_MAX];

	jw_key(w, key);
	if (!row->has[k]) {
		jw_null(w);
		return;
	}
	for (int c = 0; c < FL_CAUSE_MAX; c++)
		ns[c] = row->attr[k].stall_ns[c];
	jw_obj_open(w);
	jw_ku64(w, "stall_ns", row->attr[k].total_ns);
	jw_ku64(w, "stalls", row->attr[k].nstalls);
	jw_ku64(w, "faults", row->attr[k].faults);
	json_causes(w, "by_cause", ns, 1);
	json_by_process(m, v, row, k, w);
	json_by_thread(&row->attr[k], w);
	jw_obj_close(w);
}

/*
 * The request's stalls per call site and who, per window; the frames are the top of the stack,
 * the whole one is stall_stacks.<cause>.sites[site] (a call site's stack is not repeated here).
 */
static void json_request_sites(const struct model *m, const struct req_row *row, struct jw *w)
{
	char name[256];

	jw_key(w, "stall_sites");
	jw_arr_open(w);
	for (int k = 0; k < WIN_MAX; k++)
		for (size_t j = 0; j < row->nsites[k]; j++) {
			const struct site_attr *sa = &row->sites[k][j];
			struct stall_site_ref ref;

			if (!stallstack_site(m, sa->site, &ref))
				continue;
			jw_obj_open(w);
			jw_kstr(w, "window", win_names[k]);
			jw_kstr(w, "whose", sa->who < WHO_MAX ? who_names[sa->who] : NULL);
			jw_kstr(w, "cause", fl_cause_names[sa->cause]);
			jw_ku64(w, "count", sa->count);
			jw_ku64(w, "stall_ns", sa->ns);
			jw_ku64(w, "site", ref.index);
			jw_ku64(w, "depth", ref.nframes);
			jw_key(w, "frames");
			jw_inline_begin(w);
			jw_arr_open(w);
			for (size_t fr = 0; fr < ref.nframes && fr < SITE_FRAMES_JSON; fr++) {
				stallstack_frame_name(m, sa->site, fr, name, sizeof(name));
				jw_str(w, name);
			}
			jw_arr_close(w);
			jw_inline_end(w);
			jw_obj_close(w);
		}
	jw_arr_close(w);
}

static void json_opt_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	v ? jw_u64(w, v) : jw_null(w);
}

static void json_request(const struct model *m, const struct req_view *v, const struct req_row *row,
			 struct jw *w)
{
	const struct request *r = row->r, *wr = row->wire ? row->wire : r;

	jw_obj_open(w);
	jw_ku64(w, "index", r->index);
	jw_kstr(w, "id", r->id);
	jw_kstr(w, "x_request_id", wr->xrid[0] ? wr->xrid : NULL);
	jw_kstr(w, "source", req_source_name(r->source));
	jw_ku64(w, "start_ns", r->start_ns);
	json_opt_u64(w, "first_token_ns", r->first_token_ns);
	jw_ku64(w, "end_ns", r->end_ns);
	jw_key(w, "ttft_ns");
	r->first_token_ns ? jw_u64(w, r->first_token_ns - r->start_ns) : jw_null(w);
	jw_kbool(w, "aborted", r->aborted);
	jw_kbool(w, "failed", r->failed);
	jw_kbool(w, "incomplete", r->incomplete);
	if (wr->source == REQ_SRC_WIRE) {
		jw_kstr(w, "method", wr->method[0] ? wr->method : NULL);
		jw_kstr(w, "path", wr->path[0] ? wr->path : NULL);
		jw_key(w, "status");
		wr->status ? jw_u64(w, wr->status) : jw_null(w);
		jw_ku64(w, "pid", wr->pid);
		jw_ku64(w, "tid", wr->tid);
		jw_ki64(w, "fd", wr->fd);
		json_opt_u64(w, "first_byte_ns", wr->first_byte_ns);
		if (row->wire) {
			int64_t q;

			jw_key(w, "client_to_read_ns");
			row_queue_ns(row, &q) ? jw_i64(w, q) : jw_null(w);
			jw_key(w, "wire");
			jw_obj_open(w);
			jw_kstr(w, "id", wr->id);
			jw_ku64(w, "start_ns", wr->start_ns);
			json_opt_u64(w, "first_token_ns", wr->first_token_ns);
			jw_ku64(w, "end_ns", wr->end_ns);
			jw_obj_close(w);
		}
	}
	json_window_attr(m, v, w, "prefill", row, WIN_PREFILL);
	json_window_attr(m, v, w, "decode", row, WIN_DECODE);
	json_request_sites(m, row, w);
	jw_obj_close(w);
}

bool reqview_ttft(const struct model *m, struct req_ttft *out)
{
	const struct req_view *v = m->reqview;

	memset(out, 0, sizeof(*out));
	if (!v || (!v->n && v->source == REQ_SRC_WIRE))
		return false; /* as reqview_json's null */
	out->count = v->n;
	out->p50_ns = v->win[WIN_PREFILL].p50;
	out->p99_ns = v->win[WIN_PREFILL].p99;
	out->max_ns = v->win[WIN_PREFILL].max;
	return true;
}

void reqview_json(const struct model *m, struct jw *w)
{
	const struct req_view *v = m->reqview;

	if (!v || (!v->n && v->source == REQ_SRC_WIRE)) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	jw_kstr(w, "source", req_source_name(v->source));
	jw_kstr(w, "file", v->file);
	jw_kstr(w, "clock",
		v->file ? (v->clock == REQ_CLOCK_REALTIME ? "realtime" : "monotonic") : NULL);
	jw_ku64(w, "count", v->n);
	jw_ku64(w, "aborted", v->aborted);
	jw_ku64(w, "failed", v->failed);
	jw_ku64(w, "incomplete", v->incomplete);
	jw_key(w, "wire_count");
	v->wire ? jw_u64(w, v->wire->n) : jw_null(w);
	jw_key(w, "wire_connections");
	v->wire ? jw_u64(w, v->wire_conns) : jw_null(w);
	jw_key(w, "matched_to_wire");
	v->file && v->wire ? jw_u64(w, v->matched) : jw_null(w);
	jw_key(w, "warnings");
	jw_arr_open(w);
	for (int i = 0; i < v->nwarn; i++)
		jw_str(w, v->warn[i]);
	jw_arr_close(w);
	for (int k = 0; k < WIN_MAX; k++)
		json_window(m, v, k, w);
	jw_key(w, "list");
	jw_arr_open(w);
	for (size_t i = 0; i < v->n; i++)
		json_request(m, v, &v->rows[i], w);
	jw_arr_close(w);
	jw_obj_close(w);
}
