// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "cuda_errors.h"
#include "jw.h"
#include "model.h"
#include "uprobes.h"
#include "util.h"

#define MAX_SLOW_KEPT 100000
#define TEXT_MAX_ROWS 20

enum { SYS_MMAP, SYS_MUNMAP, SYS_BRK, SYS_MREMAP, SYS_MADVISE, SYS_MAX };

static const char *const sys_names[SYS_MAX] = { "mmap", "munmap", "brk", "mremap", "madvise" };

#define MADV_SLOTS 32
static const char *const madv_names[MADV_SLOTS] = {
	[0] = "normal", [1] = "random", [2] = "sequential", [3] = "willneed", [4] = "dontneed",
	[8] = "free", [9] = "remove", [10] = "dontfork", [11] = "dofork", [12] = "mergeable",
	[13] = "unmergeable", [14] = "hugepage", [15] = "nohugepage", [16] = "dontdump",
	[17] = "dodump", [18] = "wipeonfork", [19] = "keeponfork", [20] = "cold", [21] = "pageout",
	[22] = "populate_read", [23] = "populate_write", [24] = "dontneed_locked",
	[25] = "collapse",
};

struct sys_stat {
	uint64_t count, bytes, errors, total_ns;
	struct u64vec durs;
	struct log2hist hist;
};

struct caller_rec {
	uint32_t pid;
	uint64_t caller_ip, syscall_ip, bytes;
};

struct caller_stat {
	char *name;
	uint64_t calls, bytes;
};

struct brk_stat {
	int pid;
	uint64_t first, last;
};

struct rss_trend {
	int pid;
	uint64_t first_ts, last_ts;
	int64_t first_pages, last_pages;
};

struct alloc_model {
	struct sys_stat sys[SYS_MAX];
	uint64_t madv_count[MADV_SLOTS], madv_bytes[MADV_SLOTS];
	struct caller_rec *recs;
	size_t nrecs, cap_recs;
	struct caller_stat *callers;
	size_t ncallers;
	struct brk_stat *brks;
	size_t nbrks;
	struct rss_trend *rss;
	size_t nrss;
	struct fl_alloc *slow;
	size_t nslow, cap_slow;
	uint64_t slow_total;
	struct fl_cuda *cuda;
	size_t ncuda, cap_cuda;
};

static int sys_index(uint32_t nr)
{
	switch (nr) {
	case 9: case 222: return SYS_MMAP;     /* x86-64, arm64 */
	case 11: case 215: return SYS_MUNMAP;
	case 12: case 214: return SYS_BRK;
	case 25: case 216: return SYS_MREMAP;
	case 28: case 233: return SYS_MADVISE;
	}
	return -1;
}

static struct alloc_model *am_get(struct model *m)
{
	if (!m->alloc)
		m->alloc = calloc(1, sizeof(*m->alloc));
	return m->alloc;
}

