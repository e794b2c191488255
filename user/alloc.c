// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "cuda_errors.h"
#include "jw.h"
#include "model.h"
#include "procev.h"
#include "uprobes.h"
#include "util.h"

#define MAX_SLOW_KEPT 100000
#define TEXT_MAX_ROWS 20
#define TEXT_MAX_PROCS 3   /* brk and RSS rows: the main processes, the rest summed up */
#define TEXT_MAX_CALLERS 8
#define TEXT_MAX_CUDA 50
#define RATE_MIN_S 1.0     /* an RSS rate over less than this says nothing about a trend */

enum { SYS_MMAP, SYS_MUNMAP, SYS_BRK, SYS_MREMAP, SYS_MADVISE, SYS_MAX };

static const char *const sys_names[SYS_MAX] = { "mmap", "munmap", "brk", "mremap", "madvise" };

#define MAX_ERRNO 4095 /* a syscall's -errno, as the kernel's IS_ERR_VALUE() */

/* madvise advice by enum fl_madv (decided in BPF); an unnamed slot prints as "other". */
#define MADV_SLOTS FL_MADV_MAX
static const char *const madv_names[MADV_SLOTS] = {
	[FL_MADV_NORMAL] = "normal", [FL_MADV_RANDOM] = "random",
	[FL_MADV_SEQUENTIAL] = "sequential", [FL_MADV_WILLNEED] = "willneed",
	[FL_MADV_DONTNEED] = "dontneed", [FL_MADV_FREE] = "free", [FL_MADV_REMOVE] = "remove",
	[FL_MADV_DONTFORK] = "dontfork", [FL_MADV_DOFORK] = "dofork",
	[FL_MADV_MERGEABLE] = "mergeable", [FL_MADV_UNMERGEABLE] = "unmergeable",
	[FL_MADV_HUGEPAGE] = "hugepage", [FL_MADV_NOHUGEPAGE] = "nohugepage",
	[FL_MADV_DONTDUMP] = "dontdump", [FL_MADV_DODUMP] = "dodump",
	[FL_MADV_WIPEONFORK] = "wipeonfork", [FL_MADV_KEEPONFORK] = "keeponfork",
	[FL_MADV_COLD] = "cold", [FL_MADV_PAGEOUT] = "pageout",
	[FL_MADV_POPULATE_READ] = "populate_read", [FL_MADV_POPULATE_WRITE] = "populate_write",
	[FL_MADV_DONTNEED_LOCKED] = "dontneed_locked", [FL_MADV_COLLAPSE] = "collapse",
};

/* Why a caller could not be named: JSON by_caller[].why, and the text's short form. */
enum caller_why { WHY_KNOWN, WHY_NO_MAPS, WHY_NO_CODE };
static const char *const why_json[] = {
	[WHY_NO_MAPS] = "no mappings of the process: it exited before faultline read them",
	[WHY_NO_CODE] = "the address is in none of the process's code mappings faultline saw "
			"(an image that exec'd or exited between two looks, or unmapped code)",
};
static const char *const why_text[] = {
	[WHY_KNOWN] = "",
	[WHY_NO_MAPS] = " (process gone before its maps were read)",
	[WHY_NO_CODE] = " (not in any code mapping seen)",
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
	enum caller_why why;
	uint64_t calls, bytes;
};

/*
 * Per process (tgid). brk(addr) returns the new break, brk(0) asks for it; after an exec the
 * heap starts over somewhere else, so growth is counted per image: from the first break seen
 * after the exec (or at the start of the session) to the last one.
 */
struct proc_info {
	int pid;
	char comm[FL_COMM_LEN];
	bool brk_exec, rss_exec; /* exec'd since the last brk / RSS sample: a new image */
	uint32_t images;
	uint64_t brk_calls, brk_failed;
	uint64_t brk_start, brk_cur, brk_peak;
	uint64_t rss_samples, rss_first_ts, rss_last_ts;
	int64_t rss_first, rss_last, rss_peak; /* pages; rss_last: the last sample above 0 */
};

/* A pinned-memory call and the size it concerns (for unregister/free: of the matching call). */
struct cuda_call {
	struct fl_cuda ev;
	uint64_t size;
	bool size_known;
	bool undone; /* a register/alloc that a later unregister/free matched */
};

struct cuda_fn_stat {
	uint64_t calls, failed, sized, bytes, total_ns, max_ns;
};

struct pid_code {
	int pid;
	struct vmas code;
};

struct alloc_model {
	struct sys_stat sys[SYS_MAX];
	uint64_t madv_count[MADV_SLOTS], madv_bytes[MADV_SLOTS];
	struct caller_rec *recs;
	size_t nrecs, cap_recs;
	struct caller_stat *callers;
	size_t ncallers;
	struct proc_info *procs;
	size_t nprocs, cap_procs, last_proc;
	struct pid_code *codes; /* the trailer's code mappings per process */
	size_t ncodes;
	struct fl_alloc *slow;
	size_t nslow, cap_slow;
	uint64_t slow_total;
	struct cuda_call *cuda;
	size_t ncuda, cap_cuda;
	struct cuda_fn_stat cuda_fn[FL_CF_MAX];
};

