// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline report --html FILE: one self-contained page (inline CSS, SVG and a little script; no
 * external resources): the verdict, a zoomable timeline (requests above, one bar per request as
 * long as its TTFT, red when a stall overlapped it; stalls below, a row per cause; RSS and the
 * fault rate as lines), log2 histograms per cause, faults by mapping, pinned-memory calls and the
 * slowest requests with the stalls that overlapped them. Light and dark, prints on paper.
 */
#include "html.h"
#include "alloc_model.h"
#include "attrib.h"
#include "model.h"
#include "reqreport.h"
#include "util.h"
#include "verdict.h"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define W 1000.0	/* timeline width in SVG units */
#define REQ_LANES 24	/* rows of request bars; more concurrent requests share the last */
#define MARKS_CAP 20000 /* stall marks and request bars drawn at most (the longest are kept) */
#define SLOWEST 10
#define PINNED_ROWS 200

struct page {
	const struct model *m;
	FILE *f;
	uint64_t t0, t1;
};

/* Escapes S for HTML text and attribute values. */
static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if ((unsigned char)*s < 0x20)
				fputc(' ', f);
			else
				fputc(*s, f);
		}
	}
}

static double x_of(const struct page *p, uint64_t ts)
{
	if (p->t1 <= p->t0 || ts <= p->t0)
		return 0;
	return (ts - p->t0) * W / (double)(p->t1 - p->t0);
}

static double w_of(const struct page *p, uint64_t dur)
{
	double w = p->t1 > p->t0 ? dur * W / (double)(p->t1 - p->t0) : 0;

	return w < 0.3 ? 0.3 : w;
}

static const char *req_name(const struct request *r)
{
	return r->id[0] ? r->id : r->xrid[0] ? r->xrid : "(no id)";
}

static const char css[] =
    ":root{--bg:#fff;--fg:#1b1b1b;--mute:#666;--line:#ddd;--ok:#4c8bd6;--bad:#d64c4c;"
    "--rss:#2a9d5c;--flt:#c98a12;--card:#f6f6f6}"
    "@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e6e6e6;--mute:#9a9a9a;"
    "--line:#33363b;--ok:#5b9be6;--bad:#ef6b6b;--rss:#48c07e;--flt:#e0a73a;--card:#1e2126}}"
    "body{background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,sans-serif;"
    "margin:1.5em auto;max-width:1100px;padding:0 1em}"
    "h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid var(--line);"
    "padding-bottom:.2em;margin-top:1.6em}.mute{color:var(--mute)}"
    "#verdict{background:var(--card);padding:.6em 1em;border-left:4px solid var(--bad)}"
    "#verdict.calm{border-left-color:var(--ok)}#verdict p{margin:.35em 0}"
    "table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;text-align:right;"
    "border-bottom:1px solid var(--line)}td:first-child,th:first-child{text-align:left}"
    "svg{width:100%;height:auto;display:block}svg text{fill:var(--mute);font-size:10px}"
    ".req{fill:var(--ok)}.req.stalled{fill:var(--bad)}.stall{fill:var(--bad);opacity:.8}"
    ".axis{stroke:var(--line)}.rss{stroke:var(--rss);fill:none}.flt{stroke:var(--flt);"
    "fill:none}.bar{fill:var(--ok)}.legend span{margin-right:1em}"
    ".hist "
    "text{font-size:8px}.sw{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-"
    "align:-1px}"
    "@media print{body{max-width:none;margin:0;font-size:11px}#tl{height:auto}"
    "section{break-inside:avoid}button{display:none}}";

