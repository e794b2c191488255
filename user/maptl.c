// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The mapping timeline (see maptl.h). Events come in the order the BPF programs submitted them:
 * an mmap's event is submitted at the syscall's exit, before any fault on what it mapped, and a
 * munmap's before any later mmap reuses the address, so a fault looked up when it is read finds
 * the mapping that held its address then.
 */
#include "maptl.h"
#include "model.h"
#include "procev.h"
#include "util.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* What a symbolizer needs of a mapping: its file (0 ino: anonymous), where, and its prot. */
struct tl_file {
	uint64_t off_base; /* file offset of ADDR is ADDR + off_base: splits keep it */
	uint64_t ino;
	uint32_t kdev;
	uint8_t prot;	  /* PROT_READ | PROT_WRITE | PROT_EXEC as mapped */
	const char *path; /* a maps list's name ("[vdso]", a path), "" anon; NULL: by ino */
};

/* One mapping of a process's address space: [start, end), counted against regions[reg]. */
struct tl_map {
	uint64_t start, end;
	uint32_t reg;
	uint64_t born_ns; /* the mmap (brk, mremap) that made it; 0: before the session */
	struct tl_file f;
};

/* A piece of a mapping that went (munmap, replaced, exec): for faults read out of order. */
struct tl_gone {
	uint32_t pid, reg;
	uint64_t start, end, born_ns, dead_ns;
	struct tl_file f;
};

/* A file's full path, from a maps list that showed it (mmap events only give the basename). */
struct tl_path {
	uint32_t kdev;
	uint64_t ino;
	char *path;
};

struct tl_proc {
	int pid;
	struct tl_map *v; /* sorted by start, not overlapping */
	size_t n, cap;
	uint64_t brk_start; /* the heap's start, 0 until known */
	uint64_t brk_end;   /* the break the last brk call left */
	bool execd;	    /* exec'd during the session: the kernel mapped its new image */
	bool fresh;	    /* as the start maps left it: no memory syscall seen yet */
	uint64_t exec_ts;   /* the exec the start maps were already of (record -- CMD) */
	uint64_t last_exec; /* its last exec's event during the session, 0: none */
	char comm[16];	    /* the program its last exec ran (the exec event's comm) */
};

/* A fault not placed when it was read: tried against the end maps at the finish. */
struct tl_pending {
	uint64_t ts_ns;
	uint32_t pid;
	uint64_t addr;
	bool fault, kernel, write, major;
};

/* A file an mmap event named (dev, inode, basename). */
struct tl_name {
	uint32_t kdev;
	uint64_t ino;
	char name[80];
};

/* An anonymous mmap region whose caller was in no mapping known then. */
struct tl_unres {
	int reg;
	uint32_t pid;
	uint64_t caller_ip, syscall_ip, len, ts_ns;
	uint16_t hflags; /* the mmap event's FL_F_MAP_* */
};

struct tl_exec_maps {
	uint32_t pid;
	uint64_t ts_ns;
	struct vmas maps;
};

struct maptl {
	uint64_t now; /* the time of the memory syscall or process event being read */
	struct tl_gone *gone;
	size_t ngone, cap_gone;
	struct tl_exec_maps *exec_maps;
	size_t nexec_maps;
	struct tl_unres *unres;
	size_t nunres, cap_unres;
	struct tl_proc *procs;
	size_t nprocs;
	struct tl_pending *pending;
	size_t npending, cap_pending;
	struct tl_name *names;
	size_t nnames, cap_names;
	struct file_stat *files;
	size_t nfiles, cap_files;
	struct tl_proc *last_proc; /* lookup cache: faults come in runs */
	size_t last_map;
	struct tl_path *paths;
	size_t npaths, cap_paths;
	struct tl_exec_maps *looks; /* periodic looks at the maps (trailer "maps_periodic") */
	size_t nlooks;
	bool finished; /* the gone pieces are sorted: maptl_vma_at may search them */
	struct tl_fork {
		uint32_t pid, parent;
		uint64_t ts_ns;
	} * forks; /* forks and execs (parent 0) seen: a child runs its parent's code until it
		    * execs */
	size_t nforks, cap_forks;
};

static struct maptl *tl_get(struct model *m)
{
	if (!m->maptl && !(m->maptl = calloc(1, sizeof(*m->maptl))))
		fl_nomem();
	return m->maptl;
}

/* The kernel's s_dev (major << 20 | minor) of a maps line's makedev(). */
static uint32_t kdev_of(uint64_t dev)
{
	return (major(dev) << 20) | (minor(dev) & 0xfffff);
}

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The region NAME, made on first use; its index, or -1 without memory. */
static int region_idx(struct model *m, const char *name, const char *kind)
{
	struct region_stat *r;

	for (size_t i = m->nregions; i-- > 0;)
		if (!strcmp(m->regions[i].name, name))
			return i;
	if (grow_array((void **)&m->regions, &m->cap_regions, m->nregions, sizeof(*m->regions), 32))
		return -1;
	r = &m->regions[m->nregions];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->name = strdup(name);
	if (!r->name) {
		fl_nomem();
		return -1;
	}
	return m->nregions++;
}

static void set_str(char **dst, const char *src)
{
	if (!*dst && src && src[0] && !(*dst = strdup(src)))
		fl_nomem();
}

/* The region of a mapping in a maps list (the start's or the end's). */
static int region_of_vma(struct model *m, const struct vma *v)
{
	/* an anonymous mapping known only from a maps list: its mmap was not seen */
	const char *name =
	    v->path[0] ? vma_region(v) : "anon (mapped before the session, or by an untraced call)";
	const char *kind = !v->path[0]			 ? "anon"
			   : !strcmp(v->path, "[heap]")	 ? "heap"
			   : !strcmp(v->path, "[stack]") ? "stack"
			   : v->path[0] == '['		 ? "special"
							 : "file";
	int i = region_idx(m, name, kind);

	if (i >= 0 && !strcmp(kind, "file")) {
		struct region_stat *r = &m->regions[i];

		set_str(&r->path, v->path);
		if (!r->ino) {
			r->kdev = kdev_of(v->dev);
			r->ino = v->inode;
		}
	}
	return i;
}

static struct file_stat *file_get(struct maptl *t, uint32_t kdev, uint64_t ino);

static const char *path_of(const struct maptl *t, uint32_t kdev, uint64_t ino)
{
	for (size_t i = t->npaths; i-- > 0;)
		if (t->paths[i].ino == ino && t->paths[i].kdev == kdev)
			return t->paths[i].path;
	return NULL;
}

/* The file (KDEV, INO) is at PATH (a maps list showed it; "": looked for in vain): for
 * maptl_vma_at. */