/* Grows *V (of *CAP elements of SIZE) to hold one more; 0 or -ENOMEM. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 256;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static void add_brk(struct alloc_model *a, const struct fl_memsys *e)
{
	for (size_t i = 0; i < a->nbrks; i++) {
		if (a->brks[i].pid == (int)e->pid) {
			a->brks[i].last = e->ret;
			return;
		}
	}
	struct brk_stat *nb = realloc(a->brks, (a->nbrks + 1) * sizeof(*nb));

	if (!nb)
		return;
	a->brks = nb;
	a->brks[a->nbrks++] = (struct brk_stat){ .pid = e->pid, .first = e->ret, .last = e->ret };
}

static void add_memsys(struct alloc_model *a, const struct fl_memsys *e)
{
	int k = sys_index(e->nr);
	struct sys_stat *s;

	if (k < 0)
		return;
	s = &a->sys[k];
	s->count++;
	s->total_ns += e->dur_ns;
	u64vec_push(&s->durs, e->dur_ns);
	log2hist_add(&s->hist, e->dur_ns);
	if (e->ret < 0 && e->ret > -4096) {
		s->errors++;
		return;
	}
	s->bytes += e->len;
	if (k == SYS_MADVISE && e->arg < MADV_SLOTS) {
		a->madv_count[e->arg]++;
		a->madv_bytes[e->arg] += e->len;
	}
	if (k == SYS_BRK)
		add_brk(a, e);
	if (!grow((void **)&a->recs, &a->cap_recs, a->nrecs, sizeof(*a->recs)))
		a->recs[a->nrecs++] = (struct caller_rec){ .pid = e->pid, .caller_ip = e->caller_ip,
							   .syscall_ip = e->syscall_ip,
							   .bytes = e->len };
}

static void add_rss(struct alloc_model *a, const struct fl_rss *e)
{
	int64_t pages = e->pages[FL_RSS_FILE] + e->pages[FL_RSS_ANON] + e->pages[FL_RSS_SHMEM];
	struct rss_trend *r = NULL, *nr;

	for (size_t i = 0; i < a->nrss; i++)
		if (a->rss[i].pid == (int)e->pid)
			r = &a->rss[i];
	if (!r) {
		nr = realloc(a->rss, (a->nrss + 1) * sizeof(*nr));
		if (!nr)
			return;
		a->rss = nr;
		r = &a->rss[a->nrss++];
		*r = (struct rss_trend){ .pid = e->pid, .first_ts = e->h.ts_ns, .first_pages = pages };
	}
	r->last_ts = e->h.ts_ns;
	r->last_pages = pages;
}

void alloc_model_add(struct model *m, const void *ev)
{
	const struct fl_hdr *h = ev;
	struct alloc_model *a = am_get(m);

	if (!a)
		return;
	switch (h->type) {
	case FL_EV_MEMSYS:
		add_memsys(a, ev);
		break;
	case FL_EV_RSS:
		add_rss(a, ev);
		break;
	case FL_EV_ALLOC:
		a->slow_total++;
		if (a->nslow < MAX_SLOW_KEPT &&
		    !grow((void **)&a->slow, &a->cap_slow, a->nslow, sizeof(*a->slow)))
			a->slow[a->nslow++] = *(const struct fl_alloc *)ev;
		break;
	case FL_EV_CUDA:
		if (!grow((void **)&a->cuda, &a->cap_cuda, a->ncuda, sizeof(*a->cuda)))
			a->cuda[a->ncuda++] = *(const struct fl_cuda *)ev;
		break;
	}
}

/* --- callers: the library each memory syscall came from ----------------------------------- */

static const struct pid_maps *maps_of(const struct model *m, int pid)
{
	for (size_t i = 0; i < m->nmaps; i++)
		if (m->maps[i].pid == pid)
			return &m->maps[i];
	return NULL;
}

static const struct vma *exec_vma(const struct pid_maps *pm, uint64_t ip)
{
	const struct vma *v;

	if (!pm || !ip)
		return NULL;
	v = vmas_find(&pm->start, ip);
	if (!v || v->perms[2] != 'x')
		v = vmas_find(&pm->end, ip);
	return v && v->perms[2] == 'x' ? v : NULL;
}

/* The caller's library when the word at the stack top was a return address, else the library
 * the syscall instruction is in (its wrapper's). */
static const char *caller_name(const struct model *m, const struct caller_rec *r)
{
	const struct pid_maps *pm = maps_of(m, r->pid);
	const struct vma *v = exec_vma(pm, r->caller_ip);

	if (!v)
		v = exec_vma(pm, r->syscall_ip);
	return v ? vma_region(v) : "unknown";
}

static void caller_count(struct alloc_model *a, const char *name, uint64_t bytes)
{
	struct caller_stat *nc;

	for (size_t i = 0; i < a->ncallers; i++) {
		if (!strcmp(a->callers[i].name, name)) {
			a->callers[i].calls++;
			a->callers[i].bytes += bytes;
			return;
		}
	}
	nc = realloc(a->callers, (a->ncallers + 1) * sizeof(*nc));
	if (!nc)
		return;
	a->callers = nc;
	a->callers[a->ncallers++] = (struct caller_stat){ .name = strdup(name), .calls = 1,
							  .bytes = bytes };
	if (!a->callers[a->ncallers - 1].name)
		a->ncallers--;
}

static int cmp_caller(const void *x, const void *y)
{
	const struct caller_stat *a = x, *b = y;

	return a->calls < b->calls ? 1 : a->calls > b->calls ? -1 : 0;
}

