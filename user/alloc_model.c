// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "alloc_model.h"
#include "elfsym.h"
#include "model.h"
#include "procev.h"
#include "uprobes.h"
#include "util.h"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOW_KEPT 100000

const char *const alloc_sys_names[SYS_MAX] = {"mmap", "munmap", "brk", "mremap", "madvise"};

/* madvise advice by enum fl_madv (decided in BPF); an unnamed slot prints as "other". */
const char *const alloc_madv_names[MADV_SLOTS] = {
    [FL_MADV_NORMAL] = "normal",
    [FL_MADV_RANDOM] = "random",
    [FL_MADV_SEQUENTIAL] = "sequential",
    [FL_MADV_WILLNEED] = "willneed",
    [FL_MADV_DONTNEED] = "dontneed",
    [FL_MADV_FREE] = "free",
    [FL_MADV_REMOVE] = "remove",
    [FL_MADV_DONTFORK] = "dontfork",
    [FL_MADV_DOFORK] = "dofork",
    [FL_MADV_MERGEABLE] = "mergeable",
    [FL_MADV_UNMERGEABLE] = "unmergeable",
    [FL_MADV_HUGEPAGE] = "hugepage",
    [FL_MADV_NOHUGEPAGE] = "nohugepage",
    [FL_MADV_DONTDUMP] = "dontdump",
    [FL_MADV_DODUMP] = "dodump",
    [FL_MADV_WIPEONFORK] = "wipeonfork",
    [FL_MADV_KEEPONFORK] = "keeponfork",
    [FL_MADV_COLD] = "cold",
    [FL_MADV_PAGEOUT] = "pageout",
    [FL_MADV_POPULATE_READ] = "populate_read",
    [FL_MADV_POPULATE_WRITE] = "populate_write",
    [FL_MADV_DONTNEED_LOCKED] = "dontneed_locked",
    [FL_MADV_COLLAPSE] = "collapse",
};

/* The row of a memory syscall (enum fl_memsys_op, decided in BPF: bpf/compat.bpf.h). */
static int sys_index(uint32_t op)
{
	switch (op) {
	case FL_MS_MMAP:
		return SYS_MMAP;
	case FL_MS_MUNMAP:
		return SYS_MUNMAP;
	case FL_MS_BRK:
		return SYS_BRK;
	case FL_MS_MREMAP:
		return SYS_MREMAP;
	case FL_MS_MADVISE:
		return SYS_MADVISE;
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
	a->procs[a->nprocs] = (struct proc_info){.pid = pid};
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
		a->recs[a->nrecs++] = (struct caller_rec){.pid = e->pid,
							  .caller_ip = e->caller_ip,
							  .syscall_ip = e->syscall_ip,
							  .bytes = e->len};
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
		p->brk_exec = true;
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
		pinned_model_add(&a->pinned, ev);
		break;
	}
}

/* --- the trailer's "alloc" member, decoded once ---------------------------------------------- */

static json_t *trailer_alloc(const struct model *m)
{
	return json_object_get(m->trailer, "alloc");
}

static uint64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/* A copy of the string member KEY of O, NULL when there is none. */
static char *jstrdup(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		fl_nomem();
	return d;
}

/* calloc of N elements of SIZE (at least one, so that an empty array is not NULL by mistake). */
static void *alloc_n(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		fl_nomem();
	return p;
}

static void decode_hist(json_t *arr, struct log2hist *h)
{
	size_t i;
	json_t *v;

	memset(h, 0, sizeof(*h));
	json_array_foreach(arr, i, v) if (i < FL_HIST_SLOTS && json_is_integer(v)) h->slots[i] =
	    json_integer_value(v);
}

/* hist_fine: [[slot, count], ...]; NULL where absent (recordings before it) or empty. */
static uint64_t *decode_fine(json_t *arr)
{
	uint64_t *fine;
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || !json_array_size(arr))
		return NULL;
	fine = alloc_n(FL_FINE_SLOTS, sizeof(*fine));
	json_array_foreach(arr, i, v)
	{
		json_int_t slot = json_integer_value(json_array_get(v, 0));

		if (slot >= 0 && slot < FL_FINE_SLOTS)
			fine[slot] += json_integer_value(json_array_get(v, 1));
	}
	return fine;
}

