// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Uprobe attachment (uprobes.h): which libraries of each target to probe, attaching and detaching
 * as processes fork, exec and exit, and the worker that measures pinned ranges. Symbols come from
 * elfsym.c, mappings and pagemap from procfs.c; the trailer's "alloc" member is written by meta.c.
 */
#include "uprobes.h"
#include "elfsym.h"
#include "faultline.skel.h"
#include "procfs.h"
#include "session.h"
#include "util.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HUGE_QUEUE 16

/* Allocators a symbol is expected in (maps_allocator's names). */
#define W_GLIBC 1u
#define W_JE 2u
#define W_TC 4u
#define W_MI 8u
#define W_STD (W_GLIBC | W_JE | W_TC | W_MI)

struct want {
	const char *name;
	unsigned int fn;
	unsigned int who; /* allocators (W_*) or 0 for CUDA */
};

static const struct want alloc_wants[] = {
    {"malloc", FL_AF_MALLOC, W_STD},
    {"calloc", FL_AF_CALLOC, W_STD},
    {"realloc", FL_AF_REALLOC, W_STD},
    {"free", FL_AF_FREE, W_STD},
    {"posix_memalign", FL_AF_POSIX_MEMALIGN, W_STD},
    {"memalign", FL_AF_MEMALIGN, W_STD},
    {"aligned_alloc", FL_AF_ALIGNED_ALLOC, W_STD},
    {"mallocx", FL_AF_MALLOCX, W_JE},
    {"rallocx", FL_AF_RALLOCX, W_JE},
    {"sdallocx", FL_AF_SDALLOCX, W_JE},
    {"dallocx", FL_AF_DALLOCX, W_JE},
    {"tc_malloc", FL_AF_MALLOC, W_TC},
    {"tc_calloc", FL_AF_CALLOC, W_TC},
    {"tc_realloc", FL_AF_REALLOC, W_TC},
    {"tc_free", FL_AF_FREE, W_TC},
    {"tc_posix_memalign", FL_AF_POSIX_MEMALIGN, W_TC},
    {"tc_memalign", FL_AF_MEMALIGN, W_TC},
};

/*
 * --alloc=slow: where each allocator grows or returns memory, rare next to malloc and free.
 * glibc's are local symbols, in its debug file only (Debian: libc6-dbg); tcmalloc (gperftools)
 * exports its own. jemalloc's Debian build exports its public API only: nothing here.
 */
static const struct want slow_wants[] = {
    {"sysmalloc", FL_AF_SYSMALLOC, W_GLIBC},
    {"systrim", FL_AF_SYSTRIM, W_GLIBC},
    {"malloc_consolidate", FL_AF_CONSOLIDATE, W_GLIBC},
    {"munmap_chunk", FL_AF_MUNMAP_CHUNK, W_GLIBC},
    {"_ZN8tcmalloc11ThreadCache21FetchFromCentralCacheEjiPFPvmE", FL_AF_TC_FETCH, W_TC},
    {"_ZN8tcmalloc11ThreadCache21ReleaseToCentralCacheEPNS0_8FreeListEji", FL_AF_TC_RELEASE, W_TC},
    {"_ZN8tcmalloc15CentralFreeList8PopulateEv", FL_AF_TC_POPULATE, W_TC},
    {"_ZN8tcmalloc8PageHeap8GrowHeapEm", FL_AF_TC_GROWHEAP, W_TC},
    {"_ZN8tcmalloc8PageHeap20ReleaseAtLeastNPagesEm", FL_AF_TC_RELEASE_PAGES, W_TC},
};

static const struct want cudart_wants[] = {
    {"cudaHostRegister", FL_CF_HOST_REGISTER}, {"cudaHostUnregister", FL_CF_HOST_UNREGISTER},
    {"cudaHostAlloc", FL_CF_HOST_ALLOC},       {"cudaMallocHost", FL_CF_MALLOC_HOST},
    {"cudaFreeHost", FL_CF_FREE_HOST},
};

static const struct want cuda_wants[] = {
    {"cuMemHostRegister_v2", FL_CF_CU_HOST_REGISTER},
    {"cuMemHostAlloc", FL_CF_CU_HOST_ALLOC},
    {"cuMemAllocHost_v2", FL_CF_CU_ALLOC_HOST},
    {"cuMemHostUnregister", FL_CF_CU_HOST_UNREGISTER},
    {"cuMemFreeHost", FL_CF_CU_FREE_HOST},
};

