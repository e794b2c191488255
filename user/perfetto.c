// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline report --perfetto FILE: the model as Chrome Trace Event JSON, which Perfetto,
 * chrome://tracing and speedscope open. Per traced thread a track (M metadata names processes and
 * threads); every timed stall, allocator and pinned call an X slice; faults per ms and RSS per
 * process as counters; requests as async b/e slices with ids on a "requests" process, since
 * concurrent requests would overlap as X slices on one thread. Slices that overlap on one thread
 * (a fault inside a malloc, two stalls of one thread that the kernel nests) go to extra lanes of
 * that thread ("tid N lane K"): Perfetto's importer rejects slices that overlap on one track.
 * Timestamps are µs from the session's start.
 */
#include "perfetto.h"
#include "alloc_model.h"
#include "attrib.h"
#include "jw.h"
#include "model.h"
#include "reqreport.h"
#include "util.h"
#include "verdict.h"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define REQ_PID 4194305u /* above any pid_max: the "requests" process */
#define LANES 8		 /* lanes per thread before overlapping slices are dropped */
#define LANE_TID(tid, k) ((tid) + (uint32_t)(k)*0x10000000u)
#define SLICE_CAP 1000000 /* ~200 MB of JSON: the longest slices are kept */
#define REQ_CAP 200000	  /* requests drawn at most (~1 KB each with their windows) */
#define NO_LANE 0xff
#define WIN_LANES 32	    /* lanes of first-token windows, the flows' sources */
#define FLOWS_PER_REQUEST 8 /* flow arrows from a window to the stalls that overlapped it */
#define FLOWS_CAP 200000
#define COUNTER_POINTS 100000 /* fault-rate points at most: the bucket widens beyond */

struct slice {
	uint64_t ts, dur;
	uint32_t pid, tid;
	int32_t stall;		/* index in m->stall_list, or -1 */
	struct timed_call call; /* when stall < 0 */
};

struct trace {
	const struct model *m;
	struct jw w;
	uint64_t t0;
	struct slice *s;
	size_t n, cap;
	size_t dropped_cap, dropped_lanes;
	uint64_t fault_bucket_ns;
	uint64_t thread_bucket_ms;
	uint8_t *stall_lane; /* per stall: the lane its slice went to, NO_LANE when dropped */
	size_t flows, flows_dropped, windows_dropped, requests_dropped;
};

static void kus(struct jw *w, const char *key, const struct trace *t, uint64_t ns, bool rel)
{
	char buf[48];
	uint64_t v = rel ? (ns > t->t0 ? ns - t->t0 : 0) : ns;

	snprintf(buf, sizeof(buf), "%" PRIu64 ".%03u", v / 1000, (unsigned)(v % 1000));
	jw_key(w, key);
	jw_key_raw_value(w, buf);
}

static void ev_open(struct trace *t, const char *ph, const char *name, uint32_t pid, uint32_t tid)
{
	jw_obj_open(&t->w);
	jw_kstr(&t->w, "ph", ph);
	jw_kstr(&t->w, "name", name);
	jw_ku64(&t->w, "pid", pid);
	jw_ku64(&t->w, "tid", tid);
}

static void meta_name(struct trace *t, const char *what, uint32_t pid, uint32_t tid,
		      const char *name)
{
	ev_open(t, "M", what, pid, tid);
	jw_key(&t->w, "args");
	jw_obj_open(&t->w);
	jw_kstr(&t->w, "name", name);
	jw_obj_close(&t->w);
	jw_obj_close(&t->w);
}

static void collect_call(const struct timed_call *c, void *arg)
{
	struct trace *t = arg;

	if (grow_array((void **)&t->s, &t->cap, t->n, sizeof(*t->s), 1024))
		return;
	t->s[t->n++] = (struct slice){.ts = c->ts_ns,
				      .dur = c->dur_ns,
				      .pid = c->pid,
				      .tid = c->tid,
				      .stall = -1,
				      .call = *c};
}

static int cmp_dur_desc(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;

	return x->dur < y->dur ? 1 : x->dur > y->dur ? -1 : 0;
}

static int cmp_thread_ts(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->dur < y->dur ? 1 : x->dur > y->dur ? -1 : 0;
}