/* Whether FINE holds the calls of H, slot by slot (the fine slots of log2 slot l add up to it). */
static bool fine_matches(const uint64_t *fine, const struct log2hist *h)
{
	for (int l = 0; l < FL_HIST_SLOTS; l++) {
		uint64_t n = 0;

		for (int k = 0; k < FL_FINE_SUB; k++)
			n += fine[l * FL_FINE_SUB + k];
		if (n != h->slots[l])
			return false;
	}
	return true;
}

static void decode_calib_row(json_t *o, struct alloc_calib_fig *r)
{
	r->calls = jint(o, "calls");
	r->p50_ns = jint(o, "p50_ns");
	r->p25_ns = jint(o, "p25_ns");
	r->p75_ns = jint(o, "p75_ns");
}

/* alloc.probe_calibration: the probes' own cost measured when the session started. */
static void decode_calib(json_t *c, struct alloc_model *a)
{
	if (!json_is_object(c))
		return;
	a->calib_error = jstrdup(c, "error");
	if (a->calib_error)
		return;
	decode_calib_row(json_object_get(c, "emulated"), &a->calib_emu);
	decode_calib_row(json_object_get(c, "stepped"), &a->calib_step);
	a->calibrated = a->calib_emu.calls && a->calib_step.calls;
}

/*
 * Takes the probes' cost out of F's figures: the overhead of its kind of first instruction, less
 * from each percentile and from the mean (never below 0). A figure below the overhead's noise -
 * the spread of the calibration's middle half, and at least an eighth of the overhead (what the
 * fine buckets and a calibration in another process can tell apart) - is the probe's more than
 * the call's: marked as dominated by it.
 */
static void correct_fn(struct alloc_fn_stat *f, json_t *fn, const struct alloc_model *a)
{
	const struct alloc_calib_fig *r;
	const char *entry = json_string_value(json_object_get(fn, "probe_entry"));

	if (!a->calibrated || !entry)
		return;
	r = !strcmp(entry, "emulated") ? &a->calib_emu : &a->calib_step;
	f->probe_entry = r == &a->calib_emu ? "emulated" : "stepped";
	f->calibrated = true;
	f->overhead_ns = r->p50_ns;
	f->noise_ns = r->p75_ns > r->p25_ns ? r->p75_ns - r->p25_ns : 0;
	if (f->noise_ns < f->overhead_ns / 8)
		f->noise_ns = f->overhead_ns / 8;
	f->p50_ns = f->raw_p50_ns > f->overhead_ns ? f->raw_p50_ns - f->overhead_ns : 0;
	f->p99_ns = f->raw_p99_ns > f->overhead_ns ? f->raw_p99_ns - f->overhead_ns : 0;
	f->mean_ns = f->mean_ns > f->overhead_ns ? f->mean_ns - f->overhead_ns : 0;
	f->p50_probe = f->p50_ns < f->noise_ns;
	f->p99_probe = f->p99_ns < f->noise_ns;
}

/* alloc.functions[]: the in-kernel counts per probed function; percentiles from the histogram,
 * at most the max (0: not known). */
static void decode_functions(json_t *fns, struct alloc_model *a)
{
	json_t *fn;
	size_t i;

	if (!(a->fns = alloc_n(json_array_size(fns), sizeof(*a->fns))))
		return;
	json_array_foreach(fns, i, fn)
	{
		struct alloc_fn_stat *f = &a->fns[a->nfns++];
		uint64_t max;

		f->name = jstrdup(fn, "func");
		f->count = jint(fn, "count");
		f->bytes = jint(fn, "bytes");
		f->total_ns = jint(fn, "total_ns");
		f->max_ns = jint(fn, "max_ns");
		decode_hist(json_object_get(fn, "hist"), &f->hist);
		max = f->max_ns ? f->max_ns : UINT64_MAX;
		f->fine = decode_fine(json_object_get(fn, "hist_fine"));
		if (f->fine &&
		    !fine_matches(f->fine, &f->hist)) { /* not the same calls: unusable */
			free(f->fine);
			f->fine = NULL;
		}
		if (f->fine) {
			f->raw_p50_ns = finehist_pct(f->fine, 50, max);
			f->raw_p99_ns = finehist_pct(f->fine, 99, max);
		} else {
			f->raw_p50_ns = log2hist_pct(f->hist.slots, 50, 0, max);
			f->raw_p99_ns = log2hist_pct(f->hist.slots, 99, 0, max);
		}
		f->p50_ns = f->raw_p50_ns;
		f->p99_ns = f->raw_p99_ns;
		f->mean_ns = f->count ? f->total_ns / f->count : 0;
		correct_fn(f, fn, a);
	}
}

