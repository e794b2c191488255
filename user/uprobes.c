// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "faultline.skel.h"
#include "jw.h"
#include "procmaps.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"

#define UP_MAX_SYMS 20
#define HUGE_QUEUE 16
#define DEFAULT_SLOW_NS 50000

enum lib_kind { LIB_ALLOC, LIB_CUDART, LIB_CUDA };

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
	{ "malloc", FL_AF_MALLOC, W_STD },
	{ "calloc", FL_AF_CALLOC, W_STD },
	{ "realloc", FL_AF_REALLOC, W_STD },
	{ "free", FL_AF_FREE, W_STD },
	{ "posix_memalign", FL_AF_POSIX_MEMALIGN, W_STD },
	{ "memalign", FL_AF_MEMALIGN, W_STD },
	{ "aligned_alloc", FL_AF_ALIGNED_ALLOC, W_STD },
	{ "mallocx", FL_AF_MALLOCX, W_JE },
	{ "rallocx", FL_AF_RALLOCX, W_JE },
	{ "sdallocx", FL_AF_SDALLOCX, W_JE },
	{ "dallocx", FL_AF_DALLOCX, W_JE },
	{ "tc_malloc", FL_AF_MALLOC, W_TC },
	{ "tc_calloc", FL_AF_CALLOC, W_TC },
	{ "tc_realloc", FL_AF_REALLOC, W_TC },
	{ "tc_free", FL_AF_FREE, W_TC },
	{ "tc_posix_memalign", FL_AF_POSIX_MEMALIGN, W_TC },
	{ "tc_memalign", FL_AF_MEMALIGN, W_TC },
};

static const struct want cudart_wants[] = {
	{ "cudaHostRegister", FL_CF_HOST_REGISTER },
	{ "cudaHostUnregister", FL_CF_HOST_UNREGISTER },
	{ "cudaHostAlloc", FL_CF_HOST_ALLOC },
	{ "cudaMallocHost", FL_CF_MALLOC_HOST },
	{ "cudaFreeHost", FL_CF_FREE_HOST },
};

static const struct want cuda_wants[] = {
	{ "cuMemHostRegister_v2", FL_CF_CU_HOST_REGISTER },
	{ "cuMemHostAlloc", FL_CF_CU_HOST_ALLOC },
	{ "cuMemAllocHost_v2", FL_CF_CU_ALLOC_HOST },
	{ "cuMemHostUnregister", FL_CF_CU_HOST_UNREGISTER },
	{ "cuMemFreeHost", FL_CF_CU_FREE_HOST },
};

struct sym_state {
	const char *name;
	unsigned int fn;
	uint64_t offset;
	bool probed;
	char status[112];
};

struct up_lib {
	char *path; /* as the target's maps name it */
	uint64_t inode, dev;
	enum lib_kind kind;
	const char *allocator; /* LIB_ALLOC: "glibc", "jemalloc"... */
	struct sym_state syms[UP_MAX_SYMS];
	int nsyms;
	struct bpf_link **links;
	int nlinks;
	uint64_t attached_ns;
	char detached[48]; /* why its probes are gone; "" while attached */
	char error[160];
};

struct up_proc {
	int pid;
	bool gone;
	bool alloc_done; /* the allocator of the current image is probed (or was tried) */
	bool exec_pending; /* exec'd: probes kept (same files stay probed), stale ones pruned later */
	struct up_lib *libs;
	int nlibs;
	char *code_maps; /* every executable mapping seen, as maps lines: names syscall callers */
	size_t code_len;
};

struct uprobes {
	struct session *s;
	bool alloc_on, cuda_on;
	bool maps_on; /* --alloc=lite: keep each process's code mappings for the caller column */
	struct bpf_program *alloc_entry, *alloc_ret, *cuda_entry, *cuda_ret;
	struct up_proc *procs;
	int nprocs;
	uint64_t last_scan_ns;
	struct huge_worker *huge; /* started at the first register call */
	uint64_t huge_busy;       /* register calls written as FL_HUGE_BUSY */
};