/* Wheel zooms the timeline around the pointer, dragging pans, a double click resets. */
static const char script[] =
    "(function(){var s=document.getElementById('tl');if(!s)return;"
    "var v0=s.viewBox.baseVal,full=[v0.x,v0.y,v0.width,v0.height],x=v0.x,w=v0.width,drag=null;"
    "function set(){s.setAttribute('viewBox',x+' '+full[1]+' '+w+' '+full[3]);}"
    "s.addEventListener('wheel',function(e){e.preventDefault();var r=s.getBoundingClientRect(),"
    "px=x+(e.clientX-r.left)/r.width*w,k=e.deltaY<0?0.8:1.25;w=Math.min(full[2],"
    "Math.max(full[2]/5000,w*k));x=Math.min(full[0]+full[2]-w,Math.max(full[0],px-(px-x)*w/"
    "(w/k)));set();},{passive:false});"
    "s.addEventListener('mousedown',function(e){drag=[e.clientX,x];});"
    "window.addEventListener('mouseup',function(){drag=null;});"
    "s.addEventListener('mousemove',function(e){if(!drag)return;var r=s.getBoundingClientRect();"
    "x=Math.min(full[0]+full[2]-w,Math.max(full[0],drag[1]-(e.clientX-drag[0])/r.width*w));"
    "set();});s.addEventListener('dblclick',function(){x=full[0];w=full[2];set();});})();";

static void head(struct page *p)
{
	const struct model_session *s = &p->m->session;
	FILE *f = p->f;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<meta name=\"color-scheme\" content=\"light dark\"><title>faultline report: ",
	      f);
	esc(f, p->m->path);
	fprintf(f,
		"</title><style>%s</style></head>\n<body>\n<h1>faultline report</h1>\n"
		"<p class=\"mute\">",
		css);
	esc(f, p->m->path);
	fprintf(f, ": %.1f s on ", s->duration_s);
	esc(f, s->host.hostname ?: "?");
	fputs(", kernel ", f);
	esc(f, s->host.kernel ?: "?");
	fputs(", THP enabled=", f);
	esc(f, s->thp.enabled ?: "?");
	fputs(" defrag=", f);
	esc(f, s->thp.defrag ?: "?");
	fprintf(f, ", %" PRIu64 " events, %" PRIu64 " dropped%s</p>\n", p->m->events, p->m->dropped,
		p->m->status.truncated ? " (file cut short)" : "");
}

static void verdict_section(struct page *p)
{
	const struct verdict *v = p->m->verdict;

	fprintf(p->f, "<section id=\"verdict\" class=\"%s\"><h2>Verdict</h2>\n",
		v && (v->kind == VERDICT_MEMORY || v->kind == VERDICT_SOME) ? "" : "calm");
	for (int i = 0; v && i < v->nlines; i++) {
		fputs("<p>", p->f);
		esc(p->f, v->lines[i]);
		fputs("</p>\n", p->f);
	}
	fputs("</section>\n", p->f);
}

/* Request I's attribution in [start, first token) (reqview_build made it); zeros without one. */
static bool req_stalled(const struct page *p, size_t i, struct win_attr *wa)
{
	const struct request *r = reqview_request(p->m, i);
	const struct win_attr *a = reqview_prefill_attr(p->m, i);

	memset(wa, 0, sizeof(*wa));
	if (!a || !r->first_token_ns || r->first_token_ns < r->start_ns)
		return false;
	*wa = *a;
	return wa->nstalls > 0;
}

/* Request bars, greedily packed into lanes so that concurrent requests stack. Returns rows. */
static int timeline_requests(struct page *p, double y0, size_t *drawn)
{
	uint64_t lane_end[REQ_LANES] = {};
	size_t n = reqview_count(p->m);
	int rows = 0;
	char a[32], b[32];

	for (size_t i = 0; i < n && *drawn < MARKS_CAP; i++) {
		const struct request *r = reqview_request(p->m, i);
		bool ttft = r->first_token_ns && r->first_token_ns >= r->start_ns;
		uint64_t end = ttft			 ? r->first_token_ns
			       : r->end_ns > r->start_ns ? r->end_ns
							 : r->start_ns;
		struct win_attr wa;
		bool stalled = req_stalled(p, i, &wa);
		int k = 0;

		while (k < REQ_LANES - 1 && lane_end[k] > r->start_ns)
			k++;
		lane_end[k] = r->end_ns > end ? r->end_ns : end;
		if (k + 1 > rows)
			rows = k + 1;
		fprintf(p->f,
			"<rect class=\"req%s\" x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"5\">"
			"<title>",
			stalled ? " stalled" : "", x_of(p, r->start_ns), y0 + k * 7,
			w_of(p, end - r->start_ns));
		esc(p->f, req_name(r));
		fprintf(p->f, ": %s %s, stalls %u (%s), faults %" PRIu64 "</title></rect>\n",
			ttft ? "TTFT" : "no first token, open",
			fmt_ns(end - r->start_ns, a, sizeof(a)), wa.nstalls,
			fmt_ns(wa.total_ns, b, sizeof(b)), wa.faults);
		(*drawn)++;
	}
	return rows;
}

