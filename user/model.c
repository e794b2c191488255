// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "model.h"
#include "alloc_model.h"
#include "faultsite.h"
#include "procev.h"
#include "reqreport.h"
#include "stallstack.h"
#include "util.h"
#include "verdict.h"
#include "wire.h"
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fl_cause_names[FL_CAUSE_MAX] = {
    [FL_CAUSE_FAULT] = "fault",
    [FL_CAUSE_DIRECT_RECLAIM] = "direct_reclaim",
    [FL_CAUSE_MEMCG_RECLAIM] = "memcg_reclaim",
    [FL_CAUSE_DIRECT_COMPACTION] = "direct_compaction",
    [FL_CAUSE_KHUGEPAGED] = "khugepaged",
    [FL_CAUSE_MMAP_LOCK_WAIT] = "mmap_lock_wait",
    [FL_CAUSE_MIGRATION] = "migration",
    [FL_CAUSE_ALLOC] = "alloc",
    [FL_CAUSE_PINNED] = "pinned",
};

/* Event sizes: a record file from a newer faultline may carry longer events; never shorter. */
static const size_t min_size[FL_EV_TYPE_MAX] = {
    [FL_EV_FAULT] = sizeof(struct fl_fault),
    [FL_EV_FAULT_DUR] = sizeof(struct fl_fault_dur),
    [FL_EV_FILE_FAULT] = sizeof(struct fl_file_fault),
    [FL_EV_STALL] = sizeof(struct fl_stall),
    [FL_EV_KCOMPACTD] = sizeof(struct fl_kcompactd),
    [FL_EV_LOCK_HOLD] = sizeof(struct fl_lock_hold),
    [FL_EV_RSS] = sizeof(struct fl_rss),
    [FL_EV_PROC] = sizeof(struct fl_proc),
    [FL_EV_MEMSYS] = FL_MEMSYS_V3_SIZE, /* the file members came later */
    [FL_EV_ALLOC] = sizeof(struct fl_alloc),
    [FL_EV_CUDA] = sizeof(struct fl_cuda),
    [FL_EV_NET] = sizeof(struct fl_net) - FL_NET_CAP,
    [FL_EV_REQ] = sizeof(struct fl_req),
    [FL_EV_STACK] = sizeof(struct fl_stack),
    [FL_EV_FAULT_RUN] = sizeof(struct fl_fault_run),
};

struct model_budget model_budget;

/*
 * Heap bytes the model takes per event read, about: a page fault keeps its 8-byte time in an
 * array that doubles when full, and an address to resolve when its region is not known yet
 * (measured: 2.0 M faults, 50 MB). A stall takes more (48 bytes); the check while reading
 * catches what this misses.
 */
#define MODEL_BYTES_PER_EVENT 24
/* Events between two looks at the heap while reading. */
#define MODEL_HEAP_CHECK_EVERY 4096

int model_budget_option(const char *arg)
{
	uint64_t v;
	int err;

	if (!strcmp(arg, "unlimited")) {
		model_budget.bytes = 0;
		snprintf(model_budget.why, sizeof(model_budget.why), "unlimited");
		return 0;
	}
	err = parse_size(arg, &v);
	if (err || v == 0) {
		fl_err("--max-memory '%s': expected a size such as 512M, 2G or 1.5GiB (binary "
		       "units K, M, G, T), or 'unlimited'",
		       arg);
		return -EINVAL;
	}
	if (v < (1u << 20)) {
		fl_err("--max-memory '%s': too small to read any recording; give at least 1M", arg);
		return -EINVAL;
	}
	model_budget.bytes = v;
	snprintf(model_budget.why, sizeof(model_budget.why), "--max-memory %s", arg);
	return 0;
}

