// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The verdict on the TTFT tail; see verdict.h. */
#include "verdict.h"
#include "attrib.h"
#include "findings.h"
#include "jw.h"
#include "model.h"
#include "reqreport.h"
#include "util.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define THREADS_KEPT 16

const char *const verdict_class_names[VC_MAX] = {
    [VC_FAULT] = "fault",
    [VC_DIRECT_RECLAIM] = "direct_reclaim",
    [VC_MEMCG_RECLAIM] = "memcg_reclaim",
    [VC_DIRECT_COMPACTION] = "direct_compaction",
    [VC_KHUGEPAGED] = "khugepaged",
    [VC_MADV_COLLAPSE] = "madv_collapse",
    [VC_MMAP_LOCK_WAIT] = "mmap_lock_wait",
    [VC_MIGRATION] = "migration",
};

/* What the stall is, in words, for the verdict's lines. */
static const char *const class_words[VC_MAX] = {
    [VC_FAULT] = "page faults",
    [VC_DIRECT_RECLAIM] = "direct reclaim",
    [VC_MEMCG_RECLAIM] = "memory-cgroup reclaim",
    [VC_DIRECT_COMPACTION] = "direct compaction (THP defrag)",
    [VC_KHUGEPAGED] = "khugepaged collapses holding the mmap_lock",
    [VC_MADV_COLLAPSE] = "forced huge-page collapses (the server's own madvise(MADV_COLLAPSE))",
    [VC_MMAP_LOCK_WAIT] = "mmap_lock waits",
    [VC_MIGRATION] = "page migration",
};

static const int class_cause[VC_MAX] = {
    [VC_FAULT] = FL_CAUSE_FAULT,
    [VC_DIRECT_RECLAIM] = FL_CAUSE_DIRECT_RECLAIM,
    [VC_MEMCG_RECLAIM] = FL_CAUSE_MEMCG_RECLAIM,
    [VC_DIRECT_COMPACTION] = FL_CAUSE_DIRECT_COMPACTION,
    [VC_KHUGEPAGED] = FL_CAUSE_KHUGEPAGED,
    [VC_MADV_COLLAPSE] = FL_CAUSE_KHUGEPAGED,
    [VC_MMAP_LOCK_WAIT] = FL_CAUSE_MMAP_LOCK_WAIT,
    [VC_MIGRATION] = FL_CAUSE_MIGRATION,
};

int verdict_class_of(uint16_t cause, uint16_t flags)
{
	switch (cause) {
	case FL_CAUSE_FAULT:
		return VC_FAULT;
	case FL_CAUSE_DIRECT_RECLAIM:
		return VC_DIRECT_RECLAIM;
	case FL_CAUSE_MEMCG_RECLAIM:
		return VC_MEMCG_RECLAIM;
	case FL_CAUSE_DIRECT_COMPACTION:
		return VC_DIRECT_COMPACTION;
	/* a collapse traced in a target thread is that thread's own MADV_COLLAPSE (stalls.bpf.c) */
	case FL_CAUSE_KHUGEPAGED:
		return flags & FL_F_OTHER ? VC_KHUGEPAGED : VC_MADV_COLLAPSE;
	case FL_CAUSE_MMAP_LOCK_WAIT:
		return VC_MMAP_LOCK_WAIT;
	case FL_CAUSE_MIGRATION:
		return VC_MIGRATION;
	default:
		return -1; /* allocator and pinned calls are not in the stall list */
	}
}

struct thr_ns {
	uint32_t pid, tid;
	double ns;
};

struct build {
	struct thr_ns thr[VC_MAX][THREADS_KEPT];
	size_t nthr[VC_MAX];
	double id_ns[VC_MAX][VERDICT_IDS];
	const struct request *id_req[VC_MAX][VERDICT_IDS];
};

static void add_thread(struct build *b, int c, uint32_t pid, uint32_t tid, double ns)
{
	for (size_t i = 0; i < b->nthr[c]; i++)
		if (b->thr[c][i].tid == tid) {
			b->thr[c][i].ns += ns;
			return;
		}
	if (b->nthr[c] < THREADS_KEPT)
		b->thr[c][b->nthr[c]++] = (struct thr_ns){pid, tid, ns};
}