/* Stall marks, a row per cause present. Returns rows drawn. */
static int timeline_stalls(struct page *p, double y0, size_t *drawn)
{
	int row[FL_CAUSE_MAX], rows = 0;
	char a[32];

	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		row[c] = -1;
		if (p->m->stalls[c].count) {
			fprintf(p->f, "<text x=\"2\" y=\"%.1f\">%s</text>\n", y0 + rows * 14 + 8,
				fl_cause_names[c]);
			row[c] = rows++;
		}
	}
	for (size_t i = 0; i < p->m->nstalls && *drawn < MARKS_CAP; i++) {
		const struct stall_rec *s = &p->m->stall_list[i];

		if (s->cause >= FL_CAUSE_MAX || row[s->cause] < 0)
			continue;
		fprintf(p->f,
			"<rect class=\"stall c-%s\" x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" "
			"height=\"10\"><title>%s tid %u: %s</title></rect>\n",
			fl_cause_names[s->cause], x_of(p, s->ts_ns), y0 + row[s->cause] * 14,
			w_of(p, s->dur_ns), fl_cause_names[s->cause], s->tid,
			fmt_ns(s->dur_ns, a, sizeof(a)));
		(*drawn)++;
	}
	return rows;
}

/* The fault at T into its bin of NBINS over SPAN from t0. */
static void fault_bin(const struct page *p, uint64_t *bins, size_t nbins, uint64_t t, uint64_t span)
{
	size_t b = t > p->t0 ? (t - p->t0) * (double)nbins / span : 0;

	bins[b < nbins ? b : nbins - 1]++;
}

/* RSS of the largest process and the fault rate, each scaled to its own maximum. */
static void timeline_lines(struct page *p, double y0, double h)
{
	enum { BINS = 500 };
	static uint64_t bins[BINS];
	const struct fault_times *ft = &p->m->fault_ts;
	uint64_t maxb = 0, span = p->t1 > p->t0 ? p->t1 - p->t0 : 1;
	int64_t maxr = 0;
	int pid = 0;
	char a[32];

	for (size_t i = 0; i < p->m->nrss; i++)
		if (p->m->rss[i].max_pages > maxr) {
			maxr = p->m->rss[i].max_pages;
			pid = p->m->rss[i].pid;
		}
	if (maxr > 0) {
		size_t n = 0, stride;

		for (size_t i = 0; i < p->m->nrss_series; i++)
			n += p->m->rss_series[i].pid == pid;
		stride = n / 2000 + 1; /* a few thousand points draw the same line */
		n = 0;
		fputs("<polyline class=\"rss\" points=\"", p->f);
		for (size_t i = 0; i < p->m->nrss_series; i++)
			if (p->m->rss_series[i].pid == pid && n++ % stride == 0)
				fprintf(p->f, "%.2f,%.2f ", x_of(p, p->m->rss_series[i].ts_ns),
					y0 + h - h * p->m->rss_series[i].pages / (double)maxr);
		fprintf(p->f, "\"><title>RSS of pid %d, max %s</title></polyline>\n", pid,
			fmt_bytes(maxr * (int64_t)p->m->page_size, a, sizeof(a)));
	}
	memset(bins, 0, sizeof(bins));
	for (size_t i = 0; i < ft->one.n; i++)
		fault_bin(p, bins, BINS, ft->one.v[i], span);
	for (size_t i = 0; i < ft->nruns; i++) {
		const struct fault_time_run *r = &ft->runs[i];

		for (uint32_t k = 0; k < r->count; k++)
			fault_bin(p, bins, BINS, fault_run_ts(r->ts, r->span_ns, r->count, k),
				  span);
	}
	for (int b = 0; b < BINS; b++)
		if (bins[b] > maxb)
			maxb = bins[b];
	if (!maxb)
		return;
	fputs("<polyline class=\"flt\" points=\"", p->f);
	for (int b = 0; b < BINS; b++)
		fprintf(p->f, "%.2f,%.2f ", (b + 0.5) * W / BINS,
			y0 + h - h * bins[b] / (double)maxb);
	fprintf(p->f, "\"><title>faults per %s, max %" PRIu64 "</title></polyline>\n",
		fmt_ns(span / BINS, a, sizeof(a)), maxb);
}