static void note_path(struct maptl *t, uint32_t kdev, uint64_t ino, const char *path)
{
	struct tl_path *x;

	if (path_of(t, kdev, ino) ||
	    grow_array((void **)&t->paths, &t->cap_paths, t->npaths, sizeof(*t->paths), 64))
		return;
	x = &t->paths[t->npaths];
	*x = (struct tl_path){kdev, ino, strdup(path)};
	if (!x->path) {
		fl_nomem();
		return;
	}
	t->npaths++;
}

/* A file mapping seen (maps list or mmap event): data files are listed even without faults. */
static void file_mapped(struct maptl *t, uint32_t kdev, uint64_t ino, uint64_t bytes, bool code,
			const char *path)
{
	struct file_stat *f = ino ? file_get(t, kdev, ino) : NULL;

	if (!f)
		return;
	if (bytes > f->mapped_bytes)
		f->mapped_bytes = bytes;
	f->code |= code;
	if (path && path[0] == '/') {
		set_str(&f->path, path);
		note_path(t, kdev, ino, path);
	}
}

static struct tl_proc *proc_find(struct maptl *t, int pid)
{
	if (t->last_proc && t->last_proc->pid == pid)
		return t->last_proc;
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

static struct tl_proc *proc_get(struct maptl *t, int pid)
{
	struct tl_proc *p = proc_find(t, pid), *n;