void model_budget_default(void)
{
	char line[256];
	unsigned long long kb;
	FILE *f;

	if (model_budget.why[0])
		return; /* --max-memory given */
	f = fopen("/proc/meminfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1 && kb) {
			model_budget.bytes = kb * 1024 / 2;
			snprintf(model_budget.why, sizeof(model_budget.why),
				 "half of MemAvailable");
			break;
		}
	}
	if (f)
		fclose(f);
	if (!model_budget.why[0])
		fl_info("no MemAvailable in /proc/meminfo: reading without a memory budget");
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(FL_ASAN)
/* ASan's allocator replaces malloc's: mallinfo2() would not see its blocks. */
size_t __sanitizer_get_current_allocated_bytes(void);

uint64_t model_heap_used(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
uint64_t model_heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}
#endif

static void budget_refuse(const char *path, const char *what, uint64_t need, uint64_t events)
{
	char nb[32], bb[32];

	fl_err("%s: this recording %s about %s to report (%.1f M events); the budget is %s (%s); "
	       "raise it with --max-memory SIZE (e.g. --max-memory %" PRIu64 "G), or report on a "
	       "machine with more memory",
	       path, what, fmt_bytes(need, nb, sizeof(nb)), events / 1e6,
	       fmt_bytes(model_budget.bytes, bb, sizeof(bb)), model_budget.why, (need >> 30) + 1);
}

/* Before reading: what the chunk headers declare, against the budget. 0 or -E2BIG. */
static int budget_check_early(const char *path, struct fl_reader *r)
{
	struct fl_census c;
	uint64_t need;

	if (!model_budget.bytes || fl_reader_census(r, &c))
		return 0; /* the check while reading still applies */
	need = model_heap_used() + c.max_raw + c.events * MODEL_BYTES_PER_EVENT;
	fl_info("%s: %" PRIu64 " chunks, %" PRIu64 " events, %" PRIu64 " raw bytes: about %" PRIu64
		" bytes to report, budget %" PRIu64,
		path, c.chunks, c.events, c.raw_bytes, need, model_budget.bytes);
	if (need <= model_budget.bytes)
		return 0;
	budget_refuse(path, "needs", need, c.events);
	model_budget.refused = true;
	return -E2BIG;
}

/* While reading: the heap in use, against the budget. 0 or -E2BIG. */
static int budget_check_heap(const char *path, const struct fl_reader *r, uint64_t before,
			     uint64_t events)
{
	struct fl_reader_status st;
	uint64_t used;
	char ub[32], bb[32];

	/* every MODEL_HEAP_CHECK_EVERY events, a fault run counting as its faults */
	if (!model_budget.bytes ||
	    before / MODEL_HEAP_CHECK_EVERY == events / MODEL_HEAP_CHECK_EVERY)
		return 0;
	used = model_heap_used();
	if (used <= model_budget.bytes)
		return 0;
	fl_reader_status(r, &st);
	fl_err("%s: stopped reading at chunk %" PRIu64 " (%.1f M events): the report already "
	       "takes %s, over the budget of %s (%s); raise it with --max-memory SIZE, or report "
	       "on a machine with more memory",
	       path, st.chunks, events / 1e6, fmt_bytes(used, ub, sizeof(ub)),
	       fmt_bytes(model_budget.bytes, bb, sizeof(bb)), model_budget.why);
	model_budget.refused = true;
	return -E2BIG;
}

