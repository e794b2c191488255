// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "model.h"
#include "reqreport.h"
#include "verdict.h"
#include "wire.h"
#include "util.h"

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
	[FL_EV_MEMSYS] = sizeof(struct fl_memsys),
	[FL_EV_ALLOC] = sizeof(struct fl_alloc),
	[FL_EV_CUDA] = sizeof(struct fl_cuda),
	[FL_EV_NET] = sizeof(struct fl_net) - FL_NET_CAP,
};

static int load_maps(struct model *m, json_t *targets, bool end)
{
	size_t i;
	json_t *t;

	json_array_foreach(targets, i, t) {
		json_t *pid = json_object_get(t, "pid"), *maps = json_object_get(t, "maps");
		struct pid_maps *pm = NULL;

		if (!json_is_integer(pid) || !json_is_string(maps))
			continue;
		for (size_t k = 0; k < m->nmaps; k++)
			if (m->maps[k].pid == json_integer_value(pid))
				pm = &m->maps[k];
		if (!pm) {
			struct pid_maps *nm = realloc(m->maps, (m->nmaps + 1) * sizeof(*nm));

			if (!nm)
				return -ENOMEM;
			m->maps = nm;
			pm = &m->maps[m->nmaps++];
			memset(pm, 0, sizeof(*pm));
			pm->pid = json_integer_value(pid);
		}
		vmas_parse(end ? &pm->end : &pm->start, json_string_value(maps));
	}
	return 0;
}

static struct pid_maps *pid_maps_get(struct model *m, int pid)
{
	for (size_t k = 0; k < m->nmaps; k++)
		if (m->maps[k].pid == pid)
			return &m->maps[k];
	return NULL;
}

static struct region_stat *region_get(struct model *m, const char *name)
{
	struct region_stat *r;

	for (size_t i = 0; i < m->nregions; i++)
		if (!strcmp(m->regions[i].name, name))
			return &m->regions[i];
	if (grow_array((void **)&m->regions, &m->cap_regions, m->nregions, sizeof(*m->regions), 32))
		return NULL;
	r = &m->regions[m->nregions++];
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	return r;
}

static void region_count(struct model *m, const char *name, bool kernel, uint32_t error_code)
{
	struct region_stat *r = region_get(m, name);

	if (!r)
		return;
	r->faults++;
	r->kernel += kernel;
	r->write += !!(error_code & 2);
}

static void add_pending(struct model *m, const struct fl_fault *e, bool kernel)
{
	if (grow_array((void **)&m->pending, &m->cap_pending, m->npending, sizeof(*m->pending),
		       4096))
		return;
	m->pending[m->npending++] = (struct pending_fault){
		.pid = e->pid, .error_code = e->error_code, .addr = e->addr, .kernel = kernel };
}