static const char *const alloc_fn_names[FL_AF_MAX] = {
    [FL_AF_MALLOC] = "malloc",
    [FL_AF_CALLOC] = "calloc",
    [FL_AF_REALLOC] = "realloc",
    [FL_AF_FREE] = "free",
    [FL_AF_POSIX_MEMALIGN] = "posix_memalign",
    [FL_AF_ALIGNED_ALLOC] = "aligned_alloc",
    [FL_AF_MEMALIGN] = "memalign",
    [FL_AF_MALLOCX] = "mallocx",
    [FL_AF_RALLOCX] = "rallocx",
    [FL_AF_SDALLOCX] = "sdallocx",
    [FL_AF_DALLOCX] = "dallocx",
    [FL_AF_SYSMALLOC] = "sysmalloc",
    [FL_AF_SYSTRIM] = "systrim",
    [FL_AF_CONSOLIDATE] = "malloc_consolidate",
    [FL_AF_MUNMAP_CHUNK] = "munmap_chunk",
    [FL_AF_TC_FETCH] = "FetchFromCentralCache",
    [FL_AF_TC_RELEASE] = "ReleaseToCentralCache",
    [FL_AF_TC_POPULATE] = "Populate",
    [FL_AF_TC_GROWHEAP] = "GrowHeap",
    [FL_AF_TC_RELEASE_PAGES] = "ReleaseAtLeastNPages",
};

static const char *const cuda_fn_names[FL_CF_MAX] = {
    [FL_CF_HOST_REGISTER] = "cudaHostRegister",
    [FL_CF_HOST_UNREGISTER] = "cudaHostUnregister",
    [FL_CF_HOST_ALLOC] = "cudaHostAlloc",
    [FL_CF_MALLOC_HOST] = "cudaMallocHost",
    [FL_CF_FREE_HOST] = "cudaFreeHost",
    [FL_CF_CU_HOST_REGISTER] = "cuMemHostRegister_v2",
    [FL_CF_CU_HOST_ALLOC] = "cuMemHostAlloc",
    [FL_CF_CU_ALLOC_HOST] = "cuMemAllocHost_v2",
    [FL_CF_CU_HOST_UNREGISTER] = "cuMemHostUnregister",
    [FL_CF_CU_FREE_HOST] = "cuMemFreeHost",
};

const char *alloc_fn_name(unsigned int fn)
{
	return fn < FL_AF_MAX ? alloc_fn_names[fn] : "?";
}

const char *cuda_fn_name(unsigned int fn)
{
	return fn < FL_CF_MAX ? cuda_fn_names[fn] : "?";
}

const char *alloc_mode_name(int mode)
{
	return mode == FL_ALLOC_OFF    ? "off"
	       : mode == FL_ALLOC_FULL ? "full"
	       : mode == FL_ALLOC_SLOW ? "slow"
				       : "lite";
}

const char *uprobes_lib_kind_name(enum lib_kind k)
{
	return k == LIB_ALLOC ? "allocator" : k == LIB_CUDART ? "cudart" : "cuda";
}

/* --- plan and configuration -------------------------------------------------------------- */

void uprobes_plan(struct probe_plan *p, const struct session_opts *o)
{
	if (o->alloc_mode == FL_ALLOC_OFF) {
		probe_plan_disable(p, "alloc_syscalls", "turned off with --alloc=off");
		probe_plan_disable(p, "alloc_calls", "turned off with --alloc=off");
	} else if (o->alloc_mode == FL_ALLOC_LITE) {
		probe_plan_disable(p, "alloc_calls",
				   "--alloc=lite: no per-call uprobes (--alloc=full)");
	}
	if (o->cuda_mode == FL_CUDA_OFF)
		probe_plan_disable(p, "cuda_pinned", "turned off with --cuda=off");
	if (o->all) {
		probe_plan_disable(p, "alloc_calls",
				   "uprobes are attached per process: not with -a");
		probe_plan_disable(p, "cuda_pinned",
				   "uprobes are attached per process: not with -a");
	}
}

void uprobes_configure(struct faultline_bpf *skel, const struct session_opts *o)
{
	skel->rodata->alloc_slow_ns = o->alloc_slow_ns ? o->alloc_slow_ns : UPROBES_SLOW_NS_DEFAULT;
}