static int cmp_slow(const void *x, const void *y)
{
	const struct fl_alloc *a = x, *b = y;

	return a->dur_ns < b->dur_ns ? 1 : a->dur_ns > b->dur_ns ? -1 : 0;
}

/* Events arrive as calls return: a runtime call that wraps a driver call comes after it. */
static int cmp_cuda(const void *x, const void *y)
{
	const struct fl_cuda *a = x, *b = y;

	return a->h.ts_ns < b->h.ts_ns ? -1 : a->h.ts_ns > b->h.ts_ns;
}

void alloc_model_finish(struct model *m)
{
	struct alloc_model *a = am_get(m);
	const char *last = NULL;
	uint32_t last_pid = 0;
	uint64_t last_ip = 0;

	if (!a)
		return;
	for (size_t i = 0; i < a->nrecs; i++) {
		const struct caller_rec *r = &a->recs[i];

		/* runs of calls from one place are the rule: resolve once per run */
		if (!last || r->pid != last_pid || r->caller_ip != last_ip)
			last = caller_name(m, r);
		last_pid = r->pid;
		last_ip = r->caller_ip;
		caller_count(a, last, r->bytes);
	}
	free(a->recs);
	a->recs = NULL;
	a->nrecs = a->cap_recs = 0;
	qsort(a->callers, a->ncallers, sizeof(*a->callers), cmp_caller);
	qsort(a->slow, a->nslow, sizeof(*a->slow), cmp_slow);
	qsort(a->cuda, a->ncuda, sizeof(*a->cuda), cmp_cuda);
}

void alloc_model_free(struct model *m)
{
	struct alloc_model *a = m->alloc;

	if (!a)
		return;
	for (int k = 0; k < SYS_MAX; k++)
		u64vec_free(&a->sys[k].durs);
	for (size_t i = 0; i < a->ncallers; i++)
		free(a->callers[i].name);
	free(a->callers);
	free(a->recs);
	free(a->brks);
	free(a->rss);
	free(a->slow);
	free(a->cuda);
	free(a);
	m->alloc = NULL;
}

/* --- what the trailer says: in-kernel counts and the probed libraries ---------------------- */

static json_t *trailer_alloc(const struct model *m)
{
	return json_object_get(m->trailer, "alloc");
}

static const char *alloc_mode(const struct model *m)
{
	const char *s = json_string_value(json_object_get(trailer_alloc(m), "mode"));

	return s ? s : "unknown (no trailer)";
}

static uint64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static void hist_from_json(json_t *arr, struct log2hist *h)
{
	size_t i;
	json_t *v;

	memset(h, 0, sizeof(*h));
	json_array_foreach(arr, i, v)
		if (i < FL_HIST_SLOTS && json_is_integer(v))
			h->slots[i] = json_integer_value(v);
}

/* Percentile from a log2 histogram: the upper bound of the slot that holds it. */
static uint64_t hist_pct(const struct log2hist *h, double p)
{
	uint64_t total = log2hist_total(h), seen = 0, rank = (uint64_t)(total * p / 100.0 + 0.999999);

	if (!total)
		return 0;
	if (!rank)
		rank = 1;
	for (int i = 0; i < FL_HIST_SLOTS; i++) {
		seen += h->slots[i];
		if (seen >= rank)
			return (1ull << (i + 1)) - 1;
	}
	return 0;
}

static bool lib_is(json_t *lib, bool alloc)
{
	const char *kind = json_string_value(json_object_get(lib, "kind"));

	return kind && (!strcmp(kind, "allocator") == alloc);
}

/* "malloc calloc ..." for probed symbols; the others with their reasons. */
static void text_lib(json_t *lib, int pid, FILE *f)
{
	json_t *syms = json_object_get(lib, "symbols"), *s;
	const char *err = json_string_value(json_object_get(lib, "error"));
	const char *det = json_string_value(json_object_get(lib, "detached"));
	size_t i;

	fprintf(f, "  pid %d %s", pid, json_string_value(json_object_get(lib, "path")) ?: "?");
	if (det && strcmp(det, "session ended"))
		fprintf(f, " (probes removed: %s)", det);
	if (err) {
		fprintf(f, ": not probed: %s\n", err);
		return;
	}
	fprintf(f, "\n    probed:");
	json_array_foreach(syms, i, s)
		if (json_is_true(json_object_get(s, "probed")))
			fprintf(f, " %s", json_string_value(json_object_get(s, "name")));
	fprintf(f, "\n");
	json_array_foreach(syms, i, s)
		if (!json_is_true(json_object_get(s, "probed")))
			fprintf(f, "    %-18s %s\n", json_string_value(json_object_get(s, "name")),
				json_string_value(json_object_get(s, "status")) ?: "");
}