static int fn_index(const char *name)
{
	for (int f = 0; f < FL_AF_MAX; f++)
		if (!strcmp(alloc_fn_name(f), name))
			return f;
	return -1;
}

/* alloc.threads[]: calls per thread and function. */
static void decode_threads(json_t *threads, struct alloc_model *a)
{
	const char *key;
	json_t *t, *v;
	size_t i;

	if (!(a->threads = alloc_n(json_array_size(threads), sizeof(*a->threads))))
		return;
	json_array_foreach(threads, i, t)
	{
		struct alloc_thread *th = &a->threads[a->nthreads++];

		th->tid = jint(t, "tid");
		th->pid = jint(t, "pid");
		th->calls = jint(t, "calls");
		th->total_ns = jint(t, "total_ns");
		json_object_foreach(json_object_get(t, "by_func"), key, v)
		{
			int f = fn_index(key);

			if (f >= 0 && json_is_integer(v))
				th->by_func[f] = json_integer_value(v);
		}
	}
}

static void decode_lib(json_t *l, int pid, struct alloc_lib *lib)
{
	json_t *syms = json_object_get(l, "symbols"), *s;
	size_t i;

	lib->pid = pid;
	lib->path = jstrdup(l, "path");
	lib->kind = jstrdup(l, "kind");
	lib->allocator = jstrdup(l, "allocator");
	lib->detached = jstrdup(l, "detached");
	lib->error = jstrdup(l, "error");
	if (!(lib->syms = alloc_n(json_array_size(syms), sizeof(*lib->syms))))
		return;
	json_array_foreach(syms, i, s)
	{
		struct alloc_sym *sym = &lib->syms[lib->nsyms++];

		sym->name = jstrdup(s, "name");
		sym->func = jstrdup(s, "func");
		sym->status = jstrdup(s, "status");
		sym->probed = json_is_true(json_object_get(s, "probed"));
		sym->offset = jint(s, "offset");
	}
}