	if (p)
		return p;
	n = realloc(t->procs, (t->nprocs + 1) * sizeof(*n));
	if (!n) {
		fl_nomem();
		return NULL;
	}
	t->procs = n;
	t->last_proc = NULL;
	p = &t->procs[t->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

/* The index of the first mapping that ends after ADDR (n when none). */
static size_t map_lower(const struct tl_proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct tl_map *map_find(const struct tl_proc *p, uint64_t addr)
{
	size_t i = map_lower(p, addr);

	return i < p->n && p->v[i].start <= addr ? &p->v[i] : NULL;
}

/* The part of X within [start, end) is gone now (the event being read). */
static void add_gone(struct maptl *t, int pid, const struct tl_map *x, uint64_t start, uint64_t end)
{
	if (grow_array((void **)&t->gone, &t->cap_gone, t->ngone, sizeof(*t->gone), 1024))
		return;
	t->gone[t->ngone++] = (struct tl_gone){pid,
					       x->reg,
					       x->start > start ? x->start : start,
					       x->end < end ? x->end : end,
					       x->born_ns,
					       t->now,
					       x->f};
}

/* Takes [start, end) out of P's mappings; each region that lost some counts in UNMAPS. */
static void map_remove(struct model *m, struct tl_proc *p, uint64_t start, uint64_t end,
		       bool unmaps)
{
	size_t i = map_lower(p, start);

	while (i < p->n && p->v[i].start < end) {
		struct tl_map *x = &p->v[i];

		if (unmaps)
			m->regions[x->reg].unmaps++;
		add_gone(m->maptl, p->pid, x, start, end);
		x = &p->v[i];
		if (x->start < start && x->end > end) { /* a hole in the middle: split */
			struct tl_map tail = {end, x->end, x->reg, x->born_ns, x->f};

			if (grow_array((void **)&p->v, &p->cap, p->n, sizeof(*p->v), 64))
				return;
			x = &p->v[i];
			x->end = start;
			memmove(&p->v[i + 2], &p->v[i + 1], (p->n - i - 1) * sizeof(*p->v));
			p->v[i + 1] = tail;
			p->n++;
			return;
		}
		if (x->start < start) {
			x->end = start;
			i++;
		} else if (x->end > end) {
			x->start = end;
			return;
		} else {
			memmove(x, x + 1, (p->n - i - 1) * sizeof(*p->v));
			p->n--;
		}
	}
}

static void map_insert(struct model *m, struct tl_proc *p, uint64_t start, uint64_t end, int reg,
		       const struct tl_file *f)
{
	size_t i;

	if (reg < 0 || end <= start)
		return;
	map_remove(m, p, start, end, false); /* MAP_FIXED over older mappings replaces them */
	if (grow_array((void **)&p->v, &p->cap, p->n, sizeof(*p->v), 64))
		return;
	i = map_lower(p, start);
	memmove(&p->v[i + 1], &p->v[i], (p->n - i) * sizeof(*p->v));
	p->v[i] = (struct tl_map){start, end, reg, m->maptl->now, f ? *f : (struct tl_file){}};
	p->n++;
}

/* A maps line's "r-xp" as PROT_* bits. */
static uint8_t prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
}

void maptl_start_maps(struct model *m, int pid)
{
	struct maptl *t = tl_get(m);
	struct pid_maps *pm = NULL;
	struct tl_proc *p;

	for (size_t k = 0; k < m->nmaps; k++)
		if (m->maps[k].pid == pid)
			pm = &m->maps[k];
	if (!t || !pm || !(p = proc_get(t, pid)))
		return;
	p->n = 0;
	p->fresh = true;
	t->now = 0;
	for (size_t i = 0; i < pm->start.n; i++) {
		const struct vma *v = &pm->start.v[i];
		int reg = region_of_vma(m, v);

		if (reg >= 0)
			m->regions[reg].before = true;
		if (reg >= 0 && !strcmp(m->regions[reg].kind, "file"))
			file_mapped(t, kdev_of(v->dev), v->inode, v->end - v->start,
				    v->perms[2] == 'x', v->path);
		if (reg >= 0 && !strcmp(m->regions[reg].kind, "heap")) {
			p->brk_start = v->start;
			p->brk_end = v->end;
		}
		map_insert(m, p, v->start, v->end, reg,
			   &(struct tl_file){.off_base = v->offset - v->start,
					     .ino = v->inode,
					     .kdev = kdev_of(v->dev),
					     .prot = prot_of(v->perms),
					     .path = v->path});
	}
}

static void add_pending(struct maptl *t, uint64_t ts, uint32_t pid, uint64_t addr, bool fault,
			bool kernel, bool write, bool major)
{
	if (grow_array((void **)&t->pending, &t->cap_pending, t->npending, sizeof(*t->pending),
		       4096))
		return;
	t->pending[t->npending++] = (struct tl_pending){ts, pid, addr, fault, kernel, write, major};
}

static void count(struct model *m, int reg, bool fault, bool kernel, bool write, bool major)
{
	struct region_stat *r;

	if (reg < 0)
		return;
	r = &m->regions[reg];
	r->faults += fault;
	r->kernel += fault && kernel;
	r->write += fault && write;
	r->major += major;
}

/* The mapping holding PID's ADDR now, or NULL. */
static const struct tl_map *lookup_map(struct maptl *t, uint32_t pid, uint64_t addr)
{
	struct tl_proc *p = t->last_proc;
	const struct tl_map *x;

	if (p && p->pid == (int)pid && t->last_map < p->n) {
		x = &p->v[t->last_map];
		if (addr >= x->start && addr < x->end)
			return x;
	}
	p = proc_find(t, pid);
	if (!p || !(x = map_find(p, addr)))
		return NULL;
	t->last_proc = p;
	t->last_map = x - p->v;
	return x;
}

/* The region holding PID's ADDR now, or -1. */
static int lookup(struct maptl *t, uint32_t pid, uint64_t addr)
{
	const struct tl_map *x = lookup_map(t, pid, addr);

	return x ? (int)x->reg : -1;
}

void maptl_fault(struct model *m, const struct fl_fault *e)
{
	struct maptl *t = tl_get(m);
	bool kernel = e->h.flags & FL_F_KERNEL, write = e->h.flags & FL_F_WRITE;
	int reg;

	if (!t)
		return;
	reg = lookup(t, e->pid, e->addr);
	if (reg >= 0)
		count(m, reg, true, kernel, write, false);
	else
		add_pending(t, e->h.ts_ns, e->pid, e->addr, true, kernel, write, false);
}

/* Of LEFT addresses from ADDR on, STRIDE apart (a negative one wrapped), how many lie in X. */
static uint32_t run_in_map(const struct tl_map *x, uint64_t addr, uint64_t stride, uint32_t left)
{
	uint64_t k;

	if (!stride)
		return left;
	if (stride <= INT64_MAX)
		k = (x->end - 1 - addr) / stride + 1;
	else
		k = (addr - x->start) / -stride + 1;
	return k < left ? (uint32_t)k : left;
}

/*
 * A run's faults, mapping by mapping: its addresses are ADDR + i * STRIDE, so one lookup finds
 * how many of the next ones the same mapping holds. Faults in no known mapping wait, each with
 * its own time and address, for the finish step, as single faults do.
 */
void maptl_fault_run(struct model *m, const struct fl_fault_run *e)
{
	struct maptl *t = tl_get(m);
	bool kernel = e->h.flags & FL_F_KERNEL, write = e->h.flags & FL_F_WRITE;
	struct region_stat *r;
	uint32_t i = 0, n;

	if (!t)
		return;
	while (i < e->count) {
		uint64_t addr = e->addr + i * e->stride;
		const struct tl_map *x = lookup_map(t, e->pid, addr);

		if (!x) {
			add_pending(t, fault_run_ts(e->h.ts_ns, e->span_ns, e->count, i), e->pid,
				    addr, true, kernel, write, false);
			i++;
			continue;
		}
		n = run_in_map(x, addr, e->stride, e->count - i);
		r = &m->regions[x->reg];
		r->faults += n;
		r->kernel += kernel ? n : 0;
		r->write += write ? n : 0;
		i += n;
	}
}

void maptl_fault_dur(struct model *m, const struct fl_fault_dur *e)
{
	struct maptl *t = tl_get(m);
	int reg;

	if (!t || e->outcome != FL_FO_MAJOR)
		return;
	reg = lookup(t, e->pid, e->addr);
	if (reg >= 0)
		count(m, reg, false, false, false, true);
	else
		add_pending(t, e->h.ts_ns, e->pid, e->addr, false, false, false, true);
}

static struct file_stat *file_get(struct maptl *t, uint32_t kdev, uint64_t ino)
{
	struct file_stat *f;

	for (size_t i = t->nfiles; i-- > 0;)
		if (t->files[i].ino == ino && t->files[i].kdev == kdev)
			return &t->files[i];
	if (grow_array((void **)&t->files, &t->cap_files, t->nfiles, sizeof(*t->files), 16))
		return NULL;
	f = &t->files[t->nfiles++];
	memset(f, 0, sizeof(*f));
	f->kdev = kdev;
	f->ino = ino;
	return f;
}

void maptl_file_fault(struct model *m, const struct fl_file_fault *e)
{
	struct maptl *t = tl_get(m);
	struct file_stat *f = t ? file_get(t, e->dev, e->ino) : NULL;

	if (f)
		f->faults++;
}

/* The library (or program) whose code holds IP in P's address space, or NULL. */
static const char *code_owner(struct model *m, struct tl_proc *p, uint64_t ip)
{
	const struct tl_map *x = ip ? map_find(p, ip) : NULL;
	const struct region_stat *r = x ? &m->regions[x->reg] : NULL;

	return r && !strcmp(r->kind, "file") ? r->name : NULL;
}

/* An allocator's own mmaps are its arenas and large blocks, whatever their sizes. */
static const char *allocator_of(const char *lib)
{
	if (!strncmp(lib, "libc.so", 7) || !strncmp(lib, "libc-", 5))
		return "glibc malloc";
	if (strstr(lib, "jemalloc"))
		return "jemalloc";
	if (strstr(lib, "tcmalloc"))
		return "tcmalloc";
	if (strstr(lib, "mimalloc"))
		return "mimalloc";
	return NULL;
}

/* A library's name for a reader: libpython3.11.so.1.0 is python3.11, mmap.cpython-311-x86_64-
 * linux-gnu.so python3.11's mmap module. */
static void who_label(char *out, size_t size, const char *who)
{
	const char *cp = strstr(who, ".cpython-3"), *so;

	if (cp && cp[10] >= '0' && cp[10] <= '9') {
		snprintf(out, size, "python3.%.*s (%.*s module)",
			 (int)strspn(cp + 10, "0123456789"), cp + 10, (int)(cp - who), who);
		return;
	}
	so = strstr(who, ".so");
	if (!strncmp(who, "libpython", 9) && so) {
		snprintf(out, size, "%.*s", (int)(so - who - 3), who + 3);
		return;
	}
	snprintf(out, size, "%s", who);
}

/* Where a mapping of LEN bytes from START ends: the kernel maps whole pages. */
static uint64_t page_end(const struct model *m, uint64_t start, uint64_t len)
{
	uint64_t ps = m->page_size ? m->page_size : 1;

	return start + (len + ps - 1) / ps * ps;
}

static void anon_name(char *name, size_t size, const char *who, uint64_t len, uint16_t hflags)
{
	const char *alloc = allocator_of(who);
	char sz[32], label[128];

	if (hflags & FL_F_MAP_STACK) /* glibc's pthread_create asks for its stacks with it */
		snprintf(name, size, "anon: thread stacks (%s)", who);
	else if (alloc)
		snprintf(name, size, "anon: %s arenas and large blocks (%s)", alloc, who);
	else {
		who_label(label, sizeof(label), who);
		snprintf(name, size, "anon mmap by %s, %s", label, fmt_bytes(len, sz, sizeof(sz)));
	}
}

static void add_unresolved(struct maptl *t, int reg, const struct fl_memsys *e)
{
	if (grow_array((void **)&t->unres, &t->cap_unres, t->nunres, sizeof(*t->unres), 16))
		return;
	t->unres[t->nunres++] = (struct tl_unres){reg,	  e->pid,     e->caller_ip, e->syscall_ip,
						  e->len, e->h.ts_ns, e->h.flags};
}

/* The region of an anonymous mmap: who called mmap, and how big (per-request buffers). */
static int anon_region(struct model *m, struct tl_proc *p, const struct fl_memsys *e)
{
	const char *who = code_owner(m, p, e->caller_ip);
	char name[256], sz[32];
	int reg;

	if (!who) {
		/* code mapped before the session in a process without start maps (a child that
		 * --children found running): named at the end, from the maps then */
		snprintf(name, sizeof(name), "anon mmap (caller pid %u ip %llx flags %x), %s",
			 e->pid, (unsigned long long)e->caller_ip, e->h.flags,
			 fmt_bytes(e->len, sz, sizeof(sz)));
		reg = region_idx(m, name, "anon");
		if (reg >= 0 && !m->regions[reg].maps)
			add_unresolved(m->maptl, reg, e);
		return reg;
	}
	anon_name(name, sizeof(name), who, e->len, e->h.flags);
	reg = region_idx(m, name, "anon");
	if (reg >= 0)
		set_str(&m->regions[reg].creator, who);
	return reg;
}

static const char *name_of_file(struct maptl *t, uint32_t kdev, uint64_t ino)
{
	for (size_t i = t->nnames; i-- > 0;)
		if (t->names[i].ino == ino && t->names[i].kdev == kdev)
			return t->names[i].name;
	return NULL;
}

static int file_region(struct model *m, const struct fl_memsys *e)
{
	struct maptl *t = m->maptl;
	char name[80];
	struct region_stat *r;
	int reg;

	memcpy(name, e->name, sizeof(e->name));
	name[sizeof(e->name) - 1] = 0;
	if (!name[0])
		snprintf(name, sizeof(name), "file dev %u:%u inode %llu", e->dev >> 20,
			 e->dev & 0xfffff, (unsigned long long)e->ino);
	if (!name_of_file(t, e->dev, e->ino) &&
	    !grow_array((void **)&t->names, &t->cap_names, t->nnames, sizeof(*t->names), 16)) {
		t->names[t->nnames] = (struct tl_name){.kdev = e->dev, .ino = e->ino};
		memcpy(t->names[t->nnames++].name, name, sizeof(name));
	}
	reg = region_idx(m, name, "file");
	if (reg < 0)
		return reg;
	r = &m->regions[reg];
	if (!r->ino) {
		r->kdev = e->dev;
		r->ino = e->ino;
	}
	return reg;
}

static void mmap_event(struct model *m, struct tl_proc *p, const struct fl_memsys *e, size_t len)
{
	uint64_t start = e->ret, end = page_end(m, start, e->len);
	bool anon = e->h.flags & FL_F_MAP_ANON;
	bool has_file = len >= sizeof(*e) && e->ino;
	struct region_stat *r;
	int reg;

	if (has_file && !anon) {
		reg = file_region(m, e);
		file_mapped(m->maptl, e->dev, e->ino, e->len, e->h.flags & FL_F_MAP_EXEC, NULL);
	} else if (anon) {
		reg = anon_region(m, p, e);
	} else { /* a file mapping in a file written before the event named files */
		reg = region_idx(m, "file (mapped during the session, not named: older file)",
				 "file");
	}
	if (reg < 0)
		return;
	r = &m->regions[reg];
	r->maps++;
	if (!r->bytes_min || e->len < r->bytes_min)
		r->bytes_min = e->len;
	if (e->len > r->bytes_max)
		r->bytes_max = e->len;
	map_insert(m, p, start, end, reg,
		   &(struct tl_file){.off_base = (has_file && !anon ? e->pgoff : 0) - start,
				     .ino = has_file && !anon ? e->ino : 0,
				     .kdev = has_file && !anon ? e->dev : 0,
				     .prot = (e->arg >> 32) & (PROT_READ | PROT_WRITE | PROT_EXEC),
				     .path = has_file && !anon ? NULL : ""});
}

static void brk_event(struct model *m, struct tl_proc *p, const struct fl_memsys *e, size_t len)
{
	uint64_t brk = e->ret;
	int reg;

	if (len >= sizeof(*e) && e->pgoff)
		p->brk_start = e->pgoff; /* the kernel's mm->start_brk */
	if (!p->brk_start) {
		/* brk(0), the first call of a program, asks where the heap starts */
		if (e->addr)
			return;
		p->brk_start = brk;
	}
	reg = region_idx(m, "heap", "heap");
	/* a shrink hands the top back: the heap is [start, break) */
	if (p->brk_end > brk)
		map_remove(m, p, brk, p->brk_end, false);
	map_insert(m, p, p->brk_start, brk, reg,
		   &(struct tl_file){.prot = PROT_READ | PROT_WRITE, .path = "[heap]"});
	p->brk_end = brk;
}

/* mremap(old, old_len, new_len, flags) -> new: the mapping at OLD moves or grows. */
static void mremap_event(struct model *m, struct tl_proc *p, const struct fl_memsys *e)
{
	const struct tl_map *x = map_find(p, e->addr);
	struct tl_file f;
	uint64_t old_end;
	int reg;

	if (!x)
		return;
	reg = x->reg;
	old_end = x->end;
	f = x->f;
	f.off_base = e->addr + f.off_base - e->ret; /* the file offset at OLD moves to NEW */
	map_remove(m, p, e->addr, old_end, false);
	map_insert(m, p, e->ret, page_end(m, e->ret, e->len), reg, &f);
}

void maptl_memsys(struct model *m, const struct fl_memsys *e, size_t len)
{
	struct maptl *t = tl_get(m);
	struct tl_proc *p;

	if (!t || (e->ret < 0 && e->ret >= -MAX_ERRNO) || !(p = proc_get(t, e->pid)))
		return; /* a failed call changed nothing */
	m->maptl_syscalls = true;
	t->last_proc = NULL;
	t->now = e->h.ts_ns;
	p->fresh = false;
	switch (e->op) {
	case FL_MS_MMAP:
		mmap_event(m, p, e, len);
		break;
	case FL_MS_MUNMAP:
		map_remove(m, p, e->addr, page_end(m, e->addr, e->len), true);
		break;
	case FL_MS_BRK:
		brk_event(m, p, e, len);
		break;
	case FL_MS_MREMAP:
		mremap_event(m, p, e);
		break;
	default: /* madvise changes what backs a range, not the mapping */
		break;
	}
}

static void add_fork(struct maptl *t, const struct proc_ev *e)
{
	if (grow_array((void **)&t->forks, &t->cap_forks, t->nforks, sizeof(*t->forks), 64))
		return;
	t->forks[t->nforks++] =
	    (struct tl_fork){e->pid, e->kind == FL_PROC_FORK ? e->parent : 0, e->ts_ns};
}

void maptl_proc(struct model *m, const struct proc_ev *e)
{
	struct maptl *t = tl_get(m);
	struct tl_proc *p, *c;

	if (!t)
		return;
	t->last_proc = NULL;
	if (e->kind == FL_PROC_EXEC || (e->kind == FL_PROC_FORK && e->parent != e->pid))
		add_fork(t, e);
	if (e->kind == FL_PROC_FORK && e->parent != e->pid) {
		/* the child starts with a copy of its parent's address space */
		if (!proc_find(t, e->parent) || !(c = proc_get(t, e->pid)) ||
		    !(p = proc_find(t, e->parent)))
			return;
		c->n = 0;
		if (p->n > c->cap) {
			struct tl_map *v = realloc(c->v, p->n * sizeof(*v));

			if (!v) {
				fl_nomem();
				return;
			}
			c->v = v;
			c->cap = p->n;
		}
		if (p->n)
			memcpy(c->v, p->v, p->n * sizeof(*p->v));
		c->n = p->n;
		c->brk_start = p->brk_start;
		c->brk_end = p->brk_end;
	} else if (e->kind == FL_PROC_EXEC && (p = proc_get(t, e->pid))) {
		snprintf(p->comm, sizeof(p->comm), "%s", e->comm);
		/* record -- CMD reads the start maps once CMD has exec'd: they are of the new
		 * image already, and its exec's event comes after them */
		if (p->fresh) {
			p->fresh = false;
			p->exec_ts = e->ts_ns;
			return;
		}
		t->now = e->ts_ns;
		p->last_exec = e->ts_ns;
		map_remove(m, p, 0, ~0ull, false); /* a new image: the kernel maps the program, the
						    * loader the rest */
		p->brk_start = p->brk_end = 0;
		p->execd = true;
	}
}

/*
 * Nothing is ever mapped below this (the kernel's vm.mmap_min_addr default, 64 KiB): a fault
 * there is a NULL-pointer access, failed by the kernel (EFAULT, or SIGSEGV in user mode).
 */
#define TL_MIN_ADDR 0x10000

/*
 * The part of an exec's own image (which the kernel maps without a memory syscall) that holds
 * ADDR, by address, in a process whose maps no look read after the exec (it was gone too soon):
 * the kernel maps the program with the heap right above its bss, the loader at the top of the
 * mmap area (the libraries it maps go below it) and the stack at the top of the address space,
 * at least 128 MiB above the mmap area (the top-down layout of x86-64 and arm64).
 */
enum exec_part { EXEC_NONE, EXEC_PROGRAM, EXEC_LOADER, EXEC_STACK };

#define TL_LOADER_BAND (64ull << 20) /* the loader and [vdso] lie within this of the mmaps */

static enum exec_part exec_part_of(const struct tl_proc *p, uint64_t ts, uint64_t addr)
{
	uint64_t top = 0;

	if (!p || !p->execd || ts < p->last_exec)
		return EXEC_NONE;
	if (p->brk_start && addr < p->brk_start)
		return EXEC_PROGRAM;
	for (size_t i = 0; i < p->n; i++) /* the mmap area's top: what was mapped after the exec */
		if (p->v[i].born_ns >= p->last_exec && p->v[i].end > top &&
		    p->v[i].start >= p->brk_end)
			top = p->v[i].end;
	if (!top || addr < top)
		return EXEC_NONE;
	return addr - top < TL_LOADER_BAND ? EXEC_LOADER : EXEC_STACK;
}

/* The region of an exec's part (exec_part_of), named after the program it ran. */
static int exec_part_region(struct model *m, const struct tl_proc *p, enum exec_part part)
{
	static const char *const what[] = {
	    [EXEC_PROGRAM] = "program image and bss",
	    [EXEC_LOADER] = "loader (ld.so) and [vdso]",
	    [EXEC_STACK] = "[stack]",
	};
	static const char *const where[] = {
	    [EXEC_PROGRAM] = "below its heap's start (the kernel puts the heap after the bss)",
	    [EXEC_LOADER] = "just above the libraries it mapped (the top of the mmap area)",
	    [EXEC_STACK] = "far above its mmap area (the top of the address space)",
	};
	char name[128], why[256];
	int reg;

	snprintf(name, sizeof(name), "%s: %s (exec'd, by address)", p->comm[0] ? p->comm : "?",
		 what[part]);
	snprintf(why, sizeof(why),
		 "mapped by an exec during the session, gone before any look at its maps; "
		 "placed by address: %s",
		 where[part]);
	reg = region_idx(m, name, "special");
	if (reg >= 0)
		set_str(&m->regions[reg].why, why);
	return reg;
}

/* Why a fault's address is in no mapping known: the region it is counted against. */
static int unknown_region(struct model *m, struct tl_proc *p, struct pid_maps *pm, uint64_t ts,
			  uint64_t addr, bool kernel)
{
	const char *name, *why;
	int reg;

	if (addr < TL_MIN_ADDR) {
		reg = region_idx(m, "no mapping: a NULL-pointer access (below 64 KiB)", "special");
		if (reg >= 0)
			set_str(&m->regions[reg].why,
				"nothing is mapped below vm.mmap_min_addr; the "
				"kernel failed the access");
		return reg;
	}
	if (p && ts < p->exec_ts) {
		/* record -- CMD: the command's process is traced from its fork */
		name = "record's child before exec (record -- CMD)";
		reg = region_idx(m, name, "special");
		return reg;
	}
	if (!p && !pm) {
		name = "unknown (no maps for the pid)";
		why = "no maps list and no mmap events for the process";
	} else if (!m->maptl_syscalls) {
		name = "short-lived mapping (--alloc=off)";
		why = "mapped during the session, in no maps list; memory syscalls not traced "
		      "(--alloc=off), so it cannot be named";
	} else if (p && p->execd) {
		enum exec_part part = exec_part_of(p, ts, addr);

		/* the exec's own faults (the arguments copied to the new stack, the bss cleared)
		 * come before its event: kernel-mode, in no mapping of the old image */
		if (part == EXEC_NONE && kernel && ts < p->last_exec)
			part = exec_part_of(p, p->last_exec, addr);

		if (part != EXEC_NONE)
			return exec_part_region(m, p, part);
		name = "unknown (image of an exec)";
		why =
		    "mapped by an exec during the session (program, loader or stack) and gone by "
		    "the end; not placed by address (no heap or mmap seen after the exec to place "
		    "it against, or between the two)";
	} else {
		name = "unknown (no mapping seen)";
		why = "no mmap event and no maps list showed a mapping at this address";
	}
	reg = region_idx(m, name, "unknown");
	if (reg >= 0)
		set_str(&m->regions[reg].why, why);
	return reg;
}

/*
 * The maps record read when an exec's event arrived (trailer "maps_exec") or every few seconds
 * (trailer "maps_periodic", optional: older recordings have none), in file order. Their files'
 * paths name the files mmap events only gave the basename of.
 */
static void load_maps_list(struct model *m, const char *key, struct tl_exec_maps **out, size_t *n)
{
	json_t *a = m->trailer ? json_object_get(m->trailer, key) : NULL, *o;
	struct maptl *t = m->maptl;
	size_t i;

	if (!json_is_array(a) || !json_array_size(a))
		return;
	*out = calloc(json_array_size(a), sizeof(**out));
	if (!*out) {
		fl_nomem();
		return;
	}
	json_array_foreach(a, i, o)
	{
		struct tl_exec_maps *x = &(*out)[*n];
		const char *text = json_string_value(json_object_get(o, "maps"));

		if (!text || !json_is_integer(json_object_get(o, "pid")))
			continue;
		x->pid = json_integer_value(json_object_get(o, "pid"));
		x->ts_ns = json_integer_value(json_object_get(o, "ts_ns"));
		if (vmas_parse(&x->maps, text)) {
			fl_nomem();
			return;
		}
		(*n)++;
		for (size_t k = 0; k < x->maps.n; k++)
			if (x->maps.v[k].inode && x->maps.v[k].path[0] == '/')
				note_path(t, kdev_of(x->maps.v[k].dev), x->maps.v[k].inode,
					  x->maps.v[k].path);
	}
}

static void load_exec_maps(struct model *m, struct maptl *t)
{
	load_maps_list(m, "maps_exec", &t->exec_maps, &t->nexec_maps);
	load_maps_list(m, "maps_periodic", &t->looks, &t->nlooks);
}

/* ADDR in the periodic look at PID's maps nearest to TS that shows it, or NULL. */
static const struct vma *look_vma(const struct maptl *t, uint32_t pid, uint64_t ts, uint64_t addr)
{
	const struct vma *best = NULL;
	uint64_t best_d = 0;

	for (size_t i = 0; i < t->nlooks; i++) {
		const struct tl_exec_maps *x = &t->looks[i];
		uint64_t d = x->ts_ns > ts ? x->ts_ns - ts : ts - x->ts_ns;
		const struct vma *v;

		if (x->pid != pid || (best && d >= best_d) || !(v = vmas_find(&x->maps, addr)))
			continue;
		best = v;
		best_d = d;
	}
	return best;
}

/* PID's maps as read after its last exec before TS, or NULL. */
static const struct tl_exec_maps *exec_maps_of(struct maptl *t, uint32_t pid, uint64_t ts)
{
	const struct tl_exec_maps *best = NULL;

	for (size_t i = 0; i < t->nexec_maps; i++)
		if (t->exec_maps[i].pid == pid && t->exec_maps[i].ts_ns <= ts &&
		    (!best || t->exec_maps[i].ts_ns >= best->ts_ns))
			best = &t->exec_maps[i];
	return best;
}

/*
 * ADDR in PID's maps after its last exec before TS, else after its next one: an exec's own
 * faults (the new stack's arguments) come before its event, which the look follows.
 */
static const struct vma *exec_vma(struct maptl *t, uint32_t pid, uint64_t ts, uint64_t addr)
{
	const struct tl_exec_maps *x = exec_maps_of(t, pid, ts), *next = NULL;
	const struct vma *v = x ? vmas_find(&x->maps, addr) : NULL;

	for (size_t i = 0; i < t->nexec_maps && !v; i++)
		if (t->exec_maps[i].pid == pid && t->exec_maps[i].ts_ns > ts &&
		    (!next || t->exec_maps[i].ts_ns < next->ts_ns))
			next = &t->exec_maps[i];
	return v ? v : next ? vmas_find(&next->maps, addr) : NULL;
}

static int cmp_gone(const void *a, const void *b)
{
	const struct tl_gone *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The mapping that held PID's ADDR at TS, for a fault read before its mapping's event or after
 * the event that removed it (events are only roughly in time order): the mappings left at the
 * end, then the pieces that went (sorted by pid and start; the last 4096 that start below ADDR).
 */
struct tl_hit {
	uint64_t start, end;
	uint32_t reg;
	const struct tl_file *f;
};

static bool find_at(const struct maptl *t, uint32_t pid, uint64_t addr, uint64_t ts,
		    struct tl_hit *h)
{
	const struct tl_proc *p = NULL;
	const struct tl_map *x;
	size_t lo = 0, hi = t->ngone;

	for (size_t i = 0; i < t->nprocs && !p; i++)
		if (t->procs[i].pid == (int)pid)
			p = &t->procs[i];
	x = p ? map_find(p, addr) : NULL;
	if (x && x->born_ns <= ts) {
		*h = (struct tl_hit){x->start, x->end, x->reg, &x->f};
		return true;
	}
	while (lo < hi) { /* the first piece past (pid, addr) */
		size_t mid = (lo + hi) / 2;
		const struct tl_gone *g = &t->gone[mid];

		if (g->pid < pid || (g->pid == pid && g->start <= addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i-- > 0 && k < 4096 && t->gone[i].pid == pid; k++) {
		const struct tl_gone *g = &t->gone[i];

		if (addr < g->end && g->born_ns <= ts && ts < g->dead_ns) {
			*h = (struct tl_hit){g->start, g->end, g->reg, &g->f};
			return true;
		}
	}
	return false;
}

static int region_at(struct maptl *t, uint32_t pid, uint64_t addr, uint64_t ts)
{
	struct tl_hit h;

	return find_at(t, pid, addr, ts, &h) ? (int)h.reg : -1;
}

static void resolve_pending(struct model *m, struct maptl *t)
{
	load_exec_maps(m, t);
	sort_n(t->gone, t->ngone, sizeof(*t->gone), cmp_gone);
	for (size_t i = 0; i < t->npending; i++) {
		const struct tl_pending *q = &t->pending[i];
		struct pid_maps *pm = NULL;
		const struct vma *v = NULL;
		int reg;

		reg = region_at(t, q->pid, q->addr, q->ts_ns);
		if (reg >= 0) {
			count(m, reg, q->fault, q->kernel, q->write, q->major);
			continue;
		}
		for (size_t k = 0; k < m->nmaps; k++)
			if (m->maps[k].pid == (int)q->pid)
				pm = &m->maps[k];
		if (pm)
			v = vmas_find(&pm->end, q->addr);
		if (!v)
			v = exec_vma(t, q->pid, q->ts_ns, q->addr);
		if (!v)
			v = look_vma(t, q->pid, q->ts_ns, q->addr);
		reg = v ? region_of_vma(m, v)
			: unknown_region(m, proc_find(t, q->pid), pm, q->ts_ns, q->addr, q->kernel);
		count(m, reg, q->fault, q->kernel, q->write, q->major);
	}
	free(t->pending);
	t->pending = NULL;
	t->npending = t->cap_pending = 0;
}

/* A file's name and path from a maps list (start or end) that shows it. */
static void name_from_maps(struct model *m, struct file_stat *f)
{
	for (size_t k = 0; k < m->nmaps && !f->path; k++) {
		const struct vmas *l[2] = {&m->maps[k].start, &m->maps[k].end};

		for (int j = 0; j < 2; j++)
			for (size_t i = 0; i < l[j]->n && !f->path; i++)
				if (l[j]->v[i].inode == f->ino &&
				    kdev_of(l[j]->v[i].dev) == f->kdev && l[j]->v[i].path[0] == '/')
					set_str(&f->path, l[j]->v[i].path);
	}
}

static void name_files(struct model *m, struct maptl *t)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		struct file_stat *f = &t->files[i];
		const char *n = name_of_file(t, f->kdev, f->ino);

		for (size_t r = 0; r < m->nregions; r++) {
			const struct region_stat *g = &m->regions[r];

			if (g->ino != f->ino || g->kdev != f->kdev)
				continue;
			f->major += g->major;
			set_str(&f->path, g->path);
		}
		name_from_maps(m, f);
		set_str(&f->path, path_of(t, f->kdev, f->ino));
		if (f->path)
			set_str(&f->name, base_of(f->path));
		if (n)
			set_str(&f->name, n);
		for (size_t r = 0; r < m->nregions && f->path; r++)
			if (m->regions[r].ino == f->ino && m->regions[r].kdev == f->kdev)
				set_str(&m->regions[r].path, f->path);
		if (!f->name) {
			char buf[64];

			snprintf(buf, sizeof(buf), "dev %u:%u inode %llu", f->kdev >> 20,
				 f->kdev & 0xfffff, (unsigned long long)f->ino);
			set_str(&f->name, buf);
		}
	}
}

/* IP in executable code in maps A, else B (may be NULL): its file's basename. */
static const char *code_in_maps(const struct vmas *a, const struct vmas *b, uint64_t ip)
{
	const struct vma *v = ip ? vmas_find(a, ip) : NULL;

	if ((!v || v->perms[2] != 'x') && b)
		v = ip ? vmas_find(b, ip) : NULL;
	return v && v->perms[2] == 'x' && v->path[0] == '/' ? base_of(v->path) : NULL;
}

static void merge_region(struct region_stat *to, struct region_stat *r)
{
	to->faults += r->faults;
	to->kernel += r->kernel;
	to->write += r->write;
	to->major += r->major;
	to->unmaps += r->unmaps;
	if (r->maps && (!to->maps || r->bytes_min < to->bytes_min))
		to->bytes_min = r->bytes_min;
	if (r->bytes_max > to->bytes_max)
		to->bytes_max = r->bytes_max;
	to->maps += r->maps;
	r->faults = r->kernel = r->write = r->major = r->maps = r->unmaps = 0;
}

/*
 * Anonymous mmaps whose caller's code was mapped before the session in a process without start
 * maps: the caller named from its maps at the end (or the start), as the return address says,
 * else by the syscall wrapper's library (a wrapper that is no leaf function).
 */
/* An mmap's caller in an exec's own image (the loader mapping libraries, the program), by
 * address (exec_part_of), or NULL. */
static const char *exec_caller(struct maptl *t, const struct tl_unres *u, char *buf, size_t len)
{
	const struct tl_proc *p = proc_find(t, u->pid);
	enum exec_part part = exec_part_of(p, u->ts_ns, u->caller_ip);

	if (part == EXEC_NONE)
		part = exec_part_of(p, u->ts_ns, u->syscall_ip);
	if (part == EXEC_LOADER)
		snprintf(buf, len, "ld.so (%s's loader)", p->comm[0] ? p->comm : "exec");
	else if (part == EXEC_PROGRAM)
		snprintf(buf, len, "%s", p->comm[0] ? p->comm : "exec'd program");
	else
		return NULL;
	return buf;
}

static void resolve_callers(struct model *m, struct maptl *t)
{
	for (size_t i = 0; i < t->nunres; i++) {
		const struct tl_unres *u = &t->unres[i];
		const struct pid_maps *pm = NULL;
		const struct tl_exec_maps *x;
		const char *who = NULL;
		char name[256], sz[32], label[64];
		int to;

		for (size_t k = 0; k < m->nmaps; k++)
			if (m->maps[k].pid == (int)u->pid)
				pm = &m->maps[k];
		if (pm && !(who = code_in_maps(&pm->end, &pm->start, u->caller_ip)))
			who = code_in_maps(&pm->end, &pm->start, u->syscall_ip);
		if (!who && (x = exec_maps_of(t, u->pid, u->ts_ns)) &&
		    !(who = code_in_maps(&x->maps, NULL, u->caller_ip)))
			who = code_in_maps(&x->maps, NULL, u->syscall_ip);
		if (!who)
			who = exec_caller(t, u, label, sizeof(label));
		if (who)
			anon_name(name, sizeof(name), who, u->len, u->hflags);
		else
			snprintf(name, sizeof(name), "anon mmap (caller in no known mapping), %s",
				 fmt_bytes(u->len, sz, sizeof(sz)));
		to = region_idx(m, name, "anon");
		if (to < 0 || to == u->reg)
			continue;
		if (who)
			set_str(&m->regions[to].creator, who);
		merge_region(&m->regions[to], &m->regions[u->reg]);
	}
}

/* Files with filemap faults, and data files of 1 MiB or more (weights) mapped without any:
 * not every library or locale file. */
static void keep_files(struct maptl *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nfiles; i++) {
		struct file_stat *f = &t->files[i];

		if (f->faults || f->major || (!f->code && f->mapped_bytes >= (1u << 20))) {
			t->files[n++] = *f;
			continue;
		}
		free(f->name);
		free(f->path);
	}
	t->nfiles = n;
}

/* Regions that only a maps list showed, without a fault: not worth a row. */
static void drop_empty(struct model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nregions; i++) {
		struct region_stat *r = &m->regions[i];

		if (r->faults || r->major || r->maps) {
			m->regions[n++] = *r;
			continue;
		}
		free(r->name);
		free(r->path);
		free(r->creator);
		free(r->why);
	}
	m->nregions = n;
}

void maptl_finish(struct model *m)
{
	struct maptl *t = tl_get(m);

	if (!t)
		return;
	resolve_pending(m, t);
	resolve_callers(m, t);
	for (size_t k = 0; k < m->nmaps; k++)
		for (size_t i = 0; i < m->maps[k].end.n; i++) {
			const struct vma *v = &m->maps[k].end.v[i];

			if (v->inode && v->path[0] == '/')
				file_mapped(t, kdev_of(v->dev), v->inode, v->end - v->start,
					    v->perms[2] == 'x', v->path);
		}
	name_files(m, t);
	keep_files(t);
	t->finished = true;
	for (size_t r = 0; r < m->nregions; r++)
		if (m->regions[r].kind && !strcmp(m->regions[r].kind, "unknown"))
			m->faults_unknown += m->regions[r].faults;
	drop_empty(m);
	m->files = t->files;
	m->nfiles = t->nfiles;
	t->files = NULL;
	t->nfiles = t->cap_files = 0;
}

void maptl_free(struct model *m)
{
	struct maptl *t = m->maptl;

	for (size_t i = 0; i < m->nfiles; i++) {
		free(m->files[i].name);
		free(m->files[i].path);
	}
	free(m->files);
	for (size_t i = 0; i < m->nregions; i++) {
		free(m->regions[i].path);
		free(m->regions[i].creator);
		free(m->regions[i].why);
	}
	if (!t)
		return;
	for (size_t i = 0; i < t->nprocs; i++)
		free(t->procs[i].v);
	free(t->procs);
	free(t->pending);
	free(t->gone);
	free(t->unres);
	for (size_t i = 0; i < t->nexec_maps; i++)
		vmas_free(&t->exec_maps[i].maps);
	free(t->exec_maps);
	for (size_t i = 0; i < t->nlooks; i++)
		vmas_free(&t->looks[i].maps);
	free(t->looks);
	for (size_t i = 0; i < t->npaths; i++)
		free(t->paths[i].path);
	free(t->paths);
	free(t->forks);
	free(t->names);
	free(t->files);
	free(t);
	m->maptl = NULL;
}

/*
 * The path of a file only an mmap event named (its basename): the same name in a directory of
 * another file the session's maps lists showed (a library loaded with dlopen next to the
 * program or its libraries), where that file has the same device and inode. Remembered.
 */
static const char *path_by_dirs(struct maptl *t, uint32_t kdev, uint64_t ino, const char *base)
{
	char cand[PATH_MAX];
	struct stat st;
	size_t n = t->npaths;

	for (size_t i = 0; i < n; i++) {
		const char *dir = t->paths[i].path, *slash = strrchr(dir, '/');
		bool seen = false;

		if (!slash)
			continue; /* "": a file looked for in vain */

		for (size_t k = 0; k < i && !seen; k++) /* each directory once */
			seen = !strncmp(t->paths[k].path, dir, slash - dir + 1) &&
			       !strchr(t->paths[k].path + (slash - dir) + 1, '/');
		if (seen || snprintf(cand, sizeof(cand), "%.*s/%s", (int)(slash - dir), dir,
				     base) >= (int)sizeof(cand))
			continue;
		if (!stat(cand, &st) && st.st_ino == ino && kdev_of(st.st_dev) == kdev) {
			note_path(t, kdev, ino, cand);
			return path_of(t, kdev, ino);
		}
	}
	return NULL;
}

/* A timeline mapping as a maps line would show it (see maptl_vma_at). */
static void vma_of_hit(const struct maptl *t, const struct tl_hit *h, struct vma *out)
{
	const struct tl_file *f = h->f;
	const char *path = f->path;

	if (!path && f->ino && !(path = path_of(t, f->kdev, f->ino)) &&
	    (path = name_of_file((struct maptl *)t, f->kdev, f->ino))) {
		const char *full = path_by_dirs((struct maptl *)t, f->kdev, f->ino, path);

		if (!full) /* not found: "" remembers it, so that the next lookup does not stat */
			note_path((struct maptl *)t, f->kdev, f->ino, "");
		path = full ? full : path;
	}
	if (path && !path[0] && f->ino) /* looked for in vain */
		path = name_of_file((struct maptl *)t, f->kdev, f->ino);
	*out = (struct vma){
	    .start = h->start,
	    .end = h->end,
	    .offset = f->ino ? h->start + f->off_base : 0,
	    .inode = f->ino,
	    .dev = f->ino ? makedev(f->kdev >> 20, f->kdev & 0xfffff) : 0,
	    .path = (char *)(path ? path : ""),
	};
	snprintf(out->perms, sizeof(out->perms), "%c%c%cp", f->prot & PROT_READ ? 'r' : '-',
		 f->prot & PROT_WRITE ? 'w' : '-', f->prot & PROT_EXEC ? 'x' : '-');
}

/* ADDR in a maps list of PID itself: after an exec, a periodic look, the start, the end. */
static const struct vma *snapshot_vma(const struct model *m, const struct maptl *t, uint32_t pid,
				      uint64_t ts, uint64_t addr, bool *known)
{
	const struct pid_maps *pm = NULL;
	const struct vma *v = NULL;

	for (size_t k = 0; k < m->nmaps; k++)
		if (m->maps[k].pid == (int)pid)
			pm = &m->maps[k];
	for (size_t i = 0; i < t->nexec_maps && !*known; i++)
		*known = t->exec_maps[i].pid == pid;
	for (size_t i = 0; i < t->nlooks && !*known; i++)
		*known = t->looks[i].pid == pid;
	*known |= pm != NULL;
	v = exec_vma((struct maptl *)t, pid, ts, addr);
	if (!v)
		v = look_vma(t, pid, ts, addr);
	if (!v && pm)
		v = vmas_find(&pm->start, addr);
	if (!v && pm)
		v = vmas_find(&pm->end, addr);
	return v;
}

/* The process PID was forked from during the session, and when; 0 when it was not, or when it
 * exec'd by TS (its code is its own then). */
static uint32_t fork_parent(const struct maptl *t, uint32_t pid, uint64_t ts, uint64_t *fork_ts)
{
	uint32_t parent = 0;

	for (size_t i = 0; i < t->nforks; i++) {
		const struct tl_fork *x = &t->forks[i];

		if (x->pid != pid)
			continue;
		if (!x->parent && x->ts_ns <= ts)
			return 0;
		if (x->parent) {
			parent = x->parent;
			*fork_ts = x->ts_ns;
		}
	}
	return parent;
}

int maptl_vma_at(const struct model *m, uint32_t pid, uint64_t ts, uint64_t addr, struct vma *out)
{
	const struct maptl *t = m->maptl;
	bool known = false;

	if (!t || !t->finished)
		return -1;
	for (int depth = 0; depth < 8; depth++) {
		const struct vma *v;
		uint64_t fork_ts = 0;
		struct tl_hit h;

		for (size_t i = 0; i < t->nprocs && !known; i++)
			known = t->procs[i].pid == (int)pid;
		if (find_at(t, pid, addr, ts, &h)) {
			vma_of_hit(t, &h, out);
			return 1;
		}
		if ((v = snapshot_vma(m, t, pid, ts, addr, &known))) {
			*out = *v;
			return 1;
		}
		/* a child forked during the session runs its parent's code until it execs */
		pid = fork_parent(t, pid, ts, &fork_ts);
		if (!pid)
			break;
		known = false;
		ts = fork_ts < ts ? fork_ts : ts;
	}
	return known ? 0 : -1;
}