/* --- attaching ------------------------------------------------------------------------- */

static int add_link(struct up_lib *l, struct bpf_link *link)
{
	struct bpf_link **nl = realloc(l->links, (l->nlinks + 1) * sizeof(*nl));

	if (!nl) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	l->links = nl;
	l->links[l->nlinks++] = link;
	return 0;
}

/*
 * --alloc=slow: where the allocator's code is relative to slow-path function S's probe (struct
 * lib_text in bpf/alloc.bpf.c), which the probe skips when it looks on the stack for the return
 * address into its caller. Relative, so that neither ASLR nor an exec that keeps the probes on the
 * same file needs an update.
 */
static void set_lib_text(struct uprobes *up, const struct up_lib *l, const struct sym_state *s)
{
	struct {
		__u64 delta, len;
	} t = {s->offset - l->text_off, l->text_len};
	__u32 key = s->fn;

	if (l->kind != LIB_ALLOC || s->fn < FL_AF_SLOW_FIRST || s->fn >= FL_AF_MAX ||
	    !l->text_len || s->offset < l->text_off)
		return;
	if (bpf_map__update_elem(up->s->skel->maps.alloc_lib_text, &key, sizeof(key), &t, sizeof(t),
				 BPF_ANY))
		fl_info("%s: its callers are not looked for: %s", s->name, strerror(errno));
}

/* The return probe first: an entry seen without its return would leave the thread "inside". */
static int attach_sym(struct uprobes *up, struct up_lib *l, int pid, const char *path,
		      struct sym_state *s)
{
	struct bpf_program *entry = l->kind == LIB_ALLOC ? up->alloc_entry : up->cuda_entry;
	struct bpf_program *ret = l->kind == LIB_ALLOC ? up->alloc_ret : up->cuda_ret;
	LIBBPF_OPTS(bpf_uprobe_opts, ro, .bpf_cookie = s->fn, .retprobe = true);
	LIBBPF_OPTS(bpf_uprobe_opts, eo, .bpf_cookie = s->fn);
	struct bpf_link *rl, *el;
	int err;

	rl = bpf_program__attach_uprobe_opts(ret, pid, path, s->offset, &ro);
	if (!rl) {
		err = -errno;
		goto fail;
	}
	el = bpf_program__attach_uprobe_opts(entry, pid, path, s->offset, &eo);
	if (!el) {
		err = -errno;
		bpf_link__destroy(rl);
		goto fail;
	}
	if (add_link(l, rl) || add_link(l, el))
		return -ENOMEM;
	set_lib_text(up, l, s);
	s->probed = true;
	snprintf(s->status, sizeof(s->status), "probed");
	return 0;
fail:
	snprintf(s->status, sizeof(s->status), "attach failed: %s", strerror(-err));
	fl_info("uprobe '%s' in %s (pid %d): failed to attach: %s", s->name, fl_esc(l->path), pid,
		strerror(-err));
	return err;
}

static void fill_wants(struct up_lib *l, const struct want *w, size_t n, unsigned int who)
{
	for (size_t i = 0; i < n && l->nsyms < UP_MAX_SYMS; i++) {
		if (who && !(w[i].who & who))
			continue;
		l->syms[l->nsyms].name = w[i].name;
		l->syms[l->nsyms].fn = w[i].fn;
		l->nsyms++;
	}
}

static unsigned int allocator_bit(const char *allocator)
{
	if (!strcmp(allocator, "jemalloc"))
		return W_JE;
	if (!strcmp(allocator, "tcmalloc"))
		return W_TC;
	if (!strcmp(allocator, "mimalloc"))
		return W_MI;
	return W_GLIBC;
}

static int resolve_syms(int fd, struct up_lib *l)
{
	struct elfsym q[UP_MAX_SYMS] = {};
	int err;

	for (int k = 0; k < l->nsyms; k++)
		q[k].name = l->syms[k].name;
	err = elfsym_resolve(fd, q, l->nsyms, l->error, sizeof(l->error));
	for (int k = 0; !err && k < l->nsyms; k++) {
		uint8_t insn[16] = {};
		ssize_t n;
		int skip;

		n = q[k].offset ? pread(fd, insn, sizeof(insn), q[k].offset) : 0;
		n = n > 0 ? n : 0;
		skip = l->kind == LIB_ALLOC ? alloc_calib_probe_skip(insn, n) : 0;
		l->syms[k].offset = q[k].offset ? q[k].offset + skip : 0;
		l->syms[k].skip = skip;
		l->syms[k].emulated = alloc_calib_emulated(insn + skip, n - skip);
		memcpy(l->syms[k].status, q[k].status, sizeof(l->syms[k].status));
	}
	return err;
}