/* The row of a memory syscall (enum fl_memsys_op, decided in BPF: bpf/compat.bpf.h). */
static int sys_index(uint32_t op)
{
	switch (op) {
	case FL_MS_MMAP: return SYS_MMAP;
	case FL_MS_MUNMAP: return SYS_MUNMAP;
	case FL_MS_BRK: return SYS_BRK;
	case FL_MS_MREMAP: return SYS_MREMAP;
	case FL_MS_MADVISE: return SYS_MADVISE;
	}
	return -1;
}

static struct alloc_model *am_get(struct model *m)
{
	if (!m->alloc && !(m->alloc = calloc(1, sizeof(*m->alloc))))
		fl_nomem();
	return m->alloc;
}


static struct proc_info *proc_get(struct alloc_model *a, int pid)
{
	if (a->last_proc < a->nprocs && a->procs[a->last_proc].pid == pid)
		return &a->procs[a->last_proc];
	for (size_t i = 0; i < a->nprocs; i++) {
		if (a->procs[i].pid == pid) {
			a->last_proc = i;
			return &a->procs[i];
		}
	}
	if (grow_array((void **)&a->procs, &a->cap_procs, a->nprocs, sizeof(*a->procs), 256))
		return NULL;
	a->last_proc = a->nprocs;
	a->procs[a->nprocs] = (struct proc_info){ .pid = pid };
	return &a->procs[a->nprocs++];
}

/* One brk; true when it failed (the kernel then returns the old break, not -errno). *GROWN:
 * how far it moved the break up in the same image. */
static bool add_brk(struct proc_info *p, uint64_t addr, uint64_t ret, uint64_t *grown)
{
	bool failed = addr && ret != addr;

	*grown = 0;
	p->brk_calls++;
	p->brk_failed += failed;
	/* A new image: the first call seen, after an exec, or a brk(0) answering another break
	 * than the last one (an exec whose event was lost). */
	if (!p->images || p->brk_exec || (!addr && ret != p->brk_cur)) {
		p->images++;
		p->brk_exec = false;
		p->brk_start = p->brk_cur = p->brk_peak = ret;
		return failed;
	}
	if (ret > p->brk_cur)
		*grown = ret - p->brk_cur;
	p->brk_cur = ret;
	if (ret > p->brk_peak)
		p->brk_peak = ret;
	return failed;
}

static void add_caller(struct alloc_model *a, const struct fl_memsys *e)
{
	if (!grow_array((void **)&a->recs, &a->cap_recs, a->nrecs, sizeof(*a->recs), 256))
		a->recs[a->nrecs++] = (struct caller_rec){ .pid = e->pid, .caller_ip = e->caller_ip,
							   .syscall_ip = e->syscall_ip,
							   .bytes = e->len };
}

static void add_memsys(struct alloc_model *a, const struct fl_memsys *e)
{
	int k = sys_index(e->op);
	struct proc_info *p;
	struct sys_stat *s;
	uint64_t grown;

	if (k < 0)
		return;
	s = &a->sys[k];
	s->count++;
	s->total_ns += e->dur_ns;
	u64vec_push(&s->durs, e->dur_ns);
	log2hist_add(&s->hist, e->dur_ns);
	if (k == SYS_BRK) {
		p = proc_get(a, e->pid);
		if (!p)
			return;
		if (add_brk(p, e->addr, e->ret, &grown))
			s->errors++;
		s->bytes += grown;
		add_caller(a, e);
		return;
	}
	if (e->ret < 0 && e->ret >= -MAX_ERRNO) {
		s->errors++;
		return;
	}
	s->bytes += e->len;
	if (k == SYS_MADVISE && e->advice < MADV_SLOTS) {
		a->madv_count[e->advice]++;
		a->madv_bytes[e->advice] += e->len;
	}
	add_caller(a, e);
}

static void add_rss(struct alloc_model *a, const struct fl_rss *e)
{
	int64_t pages = e->pages[FL_RSS_FILE] + e->pages[FL_RSS_ANON] + e->pages[FL_RSS_SHMEM];
	struct proc_info *p = proc_get(a, e->pid);

	if (!p)
		return;
	if (p->rss_exec) { /* the RSS of the image running now */
		p->rss_exec = false;
		p->rss_samples = p->rss_first_ts = p->rss_last_ts = 0;
		p->rss_first = p->rss_last = p->rss_peak = 0;
	}
	p->rss_samples++;
	/* A new image starts from nothing and an exiting one is torn down to 0: first and last
	 * are the samples above 0. */
	if (pages > 0) {
		if (!p->rss_first) {
			p->rss_first = pages;
			p->rss_first_ts = e->h.ts_ns;
		}
		p->rss_last_ts = e->h.ts_ns;
		p->rss_last = pages;
	}
	if (pages > p->rss_peak)
		p->rss_peak = pages;
}

/* EV: a process event, as long as its type (the model checked). */
static void add_proc(struct alloc_model *a, const void *ev)
{
	struct proc_ev e;
	struct proc_info *p;

	if (!proc_ev_decode(ev, sizeof(struct fl_proc), &e) ||
	    (e.kind != FL_PROC_FORK && e.kind != FL_PROC_EXEC))
		return;
	p = proc_get(a, e.pid);
	if (!p)
		return;
	memcpy(p->comm, e.comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = 0;
	if (e.kind == FL_PROC_EXEC)
		p->brk_exec = p->rss_exec = true;
}

static void add_cuda(struct alloc_model *a, const struct fl_cuda *e)
{
	if (!grow_array((void **)&a->cuda, &a->cap_cuda, a->ncuda, sizeof(*a->cuda), 256))
		a->cuda[a->ncuda++] = (struct cuda_call){ .ev = *e };
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
	case FL_EV_PROC:
		add_proc(a, ev);
		break;
	case FL_EV_ALLOC:
		a->slow_total++;
		if (a->nslow < MAX_SLOW_KEPT &&
		    !grow_array((void **)&a->slow, &a->cap_slow, a->nslow, sizeof(*a->slow), 256))
			a->slow[a->nslow++] = *(const struct fl_alloc *)ev;
		break;
	case FL_EV_CUDA:
		add_cuda(a, ev);
		break;
	}
}