/* Faults of a thread come in runs: its bucket is one of the last few, else a new one. */
static void add_fault_bucket(struct model *m, uint32_t pid, uint32_t tid, uint64_t ts)
{
	uint64_t ms = ts / 1000000;

	for (size_t i = m->nfault_buckets, k = 0; i-- > 0 && k < 16; k++) {
		struct fault_bucket *b = &m->fault_buckets[i];

		if (b->tid == tid && b->pid == pid && b->ms == ms) {
			b->count++;
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
	m->fault_buckets[m->nfault_buckets++] = (struct fault_bucket){ ms, pid, tid, 1 };
}

/* Faults in regions known at the start are counted now; the rest wait for the end maps. */
static void add_fault(struct model *m, const struct fl_fault *e)
{
	bool kernel = e->h.flags & FL_F_KERNEL;
	const struct vma *v = NULL;
	struct pid_maps *pm;

	kernel ? m->faults_kernel++ : m->faults_user++;
	if (e->error_code & 2)
		m->faults_write++;
	u64vec_push(&m->fault_ts, e->h.ts_ns);
	add_fault_bucket(m, e->pid, e->h.tid, e->h.ts_ns);
	if (m->last_vma && m->last_pid == (int)e->pid && e->addr >= m->last_vma->start &&
	    e->addr < m->last_vma->end) {
		v = m->last_vma;
	} else if ((pm = pid_maps_get(m, e->pid))) {
		v = vmas_find(&pm->start, e->addr);
	}
	if (v) {
		m->last_vma = v;
		m->last_pid = e->pid;
		region_count(m, vma_region(v), kernel, e->error_code);
	} else {
		add_pending(m, e, kernel);
	}
}

static void resolve_pending(struct model *m)
{
	for (size_t i = 0; i < m->npending; i++) {
		const struct pending_fault *p = &m->pending[i];
		struct pid_maps *pm = pid_maps_get(m, p->pid);
		const struct vma *v = pm ? vmas_find(&pm->end, p->addr) : NULL;
		const char *name;

		if (v)
			name = vma_region(v);
		else if (pm)
			name = "short-lived mapping";
		else
			name = "unknown (no maps for the pid)";
		region_count(m, name, p->kernel, p->error_code);
	}
	free(m->pending);
	m->pending = NULL;
	m->npending = m->cap_pending = 0;
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
		.ts_ns = e->h.ts_ns, .dur_ns = e->dur_ns, .tid = e->h.tid, .pid = e->pid,
		.cause = e->cause, .flags = e->h.flags, .order = e->order, .arg0 = e->arg0,
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
	/* mm_account_fault(): VM_FAULT_ERROR faults are not counted as major or minor. */
	const uint32_t vm_fault_error = 0x000001 | 0x000002 | 0x000010 | 0x000020 | 0x000040 |
					0x000800 | 0x002000;
	struct stall_rec s = { .ts_ns = e->h.ts_ns, .dur_ns = e->dur_ns, .tid = e->h.tid,
			       .pid = e->pid, .cause = FL_CAUSE_FAULT };

	m->have_fault_dur = true;
	m->fault_retries += e->retries;
	if (e->vm_fault & vm_fault_error)
		m->faults_error++;
	else if ((e->vm_fault & 0x4) || (e->fault_flags & 0x20))
		m->faults_major++;
	else
		m->faults_minor++;
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
	m->rss_series[m->nrss_series++] = (struct rss_point){ ts, pages, r->pid };
	r->series_ts = ts;
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

		if (!n)
			return;
		m->rss = n;
		r = &m->rss[m->nrss++];
		*r = (struct rss_stat){ .pid = e->pid, .min_pages = total, .max_pages = total,
					.min_anon = e->pages[FL_RSS_ANON],
					.max_anon = e->pages[FL_RSS_ANON] };
	}
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
	case FL_EV_RSS:
		add_rss(m, ev);
		alloc_model_add(m, ev);
		break;
	case FL_EV_MEMSYS:
	case FL_EV_ALLOC:
	case FL_EV_CUDA:
		alloc_model_add(m, ev);
		break;
	case FL_EV_NET:
		if (!m->wire)
			m->wire = wire_new();
		if (m->wire)
			wire_event(m->wire, ev, len);
		break;
	case FL_EV_PROC: {
		const struct fl_proc *p = ev;

		m->forks += p->kind == FL_PROC_FORK;
		m->execs += p->kind == FL_PROC_EXEC;
		m->exits += p->kind == FL_PROC_EXIT;
		alloc_model_add(m, ev); /* names and exec'd images for brk and RSS */
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

static void finish(struct model *m)
{
	json_t *drops = json_object_get(m->trailer, "drops_per_cpu");
	size_t i;
	json_t *d;

	json_array_foreach(drops, i, d)
		m->dropped += json_integer_value(d);
	qsort(m->stall_list, m->nstalls, sizeof(*m->stall_list), cmp_stall);
	for (i = 0; i < m->nstalls; i++) {
		const struct stall_rec *s = &m->stall_list[i];
		struct stall_stats *st = &m->stalls[s->cause];

		st->count++;
		st->total_ns += s->dur_ns;
		st->arg0_sum += s->arg0;
		/* collapse status: the kernel's enum scan_result, SCAN_SUCCEED == 1 */
		m->collapses_ok += s->cause == FL_CAUSE_KHUGEPAGED && s->arg0 == 1;
		u64vec_push(&st->durs, s->dur_ns);
		log2hist_add(&st->hist, s->dur_ns);
	}
	u64vec_pct(&m->fault_ts, 50); /* sorts */
	resolve_pending(m);
	alloc_model_finish(m);
	if (m->wire)
		wire_finish(m->wire);
}

int model_build(struct model *m, const char *path)
{
	struct fl_reader *r = NULL;
	json_error_t jerr;
	char errbuf[256] = "";
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
	m->meta = json_loads(fl_reader_meta(r), 0, &jerr);
	if (!m->meta)
		fl_err("%s: metadata is not valid JSON (%s); reading events anyway", path, jerr.text);
	load_maps(m, json_object_get(m->meta, "targets"), false);
	while ((err = fl_reader_next(r, &ev, &len)) == 1)
		add_event(m, ev, len);
	if (err < 0)
		fl_err("%s: read error: %s; using the events read so far", path, strerror(-err));
	fl_reader_status(r, &m->status);
	if (fl_reader_trailer(r))
		m->trailer = json_loads(fl_reader_trailer(r), 0, &jerr);
	if (m->trailer)
		load_maps(m, json_object_get(m->trailer, "targets_end"), true);
	if (m->status.truncated)
		fl_err("%s: %s", path, m->status.message);
	fl_reader_close(r);
	finish(m);
	return 0;
}

const char *model_meta_str(const struct model *m, const char *a, const char *b)
{
	json_t *v = json_object_get(m->meta, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

double model_duration_s(const struct model *m)
{
	json_t *s = json_object_get(json_object_get(m->meta, "clocks"), "monotonic_ns");
	json_t *e = json_object_get(json_object_get(m->trailer, "clocks"), "monotonic_ns");

	if (json_is_integer(s) && json_is_integer(e))
		return (json_integer_value(e) - json_integer_value(s)) / 1e9;
	return m->last_ts > m->first_ts ? (m->last_ts - m->first_ts) / 1e9 : 0;
}

void model_free(struct model *m)
{
	json_decref(m->meta);
	json_decref(m->trailer);
	for (int i = 0; i < FL_CAUSE_MAX; i++)
		u64vec_free(&m->stalls[i].durs);
	u64vec_free(&m->fault_ts);
	free(m->stall_list);
	for (size_t i = 0; i < m->nregions; i++)
		free(m->regions[i].name);
	free(m->regions);
	for (size_t i = 0; i < m->nmaps; i++) {
		vmas_free(&m->maps[i].start);
		vmas_free(&m->maps[i].end);
	}
	free(m->maps);
	free(m->pending);
	free(m->rss);
	alloc_model_free(m);
	wire_free(m->wire);
	reqview_free(m->reqview);
	verdict_free(m->verdict);
	free(m->rss_series);
	free(m->fault_buckets);
	memset(m, 0, sizeof(*m));
}