/*
 * --alloc=slow found nothing to probe in L: why, in the library's error (the report prints it),
 * and said once. The memory syscalls (--alloc=lite's) are still timed: where glibc's slow path
 * ends (brk, mmap, munmap, madvise).
 */
static void slow_unknown(struct up_lib *l)
{
	const char *a = l->allocator;

	if (!strcmp(a, "glibc"))
		snprintf(l->error, sizeof(l->error),
			 "glibc slow path not probed: sysmalloc, systrim... are local symbols, in "
			 "its debug file only: install libc6-dbg; memory syscalls still timed");
	else if (!strcmp(a, "jemalloc"))
		snprintf(l->error, sizeof(l->error),
			 "jemalloc slow path not probed: its build exports only the public API (no "
			 "slow-path symbols, no USDT notes); memory syscalls still timed");
	else
		snprintf(l->error, sizeof(l->error),
			 "%s slow path not probed: no slow-path functions found in it; memory "
			 "syscalls still timed",
			 a);
	fprintf(stderr, "faultline: %s: %s\n", fl_esc(l->path), l->error);
}

/* Resolves and attaches every wanted symbol of L; two names at one address are probed once. */
static void probe_lib(struct uprobes *up, int pid, struct up_lib *l)
{
	char path[PATH_MAX + 32];
	int probed = 0, fd;

	if (l->kind == LIB_ALLOC && up->alloc_slow)
		fill_wants(l, slow_wants, ARRAY_SIZE(slow_wants), allocator_bit(l->allocator));
	else if (l->kind == LIB_ALLOC)
		fill_wants(l, alloc_wants, ARRAY_SIZE(alloc_wants), allocator_bit(l->allocator));
	else if (l->kind == LIB_CUDART)
		fill_wants(l, cudart_wants, ARRAY_SIZE(cudart_wants), 0);
	else
		fill_wants(l, cuda_wants, ARRAY_SIZE(cuda_wants), 0);
	/*
	 * The target's own view of the file, also inside a container; the target controls what is
	 * at that path now: only the mapped regular file is read, and the probes go on that very
	 * file (through our fd), not on whatever the path names by the time they attach.
	 */
	snprintf(path, sizeof(path), "/proc/%d/root%s", pid, l->path);
	fd = open_target_file(path, l->dev, l->inode, l->error, sizeof(l->error));
	if (fd < 0) {
		fl_info("pid %d: %s not probed: %s", pid, fl_esc(l->path), l->error);
		return;
	}
	if (!l->nsyms) { /* --alloc=slow on an allocator with no slow-path symbols */
		slow_unknown(l);
		close(fd);
		return;
	}
	if (resolve_syms(fd, l)) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (int k = 0; k < l->nsyms; k++) {
		struct sym_state *s = &l->syms[k];
		int dup = -1;

		if (!s->offset)
			continue;
		for (int j = 0; j < k && dup < 0; j++)
			if (l->syms[j].probed && l->syms[j].offset == s->offset)
				dup = j;
		if (dup >= 0) {
			snprintf(s->status, sizeof(s->status), "same address as %s: counted there",
				 l->syms[dup].name);
			continue;
		}
		probed += !attach_sym(up, l, pid, path, s);
	}
	close(fd);
	if (!probed && l->kind == LIB_ALLOC && up->alloc_slow)
		slow_unknown(l);
	l->attached_ns = clock_ns(CLOCK_MONOTONIC);
	fprintf(stderr, "faultline: pid %d: probed %d functions in %s (%s%s%s)\n", pid, probed,
		fl_esc(l->path), uprobes_lib_kind_name(l->kind), l->kind == LIB_ALLOC ? " " : "",
		l->kind == LIB_ALLOC ? l->allocator : "");
}

/*
 * In the reverse of attach order: each entry probe goes before its return probe. The other way
 * round, a target still running sees entries without returns while the rest is torn down
 * (unregistering a uprobe waits for a grace period), and a thread left "inside" a call has its
 * later calls taken for nested ones and uncounted.
 */