static void add_id(struct build *b, int c, const struct request *r, double ns)
{
	size_t j = VERDICT_IDS;

	while (j > 0 && (!b->id_req[c][j - 1] || b->id_ns[c][j - 1] < ns)) {
		if (j < VERDICT_IDS) {
			b->id_ns[c][j] = b->id_ns[c][j - 1];
			b->id_req[c][j] = b->id_req[c][j - 1];
		}
		j--;
	}
	if (j < VERDICT_IDS) {
		b->id_ns[c][j] = ns;
		b->id_req[c][j] = r;
	}
}

static const char *req_name(const struct request *r)
{
	return r->id[0] ? r->id : r->xrid[0] ? r->xrid : "(no id)";
}

/*
 * Stall time per class in [start, first token) of R, scaled down so that it never exceeds the
 * TTFT (stalls of several threads overlap each other). Returns the capped total.
 */
static double attribute(const struct model *m, uint64_t max_dur, const struct request *r,
			double *cls_ns, struct build *b, bool tail)
{
	uint64_t a = r->start_ns, e = r->first_token_ns, ttft = e - a;
	double raw[VC_MAX] = {}, tot = 0, scale = 1;

	for (size_t i = stalls_from(m->stall_list, m->nstalls, max_dur, a);
	     i < m->nstalls && m->stall_list[i].ts_ns < e; i++) {
		const struct stall_rec *s = &m->stall_list[i];
		int c = verdict_class_of(s->cause, s->flags);
		uint64_t o;

		if (c < 0 || !stall_overlaps(s, a, e))
			continue;
		o = overlap_ns(s->ts_ns, s->ts_ns + s->dur_ns, a, e);
		raw[c] += o;
		tot += o;
	}
	if (tot > ttft)
		scale = ttft / tot;
	for (int c = 0; c < VC_MAX; c++) {
		cls_ns[c] = raw[c] * scale;
		if (tail && cls_ns[c] > 0)
			add_id(b, c, r, cls_ns[c]);
	}
	if (tail) /* the threads: a second pass, only for the few tail requests */
		for (size_t i = stalls_from(m->stall_list, m->nstalls, max_dur, a);
		     i < m->nstalls && m->stall_list[i].ts_ns < e; i++) {
			const struct stall_rec *s = &m->stall_list[i];
			int c = verdict_class_of(s->cause, s->flags);

			if (c >= 0 && stall_overlaps(s, a, e))
				add_thread(b, c, s->pid, s->tid,
					   overlap_ns(s->ts_ns, s->ts_ns + s->dur_ns, a, e) *
					       scale);
		}
	return tot * scale;
}

static int cmp_item(const void *x, const void *y)
{
	const struct verdict_item *a = x, *b = y;

	return a->explained_ns < b->explained_ns ? 1 : a->explained_ns > b->explained_ns ? -1 : 0;
}

static void finish_items(const struct model *m, struct verdict *v, struct build *b)
{
	for (int c = 0; c < VC_MAX; c++) {
		struct verdict_item *it = &v->items[c];

		it->cls = c;
		it->share = v->tail_sum_ns > 0 ? it->explained_ns / v->tail_sum_ns : 0;
		for (size_t i = 0; i < b->nthr[c]; i++)
			if (!i || b->thr[c][i].ns > b->thr[c][0].ns)
				b->thr[c][0] = b->thr[c][i];
		if (b->nthr[c]) {
			it->pid = b->thr[c][0].pid;
			it->tid = b->thr[c][0].tid;
		}
		for (size_t j = 0; j < VERDICT_IDS && b->id_req[c][j]; j++)
			snprintf(it->ids[it->nids++], REQ_ID_LEN, "%s", req_name(b->id_req[c][j]));
	}
	for (size_t i = 0; i < m->nstalls; i++) {
		int c = verdict_class_of(m->stall_list[i].cause, m->stall_list[i].flags);

		if (c < 0)
			continue;
		v->items[c].stalls++;
		v->items[c].total_ns += m->stall_list[i].dur_ns;
		v->stalls++;
		v->stall_ns += m->stall_list[i].dur_ns;
	}
	v->top_cls = -1;
	for (int c = 0; c < VC_MAX; c++)
		if (v->items[c].total_ns &&
		    (v->top_cls < 0 || v->items[c].total_ns > v->items[v->top_cls].total_ns))
			v->top_cls = c;
	v->top_ns = v->top_cls >= 0 ? v->items[v->top_cls].total_ns : 0;
	sort_n(v->items, VC_MAX, sizeof(v->items[0]), cmp_item);
	while (v->nitems < VC_MAX && v->items[v->nitems].explained_ns > 0)
		v->nitems++;
}