/* --- callers: the library each memory syscall came from ----------------------------------- */

static json_t *trailer_alloc(const struct model *m)
{
	return json_object_get(m->trailer, "alloc");
}

static const struct pid_maps *maps_of(const struct model *m, int pid)
{
	for (size_t i = 0; i < m->nmaps; i++)
		if (m->maps[i].pid == pid)
			return &m->maps[i];
	return NULL;
}

/* The executable mappings uprobes.c saw in each process (trailer alloc.processes[].code_maps). */
static void load_codes(const struct model *m, struct alloc_model *a)
{
	json_t *procs = json_object_get(trailer_alloc(m), "processes"), *p;
	struct pid_code *nc;
	const char *text;
	size_t i;

	json_array_foreach(procs, i, p) {
		text = json_string_value(json_object_get(p, "code_maps"));
		if (!text || !*text || !json_is_integer(json_object_get(p, "pid")))
			continue;
		nc = realloc(a->codes, (a->ncodes + 1) * sizeof(*nc));
		if (!nc) {
			fl_nomem();
			return;
		}
		a->codes = nc;
		nc[a->ncodes].pid = json_integer_value(json_object_get(p, "pid"));
		if (!vmas_parse(&nc[a->ncodes].code, text))
			a->ncodes++;
		else
			vmas_free(&nc[a->ncodes].code);
	}
}

static const struct vma *exec_in(const struct vmas *vm, uint64_t ip)
{
	const struct vma *v = vmas_find(vm, ip);

	return v && v->perms[2] == 'x' ? v : NULL;
}

/* IP in the process's code: the mappings seen during the session, then at its start and end.
 * *KNOWN tells whether any mappings of the process were there to look in. */
static const struct vma *exec_vma(const struct model *m, int pid, uint64_t ip, bool *known)
{
	const struct pid_maps *pm = maps_of(m, pid);
	const struct alloc_model *a = m->alloc;
	const struct vma *v = NULL;

	if (pm)
		*known = true;
	for (size_t i = 0; i < a->ncodes && ip; i++) {
		if (a->codes[i].pid != pid)
			continue;
		*known = true;
		if ((v = exec_in(&a->codes[i].code, ip)))
			return v;
	}
	if (!pm || !ip)
		return NULL;
	v = exec_in(&pm->start, ip);
	return v ? v : exec_in(&pm->end, ip);
}

/* The caller's library when the word at the stack top was a return address, else the library
 * the syscall instruction is in (its wrapper's). */
static const char *caller_name(const struct model *m, const struct caller_rec *r,
			       enum caller_why *why)
{
	bool known = false;
	const struct vma *v = exec_vma(m, r->pid, r->caller_ip, &known);

	if (!v)
		v = exec_vma(m, r->pid, r->syscall_ip, &known);
	*why = v ? WHY_KNOWN : known ? WHY_NO_CODE : WHY_NO_MAPS;
	return v ? vma_region(v) : "unknown";
}

static void caller_count(struct alloc_model *a, const char *name, enum caller_why why,
			 uint64_t bytes)
{
	struct caller_stat *nc;

	for (size_t i = 0; i < a->ncallers; i++) {
		if (!strcmp(a->callers[i].name, name) && a->callers[i].why == why) {
			a->callers[i].calls++;
			a->callers[i].bytes += bytes;
			return;
		}
	}
	nc = realloc(a->callers, (a->ncallers + 1) * sizeof(*nc));
	if (!nc) {
		fl_nomem();
		return;
	}
	a->callers = nc;
	a->callers[a->ncallers++] = (struct caller_stat){ .name = strdup(name), .why = why,
							  .calls = 1, .bytes = bytes };
	if (!a->callers[a->ncallers - 1].name) {
		a->ncallers--;
		fl_nomem();
	}
}

static void resolve_callers(const struct model *m, struct alloc_model *a)
{
	const char *last = NULL;
	enum caller_why why = WHY_KNOWN;
	uint32_t last_pid = 0;
	uint64_t last_ip = 0;

	load_codes(m, a);
	for (size_t i = 0; i < a->nrecs; i++) {
		const struct caller_rec *r = &a->recs[i];

		/* runs of calls from one place are the rule: resolve once per run */
		if (!last || r->pid != last_pid || r->caller_ip != last_ip)
			last = caller_name(m, r, &why);
		last_pid = r->pid;
		last_ip = r->caller_ip;
		caller_count(a, last, why, r->bytes);
	}
	free(a->recs);
	a->recs = NULL;
	a->nrecs = a->cap_recs = 0;
}

/* Named callers first, most calls first; the unknown ones last. */
static int cmp_caller(const void *x, const void *y)
{
	const struct caller_stat *a = x, *b = y;

	if ((a->why == WHY_KNOWN) != (b->why == WHY_KNOWN))
		return a->why == WHY_KNOWN ? -1 : 1;
	return a->calls < b->calls ? 1 : a->calls > b->calls ? -1 : 0;
}