static void detach_lib(struct up_lib *l, const char *why)
{
	for (int i = l->nlinks - 1; i >= 0; i--)
		bpf_link__destroy(l->links[i]);
	free(l->links);
	l->links = NULL;
	l->nlinks = 0;
	if (!l->detached[0])
		snprintf(l->detached, sizeof(l->detached), "%s", why);
}

static void detach_proc(struct up_proc *p, const char *why)
{
	for (int i = 0; i < p->nlibs; i++)
		detach_lib(&p->libs[i], why);
}

/* --- scanning the targets' mappings ------------------------------------------------------ */

static struct up_lib *lib_add(struct up_proc *p, const struct vma *v, enum lib_kind kind)
{
	struct up_lib *nl = realloc(p->libs, (p->nlibs + 1) * sizeof(*nl)), *l;

	if (!nl)
		return NULL;
	p->libs = nl;
	l = &p->libs[p->nlibs];
	memset(l, 0, sizeof(*l));
	l->path = strdup(v->path);
	if (!l->path)
		return NULL;
	l->inode = v->inode;
	l->dev = v->dev;
	l->kind = kind;
	p->nlibs++;
	return l;
}

static bool lib_attached(const struct up_proc *p, const char *path, uint64_t inode)
{
	for (int i = 0; i < p->nlibs; i++)
		if (!p->libs[i].detached[0] && p->libs[i].inode == inode &&
		    !strcmp(p->libs[i].path, path))
			return true;
	return false;
}

static int cuda_kind(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!strncmp(base, "libcudart.so", 12))
		return LIB_CUDART;
	if (!strncmp(base, "libcuda.so", 10))
		return LIB_CUDA;
	return -1;
}

static bool vmas_have(const struct vmas *vm, const char *path, uint64_t inode)
{
	for (size_t i = 0; i < vm->n; i++)
		if (vm->v[i].inode == inode && !strcmp(vm->v[i].path, path))
			return true;
	return false;
}

/*
 * After an exec the probes stay: a uprobe follows its file into the new image, so the same libc
 * is covered from the first call. Once the new image's libraries are mapped (its allocator is
 * found), probes on files it does not map, or on an allocator it no longer uses, are removed.
 */
static void prune_after_exec(struct up_proc *p, const struct vmas *vm, const char *alloc_lib)
{
	for (int i = 0; i < p->nlibs; i++) {
		struct up_lib *l = &p->libs[i];

		if (l->detached[0])
			continue;
		if (!vmas_have(vm, l->path, l->inode))
			detach_lib(l, "exec: not mapped by the new image");
		else if (l->kind == LIB_ALLOC && strcmp(l->path, alloc_lib))
			detach_lib(l, "exec: not the new image's allocator");
	}
	p->exec_pending = false;
}

static void scan_allocator(struct uprobes *up, struct up_proc *p, const char *maps_text,
			   const struct vmas *vm)
{
	char lib[PATH_MAX];
	const char *name = maps_allocator(maps_text, lib, sizeof(lib));
	struct up_lib *l;

	if (!lib[0])
		return; /* nothing mapped yet (just exec'd) or static: try again next scan */
	p->alloc_done = true;
	if (p->exec_pending)
		prune_after_exec(p, vm, lib);
	for (size_t i = 0; i < vm->n; i++) {
		if (strcmp(vm->v[i].path, lib))
			continue;
		if (lib_attached(p, lib, vm->v[i].inode))
			return;
		l = lib_add(p, &vm->v[i], LIB_ALLOC);
		if (!l)
			return;
		l->allocator = name;
		for (size_t j = 0; j < vm->n; j++) /* its code, for the slow-path callers */
			if (!strcmp(vm->v[j].path, lib) && vm->v[j].inode == vm->v[i].inode &&
			    vm->v[j].perms[2] == 'x') {
				l->text_off = vm->v[j].offset;
				l->text_len = vm->v[j].end - vm->v[j].start;
				break;
			}
		probe_lib(up, p->pid, l);
		return;
	}
}

static void scan_cuda(struct uprobes *up, struct up_proc *p, const struct vmas *vm)
{
	for (size_t i = 0; i < vm->n; i++) {
		const struct vma *v = &vm->v[i];
		int kind = cuda_kind(v->path);
		struct up_lib *l;

		if (kind < 0 || strstr(v->path, " (deleted)") || lib_attached(p, v->path, v->inode))
			continue;
		l = lib_add(p, v, kind);
		if (l)
			probe_lib(up, p->pid, l);
	}
}