static int collect(struct trace *t)
{
	const struct model *m = t->m;

	for (size_t i = 0; i < m->nstalls; i++) {
		const struct stall_rec *r = &m->stall_list[i];

		if (grow_array((void **)&t->s, &t->cap, t->n, sizeof(*t->s), 1024))
			return -ENOMEM;
		t->s[t->n++] = (struct slice){.ts = r->ts_ns,
					      .dur = r->dur_ns,
					      .pid = r->pid,
					      .tid = r->tid,
					      .stall = (int32_t)i};
	}
	t->stall_lane = malloc(m->nstalls + 1);
	if (t->stall_lane)
		memset(t->stall_lane, NO_LANE, m->nstalls + 1);
	alloc_timed_calls(m, collect_call, t);
	if (t->n > SLICE_CAP) {
		sort_n(t->s, t->n, sizeof(*t->s), cmp_dur_desc);
		t->dropped_cap = t->n - SLICE_CAP;
		t->n = SLICE_CAP;
	}
	sort_n(t->s, t->n, sizeof(*t->s), cmp_thread_ts);
	return 0;
}

static const char *stall_call(const struct stall_rec *r)
{
	switch (verdict_class_of(r->cause, r->flags)) {
	case VC_MADV_COLLAPSE:
		return "madvise(MADV_COLLAPSE)";
	case VC_KHUGEPAGED:
		return "khugepaged";
	case VC_DIRECT_COMPACTION:
		return "huge page allocation (THP defrag)";
	case VC_FAULT:
		return "page fault";
	default:
		return NULL;
	}
}

static void slice_args(struct trace *t, const struct slice *s, int lane)
{
	struct jw *w = &t->w;

	jw_key(w, "args");
	jw_obj_open(w);
	if (s->stall >= 0) {
		const struct stall_rec *r = &t->m->stall_list[s->stall];

		jw_kstr(w, "cause", fl_cause_names[r->cause]);
		jw_kstr(w, "class", verdict_class_names[verdict_class_of(r->cause, r->flags)]);
		jw_kstr(w, "call", stall_call(r));
		jw_ki64(w, "order", r->order);
		if (r->cause == FL_CAUSE_DIRECT_RECLAIM || r->cause == FL_CAUSE_MEMCG_RECLAIM ||
		    r->cause == FL_CAUSE_MIGRATION)
			jw_ku64(w, "pages", r->arg0);
		if (r->cause == FL_CAUSE_KHUGEPAGED)
			jw_kbool(w, "collapsed", r->arg0 == 1);
		jw_kbool(w, "other_thread", r->flags & FL_F_OTHER);
	} else {
		jw_kstr(w, "call", s->call.name);
		jw_ku64(w, "bytes", s->call.size);
		if (s->call.pinned)
			jw_ki64(w, "status", s->call.ret);
	}
	jw_ku64(w, "tid", s->tid);
	if (lane)
		jw_ku64(w, "lane", lane);
	jw_obj_close(w);
}

static void thread_meta(struct trace *t, uint32_t pid, uint32_t tid, int lanes, bool kthread)
{
	char name[64];

	for (int k = 0; k < lanes; k++) {
		if (!k)
			snprintf(name, sizeof(name), "%s", kthread ? "kernel thread" : "thread");
		else /* a made-up tid: say whose slices these are */
			snprintf(name, sizeof(name), "tid %u, overlapping slices %d", tid, k);
		meta_name(t, "thread_name", pid, LANE_TID(tid, k), name);
	}
}

