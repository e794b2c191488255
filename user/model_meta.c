// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The recording's header and trailer JSON, decoded into the model's types (model_meta.h). */
#include "model.h"
#include "util.h"
#include <errno.h>
#include <jansson.h>
#include <string.h>

const char *const model_meminfo_names[MI_MAX] = {
    [MI_MEM_TOTAL] = "MemTotal",
    [MI_MEM_AVAILABLE] = "MemAvailable",
    [MI_HUGEPAGES_TOTAL] = "HugePages_Total",
    [MI_HUGEPAGES_FREE] = "HugePages_Free",
    [MI_HUGEPAGESIZE] = "Hugepagesize",
    [MI_ANON_HUGEPAGES] = "AnonHugePages",
};

/* --- values ------------------------------------------------------------------------------ */

/* A copy of string member KEY of O, or NULL when it is missing or not a string. */
static char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *s;

	if (!json_is_string(v))
		return NULL;
	s = strdup(json_string_value(v));
	if (!s)
		fl_nomem();
	return s;
}

/* Integer member KEY of O into *OUT; false (and 0) when it is missing or not an integer. */
static bool int_of(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	*out = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
	return json_is_integer(v);
}

static uint64_t u64_of(json_t *o, const char *key)
{
	uint64_t v;

	int_of(o, key, &v);
	return v;
}

/* Array member KEY of O into *SV; an element that is not a string stays NULL. */
static void strv_of(json_t *o, const char *key, struct model_strv *sv)
{
	json_t *a = json_object_get(o, key), *e;
	size_t i;

	if (!json_is_array(a))
		return;
	sv->have = true;
	sv->v = calloc(json_array_size(a) ? json_array_size(a) : 1, sizeof(*sv->v));
	if (!sv->v) {
		fl_nomem();
		return;
	}
	json_array_foreach(a, i, e)
	{
		if (json_is_string(e) && !(sv->v[i] = strdup(json_string_value(e))))
			fl_nomem();
	}
	sv->n = json_array_size(a);
}