static bool up_active(const struct uprobes *up)
{
	return up && (up->alloc_on || up->cuda_on || up->maps_on);
}

static bool code_maps_have(const struct up_proc *p, const char *line, size_t len)
{
	for (const char *c = p->code_maps; c && *c;) {
		const char *nl = strchr(c, '\n');
		size_t n = nl ? (size_t)(nl - c) : strlen(c);

		if (n == len && !memcmp(c, line, len))
			return true;
		c += n + (nl != NULL);
	}
	return false;
}

/*
 * Keeps the executable lines of maps TEXT not seen before. A process that exits before the
 * session ends has no end-of-session maps, and one that exec'd has start maps of its old image:
 * these lines are what the report resolves its memory syscalls' callers against.
 */
static void code_maps_add(struct up_proc *p, const char *text)
{
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n'), *perms = strchr(l, ' ');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		char *nc;

		if (perms && perms - l + 4 < (ptrdiff_t)n && perms[3] == 'x' &&
		    !code_maps_have(p, l, n)) {
			nc = realloc(p->code_maps, p->code_len + n + 2);
			if (!nc)
				return;
			memcpy(nc + p->code_len, l, n);
			nc[p->code_len + n] = '\n';
			nc[p->code_len + n + 1] = 0;
			p->code_maps = nc;
			p->code_len += n + 1;
		}
		l += n + (nl != NULL);
	}
}

static void scan_proc(struct uprobes *up, struct up_proc *p)
{
	char *text;
	struct vmas vm;

	if (p->gone)
		return;
	text = maps_read(p->pid);
	if (!text) {
		p->gone = true;
		detach_proc(p, "process exited");
		return;
	}
	if (up->maps_on)
		code_maps_add(p, text);
	if (!vmas_parse(&vm, text)) {
		if (up->alloc_on && !p->alloc_done)
			scan_allocator(up, p, text, &vm);
		if (up->cuda_on)
			scan_cuda(up, p, &vm);
		vmas_free(&vm);
	}
	free(text);
}

static struct up_proc *proc_get(struct uprobes *up, int pid, bool create)
{
	struct up_proc *np;

	for (int i = 0; i < up->nprocs; i++)
		if (up->procs[i].pid == pid && !up->procs[i].gone)
			return &up->procs[i];
	if (!create)
		return NULL;
	np = realloc(up->procs, (up->nprocs + 1) * sizeof(*np));
	if (!np)
		return NULL;
	up->procs = np;
	np = &up->procs[up->nprocs++];
	memset(np, 0, sizeof(*np));
	np->pid = pid;
	return np;
}

int uprobes_open(struct uprobes **out, struct session *s)
{
	struct uprobes *up = calloc(1, sizeof(*up));
	struct bpf_map *targets = s->skel->maps.targets;
	__u32 key, *prev = NULL;

	*out = up;
	if (!up)
		return -ENOMEM;
	up->s = s;
	up->alloc_on = probe_plan_active(&s->plan, "alloc_calls");
	up->alloc_slow = s->opts.alloc_mode == FL_ALLOC_SLOW;
	up->cuda_on = probe_plan_active(&s->plan, "cuda_pinned");
	up->maps_on = probe_plan_active(&s->plan, "alloc_syscalls");
	up->alloc_entry = s->skel->progs.fl_alloc_entry;
	up->alloc_ret = s->skel->progs.fl_alloc_ret;
	up->cuda_entry = s->skel->progs.fl_cuda_entry;
	up->cuda_ret = s->skel->progs.fl_cuda_ret;
	if (!up_active(up))
		return 0;
	if (up->alloc_on) /* a failure is said and leaves the latencies uncorrected */
		alloc_calib_run(s->skel, &up->calib);
	while (!bpf_map__get_next_key(targets, prev, &key, sizeof(key))) {
		proc_get(up, key, true);
		prev = &key;
	}
	for (int i = 0; i < up->nprocs; i++)
		scan_proc(up, &up->procs[i]);
	up->last_scan_ns = clock_ns(CLOCK_MONOTONIC);
	return 0;
}