/* The executable mappings uprobes.c saw in a process (alloc.processes[].code_maps). */
static void decode_code_maps(json_t *p, struct alloc_model *a)
{
	const char *text = json_string_value(json_object_get(p, "code_maps"));
	struct pid_code *nc;

	if (!text || !*text || !json_is_integer(json_object_get(p, "pid")))
		return;
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

/* alloc.processes[]: code mappings, and the libraries probed in each. */
static void decode_processes(json_t *procs, struct alloc_model *a)
{
	size_t i, k, n = 0;
	json_t *p, *l;

	json_array_foreach(procs, i, p) n += json_array_size(json_object_get(p, "libraries"));
	if (!(a->libs = alloc_n(n, sizeof(*a->libs))))
		return;
	json_array_foreach(procs, i, p)
	{
		decode_code_maps(p, a);
		json_array_foreach(json_object_get(p, "libraries"), k, l) if (a->nlibs < n)
		    decode_lib(l, (int)jint(p, "pid"), &a->libs[a->nlibs++]);
	}
}

static void decode_trailer(const struct model *m, struct alloc_model *a)
{
	json_t *t = trailer_alloc(m);

	a->mode = jstrdup(t, "mode");
	a->cuda_mode = jstrdup(t, "cuda");
	a->slow_ns = jint(t, "slow_ns");
	decode_calib(json_object_get(t, "probe_calibration"), a);
	decode_functions(json_object_get(t, "functions"), a);
	decode_threads(json_object_get(t, "threads"), a);
	decode_processes(json_object_get(t, "processes"), a);
}

static void free_trailer(struct alloc_model *a)
{
	for (size_t i = 0; i < a->nfns; i++) {
		free(a->fns[i].name);
		free(a->fns[i].fine);
	}
	free(a->calib_error);
	for (size_t i = 0; i < a->nlibs; i++) {
		struct alloc_lib *l = &a->libs[i];

		for (size_t k = 0; k < l->nsyms; k++) {
			free(l->syms[k].name);
			free(l->syms[k].func);
			free(l->syms[k].status);
		}
		free(l->syms);
		free(l->path);
		free(l->kind);
		free(l->allocator);
		free(l->detached);
		free(l->error);
	}
	for (size_t i = 0; i < a->ncodes; i++)
		vmas_free(&a->codes[i].code);
	free(a->codes);
	free(a->libs);
	free(a->threads);
	free(a->fns);
	free(a->mode);
	free(a->cuda_mode);
}

const char *alloc_mode(const struct model *m)
{
	return m->alloc && m->alloc->mode ? m->alloc->mode : "unknown (no trailer)";
}

bool alloc_mode_is(const struct model *m, const char *mode)
{
	return !strcmp(alloc_mode(m), mode);
}

bool alloc_lib_is_allocator(const struct alloc_lib *l)
{
	return l->kind && !strcmp(l->kind, "allocator");
}

bool alloc_lib_is_cuda(const struct alloc_lib *l)
{
	return l->kind && strcmp(l->kind, "allocator");
}

/* --- callers: the library each memory syscall came from ----------------------------------- */

static const struct pid_maps *maps_of(const struct model *m, int pid)
{
	for (size_t i = 0; i < m->nmaps; i++)
		if (m->maps[i].pid == pid)
			return &m->maps[i];
	return NULL;
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

/* "main (heap_grow)" for the function holding IP in PID's code, or "heap_grow+0x1a2b". */
static void slow_caller_name(const struct model *m, struct elfsym_cache *ec, int pid, uint64_t ip,
			     char *buf, size_t len)
{
	bool known = false;
	const struct vma *v = ip ? exec_vma(m, pid, ip, &known) : NULL;
	const struct elfsym_table *t;
	const char *fn = NULL, *err;
	uint64_t off, symoff;

	if (!ip) {
		snprintf(buf, len, "not found on the stack");
		return;
	}
	if (!v) {
		snprintf(buf, len, "0x%" PRIx64 " (%s)", ip,
			 known ? "in no code mapping seen"
			       : "process gone before its maps were read");
		return;
	}
	off = ip - v->start + v->offset;
	t = v->path[0] == '/' ? elfsym_cache_get(ec, v->path, v->dev, v->inode, &err) : NULL;
	if (t)
		fn = elfsym_lookup(t, off - 1,
				   &symoff); /* a return address: the call is before it */
	if (fn)
		snprintf(buf, len, "%s (%s)", fn, vma_region(v));
	else
		snprintf(buf, len, "%s+0x%" PRIx64, vma_region(v), off);
}

/* alloc.slow_callers: counted per function and caller name (several ips may share a function). */
static void resolve_slow_callers(const struct model *m, struct alloc_model *a)
{
	json_t *arr = json_object_get(trailer_alloc(m), "slow_callers"), *c;
	struct elfsym_cache ec = {0};
	char name[256];
	size_t i;

	if (!json_array_size(arr) ||
	    !(a->slow_callers = alloc_n(json_array_size(arr), sizeof(*a->slow_callers))))
		return;
	json_array_foreach(arr, i, c)
	{
		const char *func = json_string_value(json_object_get(c, "func"));
		size_t k;

		slow_caller_name(m, &ec, (int)jint(c, "pid"), jint(c, "ip"), name, sizeof(name));
		for (k = 0; k < a->nslow_callers; k++)
			if (!strcmp(a->slow_callers[k].name, name) &&
			    !strcmp(a->slow_callers[k].func, func ?: "?"))
				break;
		if (k == a->nslow_callers) {
			a->slow_callers[k].func = strdup(func ?: "?");
			a->slow_callers[k].name = strdup(name);
			if (!a->slow_callers[k].func || !a->slow_callers[k].name) {
				free(a->slow_callers[k].func);
				free(a->slow_callers[k].name);
				fl_nomem();
				break;
			}
			a->nslow_callers++;
		}
		a->slow_callers[k].count += jint(c, "count");
	}
	elfsym_cache_free(&ec);
}

static int cmp_slow_caller(const void *x, const void *y)
{
	const struct slow_caller_stat *a = x, *b = y;

	return a->count < b->count ? 1 : a->count > b->count ? -1 : strcmp(a->name, b->name);
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
	a->callers[a->ncallers++] =
	    (struct caller_stat){.name = strdup(name), .why = why, .calls = 1, .bytes = bytes};
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

/* The command each process ran last: from exec/fork events, else the recording's targets; every
 * process with RSS samples gets one too (the report's RSS section names them). */
static void comm_from(struct proc_info *p, const struct model_process *t)
{
	if (t->comm && t->have_pid && t->pid == p->pid)
		snprintf(p->comm, sizeof(p->comm), "%s", t->comm);
}

static void resolve_comms(const struct model *m, struct alloc_model *a)
{
	for (size_t r = 0; r < m->nrss; r++)
		proc_get(a, m->rss[r].pid);
	for (size_t k = 0; k < a->nprocs; k++) {
		struct proc_info *p = &a->procs[k];

		for (size_t i = 0; i < m->session.ntargets && !p->comm[0]; i++)
			comm_from(p, &m->session.targets[i].start);
		/* a child found running with --children: named only in the trailer */
		for (size_t i = 0; i < m->session.ntargets_end && !p->comm[0]; i++)
			comm_from(p, &m->session.targets_end[i]);
	}
}

const char *alloc_proc_comm(const struct model *m, int pid)
{
	const struct alloc_model *a = m->alloc;

	for (size_t i = 0; a && i < a->nprocs; i++)
		if (a->procs[i].pid == pid)
			return a->procs[i].comm[0] ? a->procs[i].comm : "?";
	return "?";
}

void alloc_model_finish(struct model *m)
{
	struct alloc_model *a = am_get(m);

	if (!a)
		return;
	decode_trailer(m, a);
	resolve_callers(m, a);
	resolve_slow_callers(m, a);
	sort_n(a->slow_callers, a->nslow_callers, sizeof(*a->slow_callers), cmp_slow_caller);
	resolve_comms(m, a);
	for (int k = 0; k < SYS_MAX; k++) {
		a->sys[k].p50_ns = u64vec_pct(&a->sys[k].durs, 50);
		a->sys[k].p99_ns = u64vec_pct(&a->sys[k].durs, 99);
		a->sys[k].max_ns = u64vec_pct(&a->sys[k].durs, 100);
	}
	sort_n(a->callers, a->ncallers, sizeof(*a->callers), cmp_caller);
	sort_n(a->slow, a->nslow, sizeof(*a->slow), cmp_slow);
	pinned_model_finish(&a->pinned);
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
	for (size_t i = 0; i < a->nslow_callers; i++) {
		free(a->slow_callers[i].func);
		free(a->slow_callers[i].name);
	}
	free(a->slow_callers);
	free_trailer(a);
	free(a->callers);
	free(a->recs);
	free(a->procs);
	free(a->slow);
	pinned_model_free(&a->pinned);
	free(a);
	m->alloc = NULL;
}

size_t alloc_timed_calls(const struct model *m, void (*fn)(const struct timed_call *, void *),
			 void *arg)
{
	const struct alloc_model *a = m->alloc;
	size_t n = 0;

	if (!a)
		return 0;
	for (size_t i = 0; i < a->nslow; i++, n++)
		fn(&(struct timed_call){.ts_ns = a->slow[i].h.ts_ns,
					.dur_ns = a->slow[i].dur_ns,
					.size = a->slow[i].size,
					.pid = a->slow[i].pid,
					.tid = a->slow[i].h.tid,
					.name = alloc_fn_name(a->slow[i].func)},
		   arg);
	for (size_t i = 0; i < a->pinned.ncalls; i++, n++) {
		const struct fl_cuda *e = &a->pinned.calls[i].ev;

		fn(&(struct timed_call){.ts_ns = e->h.ts_ns,
					.dur_ns = e->dur_ns,
					.size = a->pinned.calls[i].size,
					.pid = e->pid,
					.tid = e->h.tid,
					.name = cuda_fn_name(e->func),
					.pinned = true,
					.ret = e->ret},
		   arg);
	}
	return n;
}