static const char *const alloc_fn_names[FL_AF_MAX] = {
	[FL_AF_MALLOC] = "malloc", [FL_AF_CALLOC] = "calloc", [FL_AF_REALLOC] = "realloc",
	[FL_AF_FREE] = "free", [FL_AF_POSIX_MEMALIGN] = "posix_memalign",
	[FL_AF_ALIGNED_ALLOC] = "aligned_alloc", [FL_AF_MEMALIGN] = "memalign",
	[FL_AF_MALLOCX] = "mallocx", [FL_AF_RALLOCX] = "rallocx", [FL_AF_SDALLOCX] = "sdallocx",
	[FL_AF_DALLOCX] = "dallocx",
};

static const char *const cuda_fn_names[FL_CF_MAX] = {
	[FL_CF_HOST_REGISTER] = "cudaHostRegister", [FL_CF_HOST_UNREGISTER] = "cudaHostUnregister",
	[FL_CF_HOST_ALLOC] = "cudaHostAlloc", [FL_CF_MALLOC_HOST] = "cudaMallocHost",
	[FL_CF_FREE_HOST] = "cudaFreeHost", [FL_CF_CU_HOST_REGISTER] = "cuMemHostRegister_v2",
	[FL_CF_CU_HOST_ALLOC] = "cuMemHostAlloc", [FL_CF_CU_ALLOC_HOST] = "cuMemAllocHost_v2",
	[FL_CF_CU_HOST_UNREGISTER] = "cuMemHostUnregister", [FL_CF_CU_FREE_HOST] = "cuMemFreeHost",
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
	return mode == FL_ALLOC_OFF ? "off" : mode == FL_ALLOC_FULL ? "full" : "lite";
}

static const char *kind_name(enum lib_kind k)
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
		probe_plan_disable(p, "alloc_calls", "--alloc=lite: no per-call uprobes (--alloc=full)");
	}
	if (o->cuda_mode == FL_CUDA_OFF)
		probe_plan_disable(p, "cuda_pinned", "turned off with --cuda=off");
	if (o->all) {
		probe_plan_disable(p, "alloc_calls", "uprobes are attached per process: not with -a");
		probe_plan_disable(p, "cuda_pinned", "uprobes are attached per process: not with -a");
	}
}

void uprobes_configure(struct faultline_bpf *skel, const struct session_opts *o)
{
	skel->rodata->alloc_slow_ns = o->alloc_slow_ns ? o->alloc_slow_ns : DEFAULT_SLOW_NS;
}

/* --- ELF symbols ------------------------------------------------------------------------ */