static void timeline(struct page *p)
{
	size_t reqs = 0, marks = 0;
	long pos;
	int rrows, srows;
	double y;
	FILE *f = p->f;
	char a[32];

	fprintf(f,
		"<section id=\"timeline\"><h2>Timeline</h2>\n<p class=\"legend mute\">"
		"<span><i class=\"sw\" style=\"background:var(--ok)\"></i>request, bar = TTFT"
		"</span><span><i class=\"sw\" style=\"background:var(--bad)\"></i>a stall "
		"overlapped its TTFT / a stall</span><span><i class=\"sw\" style=\"background:"
		"var(--rss)\"></i>RSS</span><span><i class=\"sw\" style=\"background:var(--flt)"
		"\"></i>faults per interval</span> %s in all; wheel zooms, drag pans, double "
		"click resets</p>\n",
		fmt_ns(p->t1 - p->t0, a, sizeof(a)));
	/* the height is known once the rows are drawn: the viewBox is written last, in place */
	fputs("<svg id=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" preserveAspectRatio=\"none\" ",
	      f);
	pos = ftell(f);
	fprintf(f, "%-60s>\n", "");
	fputs("<g id=\"requests\">\n", f);
	rrows = timeline_requests(p, 4, &reqs);
	fputs("</g>\n<g id=\"stalls\">\n", f);
	y = 4 + rrows * 7 + 10;
	fprintf(f, "<line class=\"axis\" x1=\"0\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", W,
		y - 5, y - 5);
	srows = timeline_stalls(p, y, &marks);
	fputs("</g>\n<g id=\"lines\">\n", f);
	y += srows * 14 + 10;
	timeline_lines(p, y, 60);
	fputs("</g>\n</svg>\n", f);
	if (pos >= 0) {
		long end = ftell(f);
		char vb[64];

		snprintf(vb, sizeof(vb), "viewBox=\"0 0 %.0f %.0f\"", W, y + 64);
		if (!fseek(f, pos, SEEK_SET)) {
			fprintf(f, "%-60s", vb);
			fseek(f, end, SEEK_SET);
		}
	}
	if (reqs >= MARKS_CAP || marks >= MARKS_CAP)
		fprintf(f,
			"<p class=\"mute\">Drawn: %zu request bars and %zu stall marks, the first "
			"%d in time; the rest are in --json and --perfetto.</p>\n",
			reqs, marks, MARKS_CAP);
	fputs("</section>\n", f);
}