/* Copies a fixed-size string field of a record, which the file may not have terminated. */
static void copy_field(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t n = strnlen(src, srclen);

	if (n > dstlen - 1)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* A request that record parsed on the wire (FL_EV_REQ) joins the wire's list. */
static void add_req(struct model *m, const struct fl_req *e)
{
	struct request r = {.wire_match = -1};

	if (!m->wire)
		m->wire = wire_new();
	if (!m->wire)
		return;
	r.start_ns = e->h.ts_ns;
	r.first_byte_ns = e->first_byte_ns;
	r.first_token_ns = e->first_token_ns;
	r.end_ns = e->end_ns > e->h.ts_ns ? e->end_ns : e->h.ts_ns;
	r.in_bytes = e->in_bytes;
	r.out_bytes = e->out_bytes;
	r.pid = e->pid;
	r.tid = e->h.tid;
	r.fd = e->fd;
	r.status = e->status;
	r.aborted = e->flags & FL_REQ_ABORTED;
	r.incomplete = e->flags & FL_REQ_INCOMPLETE;
	copy_field(r.method, sizeof(r.method), e->method, sizeof(e->method));
	copy_field(r.path, sizeof(r.path), e->path, sizeof(e->path));
	copy_field(r.xrid, sizeof(r.xrid), e->xrid, sizeof(e->xrid));
	copy_field(r.id, sizeof(r.id), e->id, sizeof(e->id));
	wire_add_request(m->wire, &r);
}

/* The /proc/PID/maps of process P at the start, or at the END. 0 or -ENOMEM. */
static int load_maps(struct model *m, const struct model_process *p, bool end)
{
	struct pid_maps *pm = NULL;

	if (!p->have_pid || !p->maps)
		return 0;
	for (size_t k = 0; k < m->nmaps; k++)
		if (m->maps[k].pid == p->pid)
			pm = &m->maps[k];
	if (!pm) {
		struct pid_maps *nm = realloc(m->maps, (m->nmaps + 1) * sizeof(*nm));

		if (!nm)
			return fl_nomem();
		m->maps = nm;
		pm = &m->maps[m->nmaps++];
		memset(pm, 0, sizeof(*pm));
		pm->pid = p->pid;
	}
	/* A pid listed twice: the last list wins (and the first is not leaked). */
	vmas_free(end ? &pm->end : &pm->start);
	return vmas_parse(end ? &pm->end : &pm->start, p->maps) ? fl_nomem() : 0;
}

/* Faults of a thread come in runs: its bucket is one of the last few, else a new one. */
static void add_fault_bucket(struct model *m, uint32_t pid, uint32_t tid, uint64_t ts, uint32_t n)
{
	uint64_t ms = ts / 1000000;

	for (size_t i = m->nfault_buckets, k = 0; i-- > 0 && k < 16; k++) {
		struct fault_bucket *b = &m->fault_buckets[i];

		if (b->tid == tid && b->pid == pid && b->ms == ms) {
			b->count += n;
			return;
		}
	}
	if (m->nfault_buckets >= FAULT_BUCKETS_MAX) {
		m->fault_buckets_capped = true;
		return;
	}
	if (grow_array((void **)&m->fault_buckets, &m->cap_fault_buckets, m->nfault_buckets,
		       sizeof(*m->fault_buckets), 1024))
		return;
	m->fault_buckets[m->nfault_buckets++] = (struct fault_bucket){ms, pid, tid, n};
}

/* COUNT faults from TS over SPAN_NS: a time each for 1 or 2, one entry for a longer run. */
static void fault_times_add(struct fault_times *ft, uint64_t ts, uint32_t span_ns, uint32_t count)
{
	if (count <= 2) {
		for (uint32_t i = 0; i < count; i++)
			if (!u64vec_push(&ft->one, fault_run_ts(ts, span_ns, count, i)))
				ft->n++;
		return;
	}
	if (grow_array((void **)&ft->runs, &ft->cap_runs, ft->nruns, sizeof(*ft->runs), 256))
		return;
	ft->runs[ft->nruns++] = (struct fault_time_run){ts, span_ns, count};
	ft->n += count;
	if (span_ns > ft->max_span)
		ft->max_span = span_ns;
}

static int cmp_fault_time_run(const void *a, const void *b)
{
	const struct fault_time_run *x = a, *y = b;

	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Sorted, with the runs' prefix counts and the latest time, for fault_times_count(). */
static void fault_times_finish(struct fault_times *ft)
{
	u64vec_pct(&ft->one, 50); /* sorts */
	ft->last = ft->one.n ? ft->one.v[ft->one.n - 1] : 0;
	sort_n(ft->runs, ft->nruns, sizeof(*ft->runs), cmp_fault_time_run);
	ft->before = malloc((ft->nruns + 1) * sizeof(*ft->before));
	if (!ft->before) {
		fl_nomem();
		return;
	}
	ft->before[0] = 0;
	for (size_t i = 0; i < ft->nruns; i++) {
		const struct fault_time_run *r = &ft->runs[i];

		ft->before[i + 1] = ft->before[i] + r->count;
		if (r->ts + r->span_ns > ft->last)
			ft->last = r->ts + r->span_ns;
	}
}

static void fault_times_free(struct fault_times *ft)
{
	u64vec_free(&ft->one);
	free(ft->runs);
	free(ft->before);
	memset(ft, 0, sizeof(*ft));
}

/* N faults like E (same thread, instruction, flags and millisecond): the counts of each. */
static void add_fault_counts(struct model *m, const struct fl_fault *e, uint32_t n)
{
	bool kernel = e->h.flags & FL_F_KERNEL, write = e->h.flags & FL_F_WRITE;

	*(kernel ? &m->faults_kernel : &m->faults_user) += n;
	m->faults_write += write ? n : 0;
	add_fault_bucket(m, e->pid, e->h.tid, e->h.ts_ns, n);
}

/* Its region is the mapping that holds its address now (user/maptl.c). */
static void add_fault(struct model *m, const struct fl_fault *e)
{
	add_fault_counts(m, e, 1);
	fault_times_add(&m->fault_ts, e->h.ts_ns, 0, 1);
	if (m->fault_addrs_off)
		return; /* no address, no instruction: nothing to place */
	faultsite_add(m, e, 1);
	maptl_fault(m, e);
}

/* Whether a run is one the kernel can make (bpf/faults.bpf.c): a crafted one is skipped. */
static bool fault_run_ok(const struct fl_fault_run *e)
{
	return e->count && e->count <= FL_RUN_MAX_COUNT && e->span_ns < FL_RUN_MAX_SPAN_NS &&
	       e->h.ts_ns <= UINT64_MAX - e->span_ns &&
	       e->h.ts_ns / 1000000 == (e->h.ts_ns + e->span_ns) / 1000000;
}

/*
 * An FL_EV_FAULT_RUN, counted as FL_EV_FAULT would have given its faults one by one, but in
 * bulk: they share a thread, an instruction, flags and a millisecond, so one bucket and one code
 * location take them all, and the mapping timeline one lookup per mapping the run crosses. Their
 * times are spread evenly over the run's span (fault_run_ts), which holds no other event: counts
 * per thread and per request window are those of every fault; per millisecond too, but for the
 * faults after the run's last clock read (at most FL_RUN_CLOCK_EVERY - 1, bpf/faults.bpf.c), which
 * may have come in the next one.
 */
static void add_fault_run(struct model *m, const struct fl_fault_run *e)
{
	struct fl_fault f = {.h = e->h, .pid = e->pid, .addr = e->addr, .ip = e->ip};

	if (!fault_run_ok(e)) {
		m->fault_runs_bad++;
		return;
	}
	m->fault_runs++;
	f.h.type = FL_EV_FAULT;
	add_fault_counts(m, &f, e->count);
	fault_times_add(&m->fault_ts, e->h.ts_ns, e->span_ns, e->count);
	if (m->fault_addrs_off)
		return;
	faultsite_add(m, &f, e->count);
	maptl_fault_run(m, e);
}

/* What an event weighs in the heap check while reading: a run, its faults. */
static uint64_t event_weight(const void *ev, size_t len)
{
	const struct fl_fault_run *e = ev;

	if (e->h.type != FL_EV_FAULT_RUN || len < sizeof(*e) || !fault_run_ok(e))
		return 1;
	return e->count;
}

static int push_stall(struct model *m, const struct stall_rec *s)
{
	if (grow_array((void **)&m->stall_list, &m->cap_stalls, m->nstalls, sizeof(*m->stall_list),
		       1024))
		return -ENOMEM;
	m->stall_list[m->nstalls++] = *s;
	return 0;
}

/*
 * Direct compaction is emitted once per zone compacted with the same start time (see
 * stalls.bpf.c): a later event for the same (tid, start) replaces the earlier one.
 */
static void add_stall(struct model *m, const struct fl_stall *e)
{
	struct stall_rec s = {
	    .ts_ns = e->h.ts_ns,
	    .dur_ns = e->dur_ns,
	    .tid = e->h.tid,
	    .pid = e->pid,
	    .cause = e->cause,
	    .flags = e->h.flags,
	    .order = e->order,
	    .arg0 = e->arg0,
	};

	if (e->cause >= FL_CAUSE_MAX)
		return;
	if (e->cause == FL_CAUSE_DIRECT_COMPACTION) {
		for (size_t i = m->nstalls; i-- > 0 && i + 64 > m->nstalls;) {
			struct stall_rec *p = &m->stall_list[i];

			if (p->cause == s.cause && p->tid == s.tid && p->ts_ns == s.ts_ns) {
				*p = s;
				return;
			}
		}
	}
	push_stall(m, &s);
}

static void add_fault_dur(struct model *m, const struct fl_fault_dur *e)
{
	struct stall_rec s = {.ts_ns = e->h.ts_ns,
			      .dur_ns = e->dur_ns,
			      .tid = e->h.tid,
			      .pid = e->pid,
			      .cause = FL_CAUSE_FAULT};

	m->have_fault_dur = true;
	m->fault_retries += e->retries;
	/* the outcome as mm_account_fault() counts it, decided in BPF (bpf/compat.bpf.h) */
	m->faults_error += e->outcome == FL_FO_ERROR;
	m->faults_major += e->outcome == FL_FO_MAJOR;
	m->faults_minor += e->outcome == FL_FO_MINOR;
	maptl_fault_dur(m, e);
	push_stall(m, &s);
}

static void add_rss_point(struct model *m, struct rss_stat *r, uint64_t ts, int64_t pages)
{
	if (r->samples > 1 && ts < r->series_ts + RSS_SERIES_STEP_NS)
		return;
	if (m->nrss_series >= RSS_SERIES_MAX) {
		m->rss_series_capped = true;
		return;
	}
	if (grow_array((void **)&m->rss_series, &m->cap_rss_series, m->nrss_series,
		       sizeof(*m->rss_series), 1024))
		return;
	m->rss_series[m->nrss_series++] = (struct rss_point){ts, pages, r->pid};
	r->series_ts = ts;
}

static void add_rss_image(struct rss_stat *r, uint64_t ts, int64_t pages)
{
	if (r->exec) {
		r->exec = false;
		r->img_samples = r->img_first_ts = r->img_last_ts = 0;
		r->img_first = r->img_last = r->img_peak = 0;
	}
	r->img_samples++;
	if (pages > 0) {
		if (!r->img_first) {
			r->img_first = pages;
			r->img_first_ts = ts;
		}
		r->img_last_ts = ts;
		r->img_last = pages;
	}
	if (pages > r->img_peak)
		r->img_peak = pages;
}

/* An exec: the process's next RSS sample is of a new program. */
static void rss_exec(struct model *m, int pid)
{
	for (size_t i = 0; i < m->nrss; i++)
		if (m->rss[i].pid == pid)
			m->rss[i].exec = true;
}

static void add_rss(struct model *m, const struct fl_rss *e)
{
	int64_t total = e->pages[FL_RSS_FILE] + e->pages[FL_RSS_ANON] + e->pages[FL_RSS_SHMEM];
	struct rss_stat *r = NULL;

	for (size_t i = 0; i < m->nrss; i++)
		if (m->rss[i].pid == (int)e->pid)
			r = &m->rss[i];
	if (!r) {
		struct rss_stat *n = realloc(m->rss, (m->nrss + 1) * sizeof(*n));

		if (!n) {
			fl_nomem();
			return;
		}
		m->rss = n;
		r = &m->rss[m->nrss++];
		*r = (struct rss_stat){.pid = e->pid,
				       .min_pages = total,
				       .max_pages = total,
				       .min_anon = e->pages[FL_RSS_ANON],
				       .max_anon = e->pages[FL_RSS_ANON]};
	}
	add_rss_image(r, e->h.ts_ns, total);
	r->samples++;
	r->last_pages = total;
	add_rss_point(m, r, e->h.ts_ns, total);
	if (total < r->min_pages)
		r->min_pages = total;
	if (total > r->max_pages)
		r->max_pages = total;
	if (e->pages[FL_RSS_ANON] < r->min_anon)
		r->min_anon = e->pages[FL_RSS_ANON];
	if (e->pages[FL_RSS_ANON] > r->max_anon)
		r->max_anon = e->pages[FL_RSS_ANON];
}

static void add_event(struct model *m, const void *ev, size_t len)
{
	const struct fl_hdr *h = ev;

	if (len < min_size[h->type])
		return; /* malformed: too short for its type */
	m->events++;
	if (!m->first_ts || h->ts_ns < m->first_ts)
		m->first_ts = h->ts_ns;
	if (h->ts_ns > m->last_ts)
		m->last_ts = h->ts_ns;
	switch (h->type) {
	case FL_EV_FAULT:
		add_fault(m, ev);
		break;
	case FL_EV_FAULT_DUR:
		add_fault_dur(m, ev);
		break;
	case FL_EV_FILE_FAULT:
		m->file_faults++;
		maptl_file_fault(m, ev);
		break;
	case FL_EV_STALL:
		add_stall(m, ev);
		break;
	case FL_EV_KCOMPACTD:
		m->kcompactd_wakes += ((const struct fl_kcompactd *)ev)->wake;
		break;
	case FL_EV_LOCK_HOLD: {
		const struct fl_lock_hold *l = ev;

		m->lock_holds++;
		if (l->hold_ns > m->lock_hold_max_ns)
			m->lock_hold_max_ns = l->hold_ns;
		break;
	}
	case FL_EV_RSS: {
		/* Page counts within what a machine can have (the kernel's per-CPU counters may
		 * read a little negative; a damaged file, anything): sums, and bytes (x the page
		 * size), cannot overflow. */
		const int64_t lim = 1ll << 40;
		struct fl_rss r = *(const struct fl_rss *)ev;

		for (int k = 0; k < FL_RSS_MAX; k++)
			r.pages[k] = r.pages[k] > lim ? lim : r.pages[k] < -lim ? -lim : r.pages[k];
		add_rss(m, &r);
		break;
	}
	case FL_EV_MEMSYS:
		maptl_memsys(m, ev, len);
		alloc_model_add(m, ev);
		break;
	case FL_EV_ALLOC:
	case FL_EV_CUDA:
		alloc_model_add(m, ev);
		break;
	case FL_EV_NET:
		if (!m->wire && !(m->wire = wire_new()))
			fl_nomem();
		if (m->wire)
			wire_event(m->wire, ev, len);
		break;
	case FL_EV_REQ:
		add_req(m, ev);
		break;
	case FL_EV_STACK:
		stallstack_add(m, ev);
		break;
	case FL_EV_FAULT_RUN:
		add_fault_run(m, ev);
		break;
	case FL_EV_PROC: {
		struct proc_ev p;

		if (!proc_ev_decode(ev, len, &p))
			break;
		m->forks += p.kind == FL_PROC_FORK;
		m->execs += p.kind == FL_PROC_EXEC;
		m->exits += p.kind == FL_PROC_EXIT;
		if (p.kind == FL_PROC_EXEC)
			rss_exec(m, p.pid);
		if (p.kind == FL_PROC_EXIT && m->wire) /* its connections are gone with it */
			wire_proc_exit(m->wire, p.pid, p.ts_ns);
		alloc_model_add(m, ev); /* names and exec'd images for brk */
		faultsite_proc(m, &p);	/* names, and forks for the children's code */
		maptl_proc(m, &p);
		break;
	}
	default:
		break;
	}
}

static int cmp_stall(const void *a, const void *b)
{
	const struct stall_rec *x = a, *y = b;

	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

/* Who collapsed: a thread asking (MADV_COLLAPSE) or the khugepaged daemon (see FL_F_ASKED). */
static void add_collapse(struct model *m, const struct stall_rec *s)
{
	bool asked = (s->flags & FL_F_ASKED) || !(s->flags & FL_F_OTHER);
	struct collapse_stats *c = asked ? &m->collapse_asked : &m->collapse_daemon;
	size_t i;

	c->count++;
	c->total_ns += s->dur_ns;
	c->ok += s->arg0 == 1;
	if (!asked)
		return;
	for (i = 0; i < m->ncollapse_threads && m->collapse_threads[i].tid != s->tid; i++)
		;
	if (i == MODEL_COLLAPSE_THREADS)
		return;
	if (i == m->ncollapse_threads) {
		m->ncollapse_threads++;
		m->collapse_threads[i].pid = s->pid;
		m->collapse_threads[i].tid = s->tid;
	}
	m->collapse_threads[i].count++;
	m->collapse_threads[i].total_ns += s->dur_ns;
}

/* The figures the printers show of each cause's stall durations. */
static void stall_percentiles(struct stall_stats *st)
{
	st->p50_ns = u64vec_pct(&st->durs, 50);
	st->p99_ns = u64vec_pct(&st->durs, 99);
	st->max_ns = u64vec_pct(&st->durs, 100);
}

void model_finish(struct model *m)
{
	size_t i;

	sort_n(m->stall_list, m->nstalls, sizeof(*m->stall_list), cmp_stall);
	for (i = 0; i < m->nstalls; i++) {
		const struct stall_rec *s = &m->stall_list[i];
		struct stall_stats *st = &m->stalls[s->cause];

		st->count++;
		st->total_ns += s->dur_ns;
		st->arg0_sum += s->arg0;
		/* collapse status: the kernel's enum scan_result, SCAN_SUCCEED == 1 */
		m->collapses_ok += s->cause == FL_CAUSE_KHUGEPAGED && s->arg0 == 1;
		if (s->cause == FL_CAUSE_KHUGEPAGED)
			add_collapse(m, s);
		u64vec_push(&st->durs, s->dur_ns);
		log2hist_add(&st->hist, s->dur_ns);
	}
	for (int c = 0; c < FL_CAUSE_MAX; c++)
		stall_percentiles(&m->stalls[c]);
	fault_times_finish(&m->fault_ts);
	maptl_finish(m);
	stallstack_finish(m);
	faultsite_finish(m);
	model_meta_finish(m);
	alloc_model_finish(m);
	if (m->wire)
		wire_finish(m->wire);
}

int model_check_oom(struct model *m)
{
	if (!fl_oom)
		return 0;
	fl_err("%s: out of memory while building the report (an allocation failed); nothing is "
	       "printed rather than a report with a hole in it: free some memory, or report on a "
	       "machine with more",
	       m->path);
	model_free(m);
	return -ENOMEM;
}

/* Connections record's wire parser saw (FL_EV_REQ files: the report cannot count them). */
static void load_wire_stats(struct model *m)
{
	if (m->wire && m->session.have_wire_stats)
		wire_set_stats(m->wire, m->session.wire_connections,
			       m->session.wire_ignored_events);
}

/* The maps of the targets at the start (header) or at the END (trailer). */
static void load_all_maps(struct model *m, bool end)
{
	const struct model_session *s = &m->session;

	if (end)
		for (size_t i = 0; i < s->ntargets_end; i++)
			load_maps(m, &s->targets_end[i], true);
	else
		for (size_t i = 0; i < s->ntargets; i++)
			if (!load_maps(m, &s->targets[i].start, false))
				maptl_start_maps(m, s->targets[i].start.pid);
}

/*
 * The recording host's page size (host.page_size), by which RSS pages become bytes. Every
 * faultline writes it; a header without a usable one (damaged) gets x86-64's and arm64's usual.
 */
static bool probe_ok(const struct model_probe_plan *pp, const char *name)
{
	for (size_t i = 0; i < pp->n; i++)
		if (pp->probes[i].name && !strcmp(pp->probes[i].name, name))
			return pp->probes[i].status && !strcmp(pp->probes[i].status, "ok");
	return false;
}

static uint64_t header_page_size(const struct model_host *h)
{
	uint64_t ps = h->have_page_size ? h->page_size : 0;

	if (ps >= 1024 && ps <= (1 << 30) && !(ps & (ps - 1)))
		return ps;
	return 4096;
}

int model_build(struct model *m, const char *path)
{
	struct fl_reader *r = NULL;
	char errbuf[256] = "";
	uint64_t nread = 0;
	const void *ev;
	size_t len;
	int err;

	memset(m, 0, sizeof(*m));
	m->path = path;
	err = fl_reader_open(&r, path, errbuf, sizeof(errbuf));
	if (err) {
		fl_err("%s: %s", path, errbuf[0] ? errbuf : strerror(-err));
		return err;
	}
	model_meta_decode(m, fl_reader_meta(r));
	m->fault_addrs_off = !strcmp(m->session.opts.fault_events, "off");
	m->page_size = header_page_size(&m->session.host);
	/* the timeline names mappings made during the session when mmap & co were traced, whether
	 * or not the targets made any such call */
	m->maptl_syscalls = probe_ok(&m->probes, "alloc_syscalls");
	load_all_maps(m, false);
	err = budget_check_early(path, r);
	while (!err && (err = fl_reader_next(r, &ev, &len)) == 1) {
		uint64_t before = nread;

		add_event(m, ev, len);
		nread += event_weight(ev, len);
		err =
		    budget_check_heap(path, r, before, nread); /* m->events skips malformed ones */
	}
	if (err == -E2BIG) {
		fl_reader_close(r);
		model_free(m);
		return err;
	}
	if (err == -ENOMEM)
		fl_nomem(); /* the reader's chunk buffer: said below, after the reader is closed */
	else if (err < 0)
		fl_err("%s: read error: %s; using the events read so far", path, strerror(-err));
	fl_reader_status(r, &m->status);
	model_trailer_decode(m, fl_reader_trailer(r));
	load_all_maps(m, true);
	load_wire_stats(m);
	if (m->status.truncated)
		fl_err("%s: %s", path, m->status.message);
	if (m->fault_runs_bad)
		fl_err("%s: %" PRIu64
		       " fault-run events skipped as malformed (no faults, more than "
		       "%d, or spread over more than 1 ms: not what faultline records); the fault "
		       "counts miss theirs",
		       path, m->fault_runs_bad, FL_RUN_MAX_COUNT);
	fl_reader_close(r);
	model_finish(m);
	return model_check_oom(m);
}

double model_duration_s(const struct model *m)
{
	return m->session.duration_s;
}

void model_free(struct model *m)
{
	model_meta_free(m);
	for (int i = 0; i < FL_CAUSE_MAX; i++)
		u64vec_free(&m->stalls[i].durs);
	fault_times_free(&m->fault_ts);
	free(m->stall_list);
	stallstack_free(m);
	maptl_free(m);
	for (size_t i = 0; i < m->nregions; i++)
		free(m->regions[i].name);
	free(m->regions);
	for (size_t i = 0; i < m->nmaps; i++) {
		vmas_free(&m->maps[i].start);
		vmas_free(&m->maps[i].end);
	}
	free(m->maps);
	free(m->rss);
	alloc_model_free(m);
	faultsite_free(m);
	wire_free(m->wire);
	reqview_free(m->reqview);
	verdict_free(m->verdict);
	free(m->rss_series);
	free(m->fault_buckets);
	memset(m, 0, sizeof(*m));
}