/* File offset of virtual address VADDR: the executable PT_LOAD segment that holds it. */
static uint64_t vaddr_to_offset(Elf *e, uint64_t vaddr)
{
	size_t n;

	if (elf_getphdrnum(e, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

/* "cudaHostRegister@@libcudart.so.13" matches "cudaHostRegister". */
static bool sym_matches(const char *sym, const char *want)
{
	size_t n = strlen(want);

	return !strncmp(sym, want, n) && (sym[n] == 0 || sym[n] == '@');
}

/*
 * One symbol table: sets vaddr of each wanted name defined as a function here. A default
 * version (not hidden in .gnu.version, or "@@" in a static table) wins over an old one.
 */
static void scan_symtab(Elf *e, Elf_Scn *scn, Elf_Data *versym, struct sym_state *ss, int n,
			uint64_t *vaddr, bool *is_default, bool *ifunc)
{
	GElf_Shdr sh;
	Elf_Data *data = elf_getdata(scn, NULL);

	if (!gelf_getshdr(scn, &sh) || !data || !sh.sh_entsize)
		return;
	for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym sym;
		const char *name;
		GElf_Versym vs = 0;
		bool dflt;

		if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC)
			continue;
		name = elf_strptr(e, sh.sh_link, sym.st_name);
		if (!name)
			continue;
		if (versym)
			gelf_getversym(versym, i, &vs);
		dflt = !(vs & 0x8000) && (!strchr(name, '@') || strstr(name, "@@"));
		for (int k = 0; k < n; k++) {
			if (!sym_matches(name, ss[k].name) || (vaddr[k] && (is_default[k] || !dflt)))
				continue;
			vaddr[k] = sym.st_value;
			is_default[k] = dflt;
			ifunc[k] = GELF_ST_TYPE(sym.st_info) == STT_GNU_IFUNC;
		}
	}
}

/* Resolves every ss[].name in the ELF file FD to a file offset; sets status for the absent. */
static int elf_resolve(int fd, struct sym_state *ss, int n, char *err, size_t errlen)
{
	uint64_t vaddr[UP_MAX_SYMS] = {};
	bool dflt[UP_MAX_SYMS] = {}, ifunc[UP_MAX_SYMS] = {};
	Elf_Scn *scn = NULL, *dynsym = NULL, *symtab = NULL;
	Elf_Data *versym = NULL;
	int ret = 0;
	Elf *e;

	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		snprintf(err, errlen, "not an ELF file: %s", elf_errmsg(-1));
		ret = -EINVAL;
		goto cleanup;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
		else if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_GNU_versym)
			versym = elf_getdata(scn, NULL);
	}
	if (dynsym)
		scan_symtab(e, dynsym, versym, ss, n, vaddr, dflt, ifunc);
	if (symtab)
		scan_symtab(e, symtab, NULL, ss, n, vaddr, dflt, ifunc);
	for (int k = 0; k < n; k++) {
		if (!vaddr[k]) {
			snprintf(ss[k].status, sizeof(ss[k].status), "not found: no such function in %s",
				 dynsym || symtab ? "the symbol tables" : "the file (no symbol table)");
			continue;
		}
		if (ifunc[k]) {
			snprintf(ss[k].status, sizeof(ss[k].status),
				 "not probed: an ifunc (its address is the resolver)");
			continue;
		}
		ss[k].offset = vaddr_to_offset(e, vaddr[k]);
		if (!ss[k].offset)
			snprintf(ss[k].status, sizeof(ss[k].status),
				 "not found: address 0x%llx is in no executable segment",
				 (unsigned long long)vaddr[k]);
	}
cleanup:
	if (e)
		elf_end(e);
	return ret;
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