static void histograms(struct page *p)
{
	char a[32];

	fputs("<section id=\"histograms\"><h2>Stall latency (log2 buckets)</h2>\n", p->f);
	if (!p->m->nstalls)
		fputs("<p class=\"mute\">No timed stall was recorded.</p>\n", p->f);
	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		const struct log2hist *h = &p->m->stalls[c].hist;
		uint64_t max = 0;
		int lo = -1, hi = -1;

		for (int i = 0; i < FL_HIST_SLOTS; i++)
			if (h->slots[i]) {
				if (lo < 0)
					lo = i;
				hi = i;
				if (h->slots[i] > max)
					max = h->slots[i];
			}
		if (lo < 0)
			continue;
		fprintf(p->f,
			"<h3>%s: %" PRIu64 " stalls, %s</h3>\n<svg class=\"hist\" viewBox=\"0 0 "
			"%d 90\" style=\"max-width:%dpx\">\n",
			fl_cause_names[c], p->m->stalls[c].count,
			fmt_ns(p->m->stalls[c].total_ns, a, sizeof(a)), (hi - lo + 1) * 40,
			(hi - lo + 1) * 60);
		for (int i = lo; i <= hi; i++) {
			double bh = 70.0 * h->slots[i] / max;

			fprintf(p->f,
				"<rect class=\"bar\" x=\"%d\" y=\"%.1f\" width=\"34\" "
				"height=\"%.1f\"><title>%" PRIu64 " stalls</title></rect>",
				(i - lo) * 40, 72 - bh, bh, h->slots[i]);
			fprintf(p->f, "<text x=\"%d\" y=\"86\">%s</text>\n", (i - lo) * 40,
				fmt_ns(1ULL << i, a, sizeof(a)));
		}
		fputs("</svg>\n", p->f);
	}
	fputs("</section>\n", p->f);
}

static int cmp_region(const void *a, const void *b)
{
	const struct region_stat *x = a, *y = b;

	return x->faults < y->faults ? 1 : x->faults > y->faults ? -1 : 0;
}

static void regions(struct page *p)
{
	uint64_t total = p->m->faults_user + p->m->faults_kernel;
	struct region_stat *r = calloc(p->m->nregions + 1, sizeof(*r));

	fprintf(p->f,
		"<section id=\"faults\"><h2>Faults by mapping</h2>\n<p>%" PRIu64 " faults "
		"(%" PRIu64 " in kernel mode on user memory)</p>\n",
		total, p->m->faults_kernel);
	if (r && p->m->nregions) {
		memcpy(r, p->m->regions, p->m->nregions * sizeof(*r));
		sort_n(r, p->m->nregions, sizeof(*r), cmp_region);
		fputs("<table><tr><th>mapping</th><th>faults</th><th>share</th><th>kernel</th>"
		      "<th>writes</th></tr>\n",
		      p->f);
		for (size_t i = 0; i < p->m->nregions && i < 30; i++) {
			fputs("<tr><td>", p->f);
			esc(p->f, r[i].name);
			fprintf(p->f,
				"</td><td>%" PRIu64 "</td><td>%.1f%%</td><td>%" PRIu64
				"</td><td>%" PRIu64 "</td></tr>\n",
				r[i].faults, total ? 100.0 * r[i].faults / total : 0.0, r[i].kernel,
				r[i].write);
		}
		fputs("</table>\n", p->f);
	}
	free(r);
	fputs("</section>\n", p->f);
}

struct pin_rows {
	struct page *p;
	size_t n;
};

static void pinned_row(const struct timed_call *c, void *arg)
{
	struct pin_rows *pr = arg;
	char a[32], b[32];

	if (!c->pinned || pr->n++ >= PINNED_ROWS)
		return;
	if (pr->n == 1)
		fputs("<table><tr><th>call</th><th>at</th><th>pid</th><th>tid</th><th>bytes</th>"
		      "<th>took</th><th>status</th></tr>\n",
		      pr->p->f);
	fprintf(pr->p->f,
		"<tr><td>%s</td><td>+%s</td><td>%u</td><td>%u</td><td>%" PRIu64
		"</td><td>%s</td><td>%" PRId64 "</td></tr>\n",
		c->name, fmt_ns(c->ts_ns > pr->p->t0 ? c->ts_ns - pr->p->t0 : 0, a, sizeof(a)),
		c->pid, c->tid, c->size, fmt_ns(c->dur_ns, b, sizeof(b)), c->ret);
}