/* Each thread's slices, in lanes where none overlaps another. */
static void write_slices(struct trace *t)
{
	for (size_t i = 0; i < t->n;) {
		uint64_t lane_end[LANES] = {};
		size_t j = i;
		int lanes = 1;
		bool kthread = false;

		for (; j < t->n && t->s[j].tid == t->s[i].tid && t->s[j].pid == t->s[i].pid; j++) {
			const struct slice *s = &t->s[j];
			const char *name;
			int k = 0;

			while (k < LANES && lane_end[k] > s->ts)
				k++;
			if (k == LANES) {
				t->dropped_lanes++;
				continue;
			}
			lane_end[k] = s->ts + s->dur;
			if (s->stall >= 0 && t->stall_lane)
				t->stall_lane[s->stall] = k;
			if (k + 1 > lanes)
				lanes = k + 1;
			if (s->stall >= 0) {
				const struct stall_rec *r = &t->m->stall_list[s->stall];

				name = fl_cause_names[r->cause];
				kthread |= r->flags & FL_F_OTHER;
			} else {
				name = s->call.name;
			}
			ev_open(t, "X", name, s->pid, LANE_TID(s->tid, k));
			jw_kstr(&t->w, "cat",
				s->stall >= 0	 ? "stall"
				: s->call.pinned ? "pinned"
						 : "alloc");
			kus(&t->w, "ts", t, s->ts, true);
			kus(&t->w, "dur", t, s->dur, false);
			slice_args(t, s, k);
			jw_obj_close(&t->w);
		}
		thread_meta(t, t->s[i].pid, t->s[i].tid, lanes, kthread);
		i = j;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void write_processes(struct trace *t)
{
	uint32_t *pids = calloc(t->n + t->m->nrss + 1, sizeof(*pids));
	size_t np = 0, i;

	if (!pids)
		return;
	for (i = 0; i < t->n; i++)
		pids[np++] = t->s[i].pid;
	for (i = 0; i < t->m->nrss; i++)
		pids[np++] = t->m->rss[i].pid;
	sort_n(pids, np, sizeof(*pids), cmp_u32);
	for (i = 0; i < np; i++) {
		char name[64];
		const char *comm;

		if (i && pids[i] == pids[i - 1])
			continue;
		comm = model_target_comm(t->m, pids[i]);
		snprintf(name, sizeof(name), "%s", comm ?: "process");
		meta_name(t, "process_name", pids[i], pids[i], name);
	}
	free(pids);
}

static int cmp_bucket(const void *a, const void *b)
{
	const struct fault_bucket *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->ms < y->ms ? -1 : x->ms > y->ms;
}

static bool same_bucket(const struct fault_bucket *a, const struct fault_bucket *b, uint64_t w)
{
	return a->pid == b->pid && a->tid == b->tid && a->ms / w == b->ms / w;
}

static void fault_point(struct trace *t, const struct fault_bucket *b, uint64_t ms, double rate)
{
	char name[48];

	snprintf(name, sizeof(name), "faults per ms, tid %u", b->tid);
	ev_open(t, "C", name, b->pid, b->pid);
	kus(&t->w, "ts", t, ms * 1000000, true);
	jw_key(&t->w, "args");
	jw_obj_open(&t->w);
	jw_kdouble(&t->w, "faults", rate);
	jw_obj_close(&t->w);
	jw_obj_close(&t->w);
}

/* Faults per ms of each thread: a point per busy bucket, 0 where the thread stops faulting. */
static void write_thread_faults(struct trace *t)
{
	size_t n = t->m->nfault_buckets, distinct;
	struct fault_bucket *v = malloc((n + 1) * sizeof(*v));
	uint64_t w = 1;

	if (!v || !n) {
		free(v);
		return;
	}
	memcpy(v, t->m->fault_buckets, n * sizeof(*v));
	sort_n(v, n, sizeof(*v), cmp_bucket);
	for (;; w *= 2) { /* widen the buckets until the points fit */
		distinct = 0;
		for (size_t i = 0; i < n; i++)
			distinct += !i || !same_bucket(&v[i - 1], &v[i], w);
		if (distinct <= COUNTER_POINTS * 4)
			break;
	}
	t->thread_bucket_ms = w;
	for (size_t i = 0; i < n;) {
		uint64_t c = 0, start = v[i].ms / w * w;
		size_t j = i;

		for (; j < n && same_bucket(&v[i], &v[j], w); j++)
			c += v[j].count;
		fault_point(t, &v[i], start, c / (double)w);
		if (j == n || v[j].pid != v[i].pid || v[j].tid != v[i].tid ||
		    v[j].ms / w * w != start + w)
			fault_point(t, &v[i], start + w, 0);
		i = j;
	}
	free(v);
}

static void write_counters(struct trace *t)
{
	const struct model *m = t->m;
	uint64_t width, end = m->last_ts, last = UINT64_MAX;
	uint32_t pid = m->nrss ? m->rss[0].pid : 0;

	for (size_t k = 0; k < m->nrss_series; k++) {
		const struct rss_point *p = &m->rss_series[k];

		ev_open(t, "C", "RSS", p->pid, p->pid);
		kus(&t->w, "ts", t, p->ts_ns, true);
		jw_key(&t->w, "args");
		jw_obj_open(&t->w);
		jw_kdouble(&t->w, "MiB", p->pages * (double)m->page_size / (1 << 20));
		jw_obj_close(&t->w);
		jw_obj_close(&t->w);
	}
	write_thread_faults(t);
	if (!m->fault_ts.n || !m->first_ts)
		return;
	/* faults per ms of all traced threads: the model keeps their times, not their threads */
	width = 1000000;
	while ((end - m->first_ts) / width > COUNTER_POINTS)
		width *= 2;
	t->fault_bucket_ns = width;
	for (uint64_t b = m->first_ts; b <= end + width; b += width) {
		uint64_t c = fault_times_count(&m->fault_ts, b, b + width);

		if (c == last)
			continue;
		last = c;
		ev_open(t, "C", "faults per ms", pid, pid);
		kus(&t->w, "ts", t, b, true);
		jw_key(&t->w, "args");
		jw_obj_open(&t->w);
		jw_kdouble(&t->w, "faults", c / (width / 1e6));
		jw_obj_close(&t->w);
		jw_obj_close(&t->w);
		if (m->fault_ts.last < b + width && !c)
			break;
	}
}

static void req_event(struct trace *t, const char *ph, const char *name, size_t id, uint64_t ts)
{
	char ids[32];

	ev_open(t, ph, name, REQ_PID, REQ_PID);
	jw_kstr(&t->w, "cat", "request");
	snprintf(ids, sizeof(ids), "0x%zx", id + 1);
	jw_kstr(&t->w, "id", ids);
	kus(&t->w, "ts", t, ts, true);
}

/*
 * Flow arrows need a thread slice at each end (JSON flow events bind to enclosing slices), so
 * each first-token window is also an X slice on a lane of the requests process, and an arrow
 * goes from it to each stall slice that overlapped it, at the middle of the overlap.
 */
static void write_flow(struct trace *t, uint32_t lane_tid, const struct stall_rec *st, int lane,
		       uint64_t at)
{
	char id[32];

	snprintf(id, sizeof(id), "0x%zx", ++t->flows);
	ev_open(t, "s", "stall in first-token window", REQ_PID, lane_tid);
	jw_kstr(&t->w, "cat", "flow");
	jw_kstr(&t->w, "id", id);
	kus(&t->w, "ts", t, at, true);
	jw_obj_close(&t->w);
	ev_open(t, "f", "stall in first-token window", st->pid, LANE_TID(st->tid, lane));
	jw_kstr(&t->w, "cat", "flow");
	jw_kstr(&t->w, "id", id);
	jw_kstr(&t->w, "bp", "e");
	kus(&t->w, "ts", t, at, true);
	jw_obj_close(&t->w);
}

static void write_windows(struct trace *t, uint64_t max_dur)
{
	uint64_t lane_end[WIN_LANES] = {};
	int lanes = 0;
	char name[48];

	for (size_t i = 0; i < reqview_count(t->m) && i < REQ_CAP; i++) {
		const struct request *r = reqview_request(t->m, i);
		uint64_t a = r->start_ns, b = r->first_token_ns;
		const struct stall_rec *sl = t->m->stall_list;
		int k = 0, nf = 0;

		if (!b || b <= a)
			continue;
		while (k < WIN_LANES && lane_end[k] > a)
			k++;
		if (k == WIN_LANES) {
			t->windows_dropped++;
			continue;
		}
		lane_end[k] = b;
		if (k + 1 > lanes)
			lanes = k + 1;
		ev_open(t, "X", r->id[0] ? r->id : "request", REQ_PID, REQ_PID + 1 + k);
		jw_kstr(&t->w, "cat", "first-token window");
		kus(&t->w, "ts", t, a, true);
		kus(&t->w, "dur", t, b - a, false);
		jw_obj_close(&t->w);
		for (size_t j = stalls_from(sl, t->m->nstalls, max_dur, a);
		     j < t->m->nstalls && sl[j].ts_ns < b; j++) {
			uint64_t lo = sl[j].ts_ns > a ? sl[j].ts_ns : a;
			uint64_t hi =
			    sl[j].ts_ns + sl[j].dur_ns < b ? sl[j].ts_ns + sl[j].dur_ns : b;

			if (hi <= lo || !t->stall_lane || t->stall_lane[j] == NO_LANE)
				continue;
			if (nf++ >= FLOWS_PER_REQUEST || t->flows >= FLOWS_CAP) {
				t->flows_dropped++;
				continue;
			}
			write_flow(t, REQ_PID + 1 + k, &sl[j], t->stall_lane[j],
				   lo + (hi - lo) / 2);
		}
	}
	for (int k = 0; k < lanes; k++) {
		snprintf(name, sizeof(name), "first-token windows %d", k);
		meta_name(t, "thread_name", REQ_PID, REQ_PID + 1 + k, name);
	}
}

static void write_requests(struct trace *t)
{
	size_t n = reqview_count(t->m);
	uint64_t max_dur = 0;

	if (!n)
		return;
	for (size_t i = 0; i < t->m->nstalls; i++)
		if (t->m->stall_list[i].dur_ns > max_dur)
			max_dur = t->m->stall_list[i].dur_ns;
	meta_name(t, "process_name", REQ_PID, REQ_PID, "requests");
	meta_name(t, "thread_name", REQ_PID, REQ_PID, "requests");
	if (n > REQ_CAP) {
		t->requests_dropped = n - REQ_CAP;
		n = REQ_CAP;
	}
	for (size_t i = 0; i < n; i++) {
		const struct request *r = reqview_request(t->m, i);
		const char *name = r->id[0] ? r->id : r->xrid[0] ? r->xrid : "request";

		req_event(t, "b", name, i, r->start_ns);
		jw_key(&t->w, "args");
		jw_obj_open(&t->w);
		jw_ku64(&t->w, "index", r->index);
		jw_kstr(&t->w, "id", r->id);
		jw_kstr(&t->w, "path", r->path[0] ? r->path : NULL);
		jw_key(&t->w, "ttft_ms");
		r->first_token_ns ? jw_double(&t->w, (r->first_token_ns - r->start_ns) / 1e6)
				  : jw_null(&t->w);
		jw_kbool(&t->w, "aborted", r->aborted);
		if (r->first_token_ns && r->first_token_ns >= r->start_ns) {
			struct win_attr wa;

			attribute_window(t->m->stall_list, t->m->nstalls, max_dur, &t->m->fault_ts,
					 r->start_ns, r->first_token_ns, &wa);
			jw_ku64(&t->w, "stalls_in_ttft", wa.nstalls);
			jw_kdouble(&t->w, "stall_ms_in_ttft", wa.total_ns / 1e6);
			jw_ku64(&t->w, "faults_in_ttft", wa.faults);
		}
		jw_obj_close(&t->w);
		jw_obj_close(&t->w);
		if (r->first_token_ns && r->first_token_ns >= r->start_ns) {
			req_event(t, "b", "to first token", i, r->start_ns);
			jw_obj_close(&t->w);
			req_event(t, "e", "to first token", i, r->first_token_ns);
			jw_obj_close(&t->w);
		}
		req_event(t, "e", name, i, r->end_ns > r->start_ns ? r->end_ns : r->start_ns);
		jw_obj_close(&t->w);
	}
	write_windows(t, max_dur);
}

static void write_metadata(struct trace *t)
{
	struct jw *w = &t->w;

	jw_key(w, "metadata");
	jw_obj_open(w);
	jw_kstr(w, "source", "faultline report --perfetto");
	jw_kstr(w, "recording", t->m->path);
	jw_ku64(w, "session_start_monotonic_ns", t->t0);
	jw_ku64(w, "slices", t->n - t->dropped_lanes);
	jw_ku64(w, "slices_dropped_cap", t->dropped_cap);
	jw_ku64(w, "slices_dropped_lanes", t->dropped_lanes);
	jw_kbool(w, "rss_series_capped", t->m->rss_series_capped);
	jw_ku64(w, "fault_bucket_ns", t->fault_bucket_ns);
	jw_ku64(w, "thread_fault_bucket_ms", t->thread_bucket_ms);
	jw_kbool(w, "thread_faults_capped", t->m->fault_buckets_capped);
	jw_kstr(w, "faults_counter",
		"'faults per ms': all traced threads together; 'faults per ms, tid N': each "
		"thread, in buckets of thread_fault_bucket_ms");
	jw_ku64(w, "requests_dropped_cap", t->requests_dropped);
	jw_ku64(w, "flows", t->flows);
	jw_ku64(w, "flows_dropped", t->flows_dropped);
	jw_ku64(w, "first_token_windows_dropped", t->windows_dropped);
	jw_kbool(w, "truncated", t->m->status.truncated);
	jw_obj_close(w);
}

int perfetto_write(const struct model *m, const char *path)
{
	struct trace t = {.m = m, .t0 = m->first_ts};
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f) {
		err = -errno;
		fl_err("--perfetto %s: cannot create: %s", path, strerror(errno));
		return err;
	}
	for (size_t i = 0; i < reqview_count(m); i++) {
		const struct request *r = reqview_request(m, i);

		if (!t.t0 || (r->start_ns && r->start_ns < t.t0))
			t.t0 = r->start_ns;
	}
	t.t0 -= t.t0 % 1000000; /* on a whole ms: the fault buckets start there */
	if (collect(&t)) {
		fl_err("--perfetto: out of memory");
		err = -ENOMEM;
	}
	jw_init(&t.w, f, false);
	jw_obj_open(&t.w);
	jw_kstr(&t.w, "displayTimeUnit", "ms");
	jw_key(&t.w, "traceEvents");
	jw_arr_open(&t.w);
	write_processes(&t);
	write_slices(&t);
	write_counters(&t);
	write_requests(&t);
	jw_arr_close(&t.w);
	write_metadata(&t);
	jw_obj_close(&t.w);
	fputc('\n', f);
	if (fclose(f) && !err) {
		err = -errno;
		fl_err("--perfetto %s: write failed: %s", path, strerror(errno));
	}
	free(t.s);
	free(t.stall_lane);
	return err;
}