/* Resolves and attaches every wanted symbol of L; two names at one address are probed once. */
static void probe_lib(struct uprobes *up, int pid, struct up_lib *l)
{
	char path[PATH_MAX + 32];
	int probed = 0, fd;

	if (l->kind == LIB_ALLOC)
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
	if (elf_resolve(fd, l->syms, l->nsyms, l->error, sizeof(l->error))) {
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
	l->attached_ns = clock_ns(CLOCK_MONOTONIC);
	fprintf(stderr, "faultline: pid %d: probed %d functions in %s (%s%s%s)\n", pid, probed,
		fl_esc(l->path), kind_name(l->kind), l->kind == LIB_ALLOC ? " " : "",
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
	up->cuda_on = probe_plan_active(&s->plan, "cuda_pinned");
	up->maps_on = probe_plan_active(&s->plan, "alloc_syscalls");
	up->alloc_entry = s->skel->progs.fl_alloc_entry;
	up->alloc_ret = s->skel->progs.fl_alloc_ret;
	up->cuda_entry = s->skel->progs.fl_cuda_entry;
	up->cuda_ret = s->skel->progs.fl_cuda_ret;
	if (!up_active(up))
		return 0;
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
		up->last_scan_ns = 0; /* look again at the next poll, when the libraries are mapped */
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

void uprobes_detach(struct uprobes *up)
{
	for (int i = 0; up && i < up->nprocs; i++)
		detach_proc(&up->procs[i], "session ended");
}

/* --- huge pages behind a range ------------------------------------------------------------ */

#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)
#define KPF_HUGE (1ull << 17)
#define KPF_THP (1ull << 22)
#define HUGE_BLOCK (2ull << 20)

/*
 * The range is the target's to choose (cudaHostRegister(ptr, 1 << 62) is a valid call that fails):
 * only its parts that /proc/PID/maps shows mapped are walked, at most HUGE_MAX_SAMPLES blocks of
 * them (beyond that every k-th block stands for k), and the walk gives up when *STOP is set.
 */
#define HUGE_MAX_SAMPLES 65536

struct huge_walk {
	int pm, kf;
	uint64_t stride, k; /* k: blocks passed; every stride-th is read */
	unsigned int reads;
	bool present;
	int64_t total;
};

static uint64_t blocks_of(uint64_t s, uint64_t e)
{
	return (e - 1) / HUGE_BLOCK - s / HUGE_BLOCK + 1;
}

static int huge_segment(struct huge_walk *hw, uint64_t b, uint64_t end, const atomic_bool *stop)
{
	while (b < end) {
		uint64_t next = (b & ~(HUGE_BLOCK - 1)) + HUGE_BLOCK, ent = 0, flags = 0;
		uint64_t skip = hw->k % hw->stride ? hw->stride - hw->k % hw->stride : 0;

		if (skip) {
			/* on to the next sampled block, without looking at those between */
			if (skip >= blocks_of(b, end)) {
				hw->k += blocks_of(b, end);
				return 0;
			}
			hw->k += skip;
			b = (b & ~(HUGE_BLOCK - 1)) + skip * HUGE_BLOCK;
			continue;
		}
		hw->k++;
		if (stop && !(++hw->reads & 255) &&
		    atomic_load_explicit(stop, memory_order_relaxed))
			return -EINTR;
		if (next > end || next < b)
			next = end;
		if (pread(hw->pm, &ent, 8, b / (uint64_t)sysconf(_SC_PAGESIZE) * 8) == 8 &&
		    (ent & PM_PRESENT))
			hw->present = true;
		if ((ent & PM_PRESENT) && (ent & PM_PFN_MASK) &&
		    pread(hw->kf, &flags, 8, (ent & PM_PFN_MASK) * 8) == 8 &&
		    (flags & (KPF_THP | KPF_HUGE)))
			hw->total += (next - b) * hw->stride;
		b = next;
	}
	return 0;
}

/* Per 2 MiB block of the mapped parts of the range: its first page's flags say whether the
 * block is a huge page. -ENODATA when no block's first page is present (the range was unmapped
 * before we looked), -EINTR when STOP was set. */
static int64_t huge_walk(int pid, uint64_t addr, uint64_t len, const atomic_bool *stop)
{
	struct huge_walk hw = {.stride = 1};
	uint64_t end = addr + len, blocks = 0, mapped = 0;
	struct vmas vm;
	char path[64], *text;
	int err = 0;

	if (!len || end < addr)
		return 0;
	text = maps_read(pid);
	if (!text)
		return -errno;
	err = vmas_parse(&vm, text);
	free(text);
	if (err)
		return err;
	for (size_t i = 0; i < vm.n; i++) {
		uint64_t s = vm.v[i].start > addr ? vm.v[i].start : addr;
		uint64_t e = vm.v[i].end < end ? vm.v[i].end : end;

		if (s < e) {
			blocks += blocks_of(s, e);
			mapped += e - s;
		}
	}
	if (blocks > HUGE_MAX_SAMPLES)
		hw.stride = (blocks + HUGE_MAX_SAMPLES - 1) / HUGE_MAX_SAMPLES;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	hw.pm = open(path, O_RDONLY | O_CLOEXEC);
	hw.kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (hw.pm < 0 || hw.kf < 0)
		err = -errno;
	for (size_t i = 0; !err && i < vm.n; i++) {
		uint64_t s = vm.v[i].start > addr ? vm.v[i].start : addr;
		uint64_t e = vm.v[i].end < end ? vm.v[i].end : end;

		if (s < e)
			err = huge_segment(&hw, s, e, stop);
	}
	if (hw.kf >= 0)
		close(hw.kf);
	if (hw.pm >= 0)
		close(hw.pm);
	vmas_free(&vm);
	if (err)
		return err;
	if (!hw.present)
		return -ENODATA;
	/* a sampled estimate never exceeds what is mapped */
	return hw.total > (int64_t)mapped ? (int64_t)mapped : hw.total;
}

int64_t huge_backed_bytes(int pid, uint64_t addr, uint64_t len)
{
	return huge_walk(pid, addr, len, NULL);
}

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
		hb = huge_walk(ev.pid, ev.ptr, ev.size, &hw->stop);
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

/* --- trailer ------------------------------------------------------------------------------ */

static void trailer_functions(struct uprobes *up, struct jw *w)
{
	struct faultline_bpf *skel = up->s->skel;
	int ncpu = up->s->ncpus;
	struct fl_alloc_stat *st = calloc(ncpu, sizeof(*st));
	uint64_t *h = calloc(ncpu, sizeof(*h));

	jw_key(w, "functions");
	jw_arr_open(w);
	for (__u32 fn = 0; st && h && fn < FL_AF_MAX; fn++) {
		struct fl_alloc_stat sum = {};

		if (bpf_map__lookup_elem(skel->maps.alloc_stats, &fn, sizeof(fn), st,
					 sizeof(*st) * ncpu, 0))
			continue;
		for (int c = 0; c < ncpu; c++) {
			sum.count += st[c].count;
			sum.total_ns += st[c].total_ns;
			sum.bytes += st[c].bytes;
			if (st[c].max_ns > sum.max_ns)
				sum.max_ns = st[c].max_ns;
		}
		if (!sum.count)
			continue;
		jw_obj_open(w);
		jw_kstr(w, "func", alloc_fn_name(fn));
		jw_ku64(w, "count", sum.count);
		jw_ku64(w, "total_ns", sum.total_ns);
		jw_ku64(w, "max_ns", sum.max_ns);
		jw_ku64(w, "bytes", sum.bytes);
		jw_key(w, "hist");
		jw_arr_open(w);
		for (__u32 slot = 0; slot < FL_HIST_SLOTS; slot++) {
			__u32 idx = fn * FL_HIST_SLOTS + slot;
			uint64_t n = 0;

			if (!bpf_map__lookup_elem(skel->maps.alloc_hist, &idx, sizeof(idx), h,
						  sizeof(*h) * ncpu, 0))
				for (int c = 0; c < ncpu; c++)
					n += h[c];
			jw_u64(w, n);
		}
		jw_arr_close(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	free(st);
	free(h);
}

/* struct alloc_thread in bpf/alloc.bpf.c: pid, depth, 4 frames of 32 bytes, 16 calls, total_ns. */
struct alloc_thread_val {
	__u32 pid;
	__u32 depth;
	__u64 frames[4 * 4];
	__u64 calls[16];
	__u64 total_ns;
};

static void trailer_threads(struct uprobes *up, struct jw *w)
{
	struct bpf_map *map = up->s->skel->maps.alloc_threads;
	__u32 key, *prev = NULL;
	int n = 0;

	jw_key(w, "threads");
	jw_arr_open(w);
	if (bpf_map__value_size(map) != sizeof(struct alloc_thread_val))
		goto out;
	while (n < 256 && !bpf_map__get_next_key(map, prev, &key, sizeof(key))) {
		struct alloc_thread_val v;
		uint64_t calls = 0;

		prev = &key;
		if (bpf_map__lookup_elem(map, &key, sizeof(key), &v, sizeof(v), 0))
			continue;
		for (int f = 0; f < FL_AF_MAX; f++)
			calls += v.calls[f];
		if (!calls)
			continue;
		jw_obj_open(w);
		jw_ku64(w, "tid", key);
		jw_ku64(w, "pid", v.pid);
		jw_ku64(w, "calls", calls);
		jw_ku64(w, "total_ns", v.total_ns);
		jw_key(w, "by_func");
		jw_obj_open(w);
		for (int f = 0; f < FL_AF_MAX; f++)
			if (v.calls[f])
				jw_ku64(w, alloc_fn_name(f), v.calls[f]);
		jw_obj_close(w);
		jw_obj_close(w);
		n++;
	}
out:
	jw_arr_close(w);
}

static void trailer_lib(const struct up_lib *l, struct jw *w)
{
	jw_obj_open(w);
	jw_kstr(w, "path", l->path);
	jw_kstr(w, "kind", kind_name(l->kind));
	jw_kstr(w, "allocator", l->kind == LIB_ALLOC ? l->allocator : NULL);
	jw_ku64(w, "attached_ns", l->attached_ns);
	jw_kstr(w, "detached", l->detached[0] ? l->detached : NULL);
	jw_kstr(w, "error", l->error[0] ? l->error : NULL);
	jw_key(w, "symbols");
	jw_arr_open(w);
	for (int k = 0; k < l->nsyms; k++) {
		jw_obj_open(w);
		jw_kstr(w, "name", l->syms[k].name);
		jw_kstr(w, "func", l->kind == LIB_ALLOC ? alloc_fn_name(l->syms[k].fn) :
							   cuda_fn_name(l->syms[k].fn));
		jw_kbool(w, "probed", l->syms[k].probed);
		jw_kstr(w, "status", l->syms[k].status[0] ? l->syms[k].status : "not probed");
		jw_ku64(w, "offset", l->syms[k].offset);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

void uprobes_trailer(struct uprobes *up, struct jw *w)
{
	const struct session_opts *o;

	if (!up) {
		jw_null(w);
		return;
	}
	o = &up->s->opts;
	jw_obj_open(w);
	jw_kstr(w, "mode", alloc_mode_name(o->alloc_mode));
	jw_kstr(w, "cuda", o->cuda_mode == FL_CUDA_OFF ? "off" : "auto");
	jw_ku64(w, "slow_ns", o->alloc_slow_ns ? o->alloc_slow_ns : DEFAULT_SLOW_NS);
	if (up->huge_busy)
		jw_ku64(w, "huge_busy", up->huge_busy);
	if (up->alloc_on) {
		trailer_functions(up, w);
		trailer_threads(up, w);
	}
	jw_key(w, "processes");
	jw_arr_open(w);
	for (int i = 0; i < up->nprocs; i++) {
		const struct up_proc *p = &up->procs[i];

		jw_obj_open(w);
		jw_ku64(w, "pid", p->pid);
		if (up->maps_on)
			jw_kstr(w, "code_maps", p->code_maps ? p->code_maps : "");
		jw_key(w, "libraries");
		jw_arr_open(w);
		for (int k = 0; k < p->nlibs; k++)
			trailer_lib(&p->libs[k], w);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
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

/* --- options ------------------------------------------------------------------------------ */

/* "50us", "1ms", "0.5ms", "2000ns", "1s"; a bare number is microseconds. */
static int parse_ns(const char *s, uint64_t *out)
{
	uint64_t ns;

	if (parse_duration(s, 1000, 1, &ns) || ns > 3600000000000ull)
		return -EINVAL;
	*out = ns;
	return 0;
}

int uprobes_parse_opt(struct session_opts *o, const char *name, const char *arg)
{
	if (!strcmp(name, "alloc")) {
		if (!strcmp(arg, "lite"))
			o->alloc_mode = FL_ALLOC_LITE;
		else if (!strcmp(arg, "full"))
			o->alloc_mode = FL_ALLOC_FULL;
		else if (!strcmp(arg, "off"))
			o->alloc_mode = FL_ALLOC_OFF;
		else {
			fl_err("--alloc '%s': expected lite, full or off", arg);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(name, "cuda")) {
		if (strcmp(arg, "auto") && strcmp(arg, "off")) {
			fl_err("--cuda '%s': expected auto or off", arg);
			return -EINVAL;
		}
		o->cuda_mode = strcmp(arg, "off") ? FL_CUDA_AUTO : FL_CUDA_OFF;
		return 0;
	}
	if (parse_ns(arg, &o->alloc_slow_ns) || !o->alloc_slow_ns) {
		fl_err("--alloc-slow '%s': expected a duration above zero such as 50us, 1ms or 2000ns",
		       arg);
		return -EINVAL;
	}
	return 0;
}

void *uprobes_on_event(struct uprobes *up, void *data, size_t size,
		       struct fl_cuda *copy)
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