static void pinned(struct page *p)
{
	struct pin_rows pr = {p, 0};

	fputs("<section id=\"pinned\"><h2>Pinned memory</h2>\n", p->f);
	alloc_timed_calls(p->m, pinned_row, &pr);
	if (pr.n)
		fprintf(p->f, "</table>\n<p class=\"mute\">%zu pinned-memory calls%s.</p>\n", pr.n,
			pr.n > PINNED_ROWS ? " (the first 200 shown; all in --json)" : "");
	else
		fputs("<p class=\"mute\">No pinned-memory (CUDA) call was recorded.</p>\n", p->f);
	fputs("</section>\n", p->f);
}

static void slowest(struct page *p)
{
	size_t n = reqview_count(p->m), top[SLOWEST], k = 0;
	uint64_t ttft[SLOWEST];
	char a[32], b[32];

	fputs("<section id=\"slowest\"><h2>Slowest requests by TTFT</h2>\n", p->f);
	for (size_t i = 0; i < n; i++) {
		const struct request *r = reqview_request(p->m, i);
		uint64_t t;
		size_t j;

		if (!r->first_token_ns || r->first_token_ns < r->start_ns)
			continue;
		t = r->first_token_ns - r->start_ns;
		j = k < SLOWEST ? k++ : SLOWEST;
		while (j > 0 && ttft[j - 1] < t) {
			if (j < SLOWEST) {
				ttft[j] = ttft[j - 1];
				top[j] = top[j - 1];
			}
			j--;
		}
		if (j < SLOWEST) {
			ttft[j] = t;
			top[j] = i;
		}
	}
	if (!k) {
		fputs("<p class=\"mute\">No request with a first token.</p></section>\n", p->f);
		return;
	}
	fputs("<table><tr><th>request</th><th>TTFT</th><th>stall time in it</th><th>stalls</th>"
	      "<th>faults</th><th>causes</th></tr>\n",
	      p->f);
	for (size_t j = 0; j < k; j++) {
		const struct request *r = reqview_request(p->m, top[j]);
		struct win_attr wa;
		bool any = false;

		req_stalled(p, top[j], &wa);
		fputs("<tr><td>", p->f);
		esc(p->f, req_name(r));
		fprintf(p->f, "</td><td>%s</td><td>%s</td><td>%u</td><td>%" PRIu64 "</td><td>",
			fmt_ns(ttft[j], a, sizeof(a)), fmt_ns(wa.total_ns, b, sizeof(b)),
			wa.nstalls, wa.faults);
		for (int c = 0; c < FL_CAUSE_MAX; c++)
			if (wa.stall_ns[c]) {
				fprintf(p->f, "%s%s %s", any ? ", " : "", fl_cause_names[c],
					fmt_ns(wa.stall_ns[c], a, sizeof(a)));
				any = true;
			}
		fputs("</td></tr>\n", p->f);
	}
	fputs("</table></section>\n", p->f);
}

int html_write(const struct model *m, const char *path)
{
	struct page p = {.m = m, .t0 = m->first_ts, .t1 = m->last_ts};
	int err = 0;

	p.f = fopen(path, "w");
	if (!p.f) {
		err = -errno;
		fl_err("--html %s: cannot create: %s", path, strerror(errno));
		return err;
	}
	for (size_t i = 0; i < reqview_count(m); i++) {
		const struct request *r = reqview_request(m, i);

		if (!p.t0 || (r->start_ns && r->start_ns < p.t0))
			p.t0 = r->start_ns;
		if (r->end_ns > p.t1)
			p.t1 = r->end_ns;
	}
	head(&p);
	verdict_section(&p);
	timeline(&p);
	histograms(&p);
	regions(&p);
	pinned(&p);
	slowest(&p);
	fprintf(p.f, "<script>%s</script>\n</body></html>\n", script);
	if (fclose(p.f) && !err) {
		err = -errno;
		fl_err("--html %s: write failed: %s", path, strerror(errno));
	}
	return err;
}