static void text_libs(const struct model *m, FILE *f, bool alloc)
{
	json_t *procs = json_object_get(trailer_alloc(m), "processes"), *p, *libs, *l;
	size_t i, k;
	int shown = 0;

	json_array_foreach(procs, i, p) {
		libs = json_object_get(p, "libraries");
		json_array_foreach(libs, k, l) {
			if (!lib_is(l, alloc))
				continue;
			if (alloc)
				fprintf(f, "  allocator: %s\n",
					json_string_value(json_object_get(l, "allocator")) ?: "?");
			text_lib(l, (int)jint(p, "pid"), f);
			shown++;
		}
	}
	if (!shown)
		fprintf(f, "  %s\n", alloc ? "no allocator library probed (see the mode above)" :
				       "no CUDA library was mapped by a traced process");
}

static void text_functions(const struct model *m, FILE *f)
{
	json_t *fns = json_object_get(trailer_alloc(m), "functions"), *fn;
	char a[32], b[32], c[32], d[32], e[32];
	size_t i;

	if (!json_array_size(fns))
		return;
	fprintf(f, "\n  %-16s %12s %12s %10s %10s %10s %12s\n", "function", "calls", "bytes asked",
		"p50", "p99", "max", "total");
	json_array_foreach(fns, i, fn) {
		struct log2hist h;

		hist_from_json(json_object_get(fn, "hist"), &h);
		fprintf(f, "  %-16s %12" PRIu64 " %12s %10s %10s %10s %12s\n",
			json_string_value(json_object_get(fn, "func")) ?: "?", jint(fn, "count"),
			fmt_bytes(jint(fn, "bytes"), a, sizeof(a)), fmt_ns(hist_pct(&h, 50), b, sizeof(b)),
			fmt_ns(hist_pct(&h, 99), c, sizeof(c)), fmt_ns(jint(fn, "max_ns"), d, sizeof(d)),
			fmt_ns(jint(fn, "total_ns"), e, sizeof(e)));
	}
	fprintf(f, "  (p50/p99: upper bounds of the in-kernel log2 buckets; counts are exact)\n");
	json_array_foreach(fns, i, fn) {
		struct log2hist h;

		hist_from_json(json_object_get(fn, "hist"), &h);
		fprintf(f, "\n  %s latency\n", json_string_value(json_object_get(fn, "func")) ?: "?");
		log2hist_print(f, &h, "nsecs", false);
	}
}

static void text_slow(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;
	char b[32], d[32];

	fprintf(f, "\n  calls slower than %s: %" PRIu64 "%s\n",
		fmt_ns(jint(trailer_alloc(m), "slow_ns"), d, sizeof(d)), a->slow_total,
		a->slow_total ? ", slowest:" : "");
	for (size_t i = 0; i < a->nslow && i < TEXT_MAX_ROWS; i++) {
		const struct fl_alloc *s = &a->slow[i];

		fprintf(f, "    +%9.3fs pid %-7u tid %-7u %-14s %10s -> 0x%-14" PRIx64 " %s\n",
			(s->h.ts_ns - m->first_ts) / 1e9, s->pid, s->h.tid, alloc_fn_name(s->func),
			fmt_bytes(s->size, b, sizeof(b)), (uint64_t)s->ptr,
			fmt_ns(s->dur_ns, d, sizeof(d)));
	}
}