static void strv_free(struct model_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

/* --- header ------------------------------------------------------------------------------ */

static void decode_process(json_t *o, struct model_process *p)
{
	json_t *child = json_object_get(o, "launcher_child");
	uint64_t pid;

	p->have_pid = int_of(o, "pid", &pid);
	p->pid = (int64_t)pid;
	p->comm = str_of(o, "comm");
	p->exe = str_of(o, "exe");
	p->allocator = str_of(o, "allocator");
	p->allocator_lib = str_of(o, "allocator_lib");
	p->maps = str_of(o, "maps");
	strv_of(o, "cmdline", &p->cmdline);
	strv_of(o, "env", &p->env);
	if (json_is_object(child)) {
		p->have_launcher_child = true;
		p->child_pid = (int64_t)u64_of(child, "pid");
		p->child_comm = str_of(child, "comm");
	}
}

static void process_free(struct model_process *p)
{
	free(p->comm);
	free(p->exe);
	free(p->allocator);
	free(p->allocator_lib);
	free(p->maps);
	strv_free(&p->cmdline);
	strv_free(&p->env);
	free(p->child_comm);
}

static int decode_targets(json_t *a, struct model_session *s)
{
	json_t *o;
	size_t i;

	if (!json_array_size(a))
		return 0;
	s->targets = calloc(json_array_size(a), sizeof(*s->targets));
	if (!s->targets)
		return fl_nomem();
	json_array_foreach(a, i, o) decode_process(o, &s->targets[i].start);
	s->ntargets = json_array_size(a);
	return 0;
}

static int decode_targets_end(json_t *a, struct model_session *s)
{
	json_t *o;
	size_t i;

	if (!json_array_size(a))
		return 0;
	s->targets_end = calloc(json_array_size(a), sizeof(*s->targets_end));
	if (!s->targets_end)
		return fl_nomem();
	json_array_foreach(a, i, o) decode_process(o, &s->targets_end[i]);
	s->ntargets_end = json_array_size(a);
	return 0;
}

static void decode_clocks(json_t *o, struct model_clocks *c)
{
	c->have = json_is_object(o);
	c->have_monotonic = int_of(o, "monotonic_ns", &c->monotonic_ns);
	c->have_realtime = int_of(o, "realtime_ns", &c->realtime_ns);
	c->have_boottime = int_of(o, "boottime_ns", &c->boottime_ns);
}

static void decode_host(json_t *o, struct model_host *h)
{
	json_t *mi = json_object_get(o, "meminfo");

	h->have = json_is_object(o);
	h->hostname = str_of(o, "hostname");
	h->kernel = str_of(o, "kernel");
	h->machine = str_of(o, "machine");
	h->boot_id = str_of(o, "boot_id");
	h->have_cpus = int_of(o, "cpus", &h->cpus);
	h->have_page_size = int_of(o, "page_size", &h->page_size);
	h->have_meminfo = json_is_object(mi);
	for (int i = 0; i < MI_MAX; i++)
		h->have_mi[i] = int_of(mi, model_meminfo_names[i], &h->meminfo[i]);
}

static void decode_thp(json_t *o, struct model_thp *t)
{
	t->have = json_is_object(o);
	t->enabled = str_of(o, "enabled");
	t->defrag = str_of(o, "defrag");
	t->shmem_enabled = str_of(o, "shmem_enabled");
	t->khugepaged_defrag = str_of(o, "khugepaged_defrag");
	t->khugepaged_pages_to_scan = str_of(o, "khugepaged_pages_to_scan");
	t->khugepaged_scan_sleep_millisecs = str_of(o, "khugepaged_scan_sleep_millisecs");
	t->khugepaged_max_ptes_none = str_of(o, "khugepaged_max_ptes_none");
}

static void decode_hugepages(json_t *o, struct model_hugepages *h)
{
	h->have = json_is_object(o);
	h->nr_hugepages = str_of(o, "nr_hugepages");
	h->nr_overcommit_hugepages = str_of(o, "nr_overcommit_hugepages");
	h->free_2048kB = str_of(o, "free_2048kB");
	h->nr_1048576kB = str_of(o, "nr_1048576kB");
}

static void decode_options(json_t *o, struct model_options *opts)
{
	const char *fe;

	opts->children = json_is_true(json_object_get(o, "children"));
	opts->all = json_is_true(json_object_get(o, "all"));
	opts->capture_payload = json_is_true(json_object_get(o, "capture_payload"));
	opts->keep_cmdline = json_is_true(json_object_get(o, "keep_cmdline"));
	opts->ringbuf_bytes = u64_of(o, "ringbuf_bytes");
	opts->command = str_of(o, "command");
	fe = json_string_value(json_object_get(o, "fault_events"));
	snprintf(opts->fault_events, sizeof(opts->fault_events), "%s",
		 fe && (!strcmp(fe, "runs") || !strcmp(fe, "off")) ? fe : "all");
}

/* The probe plan, in the header's order: {"NAME": {"attach", "status", "reason"}, ...}. */
static int decode_probes(json_t *o, struct model_probe_plan *pp)
{
	const char *name;
	json_t *p;

	pp->have = json_is_object(o);
	if (!json_object_size(o))
		return 0;
	pp->probes = calloc(json_object_size(o), sizeof(*pp->probes));
	if (!pp->probes)
		return fl_nomem();
	json_object_foreach(o, name, p)
	{
		struct model_probe *e = &pp->probes[pp->n++];

		e->name = strdup(name);
		if (!e->name)
			fl_nomem();
		e->attach = str_of(p, "attach");
		e->status = str_of(p, "status");
		e->reason = str_of(p, "reason");
	}
	return 0;
}

int model_meta_decode(struct model *m, const char *json)
{
	struct model_session *s = &m->session;
	json_error_t jerr;

	m->meta = json_loads(json, 0, &jerr);
	if (!m->meta) {
		fl_err("%s: metadata is not valid JSON (%s); reading events anyway", m->path,
		       jerr.text);
		return 0;
	}
	s->have_meta = true;
	decode_host(json_object_get(m->meta, "host"), &s->host);
	decode_thp(json_object_get(m->meta, "thp"), &s->thp);
	decode_hugepages(json_object_get(m->meta, "hugepages"), &s->hugepages);
	decode_clocks(json_object_get(m->meta, "clocks"), &s->clocks);
	decode_options(json_object_get(m->meta, "options"), &s->opts);
	if (decode_targets(json_object_get(m->meta, "targets"), s))
		return -ENOMEM;
	return decode_probes(json_object_get(m->meta, "probes"), &m->probes);
}

/* --- trailer ----------------------------------------------------------------------------- */

static void decode_overhead(json_t *o, struct model_overhead *oh)
{
	oh->have = true; /* with a trailer, missing members read as 0 */
	oh->bpf_stats_enabled = json_is_true(json_object_get(o, "bpf_stats_enabled"));
	oh->bpf_run_ns = u64_of(o, "bpf_run_ns");
	oh->bpf_run_cnt = u64_of(o, "bpf_run_cnt");
	oh->user_cpu_ns = u64_of(o, "user_cpu_ns");
	oh->sys_cpu_ns = u64_of(o, "sys_cpu_ns");
	oh->max_rss_kb = u64_of(o, "max_rss_kb");
	oh->rss_end_kb = u64_of(o, "rss_end_kb");
	oh->rss_anon_end_kb = u64_of(o, "rss_anon_end_kb");
	oh->ringbuf_bytes = u64_of(o, "ringbuf_bytes");
}

static void decode_counters(json_t *o, struct model_counters *c)
{
	c->have = json_is_object(o);
	c->faults_user = u64_of(o, "faults_user");
	c->faults_kernel = u64_of(o, "faults_kernel");
	c->khugepaged_scans = u64_of(o, "khugepaged_scans");
	c->kcompactd_wakes = u64_of(o, "kcompactd_wakes");
	c->compaction_deferred = u64_of(o, "compaction_deferred");
}

static void decode_wire_stats(json_t *o, struct model_session *s)
{
	s->have_wire_stats = int_of(o, "connections", &s->wire_connections) &
			     int_of(o, "ignored_events", &s->wire_ignored_events);
}

int model_trailer_decode(struct model *m, const char *json)
{
	struct model_session *s = &m->session;
	json_t *d;
	size_t i;

	m->trailer = json ? json_loads(json, 0, NULL) : NULL;
	if (!m->trailer)
		return 0;
	s->have_trailer = true;
	s->stop_reason = str_of(m->trailer, "stop_reason");
	decode_clocks(json_object_get(m->trailer, "clocks"), &s->clocks_end);
	json_array_foreach(json_object_get(m->trailer, "drops_per_cpu"), i, d) m->dropped +=
	    json_integer_value(d);
	decode_counters(json_object_get(m->trailer, "counters"), &m->counters);
	decode_overhead(json_object_get(m->trailer, "overhead"), &m->overhead);
	decode_wire_stats(json_object_get(m->trailer, "wire"), s);
	return decode_targets_end(json_object_get(m->trailer, "targets_end"), s);
}

/* --- derived figures --------------------------------------------------------------------- */

static const struct model_process *target_end(const struct model *m, int64_t pid)
{
	for (size_t i = 0; i < m->session.ntargets_end; i++)
		if (m->session.targets_end[i].pid == pid)
			return &m->session.targets_end[i];
	return NULL;
}

/* Who did the work for target T (issue #14): see struct model_target. */
static void find_worker(const struct model *m, struct model_target *t)
{
	const struct model_process *p = &t->start;
	const struct model_process *e = target_end(m, p->pid);

	t->worker = p;
	t->kind = WORKER_SELF;
	if (e && p->exe && e->exe && strcmp(p->exe, e->exe)) {
		t->worker = e;
		t->kind = WORKER_EXECD;
	} else if (p->have_launcher_child && m->session.opts.children &&
		   (e = target_end(m, p->child_pid))) {
		t->worker = e;
		t->kind = WORKER_CHILD;
	}
}

static double duration_s(const struct model *m)
{
	const struct model_clocks *s = &m->session.clocks, *e = &m->session.clocks_end;

	if (s->have_monotonic && e->have_monotonic)
		return ((int64_t)e->monotonic_ns - (int64_t)s->monotonic_ns) / 1e9;
	return m->last_ts > m->first_ts ? (m->last_ts - m->first_ts) / 1e9 : 0;
}

static void overhead_finish(struct model_overhead *oh, double dur)
{
	oh->bpf_ns_per_run = oh->bpf_run_cnt ? (double)oh->bpf_run_ns / oh->bpf_run_cnt : 0.0;
	oh->bpf_cpu_pct = dur > 0 ? oh->bpf_run_ns / (dur * 1e9) * 100 : 0.0;
	oh->user_cpu_s = (oh->user_cpu_ns + oh->sys_cpu_ns) / 1e9;
}

void model_meta_finish(struct model *m)
{
	for (size_t i = 0; i < m->session.ntargets; i++)
		find_worker(m, &m->session.targets[i]);
	m->session.duration_s = duration_s(m);
	overhead_finish(&m->overhead, m->session.duration_s);
}

/* --- lookups ----------------------------------------------------------------------------- */

const struct model_probe *model_probe_find(const struct model *m, const char *name)
{
	for (size_t i = 0; i < m->probes.n; i++)
		if (!strcmp(m->probes.probes[i].name ?: "", name))
			return &m->probes.probes[i];
	return NULL;
}

const char *model_target_comm(const struct model *m, int64_t pid)
{
	for (size_t i = 0; i < m->session.ntargets; i++)
		if (m->session.targets[i].start.pid == pid)
			return m->session.targets[i].start.comm;
	return NULL;
}

void model_meta_free(struct model *m)
{
	struct model_session *s = &m->session;

	free(s->host.hostname);
	free(s->host.kernel);
	free(s->host.machine);
	free(s->host.boot_id);
	free(s->thp.enabled);
	free(s->thp.defrag);
	free(s->thp.shmem_enabled);
	free(s->thp.khugepaged_defrag);
	free(s->thp.khugepaged_pages_to_scan);
	free(s->thp.khugepaged_scan_sleep_millisecs);
	free(s->thp.khugepaged_max_ptes_none);
	free(s->hugepages.nr_hugepages);
	free(s->hugepages.nr_overcommit_hugepages);
	free(s->hugepages.free_2048kB);
	free(s->hugepages.nr_1048576kB);
	free(s->opts.command);
	free(s->stop_reason);
	for (size_t i = 0; i < s->ntargets; i++)
		process_free(&s->targets[i].start);
	free(s->targets);
	for (size_t i = 0; i < s->ntargets_end; i++)
		process_free(&s->targets_end[i]);
	free(s->targets_end);
	for (size_t i = 0; i < m->probes.n; i++) {
		free(m->probes.probes[i].name);
		free(m->probes.probes[i].attach);
		free(m->probes.probes[i].status);
		free(m->probes.probes[i].reason);
	}
	free(m->probes.probes);
	json_decref(m->meta);
	json_decref(m->trailer);
}