static int cmp_slow(const void *x, const void *y)
{
	const struct fl_alloc *a = x, *b = y;

	return a->dur_ns < b->dur_ns ? 1 : a->dur_ns > b->dur_ns ? -1 : 0;
}

/* --- pinned-memory calls ------------------------------------------------------------------- */

static bool cuda_is_driver(uint32_t fn)
{
	return fn >= FL_CF_CU_HOST_REGISTER;
}

static bool cuda_is_register(uint32_t fn)
{
	return fn == FL_CF_HOST_REGISTER || fn == FL_CF_CU_HOST_REGISTER;
}

static bool cuda_is_alloc(uint32_t fn)
{
	return fn == FL_CF_HOST_ALLOC || fn == FL_CF_MALLOC_HOST || fn == FL_CF_CU_HOST_ALLOC ||
	       fn == FL_CF_CU_ALLOC_HOST;
}

/* The register/alloc call an unregister/free undoes: register or alloc, same layer. */
static bool cuda_undoes(uint32_t fn, uint32_t earlier)
{
	if (cuda_is_driver(fn) != cuda_is_driver(earlier))
		return false;
	if (fn == FL_CF_HOST_UNREGISTER || fn == FL_CF_CU_HOST_UNREGISTER)
		return cuda_is_register(earlier);
	return cuda_is_alloc(earlier);
}

/* Register and alloc calls pass a size; unregister and free get the size of the latest earlier
 * successful register/alloc of the same pointer in the same process that nothing undid yet. */
static void cuda_match_sizes(struct alloc_model *a)
{
	for (size_t i = 0; i < a->ncuda; i++) {
		struct cuda_call *c = &a->cuda[i];

		if (cuda_is_register(c->ev.func) || cuda_is_alloc(c->ev.func)) {
			c->size = c->ev.size;
			c->size_known = true;
			continue;
		}
		for (size_t k = i; k-- > 0 && c->ev.ptr;) {
			struct cuda_call *e = &a->cuda[k];

			if (e->ev.pid != c->ev.pid || e->ev.ptr != c->ev.ptr ||
			    !cuda_undoes(c->ev.func, e->ev.func))
				continue;
			if (e->ev.ret == 0 && !e->undone) {
				c->size = e->size;
				c->size_known = true;
				e->undone = true; /* a second free of it finds nothing */
			}
			break;
		}
	}
}

static void cuda_summarize(struct alloc_model *a)
{
	for (size_t i = 0; i < a->ncuda; i++) {
		const struct cuda_call *c = &a->cuda[i];
		struct cuda_fn_stat *s;

		if (c->ev.func >= FL_CF_MAX)
			continue;
		s = &a->cuda_fn[c->ev.func];
		s->calls++;
		s->failed += c->ev.ret != 0;
		s->sized += c->size_known;
		s->bytes += c->size_known ? c->size : 0;
		s->total_ns += c->ev.dur_ns;
		if (c->ev.dur_ns > s->max_ns)
			s->max_ns = c->ev.dur_ns;
	}
}

/* Events arrive as calls return: a runtime call that wraps a driver call comes after it. */
static int cmp_cuda(const void *x, const void *y)
{
	const struct cuda_call *a = x, *b = y;

	return a->ev.h.ts_ns < b->ev.h.ts_ns ? -1 : a->ev.h.ts_ns > b->ev.h.ts_ns;
}

void alloc_model_finish(struct model *m)
{
	struct alloc_model *a = am_get(m);

	if (!a)
		return;
	resolve_callers(m, a);
	sort_n(a->callers, a->ncallers, sizeof(*a->callers), cmp_caller);
	sort_n(a->slow, a->nslow, sizeof(*a->slow), cmp_slow);
	sort_n(a->cuda, a->ncuda, sizeof(*a->cuda), cmp_cuda);
	cuda_match_sizes(a);
	cuda_summarize(a);
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
	for (size_t i = 0; i < a->ncodes; i++)
		vmas_free(&a->codes[i].code);
	free(a->codes);
	free(a->callers);
	free(a->recs);
	free(a->procs);
	free(a->slow);
	free(a->cuda);
	free(a);
	m->alloc = NULL;
}

/* --- what the trailer says: in-kernel counts and the probed libraries ---------------------- */

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