static void text_syscalls(const struct model *m, FILE *f)
{
	struct alloc_model *a = m->alloc;
	char b[32], c[32], d[32], e[32];

	fprintf(f, "\n  %-16s %12s %12s %8s %10s %10s %12s\n", "memory syscall", "calls", "bytes",
		"errors", "p50", "p99", "max");
	for (int k = 0; k < SYS_MAX; k++) {
		struct sys_stat *s = &a->sys[k];

		fprintf(f, "  %-16s %12" PRIu64 " %12s %8" PRIu64 " %10s %10s %12s\n", sys_names[k],
			s->count, k == SYS_BRK ? "-" : fmt_bytes(s->bytes, b, sizeof(b)), s->errors,
			fmt_ns(u64vec_pct(&s->durs, 50), c, sizeof(c)),
			fmt_ns(u64vec_pct(&s->durs, 99), d, sizeof(d)),
			fmt_ns(u64vec_pct(&s->durs, 100), e, sizeof(e)));
	}
	fprintf(f, "  madvise(DONTNEED): %" PRIu64 " calls, %s returned to the OS", a->madv_count[4],
		fmt_bytes(a->madv_bytes[4], b, sizeof(b)));
	fprintf(f, "; MADV_FREE: %" PRIu64 " calls, %s\n", a->madv_count[8],
		fmt_bytes(a->madv_bytes[8], c, sizeof(c)));
	for (size_t i = 0; i < a->nbrks; i++)
		fprintf(f, "  brk: pid %d heap end moved by %+lld bytes\n", a->brks[i].pid,
			(long long)(a->brks[i].last - a->brks[i].first));
	if (a->ncallers)
		fprintf(f, "  by calling library:");
	for (size_t i = 0; i < a->ncallers && i < 8; i++)
		fprintf(f, "%s %s %" PRIu64 " calls (%s)", i ? "," : "", a->callers[i].name,
			a->callers[i].calls, fmt_bytes(a->callers[i].bytes, b, sizeof(b)));
	if (a->ncallers)
		fprintf(f, "\n");
}

static void text_rss(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;
	char b[32], c[32];

	for (size_t i = 0; i < a->nrss; i++) {
		const struct rss_trend *r = &a->rss[i];
		double s = (r->last_ts - r->first_ts) / 1e9;
		int64_t delta = (r->last_pages - r->first_pages) * 4096;

		fprintf(f, "  RSS pid %d: %s -> %s over %.1f s (%+.1f MiB/s)\n", r->pid,
			fmt_bytes(r->first_pages * 4096, b, sizeof(b)),
			fmt_bytes(r->last_pages * 4096, c, sizeof(c)), s,
			s > 0 ? delta / s / (1 << 20) : 0.0);
	}
}

void alloc_print_text(const struct model *m, FILE *f)
{
	fprintf(f, "\nAllocator (--alloc=%s)\n", alloc_mode(m));
	if (!m->alloc)
		return;
	text_libs(m, f, true);
	text_functions(m, f);
	if (!strcmp(alloc_mode(m), "full"))
		text_slow(m, f);
	if (strcmp(alloc_mode(m), "off"))
		text_syscalls(m, f);
	text_rss(m, f);
}

/* --- pinned memory --------------------------------------------------------------------------- */

static bool cuda_is_driver(uint32_t fn)
{
	return fn >= FL_CF_CU_HOST_REGISTER;
}

static bool cuda_is_register(uint32_t fn)
{
	return fn == FL_CF_HOST_REGISTER || fn == FL_CF_CU_HOST_REGISTER;
}

static double gb_per_s(const struct fl_cuda *c)
{
	return c->dur_ns && c->size ? (double)c->size / c->dur_ns : 0; /* bytes/ns = GB/s */
}

void pinned_print_text(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;
	char b[32], d[32];

	fprintf(f, "\nPinned memory (CUDA)\n");
	text_libs(m, f, false);
	if (!a || !a->ncuda)
		return;
	fprintf(f, "\n  %-10s %-20s %10s %10s %8s %-34s %6s %7s\n", "time", "function", "size",
		"duration", "GB/s", "return code", "huge", "faults");
	for (size_t i = 0; i < a->ncuda; i++) {
		const struct fl_cuda *c = &a->cuda[i];
		char code[48], huge[16] = "-";

		if (i == 50) {
			fprintf(f, "  ... %zu more (faultline report --json lists all)\n", a->ncuda - i);
			break;
		}
		snprintf(code, sizeof(code), "%lld %s", (long long)c->ret,
			 cuda_error_name(cuda_is_driver(c->func), c->ret));
		if (cuda_is_register(c->func) && c->size)
			snprintf(huge, sizeof(huge), "%.0f%%", 100.0 * c->huge_bytes / c->size);
		fprintf(f, "  +%8.3fs %-20s %10s %10s %8.2f %-34s %6s %7llu\n",
			(c->h.ts_ns - m->first_ts) / 1e9, cuda_fn_name(c->func),
			fmt_bytes(c->size, b, sizeof(b)), fmt_ns(c->dur_ns, d, sizeof(d)), gb_per_s(c),
			code, huge, (unsigned long long)c->faults);
	}
}