/* A tail request that waited on memory for a large share of its TTFT: kept slowest first. */
static void add_stalled(struct verdict *v, const struct request *r, uint64_t ttft, double share,
			uint64_t faults)
{
	size_t j;

	if (!v->stalled || share < v->stalled_min_share)
		v->stalled_min_share = share;
	if (share > v->stalled_max_share)
		v->stalled_max_share = share;
	v->stalled++;
	v->stalled_faults += faults;
	j = v->nstalled_ids < VERDICT_IDS ? v->nstalled_ids++ : VERDICT_IDS;
	while (j > 0 && v->stalled_ttft[j - 1] < ttft) {
		if (j < VERDICT_IDS) {
			v->stalled_ttft[j] = v->stalled_ttft[j - 1];
			memcpy(v->stalled_ids[j], v->stalled_ids[j - 1], REQ_ID_LEN);
		}
		j--;
	}
	if (j < VERDICT_IDS) {
		v->stalled_ttft[j] = ttft;
		snprintf(v->stalled_ids[j], REQ_ID_LEN, "%s", req_name(r));
	}
}

/* The TTFT threshold of the tail: the p90 (nearest rank) of the requests' TTFTs. */
static uint64_t tail_threshold(const struct model *m, size_t n)
{
	struct u64vec ttft = {};
	uint64_t t;

	for (size_t i = 0; i < n; i++) {
		const struct request *r = reqview_request(m, i);

		if (r->first_token_ns && r->first_token_ns >= r->start_ns)
			u64vec_push(&ttft, r->first_token_ns - r->start_ns);
	}
	t = u64vec_pct(&ttft, 90);
	u64vec_free(&ttft);
	return t;
}

/* --- the words -------------------------------------------------------------------------- */

static const char *top_region(const struct model *m)
{
	const struct region_stat *best = NULL;

	for (size_t i = 0; i < m->nregions; i++)
		if (!best || m->regions[i].faults > best->faults)
			best = &m->regions[i];
	return best ? best->name : NULL;
}

/* The change that would remove the stalls of class C, in the background's terms. */
static void change_for(const struct model *m, int c, char *buf, size_t len)
{
	const char *defrag = m->session.thp.defrag ?: "?";
	const char *khd = m->session.thp.khugepaged_defrag ?: "?";
	const char *enabled = m->session.thp.enabled ?: "?";
	const char *region = top_region(m);

	switch (c) {
	case VC_FAULT:
		snprintf(buf, len,
			 "first touch of fresh memory%s%s%s: pre-fault the buffers at "
			 "start-up (MAP_POPULATE or touch them), back large ones with huge pages "
			 "(MADV_HUGEPAGE or a hugetlb pool)%s",
			 region ? " (most faults in " : "", region ?: "", region ? ")" : "",
			 m->faults_major ? ", and pre-read the mmapped weights (major faults)"
					 : "");
		break;
	case VC_DIRECT_RECLAIM:
		snprintf(buf, len,
			 "the node ran short of free memory: leave headroom (page cache, "
			 "pinned buffers) or raise vm.min_free_kbytes");
		break;
	case VC_MEMCG_RECLAIM:
		snprintf(buf, len,
			 "the cgroup's memory limit is tight for the working set and its "
			 "page cache: raise it or shrink what the server keeps");
		break;
	case VC_DIRECT_COMPACTION:
		snprintf(
		    buf, len,
		    "THP defrag=%s lets faulting threads compact memory: set "
		    "/sys/kernel/mm/transparent_hugepage/defrag to defer+madvise or never, and "
		    "keep a small hugetlb pool for the big buffers",
		    defrag);
		break;
	case VC_KHUGEPAGED:
		snprintf(
		    buf, len,
		    "khugepaged (THP enabled=%s, khugepaged defrag=%s) collapsed the "
		    "server's memory with its mmap_lock held: use enabled=madvise with "
		    "MADV_HUGEPAGE only on buffers made at start-up, or back them with a hugetlb "
		    "pool",
		    enabled, khd);
		break;
	case VC_MADV_COLLAPSE:
		snprintf(
		    buf, len,
		    "move the madvise(MADV_COLLAPSE) off the request path: collapse "
		    "once at start-up, or allocate the buffer with MADV_HUGEPAGE or from a hugetlb "
		    "pool so there is nothing to collapse");
		break;
	case VC_MMAP_LOCK_WAIT:
		snprintf(
		    buf, len,
		    "threads mapping and unmapping memory serialise on the mmap_lock: "
		    "keep the allocator from returning memory on the request path (jemalloc with "
		    "retain, larger arenas) or pre-allocate");
		break;
	case VC_MIGRATION:
		snprintf(buf, len,
			 "pages migrated under the threads (NUMA balancing, compaction): "
			 "bind the server to a node or set kernel.numa_balancing=0");
		break;
	default:
		buf[0] = 0;
	}
}