/* Percentile from a log2 histogram: the upper bound of the slot that holds it, at most MAX_NS. */
static uint64_t hist_pct(const struct log2hist *h, double p, uint64_t max_ns)
{
	return log2hist_pct(h, p, 0, max_ns ? max_ns : UINT64_MAX);
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

	fprintf(f, "  pid %d %s", pid, fl_esc(json_string_value(json_object_get(lib, "path"))) ?: "?");
	if (det && strcmp(det, "session ended"))
		fprintf(f, " (probes removed: %s)", fl_esc(det));
	if (err) {
		fprintf(f, ": not probed: %s\n", fl_esc(err));
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
		fprintf(f, "  %s\n", alloc ? "no allocator library probed" :
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

		uint64_t max_ns = jint(fn, "max_ns");

		hist_from_json(json_object_get(fn, "hist"), &h);
		fprintf(f, "  %-16s %12" PRIu64 " %12s %10s %10s %10s %12s\n",
			json_string_value(json_object_get(fn, "func")) ?: "?", jint(fn, "count"),
			fmt_bytes(jint(fn, "bytes"), a, sizeof(a)),
			fmt_ns(hist_pct(&h, 50, max_ns), b, sizeof(b)),
			fmt_ns(hist_pct(&h, 99, max_ns), c, sizeof(c)),
			fmt_ns(max_ns, d, sizeof(d)),
			fmt_ns(jint(fn, "total_ns"), e, sizeof(e)));
	}
	fprintf(f, "  (p50/p99: upper bounds of the in-kernel log2 buckets, at most the max; "
		   "counts are exact)\n");
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

/* "+1.5 MiB", "-8.0 KiB" */
static const char *fmt_sbytes(int64_t v, char *buf, size_t len)
{
	char b[32];

	snprintf(buf, len, "%c%s", v < 0 ? '-' : '+',
		 fmt_bytes(v < 0 ? -(uint64_t)v : (uint64_t)v, b, sizeof(b)));
	return buf;
}

/* The command a process ran last (exec/fork events, else the recording's target list). */
static const char *proc_comm(const struct model *m, const struct proc_info *p)
{
	json_t *targets = json_object_get(m->meta, "targets"), *t;
	const char *c;
	size_t i;

	if (p->comm[0])
		return p->comm;
	json_array_foreach(targets, i, t) {
		c = json_string_value(json_object_get(t, "comm"));
		if (c && jint(t, "pid") == (uint64_t)p->pid)
			return c;
	}
	return "?";
}

static int64_t brk_growth(const struct proc_info *p)
{
	return (int64_t)(p->brk_cur - p->brk_start);
}

static int cmp_brk_peak(const void *x, const void *y)
{
	const struct proc_info *a = *(const struct proc_info *const *)x;
	const struct proc_info *b = *(const struct proc_info *const *)y;
	uint64_t pa = a->brk_peak - a->brk_start, pb = b->brk_peak - b->brk_start;

	return pa < pb ? 1 : pa > pb ? -1 : a->pid - b->pid;
}

static int cmp_rss_peak(const void *x, const void *y)
{
	const struct proc_info *a = *(const struct proc_info *const *)x;
	const struct proc_info *b = *(const struct proc_info *const *)y;

	return a->rss_peak < b->rss_peak ? 1 : a->rss_peak > b->rss_peak ? -1 : a->pid - b->pid;
}

/* The processes with brk calls (WANT_BRK) or RSS samples, sorted by CMP; caller frees. */
static const struct proc_info **procs_sorted(const struct alloc_model *a, bool want_brk,
					      int (*cmp)(const void *, const void *), size_t *n)
{
	const struct proc_info **v = calloc(a->nprocs ? a->nprocs : 1, sizeof(*v));

	if (!v)
		fl_nomem();
	*n = 0;
	for (size_t i = 0; v && i < a->nprocs; i++)
		if (want_brk ? a->procs[i].brk_calls > 0 : a->procs[i].rss_peak > 0)
			v[(*n)++] = &a->procs[i];
	if (v)
		sort_n(v, *n, sizeof(*v), cmp);
	return v;
}

static void text_syscall_table(struct alloc_model *a, FILE *f)
{
	char b[32], c[32], d[32], e[32];

	fprintf(f, "\n  %-16s %10s %12s %8s %10s %10s %10s\n", "memory syscall", "calls", "bytes",
		"errors", "p50", "p99", "max");
	for (int k = 0; k < SYS_MAX; k++) {
		struct sys_stat *s = &a->sys[k];
		bool none = !s->count;

		fprintf(f, "  %-16s %10" PRIu64 " %12s %8" PRIu64 " %10s %10s %10s\n", sys_names[k],
			s->count, none ? "-" : fmt_bytes(s->bytes, b, sizeof(b)), s->errors,
			none ? "-" : fmt_ns(u64vec_pct(&s->durs, 50), c, sizeof(c)),
			none ? "-" : fmt_ns(u64vec_pct(&s->durs, 99), d, sizeof(d)),
			none ? "-" : fmt_ns(u64vec_pct(&s->durs, 100), e, sizeof(e)));
	}
	fprintf(f, "  (bytes: the lengths passed, brk: how far the heap grew; errors: -errno, brk: "
		   "refused)\n");
}

/* "madvise: dontneed 200 calls 2.3 MiB (returned to the OS), hugepage 1 call 256.0 MiB" */
static void text_madvise(const struct alloc_model *a, FILE *f)
{
	char b[32];
	int shown = 0;

	for (int i = 0; i < MADV_SLOTS; i++) {
		if (!a->madv_count[i])
			continue;
		fprintf(f, "%s %s %" PRIu64 " call%s %s%s", shown++ ? "," : "  madvise:",
			madv_names[i] ? madv_names[i] : "other", a->madv_count[i],
			a->madv_count[i] == 1 ? "" : "s", fmt_bytes(a->madv_bytes[i], b, sizeof(b)),
			i == 4 || i == 8 ? " (returned to the OS)" : "");
	}
	if (shown)
		fprintf(f, "\n");
}

static void text_callers(const struct alloc_model *a, FILE *f)
{
	uint64_t calls = 0, bytes = 0;
	char b[32], name[96];
	size_t i;

	if (!a->ncallers)
		return;
	fprintf(f, "\n  %-52s %10s %12s\n", "memory syscalls by calling code", "calls", "bytes");
	for (i = 0; i < a->ncallers; i++) {
		const struct caller_stat *c = &a->callers[i];

		if (i >= TEXT_MAX_CALLERS && c->why == WHY_KNOWN) {
			calls += c->calls;
			bytes += c->bytes;
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", c->name, why_text[c->why]);
		fprintf(f, "    %-50s %10" PRIu64 " %12s\n", fl_esc(name), c->calls,
			fmt_bytes(c->bytes, b, sizeof(b)));
	}
	if (calls)
		fprintf(f, "    %-50s %10" PRIu64 " %12s\n", "(others)", calls,
			fmt_bytes(bytes, b, sizeof(b)));
}

static void text_brk(const struct model *m, FILE *f)
{
	size_t n, i;
	const struct proc_info **v = procs_sorted(m->alloc, true, cmp_brk_peak, &n);
	char b[32], c[32];
	int64_t rest = 0;

	if (!v || !n) {
		free(v);
		return;
	}
	fprintf(f, "\n  %-32s %11s %11s %8s %8s\n", "heap (brk), largest first", "growth", "peak",
		"calls", "refused");
	for (i = 0; i < n && i < TEXT_MAX_PROCS; i++)
		fprintf(f, "    pid %-7d %-16s %11s %11s %8" PRIu64 " %8" PRIu64 "\n", v[i]->pid,
			proc_comm(m, v[i]), fmt_sbytes(brk_growth(v[i]), b, sizeof(b)),
			fmt_sbytes(v[i]->brk_peak - v[i]->brk_start, c, sizeof(c)), v[i]->brk_calls,
			v[i]->brk_failed);
	for (; i < n; i++)
		rest += brk_growth(v[i]);
	if (n > TEXT_MAX_PROCS)
		fprintf(f, "    ... and %zu more processes, %s together\n", n - TEXT_MAX_PROCS,
			fmt_sbytes(rest, b, sizeof(b)));
	fprintf(f, "  (growth: the last break minus the first seen, per program image: exec starts "
		   "a new heap)\n");
	free(v);
}

static void text_rss(const struct model *m, FILE *f)
{
	int64_t ps = m->page_size;
	size_t n, i;
	const struct proc_info **v = procs_sorted(m->alloc, false, cmp_rss_peak, &n);
	char b[32], c[32], d[32], r[32];

	if (!v || !n) {
		free(v);
		return;
	}
	fprintf(f, "\n  %-32s %11s %11s %11s %8s %12s\n", "RSS trend, largest first", "first",
		"last", "peak", "over", "rate");
	for (i = 0; i < n && i < TEXT_MAX_PROCS; i++) {
		const struct proc_info *p = v[i];
		double s = (p->rss_last_ts - p->rss_first_ts) / 1e9;

		if (s >= RATE_MIN_S)
			snprintf(r, sizeof(r), "%+.1f MiB/s",
				 (p->rss_last - p->rss_first) * (double)ps / s / (1 << 20));
		else
			snprintf(r, sizeof(r), "-");
		fprintf(f, "    pid %-7d %-16s %11s %11s %11s %6.1f s %12s\n", p->pid,
			proc_comm(m, p), fmt_bytes(p->rss_first * ps, b, sizeof(b)),
			fmt_bytes(p->rss_last * ps, c, sizeof(c)),
			fmt_bytes(p->rss_peak * ps, d, sizeof(d)), s, r);
	}
	if (n > TEXT_MAX_PROCS)
		fprintf(f, "    ... and %zu more processes, peak %s or less each (all in --json)\n",
			n - TEXT_MAX_PROCS, fmt_bytes(v[TEXT_MAX_PROCS]->rss_peak * ps, b,
						      sizeof(b)));
	fprintf(f, "  (of the program each process runs last; rate only over %.0f s or more)\n",
		RATE_MIN_S);
	free(v);
}

void alloc_print_text(const struct model *m, FILE *f)
{
	fprintf(f, "\nAllocator (--alloc=%s)\n", alloc_mode(m));
	if (!m->alloc)
		return;
	if (!strcmp(alloc_mode(m), "full"))
		text_libs(m, f, true);
	text_functions(m, f);
	if (!strcmp(alloc_mode(m), "full"))
		text_slow(m, f);
	if (strcmp(alloc_mode(m), "off")) {
		text_syscall_table(m->alloc, f);
		text_madvise(m->alloc, f);
		text_callers(m->alloc, f);
		text_brk(m, f);
	}
	text_rss(m, f);
}

/* --- pinned memory --------------------------------------------------------------------------- */

/* GB/s of a register/alloc call that succeeded; < 0 for the others (no rate to speak of). */
static double gb_per_s(const struct cuda_call *c)
{
	if (c->ev.ret || !c->ev.dur_ns || !c->ev.size ||
	    !(cuda_is_register(c->ev.func) || cuda_is_alloc(c->ev.func)))
		return -1;
	return (double)c->ev.size / c->ev.dur_ns; /* bytes/ns = GB/s */
}

/* Share of a register call's range backed by huge pages; < 0 when not known or not a register. */
static double huge_share(const struct cuda_call *c)
{
	if (!cuda_is_register(c->ev.func) || !c->ev.size || c->ev.huge_bytes == FL_HUGE_UNKNOWN ||
	    c->ev.huge_bytes == FL_HUGE_BUSY)
		return -1;
	return (double)c->ev.huge_bytes / c->ev.size;
}

static void text_cuda_functions(const struct alloc_model *a, FILE *f)
{
	char b[32], c[32], d[32];

	fprintf(f, "\n  %-20s %8s %8s %12s %12s %12s\n", "function", "calls", "failed", "size",
		"total time", "max");
	for (int fn = 0; fn < FL_CF_MAX; fn++) {
		const struct cuda_fn_stat *s = &a->cuda_fn[fn];

		if (!s->calls)
			continue;
		fprintf(f, "  %-20s %8" PRIu64 " %8" PRIu64 " %12s %12s %12s\n", cuda_fn_name(fn),
			s->calls, s->failed, s->sized ? fmt_bytes(s->bytes, b, sizeof(b)) : "-",
			fmt_ns(s->total_ns, c, sizeof(c)), fmt_ns(s->max_ns, d, sizeof(d)));
	}
	fprintf(f, "  (size: summed; an unregister/free counts the size of the register/alloc it "
		   "undid)\n");
}

static void text_cuda_call(const struct model *m, const struct cuda_call *c, FILE *f)
{
	char b[32], d[32], rate[16] = "-", huge[16] = "-";
	double g = gb_per_s(c), h = huge_share(c);

	if (g >= 0)
		snprintf(rate, sizeof(rate), "%.2f", g);
	if (h >= 0)
		snprintf(huge, sizeof(huge), "%.0f%%", 100 * h);
	else if (cuda_is_register(c->ev.func) && c->ev.huge_bytes == FL_HUGE_BUSY)
		snprintf(huge, sizeof(huge), "busy");
	fprintf(f, "  %9.3fs %7u %-20s %10s %10s %8s %5s %7" PRIu64 "  %lld %s\n",
		(c->ev.h.ts_ns - m->first_ts) / 1e9, c->ev.pid, cuda_fn_name(c->ev.func),
		c->size_known ? fmt_bytes(c->size, b, sizeof(b)) : "-",
		fmt_ns(c->ev.dur_ns, d, sizeof(d)), rate, huge, (uint64_t)c->ev.faults,
		(long long)c->ev.ret, cuda_error_name(cuda_is_driver(c->ev.func), c->ev.ret));
}

void pinned_print_text(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;

	fprintf(f, "\nPinned memory (CUDA)\n");
	text_libs(m, f, false);
	if (!a || !a->ncuda)
		return;
	text_cuda_functions(a, f);
	fprintf(f, "\n  %10s %7s %-20s %10s %10s %8s %5s %7s  %s\n", "time", "pid", "function",
		"size", "duration", "GB/s", "huge", "faults", "return code");
	for (size_t i = 0; i < a->ncuda && i < TEXT_MAX_CUDA; i++)
		text_cuda_call(m, &a->cuda[i], f);
	if (a->ncuda > TEXT_MAX_CUDA)
		fprintf(f, "  ... and %zu more calls (faultline report --json lists all)\n",
			a->ncuda - TEXT_MAX_CUDA);
	fprintf(f, "  (GB/s: only for register/alloc calls that succeeded. huge: share of a register's "
		   "range\n   in huge pages when faultline looked at it, - if it was unmapped by then, busy if\n"
		   "   too many register calls came at once to measure them all)\n");
}

/* --- JSON ------------------------------------------------------------------------------------ */

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
			jw_jansson_members(w, l, "path", alloc ? "allocator" : "kind", "detached",
					   "error", "symbols", NULL);
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
		jw_ku64(w, "p50_ns", hist_pct(&h, 50, jint(fn, "max_ns")));
		jw_ku64(w, "p99_ns", hist_pct(&h, 99, jint(fn, "max_ns")));
		jw_ku64(w, "max_ns", jint(fn, "max_ns"));
		jw_key(w, "hist");
		log2hist_json(w, &h);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_key(w, "threads");
	if (json_object_get(trailer_alloc(m), "threads")) {
		jw_jansson(w, json_object_get(trailer_alloc(m), "threads"));
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
		log2hist_json(w, &s->hist);
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
	jw_ku64(w, "dontneed_bytes_returned", a ? a->madv_bytes[FL_MADV_DONTNEED] : 0);
	jw_key(w, "by_caller");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->ncallers; i++) {
		jw_obj_open(w);
		jw_kstr(w, "library", a->callers[i].name);
		jw_kstr(w, "why", why_json[a->callers[i].why]);
		jw_ku64(w, "calls", a->callers[i].calls);
		jw_ku64(w, "bytes", a->callers[i].bytes);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_brk(const struct model *m, struct jw *w)
{
	size_t n = 0;
	const struct proc_info **v = m->alloc ? procs_sorted(m->alloc, true, cmp_brk_peak, &n) :
						NULL;

	jw_key(w, "brk");
	jw_arr_open(w);
	for (size_t i = 0; v && i < n; i++) {
		jw_obj_open(w);
		jw_ku64(w, "pid", v[i]->pid);
		jw_kstr(w, "comm", proc_comm(m, v[i]));
		jw_ku64(w, "calls", v[i]->brk_calls);
		jw_ku64(w, "refused", v[i]->brk_failed);
		jw_ku64(w, "images", v[i]->images);
		jw_ku64(w, "start", v[i]->brk_start);
		jw_ku64(w, "end", v[i]->brk_cur);
		jw_ki64(w, "growth_bytes", brk_growth(v[i]));
		jw_ku64(w, "peak_growth_bytes", v[i]->brk_peak - v[i]->brk_start);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	free(v);
}

static void json_rss(const struct model *m, struct jw *w)
{
	int64_t ps = m->page_size;
	size_t n = 0;
	const struct proc_info **v = m->alloc ? procs_sorted(m->alloc, false, cmp_rss_peak, &n) :
						NULL;

	jw_key(w, "rss_trend");
	jw_arr_open(w);
	for (size_t i = 0; v && i < n; i++) {
		const struct proc_info *p = v[i];
		double s = (p->rss_last_ts - p->rss_first_ts) / 1e9;

		jw_obj_open(w);
		jw_ku64(w, "pid", p->pid);
		jw_kstr(w, "comm", proc_comm(m, p));
		jw_ki64(w, "first_bytes", p->rss_first * ps);
		jw_ki64(w, "last_bytes", p->rss_last * ps);
		jw_ki64(w, "peak_bytes", p->rss_peak * ps);
		jw_ku64(w, "samples", p->rss_samples);
		jw_kdouble(w, "seconds", s);
		jw_key(w, "bytes_per_s");
		if (s >= RATE_MIN_S)
			jw_double(w, (p->rss_last - p->rss_first) * (double)ps / s);
		else
			jw_null(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	free(v);
}

void alloc_print_json(const struct model *m, struct jw *w)
{
	jw_obj_open(w);
	jw_kstr(w, "mode", json_string_value(json_object_get(trailer_alloc(m), "mode")));
	json_libs(m, w, true);
	json_functions(m, w);
	json_slow(m, w);
	json_syscalls(m, w);
	json_brk(m, w);
	json_rss(m, w);
	jw_obj_close(w);
}

static void json_cuda_functions(const struct alloc_model *a, struct jw *w)
{
	jw_key(w, "by_function");
	jw_obj_open(w);
	for (int fn = 0; a && fn < FL_CF_MAX; fn++) {
		const struct cuda_fn_stat *s = &a->cuda_fn[fn];

		if (!s->calls)
			continue;
		jw_key(w, cuda_fn_name(fn));
		jw_obj_open(w);
		jw_ku64(w, "calls", s->calls);
		jw_ku64(w, "failed", s->failed);
		jw_ku64(w, "bytes", s->bytes);
		jw_ku64(w, "total_ns", s->total_ns);
		jw_ku64(w, "max_ns", s->max_ns);
		jw_obj_close(w);
	}
	jw_obj_close(w);
}

static void json_cuda_call(const struct cuda_call *c, struct jw *w)
{
	double g = gb_per_s(c), h = huge_share(c);

	jw_obj_open(w);
	jw_ku64(w, "ts_ns", c->ev.h.ts_ns);
	jw_ku64(w, "pid", c->ev.pid);
	jw_ku64(w, "tid", c->ev.h.tid);
	jw_kstr(w, "func", cuda_fn_name(c->ev.func));
	jw_ku64(w, "ptr", c->ev.ptr);
	jw_key(w, "size");
	c->size_known ? jw_u64(w, c->size) : jw_null(w);
	jw_ku64(w, "flags", c->ev.flags);
	jw_ki64(w, "ret", c->ev.ret);
	jw_kstr(w, "ret_name", cuda_error_name(cuda_is_driver(c->ev.func), c->ev.ret));
	jw_ku64(w, "dur_ns", c->ev.dur_ns);
	jw_key(w, "gb_per_s");
	g >= 0 ? jw_double(w, g) : jw_null(w);
	jw_key(w, "huge_bytes");
	h >= 0 ? jw_u64(w, c->ev.huge_bytes) : jw_null(w);
	jw_key(w, "huge_share");
	h >= 0 ? jw_double(w, h) : jw_null(w);
	if (cuda_is_register(c->ev.func) && c->ev.huge_bytes == FL_HUGE_BUSY)
		jw_kstr(w, "huge_unknown", "busy");
	jw_ku64(w, "faults", c->ev.faults);
	jw_obj_close(w);
}

void pinned_print_json(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_obj_open(w);
	jw_kstr(w, "cuda", json_string_value(json_object_get(trailer_alloc(m), "cuda")));
	json_libs(m, w, false);
	json_cuda_functions(a, w);
	jw_key(w, "calls");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->ncuda; i++)
		json_cuda_call(&a->cuda[i], w);
	jw_arr_close(w);
	jw_obj_close(w);
}

size_t alloc_timed_calls(const struct model *m, void (*fn)(const struct timed_call *, void *),
			 void *arg)
{
	const struct alloc_model *a = m->alloc;
	size_t n = 0;

	if (!a)
		return 0;
	for (size_t i = 0; i < a->nslow; i++, n++)
		fn(&(struct timed_call){ .ts_ns = a->slow[i].h.ts_ns, .dur_ns = a->slow[i].dur_ns,
					 .size = a->slow[i].size, .pid = a->slow[i].pid,
					 .tid = a->slow[i].h.tid,
					 .name = alloc_fn_name(a->slow[i].func) },
		   arg);
	for (size_t i = 0; i < a->ncuda; i++, n++) {
		const struct fl_cuda *e = &a->cuda[i].ev;

		fn(&(struct timed_call){ .ts_ns = e->h.ts_ns, .dur_ns = e->dur_ns,
					 .size = a->cuda[i].size, .pid = e->pid, .tid = e->h.tid,
					 .name = cuda_fn_name(e->func), .pinned = true, .ret = e->ret },
		   arg);
	}
	return n;
}