/* --- JSON ------------------------------------------------------------------------------------ */

static void jv_out(struct jw *w, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s) {
		jw_null(w);
		return;
	}
	jw_key_raw_value(w, s);
	free(s);
}

static void json_hist(struct jw *w, const struct log2hist *h)
{
	int last = -1;

	for (int i = 0; i < FL_HIST_SLOTS; i++)
		if (h->slots[i])
			last = i;
	jw_arr_open(w);
	for (int i = 0; i <= last; i++) {
		jw_obj_open(w);
		jw_ku64(w, "lo_ns", i ? 1ull << i : 0);
		jw_ku64(w, "hi_ns", (1ull << (i + 1)) - 1);
		jw_ku64(w, "count", h->slots[i]);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_libs(const struct model *m, struct jw *w, bool alloc)
{
	json_t *procs = json_object_get(trailer_alloc(m), "processes"), *p, *l;
	size_t i, k;

	jw_key(w, "libraries");
	jw_arr_open(w);
	json_array_foreach(procs, i, p) {
		json_array_foreach(json_object_get(p, "libraries"), k, l) {
			if (!lib_is(l, alloc))
				continue;
			jw_obj_open(w);
			jw_ku64(w, "pid", jint(p, "pid"));
			jw_key(w, "path");
			jv_out(w, json_object_get(l, "path"));
			jw_key(w, alloc ? "allocator" : "kind");
			jv_out(w, json_object_get(l, alloc ? "allocator" : "kind"));
			jw_key(w, "detached");
			jv_out(w, json_object_get(l, "detached"));
			jw_key(w, "error");
			jv_out(w, json_object_get(l, "error"));
			jw_key(w, "symbols");
			jv_out(w, json_object_get(l, "symbols"));
			jw_obj_close(w);
		}
	}
	jw_arr_close(w);
}

static void json_functions(const struct model *m, struct jw *w)
{
	json_t *fns = json_object_get(trailer_alloc(m), "functions"), *fn;
	size_t i;

	jw_key(w, "functions");
	jw_obj_open(w);
	json_array_foreach(fns, i, fn) {
		struct log2hist h;

		hist_from_json(json_object_get(fn, "hist"), &h);
		jw_key(w, json_string_value(json_object_get(fn, "func")) ?: "?");
		jw_obj_open(w);
		jw_ku64(w, "count", jint(fn, "count"));
		jw_ku64(w, "bytes", jint(fn, "bytes"));
		jw_ku64(w, "total_ns", jint(fn, "total_ns"));
		jw_ku64(w, "p50_ns", hist_pct(&h, 50));
		jw_ku64(w, "p99_ns", hist_pct(&h, 99));
		jw_ku64(w, "max_ns", jint(fn, "max_ns"));
		jw_key(w, "hist");
		json_hist(w, &h);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_key(w, "threads");
	if (json_object_get(trailer_alloc(m), "threads")) {
		jv_out(w, json_object_get(trailer_alloc(m), "threads"));
	} else {
		jw_arr_open(w);
		jw_arr_close(w);
	}
}

static void json_slow(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_ku64(w, "slow_threshold_ns", jint(trailer_alloc(m), "slow_ns"));
	jw_ku64(w, "slow_count", a ? a->slow_total : 0);
	jw_key(w, "slow_calls");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->nslow; i++) {
		const struct fl_alloc *s = &a->slow[i];

		jw_obj_open(w);
		jw_ku64(w, "ts_ns", s->h.ts_ns);
		jw_ku64(w, "pid", s->pid);
		jw_ku64(w, "tid", s->h.tid);
		jw_kstr(w, "func", alloc_fn_name(s->func));
		jw_ku64(w, "size", s->size);
		jw_ku64(w, "ptr", s->ptr);
		jw_ku64(w, "dur_ns", s->dur_ns);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_syscalls(const struct model *m, struct jw *w)
{
	struct alloc_model *a = m->alloc;

	jw_key(w, "syscalls");
	jw_obj_open(w);
	for (int k = 0; a && k < SYS_MAX; k++) {
		struct sys_stat *s = &a->sys[k];

		jw_key(w, sys_names[k]);
		jw_obj_open(w);
		jw_ku64(w, "count", s->count);
		jw_ku64(w, "bytes", s->bytes);
		jw_ku64(w, "errors", s->errors);
		jw_ku64(w, "total_ns", s->total_ns);
		jw_ku64(w, "p50_ns", u64vec_pct(&s->durs, 50));
		jw_ku64(w, "p99_ns", u64vec_pct(&s->durs, 99));
		jw_ku64(w, "max_ns", u64vec_pct(&s->durs, 100));
		jw_key(w, "hist");
		json_hist(w, &s->hist);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_key(w, "madvise");
	jw_obj_open(w);
	for (int i = 0; a && i < MADV_SLOTS; i++) {
		if (!a->madv_count[i])
			continue;
		jw_key(w, madv_names[i] ? madv_names[i] : "other");
		jw_obj_open(w);
		jw_ku64(w, "count", a->madv_count[i]);
		jw_ku64(w, "bytes", a->madv_bytes[i]);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_ku64(w, "dontneed_bytes_returned", a ? a->madv_bytes[4] : 0);
	jw_key(w, "by_caller");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->ncallers; i++) {
		jw_obj_open(w);
		jw_kstr(w, "library", a->callers[i].name);
		jw_ku64(w, "calls", a->callers[i].calls);
		jw_ku64(w, "bytes", a->callers[i].bytes);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_rss(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_key(w, "rss_trend");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->nrss; i++) {
		const struct rss_trend *r = &a->rss[i];
		double s = (r->last_ts - r->first_ts) / 1e9;

		jw_obj_open(w);
		jw_ku64(w, "pid", r->pid);
		jw_ki64(w, "first_bytes", r->first_pages * 4096);
		jw_ki64(w, "last_bytes", r->last_pages * 4096);
		jw_kdouble(w, "seconds", s);
		jw_kdouble(w, "bytes_per_s", s > 0 ? (r->last_pages - r->first_pages) * 4096 / s : 0);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

void alloc_print_json(const struct model *m, struct jw *w)
{
	jw_obj_open(w);
	jw_kstr(w, "mode", json_string_value(json_object_get(trailer_alloc(m), "mode")));
	json_libs(m, w, true);
	json_functions(m, w);
	json_slow(m, w);
	json_syscalls(m, w);
	json_rss(m, w);
	jw_obj_close(w);
}

void pinned_print_json(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_obj_open(w);
	jw_kstr(w, "cuda", json_string_value(json_object_get(trailer_alloc(m), "cuda")));
	json_libs(m, w, false);
	jw_key(w, "calls");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->ncuda; i++) {
		const struct fl_cuda *c = &a->cuda[i];

		jw_obj_open(w);
		jw_ku64(w, "ts_ns", c->h.ts_ns);
		jw_ku64(w, "pid", c->pid);
		jw_ku64(w, "tid", c->h.tid);
		jw_kstr(w, "func", cuda_fn_name(c->func));
		jw_ku64(w, "ptr", c->ptr);
		jw_ku64(w, "size", c->size);
		jw_ku64(w, "flags", c->flags);
		jw_ki64(w, "ret", c->ret);
		jw_kstr(w, "ret_name", cuda_error_name(cuda_is_driver(c->func), c->ret));
		jw_ku64(w, "dur_ns", c->dur_ns);
		jw_kdouble(w, "gb_per_s", gb_per_s(c));
		jw_key(w, "huge_bytes");
		cuda_is_register(c->func) ? jw_u64(w, c->huge_bytes) : jw_null(w);
		jw_key(w, "huge_share");
		cuda_is_register(c->func) && c->size ? jw_double(w, (double)c->huge_bytes / c->size) :
						       jw_null(w);
		jw_ku64(w, "faults", c->faults);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}