static void line(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	if (v->nlines >= (int)(sizeof(v->lines) / sizeof(v->lines[0])))
		return;
	va_start(ap, fmt);
	vsnprintf(v->lines[v->nlines], sizeof(v->lines[0]), fmt, ap);
	va_end(ap);
	/* request ids, commands and paths come from clients and targets: plain ASCII only */
	for (char *c = v->lines[v->nlines++]; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
}

/* The target's command name for PID, from the recording's header. */
static const char *comm_of(const struct model *m, uint32_t pid)
{
	return model_target_comm(m, pid) ?: "process";
}

static void item_line(const struct model *m, struct verdict *v, const struct verdict_item *it,
		      size_t rank)
{
	char a[32], b[32], ids[3 * REQ_ID_LEN + 16] = "", change[400];
	size_t used = 0;

	for (size_t j = 0; j < it->nids; j++)
		used += snprintf(ids + used, sizeof(ids) - used, "%s%s", j ? ", " : "", it->ids[j]);
	change_for(m, it->cls, change, sizeof(change));
	line(v,
	     /* a stall under two concurrent requests counts in both: say "overlapped", not "of it"
	      */
	     "%zu. %.0f%%: %s in %s pid %u tid %u, %" PRIu64
	     " stalls %s in all; they overlapped %zu "
	     "of the %zu tail requests for %s of their TTFT (%s). Change: %s.",
	     rank, 100 * it->share, class_words[it->cls], comm_of(m, it->pid), it->pid, it->tid,
	     it->stalls, fmt_ns(it->total_ns, a, sizeof(a)), it->requests, v->tail,
	     fmt_ns(it->explained_ns, b, sizeof(b)), ids, change);
}

/* The requests memory made slow, and the faults in their windows against the others'. */
static void stalled_line(const struct model *m, struct verdict *v)
{
	char ids[VERDICT_IDS * (REQ_ID_LEN + 32)] = "", a[32], range[32];
	size_t used = 0;

	if (!v->stalled)
		return;
	if (lround(100 * v->stalled_min_share) == lround(100 * v->stalled_max_share))
		snprintf(range, sizeof(range), "%.0f", 100 * v->stalled_max_share);
	else
		snprintf(range, sizeof(range), "%.0f-%.0f", 100 * v->stalled_min_share,
			 100 * v->stalled_max_share);
	for (size_t j = 0; j < v->nstalled_ids && used < sizeof(ids); j++)
		used += snprintf(ids + used, sizeof(ids) - used, "%s%s %s", j ? ", " : "",
				 v->stalled_ids[j], fmt_ns(v->stalled_ttft[j], a, sizeof(a)));
	line(v,
	     "Requests that waited on memory for %s%% of their TTFT: %zu (%s%s); %" PRIu64
	     " faults in their TTFT windows (%.0f each) against a median of %" PRIu64 " in the "
	     "other requests' windows%s.",
	     range, v->stalled, ids, v->stalled > v->nstalled_ids ? ", ..." : "", v->stalled_faults,
	     (double)v->stalled_faults / v->stalled, v->other_faults_p50,
	     m->have_fault_dur ? ""
			       : " (fault durations are not recorded on this kernel: the "
				 "shares are lower bounds)");
}

/*
 * Without fault durations a tail that faults far more than the other requests may still wait on
 * memory: say so rather than clear memory on evidence that cannot show it.
 */
static void untimed_faults_line(const struct model *m, struct verdict *v)
{
	double each = v->tail ? (double)v->tail_faults / v->tail : 0;

	if (m->have_fault_dur || each < 100 || each < 4.0 * v->other_faults_p50)
		return;
	line(v,
	     "But fault durations are not recorded on this kernel, and the tail requests took "
	     "%.0f faults each in their TTFT windows against a median of %" PRIu64 " in the "
	     "others': page faults may be part of it.",
	     each, v->other_faults_p50);
}

static void build_lines(const struct model *m, struct verdict *v)
{
	char a[32], b[32], c[32];

	if (v->kind == VERDICT_NO_REQUESTS) {
		line(v, "No request with a first token in this recording, so no TTFT to explain: "
			"record the server's port (the requests probe) or give --requests FILE.");
		if (v->top_cls >= 0)
			line(v, "Memory stalls seen: %" PRIu64 ", %s in total, most of it %s (%s).",
			     v->stalls, fmt_ns(v->stall_ns, a, sizeof(a)), class_words[v->top_cls],
			     fmt_ns(v->top_ns, b, sizeof(b)));
		else
			line(v, "No memory stall was recorded either.");
	} else if (v->kind == VERDICT_NOT_MEMORY) {
		line(v,
		     "Memory is not the cause: the %zu slowest of %zu requests (TTFT >= %s, %s) "
		     "waited on memory for %.0f%% of their TTFT (%s of %s): look elsewhere "
		     "(scheduling, the GPU, batching, the network).",
		     v->tail, v->requests, v->tail_name, fmt_ns(v->tail_ttft_ns, a, sizeof(a)),
		     100 * v->share, fmt_ns(v->explained_ns, b, sizeof(b)),
		     fmt_ns(v->tail_sum_ns, c, sizeof(c)));
		if (v->nitems)
			line(v, "Largest memory share: %.1f%% %s.", 100 * v->items[0].share,
			     class_words[v->items[0].cls]);
		untimed_faults_line(m, v);
	} else {
		if (v->kind == VERDICT_MEMORY)
			line(
			    v,
			    "Memory stalls explain %.0f%% of the TTFT tail: the %zu slowest of %zu "
			    "requests (TTFT >= %s, %s) waited %s on memory of %s (all requests: "
			    "%.0f%%).",
			    100 * v->share, v->tail, v->requests, v->tail_name,
			    fmt_ns(v->tail_ttft_ns, a, sizeof(a)),
			    fmt_ns(v->explained_ns, b, sizeof(b)),
			    fmt_ns(v->tail_sum_ns, c, sizeof(c)), 100 * v->all_share);
		else
			line(v,
			     "Memory stalls made %zu of the %zu slowest requests slow (TTFT >= %s, "
			     "%s; %zu requests in all), though they explain only %.0f%% of the "
			     "tail's "
			     "TTFT (%s of %s).",
			     v->stalled, v->tail, v->tail_name,
			     fmt_ns(v->tail_ttft_ns, a, sizeof(a)), v->requests, 100 * v->share,
			     fmt_ns(v->explained_ns, b, sizeof(b)),
			     fmt_ns(v->tail_sum_ns, c, sizeof(c)));
		stalled_line(m, v);
		for (size_t i = 0; i < v->nitems && i < 3; i++)
			if (v->items[i].share >= 0.01 || !i)
				item_line(m, v, &v->items[i], i + 1);
	}
	if (v->truncated)
		line(v, "The recording is cut short (%s): this covers only what was written.",
		     m->status.message);
	else if (v->dropped)
		line(v,
		     "%" PRIu64 " events were dropped (ring buffer full): stall time is a lower "
		     "bound.",
		     m->dropped);
}

int verdict_build(struct model *m)
{
	struct verdict *v = calloc(1, sizeof(*v));
	struct build *b = calloc(1, sizeof(*b));
	size_t n = reqview_count(m);
	double all_sum = 0, all_expl = 0;
	struct u64vec other_faults = {};
	uint64_t max_dur = 0;

	if (!v || !b) {
		free(v);
		free(b);
		return -ENOMEM;
	}
	m->verdict = v;
	v->tail_name = "p90";
	v->truncated = m->status.truncated;
	v->dropped = m->dropped != 0;
	for (size_t i = 0; i < m->nstalls; i++)
		if (m->stall_list[i].dur_ns > max_dur)
			max_dur = m->stall_list[i].dur_ns;
	v->tail_ttft_ns = tail_threshold(m, n);
	for (size_t i = 0; i < n; i++) {
		const struct request *r = reqview_request(m, i);
		double cls_ns[VC_MAX], expl;
		uint64_t ttft, faults;
		bool tail;

		if (!r->first_token_ns || r->first_token_ns < r->start_ns)
			continue;
		ttft = r->first_token_ns - r->start_ns;
		tail = ttft >= v->tail_ttft_ns;
		v->requests++;
		expl = attribute(m, max_dur, r, cls_ns, b, tail);
		all_sum += ttft;
		all_expl += expl;
		faults = fault_times_count(&m->fault_ts, r->start_ns, r->first_token_ns);
		if (tail && expl >= VERDICT_SIGNIFICANT * ttft)
			add_stalled(v, r, ttft, expl / ttft, faults);
		else
			u64vec_push(&other_faults, faults);
		if (!tail)
			continue;
		v->tail++;
		v->tail_faults += faults;
		v->tail_sum_ns += ttft;
		v->explained_ns += expl;
		for (int c = 0; c < VC_MAX; c++) {
			v->items[c].explained_ns += cls_ns[c];
			v->items[c].requests += cls_ns[c] > 0;
		}
	}
	v->share = v->tail_sum_ns > 0 ? v->explained_ns / v->tail_sum_ns : 0;
	v->all_share = all_sum > 0 ? all_expl / all_sum : 0;
	v->other_faults_p50 = u64vec_pct(&other_faults, 50);
	u64vec_free(&other_faults);
	v->kind = !v->requests			    ? VERDICT_NO_REQUESTS
		  : v->share >= VERDICT_SIGNIFICANT ? VERDICT_MEMORY
		  : v->stalled			    ? VERDICT_SOME
						    : VERDICT_NOT_MEMORY;
	finish_items(m, v, b);
	build_lines(m, v);
	v->nfindings = findings_build(m, v->findings, MAX_FINDINGS);
	verdict_rank_findings(m, v->findings, v->nfindings);
	free(b);
	return 0;
}

void verdict_free(struct verdict *v)
{
	free(v);
}

#define VERDICT_COLS 100

/* S at two spaces' indent, wrapped at spaces to VERDICT_COLS, continued at four. */
static void wrap_line(FILE *f, const char *s)
{
	size_t indent = 2;

	while (*s) {
		size_t room = VERDICT_COLS - indent, n = strlen(s), cut = n;

		if (n > room) {
			cut = room;
			while (cut > room / 2 && s[cut] != ' ')
				cut--;
			if (s[cut] != ' ') /* no space in reach: cut the word */
				cut = room;
		}
		fprintf(f, "%*s%.*s\n", (int)indent, "", (int)cut, s);
		s += cut;
		while (*s == ' ')
			s++;
		indent = 4;
	}
}

void verdict_text(const struct model *m, FILE *f)
{
	const struct verdict *v = m->verdict;

	if (!v)
		return;
	fprintf(f, "Verdict\n");
	for (int i = 0; i < v->nlines; i++)
		wrap_line(f, fl_esc(v->lines[i])); /* ids and comms come from clients and targets */
	fprintf(f, "\n");
}

static const char *const kind_names[] = {
    [VERDICT_NO_REQUESTS] = "no_requests",
    [VERDICT_MEMORY] = "memory",
    [VERDICT_SOME] = "some_requests",
    [VERDICT_NOT_MEMORY] = "not_memory",
};

void verdict_json(const struct model *m, struct jw *w)
{
	const struct verdict *v = m->verdict;
	char change[400];

	if (!v) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	jw_kstr(w, "kind", kind_names[v->kind]);
	jw_ku64(w, "requests", v->requests);
	jw_key(w, "tail");
	jw_obj_open(w);
	jw_kstr(w, "percentile", v->tail_name);
	jw_ku64(w, "ttft_threshold_ns", v->tail_ttft_ns);
	jw_ku64(w, "count", v->tail);
	jw_kdouble(w, "ttft_sum_ns", v->tail_sum_ns);
	jw_kdouble(w, "memory_ns", v->explained_ns);
	jw_kdouble(w, "share", v->share);
	jw_obj_close(w);
	jw_kdouble(w, "all_requests_share", v->all_share);
	jw_key(w, "stalled_requests");
	jw_obj_open(w);
	jw_ku64(w, "count", v->stalled);
	jw_kdouble(w, "min_share", v->stalled_min_share);
	jw_kdouble(w, "max_share", v->stalled_max_share);
	jw_key(w, "slowest");
	jw_arr_open(w);
	for (size_t j = 0; j < v->nstalled_ids; j++) {
		jw_obj_open(w);
		jw_kstr(w, "id", v->stalled_ids[j]);
		jw_ku64(w, "ttft_ns", v->stalled_ttft[j]);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_ku64(w, "faults", v->stalled_faults);
	jw_ku64(w, "other_requests_faults_p50", v->other_faults_p50);
	jw_obj_close(w);
	jw_ku64(w, "stalls", v->stalls);
	jw_ku64(w, "stall_ns", v->stall_ns);
	jw_key(w, "causes");
	jw_arr_open(w);
	for (size_t i = 0; i < v->nitems; i++) {
		const struct verdict_item *it = &v->items[i];

		jw_obj_open(w);
		jw_kstr(w, "class", verdict_class_names[it->cls]);
		jw_kstr(w, "cause", fl_cause_names[class_cause[it->cls]]);
		jw_kstr(w, "what", class_words[it->cls]);
		jw_kdouble(w, "share", it->share);
		jw_kdouble(w, "explained_ns", it->explained_ns);
		jw_ku64(w, "requests", it->requests);
		jw_ku64(w, "stalls", it->stalls);
		jw_ku64(w, "total_ns", it->total_ns);
		jw_ku64(w, "pid", it->pid);
		jw_ku64(w, "tid", it->tid);
		jw_key(w, "request_ids");
		jw_arr_open(w);
		for (size_t j = 0; j < it->nids; j++)
			jw_str(w, it->ids[j]);
		jw_arr_close(w);
		change_for(m, it->cls, change, sizeof(change));
		jw_kstr(w, "change", change);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_kbool(w, "truncated", v->truncated);
	jw_kbool(w, "dropped", v->dropped);
	jw_key(w, "text");
	jw_arr_open(w);
	for (int i = 0; i < v->nlines; i++)
		jw_str(w, v->lines[i]);
	jw_arr_close(w);
	jw_obj_close(w);
}

/* The tail TTFT explained by the stalls a finding is about; dropped events rank first. */
static double finding_weight(const struct verdict *v, const char *id)
{
	static const struct {
		const char *id;
		int cls[2];
	} map[] = {
	    {"thp-defrag-compaction", {VC_DIRECT_COMPACTION, -1}},
	    {"direct-reclaim", {VC_DIRECT_RECLAIM, -1}},
	    {"memcg-reclaim", {VC_MEMCG_RECLAIM, -1}},
	    {"khugepaged-collapse", {VC_KHUGEPAGED, VC_MADV_COLLAPSE}},
	    {"mmap-lock-contention", {VC_MMAP_LOCK_WAIT, -1}},
	    {"major-faults", {VC_FAULT, -1}},
	};
	double w = 0;

	if (!strcmp(id, "events-dropped"))
		return 1e300;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].id, id))
			for (size_t k = 0; k < v->nitems; k++)
				if (v->items[k].cls == map[i].cls[0] ||
				    v->items[k].cls == map[i].cls[1])
					w += v->items[k].explained_ns;
	return w;
}

void verdict_rank_findings(const struct model *m, struct finding *f, int n)
{
	const struct verdict *v = m->verdict;

	if (!v)
		return;
	for (int i = 1; i < n; i++) { /* insertion: stable, and there are a handful */
		struct finding x = f[i];
		double wx = finding_weight(v, x.id);
		int j = i;

		for (; j > 0 && finding_weight(v, f[j - 1].id) < wx; j--)
			f[j] = f[j - 1];
		f[j] = x;
	}
}