void uprobes_poll(struct uprobes *up)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	if (!up_active(up) || now - up->last_scan_ns < UPROBES_RESCAN_MS * 1000000ull)
		return;
	up->last_scan_ns = now;
	for (int i = 0; i < up->nprocs; i++) {
		struct up_proc *p = &up->procs[i];

		if (!p->gone && kill(p->pid, 0) && errno == ESRCH) {
			p->gone = true;
			detach_proc(p, "process exited");
		}
		scan_proc(up, p);
	}
}

void uprobes_on_proc(struct uprobes *up, const struct proc_ev *e)
{
	struct up_proc *p;

	if (!up_active(up))
		return;
	switch (e->kind) {
	case FL_PROC_FORK:
		p = proc_get(up, e->pid, true);
		if (p)
			scan_proc(up, p);
		break;
	case FL_PROC_EXEC:
		p = proc_get(up, e->pid, true);
		if (!p)
			break;
		p->alloc_done = false;
		p->exec_pending = true;
		up->last_scan_ns =
		    0; /* look again at the next poll, when the libraries are mapped */
		scan_proc(up, p);
		break;
	case FL_PROC_EXIT:
		p = proc_get(up, e->pid, false);
		if (p) {
			detach_proc(p, "process exited");
			p->gone = true;
		}
		break;
	}
}

void uprobes_calibrate_again(struct uprobes *up)
{
	if (up && up->alloc_on && up->calib.done)
		alloc_calib_run(up->s->skel, &up->calib);
}

void uprobes_detach(struct uprobes *up)
{
	for (int i = 0; up && i < up->nprocs; i++)
		detach_proc(&up->procs[i], "session ended");
}

/* --- register calls: the huge-page share of the range, walked off the consumer thread ------ */

static bool is_register(const struct fl_cuda *e)
{
	return e->func == FL_CF_HOST_REGISTER || e->func == FL_CF_CU_HOST_REGISTER;
}

void uprobes_fill_cuda(struct fl_cuda *e)
{
	int64_t hb;

	if (!is_register(e))
		return;
	hb = huge_backed_bytes(e->pid, e->ptr, e->size);
	/* gone (the caller unmapped it before we looked) or unreadable: unknown, not 0% */
	e->huge_bytes = hb >= 0 ? (uint64_t)hb : FL_HUGE_UNKNOWN;
}

/*
 * The ring-buffer consumer never waits on the walk: register calls go to a worker thread through
 * a bounded FIFO and come back, measured, to be written by the consumer (uprobes_huge_emit). The
 * reader sorts pinned calls by time, so writing one later changes nothing. A call that finds the
 * queue full is written at once as FL_HUGE_BUSY.
 */
enum { JOB_QUEUED = 1, JOB_RUNNING, JOB_DONE };

struct huge_worker {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stop;
	struct {
		struct fl_cuda ev;
		int state;
	} q[HUGE_QUEUE];
	unsigned int head, n; /* the oldest job; jobs queued, running or done */
};

static void *huge_thread(void *arg)
{
	struct huge_worker *hw = arg;

	pthread_mutex_lock(&hw->lock);
	for (;;) {
		unsigned int i, j = HUGE_QUEUE;
		struct fl_cuda ev;
		int64_t hb;

		for (i = 0; i < hw->n && j == HUGE_QUEUE; i++)
			if (hw->q[(hw->head + i) % HUGE_QUEUE].state == JOB_QUEUED)
				j = (hw->head + i) % HUGE_QUEUE;
		if (atomic_load(&hw->stop))
			break;
		if (j == HUGE_QUEUE) {
			pthread_cond_wait(&hw->cond, &hw->lock);
			continue;
		}
		hw->q[j].state = JOB_RUNNING;
		ev = hw->q[j].ev;
		pthread_mutex_unlock(&hw->lock);
		hb = huge_backed_bytes_until(ev.pid, ev.ptr, ev.size, &hw->stop);
		pthread_mutex_lock(&hw->lock);
		hw->q[j].ev.huge_bytes = hb >= 0 ? (uint64_t)hb : FL_HUGE_UNKNOWN;
		hw->q[j].state = JOB_DONE;
	}
	pthread_mutex_unlock(&hw->lock);
	return NULL;
}

static struct huge_worker *huge_worker_get(struct uprobes *up)
{
	struct huge_worker *hw = up->huge;

