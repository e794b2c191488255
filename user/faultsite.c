// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Faults by code. While reading, faults are counted per (pid, ip) in a hash table (a workload's
 * faults come from few ips); at the finish step each ip is placed in the mapping that held it and
 * named with the file's ELF symbols (elfsym.c), then counted per (process, library, function).
 */
#include "faultsite.h"
#include "elfsym.h"
#include "faultline.h"
#include "jw.h"
#include "model.h"
#include "procev.h"
#include "util.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static size_t ip_hash(uint32_t pid, uint64_t ip, size_t cap)
{
	return (size_t)(((ip ^ ((uint64_t)pid << 48)) * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

/* Doubles the table; false when out of memory. */
static bool ips_grow(struct faultsite_model *fm)
{
	size_t cap = fm->cap_ips ? 2 * fm->cap_ips : 1024;
	struct faultsite_ip *n = calloc(cap, sizeof(*n));

	if (!n) {
		fl_nomem();
		return false;
	}
	for (size_t i = 0; i < fm->cap_ips; i++) {
		struct faultsite_ip *o = &fm->ips[i];
		size_t h;

		if (!o->used)
			continue;
		for (h = ip_hash(o->pid, o->ip, cap); n[h].used; h = (h + 1) & (cap - 1))
			;
		n[h] = *o;
	}
	free(fm->ips);
	fm->ips = n;
	fm->cap_ips = cap;
	fm->last = 0;
	return true;
}

static struct faultsite_model *fm_get(struct model *m)
{
	if (!m->faultsite && !(m->faultsite = calloc(1, sizeof(*m->faultsite))))
		fl_nomem();
	return m->faultsite;
}

void faultsite_proc(struct model *m, const struct proc_ev *p)
{
	struct faultsite_model *fm = fm_get(m);

	if (!fm || p->kind == FL_PROC_EXIT ||
	    grow_array((void **)&fm->procs, &fm->cap_procs, fm->nprocs, sizeof(*fm->procs), 64))
		return;
	fm->procs[fm->nprocs] = (struct faultsite_procev){
	    .ts = p->ts_ns, .pid = p->pid, .parent = p->parent, .kind = p->kind};
	snprintf(fm->procs[fm->nprocs].comm, sizeof(fm->procs[0].comm), "%s", p->comm);
	fm->nprocs++;
}

void faultsite_add(struct model *m, const struct fl_fault *e, uint32_t n)
{
	bool kernel = (e->h.flags & FL_F_KERNEL) || (e->ip >> 63);
	struct faultsite_model *fm = fm_get(m);
	struct faultsite_ip *s;
	size_t h;

	if (!fm)
		return;
	fm->total += n;
	s = fm->cap_ips ? &fm->ips[fm->last] : NULL;
	if (s && s->used && s->ip == e->ip && s->pid == e->pid && s->kernel == kernel) {
		s->count += n;
		return;
	}
	if (2 * (fm->nips + 1) > fm->cap_ips && !ips_grow(fm))
		return;
	for (h = ip_hash(e->pid, e->ip, fm->cap_ips);; h = (h + 1) & (fm->cap_ips - 1)) {
		s = &fm->ips[h];
		if (!s->used) {
			*s = (struct faultsite_ip){.ip = e->ip,
						   .ts = e->h.ts_ns,
						   .pid = e->pid,
						   .kernel = kernel,
						   .used = true};
			fm->nips++;
			break;
		}
		if (s->ip == e->ip && s->pid == e->pid && s->kernel == kernel)
			break;
	}
	s->count += n;
	fm->last = h;
}

static int cmp_procev(const void *a, const void *b)
{
	const struct faultsite_procev *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* PID's fork and exec events, in time order: *N of them at the result (NULL: none). */
static const struct faultsite_procev *pid_procevs(const struct faultsite_model *fm, uint32_t pid,
						  size_t *n)
{
	size_t lo = 0, hi = fm->nprocs, k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fm->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo; k < fm->nprocs && fm->procs[k].pid == pid; k++)
		;
	*n = k - lo;
	return *n ? &fm->procs[lo] : NULL;
}

/*
 * The mapping that held IP in PID at time TS: the mapping timeline's answer (user/maptl.c), which
 * follows mmaps, munmaps and execs during the session and the maps lists read at the start, on
 * exec, periodically and at the end. *NOMAPS is set when nothing is known of the process.
 */
static const struct vma *site_vma(const struct model *m, uint32_t pid, uint64_t ip, uint64_t ts,
				  bool *nomaps, struct vma *buf)
{
	int found = maptl_vma_at(m, pid, ts, ip, buf);

	*nomaps = found < 0;
	return found > 0 ? buf : NULL;
}

/* The program of PID: its comm as the header or trailer gives it, else as its last fork or exec
 * event does. */
static const char *pid_image(const struct model *m, uint32_t pid, char *buf, size_t len)
{
	const struct model_session *s = &m->session;
	const struct faultsite_procev *ev;
	size_t n;

	for (size_t i = 0; i < s->ntargets_end; i++)
		if (s->targets_end[i].have_pid && s->targets_end[i].pid == pid &&
		    s->targets_end[i].comm)
			return s->targets_end[i].comm;
	for (size_t i = 0; i < s->ntargets; i++)
		if (s->targets[i].start.have_pid && s->targets[i].start.pid == pid &&
		    s->targets[i].start.comm)
			return s->targets[i].start.comm;
	ev = pid_procevs(m->faultsite, pid, &n);
	if (ev && ev[n - 1].comm[0])
		snprintf(buf, len, "%s", ev[n - 1].comm);
	else
		snprintf(buf, len, "pid %" PRIu32, pid);
	return buf;
}

/* One ip, resolved: pointers valid during faultsite_finish. */
struct resolved {
	const char *image, *lib, *sym, *why;
	uint64_t off, count;
};

static void resolve_ip(const struct model *m, struct elfsym_cache *cache,
		       const struct faultsite_ip *s, struct resolved *r, char *img, size_t imglen)
{
	const struct elfsym_table *t;
	const struct vma *v;
	const char *err = NULL;
	struct vma buf;
	bool nomaps;

	*r = (struct resolved){.image = pid_image(m, s->pid, img, imglen), .count = s->count};
	if (s->kernel) {
		r->lib = "[kernel]";
		return;
	}
	v = site_vma(m, s->pid, s->ip, s->ts, &nomaps, &buf);
	if (!v) {
		r->lib = "unknown";
		r->why = nomaps ? "no maps for the process (not a target, nor forked from one)"
				: "in no mapping the session saw (no mmap event, no maps list)";
		return;
	}
	r->off = s->ip - v->start + v->offset;
	if (!v->path[0]) {
		r->lib = "[anon]";
		r->off = s->ip - v->start;
		return;
	}
	r->lib = v->path;
	if (v->path[0] != '/')
		return; /* [vdso], [stack]... */
	t = elfsym_cache_get(cache, v->path, v->dev, v->inode, &err);
	if (t) {
		uint64_t so;

		r->sym = elfsym_lookup(t, r->off, &so);
		if (r->sym)
			r->off = so;
	} else {
		r->why = err;
	}
}

static int cmp_str(const char *a, const char *b)
{
	return a == b ? 0 : !a ? 1 : !b ? -1 : strcmp(a, b);
}

/* A site: (image, lib, sym), and the file offset where there is no symbol. */
static int cmp_key(const struct resolved *a, const struct resolved *b)
{
	int c;

	if ((c = strcmp(a->image, b->image)) || (c = strcmp(a->lib, b->lib)) ||
	    (c = cmp_str(a->sym, b->sym)))
		return c;
	if (!a->sym && a->off != b->off)
		return a->off < b->off ? -1 : 1;
	return 0;
}

/* By site, the most frequent ip of each first: its offset is the one shown. */
static int cmp_resolved(const void *pa, const void *pb)
{
	const struct resolved *a = pa, *b = pb;
	int c = cmp_key(a, b);

	if (c)
		return c;
	return b->count < a->count ? -1 : b->count > a->count;
}

static void free_site(struct faultsite *s)
{
	free(s->image);
	free(s->lib);
	free(s->sym);
	free(s->why);
}

static int cmp_site_count(const void *pa, const void *pb)
{
	const struct faultsite *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return cmp_str(a->sym, b->sym);
}

static char *dup_or_null(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		fl_nomem();
	return d;
}

/* Merges the sorted resolved ips into sites (R[i..j) share a key), sorted by count. */
static void build_sites(struct faultsite_model *fm, struct resolved *r, size_t n)
{
	struct faultsite *sites = calloc(n ? n : 1, sizeof(*sites));
	size_t ns = 0;

	if (!sites) {
		fl_nomem();
		return;
	}
	for (size_t i = 0, j; i < n; i = j) {
		struct faultsite *st = &sites[ns++];

		*st = (struct faultsite){.off = r[i].off};
		for (j = i; j < n && !cmp_key(&r[i], &r[j]); j++)
			st->count += r[j].count;
		st->image = dup_or_null(r[i].image);
		st->lib = dup_or_null(r[i].lib);
		st->sym = dup_or_null(r[i].sym);
		st->why = dup_or_null(r[i].why);
	}
	sort_n(sites, ns, sizeof(*sites), cmp_site_count);
	fm->nsites_all = ns;
	for (size_t i = FAULTSITE_MAX; i < ns; i++)
		free_site(&sites[i]);
	fm->sites = sites;
	fm->nsites = ns < FAULTSITE_MAX ? ns : FAULTSITE_MAX;
}

void faultsite_finish(struct model *m)
{
	struct faultsite_model *fm = m->faultsite;
	struct elfsym_cache cache = {};
	struct resolved *r;
	char(*img)[24];
	size_t n = 0;

	if (!fm || !fm->nips)
		return;
	sort_n(fm->procs, fm->nprocs, sizeof(*fm->procs), cmp_procev);
	r = calloc(fm->nips, sizeof(*r));
	img = calloc(fm->nips, sizeof(*img)); /* "pid N" names */
	if (!r || !img) {
		fl_nomem();
		goto out;
	}
	for (size_t i = 0; i < fm->cap_ips; i++) {
		if (!fm->ips[i].used)
			continue;
		resolve_ip(m, &cache, &fm->ips[i], &r[n], img[n], sizeof(img[n]));
		fm->kernel += !strcmp(r[n].lib, "[kernel]") ? r[n].count : 0;
		fm->unknown += !strcmp(r[n].lib, "unknown") ? r[n].count : 0;
		n++;
	}
	sort_n(r, n, sizeof(*r), cmp_resolved);
	build_sites(fm, r, n);
out:
	free(r);
	free(img);
	elfsym_cache_free(&cache); /* after build_sites copied the names */
	free(fm->ips);		   /* the sites are what the printers need */
	fm->ips = NULL;
	fm->nips = fm->cap_ips = fm->last = 0;
}

void faultsite_free(struct model *m)
{
	struct faultsite_model *fm = m->faultsite;

	if (!fm)
		return;
	for (size_t i = 0; i < fm->nsites; i++)
		free_site(&fm->sites[i]);
	free(fm->sites);
	free(fm->ips);
	free(fm->procs);
	free(fm);
	m->faultsite = NULL;
}

/* "touch_a+0x1c", or "libc.so.6+0x1a2b3c" where no function covers the ip. */
static const char *site_where(const struct faultsite *s, char *buf, size_t len)
{
	const char *base = strrchr(s->lib, '/');

	if (s->sym)
		snprintf(buf, len, "%s+0x%" PRIx64, s->sym, s->off);
	else if (!strcmp(s->lib, "[kernel]") || !strcmp(s->lib, "unknown"))
		snprintf(buf, len, "%s", s->lib);
	else
		snprintf(buf, len, "%s+0x%" PRIx64, base ? base + 1 : s->lib, s->off);
	return buf;
}

void faultsite_text(const struct model *m, FILE *f)
{
	const struct faultsite_model *fm = m->faultsite;
	char where[160];

	if (m->fault_addrs_off) {
		fprintf(f, "\nTop faulting code: not recorded (--fault-events=off)\n");
		return;
	}
	if (!fm || !fm->nsites)
		return;
	fprintf(f, "\nTop faulting code (the fault's ip; %zu sites", fm->nsites_all);
	if (fm->kernel)
		fprintf(f, "; kernel code: %" PRIu64 " faults, not symbolized", fm->kernel);
	fprintf(f, ")\n  %12s %7s  %-40s %-16s %s\n", "faults", "share", "code", "process",
		"library");
	for (size_t i = 0; i < fm->nsites && i < FAULTSITE_TEXT; i++) {
		const struct faultsite *s = &fm->sites[i];

		fprintf(f, "  %12" PRIu64 " %6.1f%%  %-40s %-16s %s%s%s%s\n", s->count,
			fm->total ? 100.0 * s->count / fm->total : 0.0,
			fl_esc(site_where(s, where, sizeof(where))), fl_esc(s->image),
			fl_esc(s->lib), s->why ? " (" : "", s->why ? fl_esc(s->why) : "",
			s->why ? ")" : "");
	}
	if (fm->nsites_all > FAULTSITE_TEXT)
		fprintf(f, "  ... %zu more in report --json (faults.code)\n",
			fm->nsites_all - FAULTSITE_TEXT);
}

void faultsite_json(const struct model *m, struct jw *w)
{
	const struct faultsite_model *fm = m->faultsite;

	jw_obj_open(w);
	jw_ku64(w, "total", fm ? fm->total : 0);
	jw_ku64(w, "kernel", fm ? fm->kernel : 0);
	jw_ku64(w, "unknown", fm ? fm->unknown : 0);
	jw_ku64(w, "sites_total", fm ? fm->nsites_all : 0);
	jw_key(w, "sites");
	jw_arr_open(w);
	for (size_t i = 0; fm && i < fm->nsites; i++) {
		const struct faultsite *s = &fm->sites[i];

		jw_obj_open(w);
		jw_ku64(w, "faults", s->count);
		jw_kstr(w, "process", s->image);
		jw_kstr(w, "library", s->lib);
		jw_kstr(w, "symbol", s->sym);
		jw_ku64(w, "offset", s->off);
		jw_kstr(w, "why", s->why);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}