	if (hw)
		return hw->started ? hw : NULL;
	hw = up->huge = calloc(1, sizeof(*hw));
	if (!hw)
		return NULL;
	pthread_mutex_init(&hw->lock, NULL);
	pthread_cond_init(&hw->cond, NULL);
	atomic_init(&hw->stop, false);
	hw->started = !pthread_create(&hw->thread, NULL, huge_thread, hw);
	if (!hw->started)
		fl_info("no thread for the huge-page share of pinned ranges: measured in line");
	return hw->started ? hw : NULL;
}

/* Queues a register call; false when it must be written now (COPY filled in). */
static bool huge_enqueue(struct uprobes *up, struct fl_cuda *copy)
{
	struct huge_worker *hw = huge_worker_get(up);
	bool queued = false;

	if (!hw) {
		uprobes_fill_cuda(copy);
		return false;
	}
	pthread_mutex_lock(&hw->lock);
	if (hw->n < HUGE_QUEUE && !atomic_load(&hw->stop)) {
		unsigned int j = (hw->head + hw->n++) % HUGE_QUEUE;

		hw->q[j].ev = *copy;
		hw->q[j].state = JOB_QUEUED;
		queued = true;
		pthread_cond_signal(&hw->cond);
	}
	pthread_mutex_unlock(&hw->lock);
	if (!queued) {
		copy->huge_bytes = FL_HUGE_BUSY;
		up->huge_busy++;
	}
	return queued;
}

void uprobes_huge_emit(struct uprobes *up, bool finish, uprobes_emit_fn emit, void *ctx)
{
	struct huge_worker *hw = up ? up->huge : NULL;

	if (!hw)
		return;
	if (finish && hw->started) {
		/* a walk in progress gives up: that call's share is unknown */
		pthread_mutex_lock(&hw->lock);
		atomic_store(&hw->stop, true);
		pthread_cond_signal(&hw->cond);
		pthread_mutex_unlock(&hw->lock);
		pthread_join(hw->thread, NULL);
		hw->started = false;
	}
	for (;;) {
		struct fl_cuda ev;

		pthread_mutex_lock(&hw->lock);
		if (!hw->n || (!finish && hw->q[hw->head].state != JOB_DONE)) {
			pthread_mutex_unlock(&hw->lock);
			break;
		}
		ev = hw->q[hw->head].ev;
		if (hw->q[hw->head].state != JOB_DONE)
			ev.huge_bytes = FL_HUGE_UNKNOWN; /* the session ended first */
		hw->head = (hw->head + 1) % HUGE_QUEUE;
		hw->n--;
		pthread_mutex_unlock(&hw->lock);
		emit(ctx, &ev, sizeof(ev));
	}
}

static void huge_worker_free(struct uprobes *up)
{
	struct huge_worker *hw = up->huge;

	if (!hw)
		return;
	if (hw->started) {
		atomic_store(&hw->stop, true);
		pthread_mutex_lock(&hw->lock);
		pthread_cond_signal(&hw->cond);
		pthread_mutex_unlock(&hw->lock);
		pthread_join(hw->thread, NULL);
	}
	pthread_mutex_destroy(&hw->lock);
	pthread_cond_destroy(&hw->cond);
	free(hw);
	up->huge = NULL;
}

void uprobes_free(struct uprobes *up)
{
	if (!up)
		return;
	huge_worker_free(up);
	for (int i = 0; i < up->nprocs; i++) {
		detach_proc(&up->procs[i], "session ended");
		for (int k = 0; k < up->procs[i].nlibs; k++)
			free(up->procs[i].libs[k].path);
		free(up->procs[i].libs);
		free(up->procs[i].code_maps);
	}
	free(up->procs);
	free(up);
}

void *uprobes_on_event(struct uprobes *up, void *data, size_t size, struct fl_cuda *copy)
{
	const struct fl_hdr *h = data;
	struct proc_ev pe;

	if (h->type == FL_EV_PROC) {
		if (proc_ev_decode(data, size, &pe))
			uprobes_on_proc(up, &pe);
	} else if (h->type == FL_EV_CUDA && size == sizeof(*copy)) {
		/* the ring buffer is mapped read-only: fill in a copy */
		memcpy(copy, data, sizeof(*copy));
		if (is_register(copy) && huge_enqueue(up, copy))
			return NULL;
		return copy;
	}
	return data;
}
