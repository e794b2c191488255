// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ELF symbols with libelf: a function's name to the file offset a uprobe is attached at, and a
 * code address (file offset) to the function that holds it.
 */
#include "elfsym.h"
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

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

/*
 * "cudaHostRegister@@libcudart.so.13" matches "cudaHostRegister"; with CLONES, a compiler's
 * specialised copy of a local function ("systrim.constprop.0") matches its name too.
 */
static bool sym_matches(const char *sym, const char *want, bool clones)
{
	size_t n = strlen(want);

	return !strncmp(sym, want, n) &&
	       (sym[n] == 0 || sym[n] == '@' || (clones && sym[n] == '.'));
}

/* Symbol table SCN's header and data: its number of symbols, 0 when it cannot be read. */
static size_t symtab_of(Elf_Scn *scn, GElf_Shdr *sh, Elf_Data **data)
{
	*data = elf_getdata(scn, NULL);
	if (!gelf_getshdr(scn, sh) || !*data || !sh->sh_entsize)
		return 0;
	return sh->sh_size / sh->sh_entsize;
}

/* Symbol I of the table DATA (section header SH) when it is a function defined in the file: its
 * name (NULL when not). */
static const char *func_sym(Elf *e, const GElf_Shdr *sh, Elf_Data *data, size_t i, GElf_Sym *sym)
{
	if (!gelf_getsym(data, i, sym) || sym->st_shndx == SHN_UNDEF || !sym->st_value)
		return NULL;
	if (GELF_ST_TYPE(sym->st_info) != STT_FUNC && GELF_ST_TYPE(sym->st_info) != STT_GNU_IFUNC)
		return NULL;
	return elf_strptr(e, sh->sh_link, sym->st_name);
}

/*
 * One symbol table: sets vaddr of each wanted name defined as a function here. A default
 * version (not hidden in .gnu.version, or "@@" in a static table) wins over an old one.
 */
static void scan_symtab(Elf *e, Elf_Scn *scn, Elf_Data *versym, struct elfsym *ss, int n,
			uint64_t *vaddr, bool *is_default, bool *ifunc, bool clones)
{
	GElf_Shdr sh;
	Elf_Data *data;
	size_t nsyms = symtab_of(scn, &sh, &data);

	for (size_t i = 0; i < nsyms; i++) {
		GElf_Sym sym;
		const char *name;
		GElf_Versym vs = 0;
		bool dflt;

		name = func_sym(e, &sh, data, i, &sym);
		if (!name)
			continue;
		if (versym)
			gelf_getversym(versym, i, &vs);
		dflt = !(vs & 0x8000) && (!strchr(name, '@') || strstr(name, "@@"));
		for (int k = 0; k < n; k++) {
			if (!sym_matches(name, ss[k].name,
					 clones && GELF_ST_BIND(sym.st_info) == STB_LOCAL) ||
			    (vaddr[k] && (is_default[k] || !dflt)))
				continue;
			vaddr[k] = sym.st_value;
			is_default[k] = dflt;
			ifunc[k] = GELF_ST_TYPE(sym.st_info) == STT_GNU_IFUNC;
		}
	}
}

static Elf *open_debug_file(Elf *e);
static Elf_Scn *find_scn(Elf *e, uint32_t type);

/*
 * A stripped file's names still missing, from its separate debug file: local functions (glibc's
 * sysmalloc) are only there. Its addresses are the stripped file's (same link), so the stripped
 * file's program headers turn them into file offsets.
 */
static void scan_debug_file(Elf *e, struct elfsym *ss, int n, uint64_t *vaddr, bool *dflt,
			    bool *ifunc)
{
	Elf_Scn *scn;
	Elf *d;
	int k;

	for (k = 0; k < n && vaddr[k]; k++)
		;
	if (k == n || !(d = open_debug_file(e)))
		return;
	scn = find_scn(d, SHT_SYMTAB);
	if (scn)
		scan_symtab(d, scn, NULL, ss, n, vaddr, dflt, ifunc, true);
	elf_end(d);
}

int elfsym_resolve(int fd, struct elfsym *ss, int n, char *err, size_t errlen)
{
	uint64_t vaddr[ELFSYM_MAX] = {};
	bool dflt[ELFSYM_MAX] = {}, ifunc[ELFSYM_MAX] = {};
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
		scan_symtab(e, dynsym, versym, ss, n, vaddr, dflt, ifunc, false);
	if (symtab)
		scan_symtab(e, symtab, NULL, ss, n, vaddr, dflt, ifunc, false);
	else
		scan_debug_file(e, ss, n, vaddr, dflt, ifunc);
	for (int k = 0; k < n; k++) {
		if (!vaddr[k]) {
			snprintf(
			    ss[k].status, sizeof(ss[k].status), "not found: no such function in %s",
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

/* --- address to symbol ------------------------------------------------------------------- */

struct elfsym_fn {
	uint64_t addr, size;
	const char *name; /* in the file's string table (the Elf stays open, mmap'd) */
	bool global;
	bool exported; /* in .dynsym: the public name of an address with aliases */
};

struct elfsym_load {
	uint64_t offset, vaddr, filesz;
};

struct elfsym_table {
	Elf *e;
	Elf *dbg; /* the separate debug file (its .symtab), when the file itself is stripped */
	struct elfsym_fn *fns;
	size_t n;
	struct elfsym_load *loads;
	size_t nloads;
};

static int cmp_fn(const void *a, const void *b)
{
	const struct elfsym_fn *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* at one address (aliases), an exported, global, sized, short name first: the one that
	 * stays ("__clone3", not "__GI___clone3") */
	if (x->exported != y->exported)
		return x->exported ? -1 : 1;
	if (x->global != y->global)
		return x->global ? -1 : 1;
	if ((x->size != 0) != (y->size != 0))
		return x->size ? -1 : 1;
	if (strlen(x->name) != strlen(y->name))
		return strlen(x->name) < strlen(y->name) ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Adds the functions of symbol table SCN of E to T (T->fns has room for them). */
static void collect_fns(struct elfsym_table *t, Elf *e, Elf_Scn *scn, bool exported)
{
	GElf_Shdr sh;
	Elf_Data *data;
	size_t nsyms = symtab_of(scn, &sh, &data);

	for (size_t i = 0; i < nsyms; i++) {
		GElf_Sym sym;
		const char *name;

		name = func_sym(e, &sh, data, i, &sym);
		if (!name || !*name)
			continue;
		t->fns[t->n++] =
		    (struct elfsym_fn){.addr = sym.st_value,
				       .size = sym.st_size,
				       .name = name,
				       .global = GELF_ST_BIND(sym.st_info) != STB_LOCAL,
				       .exported = exported};
	}
}

static size_t count_syms(Elf_Scn *scn)
{
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return 0;
	return sh.sh_size / sh.sh_entsize;
}

/* The PT_LOAD segments: a file offset becomes the address the symbols are given at. */
static int read_loads(struct elfsym_table *t)
{
	size_t n;

	if (elf_getphdrnum(t->e, &n))
		return -EINVAL;
	t->loads = calloc(n ? n : 1, sizeof(*t->loads));
	if (!t->loads)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(t->e, i, &ph) && ph.p_type == PT_LOAD)
			t->loads[t->nloads++] =
			    (struct elfsym_load){ph.p_offset, ph.p_vaddr, ph.p_filesz};
	}
	return 0;
}

/* Sorts T's functions by address and keeps one per address. */
static void sort_fns(struct elfsym_table *t)
{
	size_t k = 0;

	qsort(t->fns, t->n, sizeof(*t->fns), cmp_fn);
	for (size_t i = 0; i < t->n; i++)
		if (!k || t->fns[i].addr != t->fns[k - 1].addr)
			t->fns[k++] = t->fns[i];
	t->n = k;
}

/*
 * Opens PATH for libelf when it is a regular file of a plausible size. The paths come from a
 * recording (its maps text): a FIFO, a device or /proc/kcore there must not hang or flood the
 * report. O_PATH first: nothing is opened for reading until fstat has shown a regular file
 * (opening a device can have side effects); then that very inode is opened through
 * /proc/self/fd. A mapped file's path is the resolved one: a symbolic link there now (FOLLOW
 * false) is not the mapped file. The fd, or -1 with ERR set.
 */
static int open_regular(const char *path, bool follow, struct stat *st, char *err, size_t errlen)
{
	char self[64];
	int pfd, fd;

	if (!strncmp(path, "/proc/", 6) || !strncmp(path, "/sys/", 5) ||
	    !strncmp(path, "/dev/", 5)) {
		snprintf(err, errlen, "not read: a /proc, /sys or /dev file");
		return -1;
	}
	pfd = open(path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (pfd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (!fstat(pfd, st) && S_ISLNK(st->st_mode)) {
		snprintf(err, errlen, "not read: a symbolic link now, not the mapped file");
		close(pfd);
		return -1;
	}
	if (fstat(pfd, st) || !S_ISREG(st->st_mode) || st->st_size <= 0 ||
	    st->st_size > (16ll << 30)) {
		snprintf(err, errlen, "not read: not a regular file under 16 GiB");
		close(pfd);
		return -1;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
	close(pfd);
	return fd;
}

/* The section of TYPE in E (the first), or NULL. */
static Elf_Scn *find_scn(Elf *e, uint32_t type)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == type)
			return scn;
	}
	return NULL;
}

/* E's GNU build id as hex into HEX; false when it has none. */
static bool build_id(Elf *e, char *hex, size_t len)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t off = 0, noff, doff;
		GElf_Shdr sh;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !d)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			const unsigned char *id = (const unsigned char *)d->d_buf + doff;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + noff, "GNU", 4) || !nh.n_descsz ||
			    2 * nh.n_descsz >= len)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				snprintf(hex + 2 * i, 3, "%02x", id[i]);
			return true;
		}
	}
	return false;
}

/*
 * A stripped file's symbols where the distribution installs them (Debian's *-dbg and -dbgsym
 * packages, as perf and gdb look): /usr/lib/debug/.build-id/xx/yyyy.debug. NULL when absent.
 */
static Elf *open_debug_file(Elf *e)
{
	char hex[130], path[192], err[64];
	struct stat st;
	Elf *d;
	int fd;

	if (!build_id(e, hex, sizeof(hex)))
		return NULL;
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
	fd = open_regular(path, true, &st, err, sizeof(err));
	if (fd < 0)
		return NULL;
	d = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (d && (elf_kind(d) != ELF_K_ELF || !find_scn(d, SHT_SYMTAB))) {
		elf_end(d);
		d = NULL;
	}
	if (d)
		elf_cntl(d, ELF_C_FDDONE);
	close(fd);
	return d;
}

static int table_read(struct elfsym_table *t, char *err, size_t errlen)
{
	Elf_Scn *dynsym = find_scn(t->e, SHT_DYNSYM), *symtab = find_scn(t->e, SHT_SYMTAB);
	Elf_Scn *dbgsym = NULL;

	if (read_loads(t)) {
		snprintf(err, errlen, "no program headers: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	if (!symtab && (t->dbg = open_debug_file(t->e)))
		dbgsym = find_scn(t->dbg, SHT_SYMTAB);
	t->fns = calloc(count_syms(dynsym) + count_syms(symtab) + count_syms(dbgsym) + 1,
			sizeof(*t->fns));
	if (!t->fns) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (symtab)
		collect_fns(t, t->e, symtab, false);
	if (dbgsym)
		collect_fns(t, t->dbg, dbgsym, false);
	if (dynsym)
		collect_fns(t, t->e, dynsym, true);
	sort_fns(t);
	return 0;
}

/*
 * Whether FD is the mapped file (inode INO on device DEV as /proc/PID/maps gives them; DEV 0: not
 * compared). overlayfs: stat() gives the overlay's inode and device, maps the lower file's;
 * btrfs: stat() gives the subvolume's device, maps the filesystem's: there only the inode (or
 * nothing) is compared.
 */
static bool is_mapped_file(int fd, const struct stat *st, uint64_t dev, uint64_t ino)
{
	struct statfs sf;
	bool same_ino = st->st_ino == ino;

	if (same_ino && (!dev || st->st_dev == dev))
		return true;
	if (fstatfs(fd, &sf))
		return false;
	return sf.f_type == 0x794c7630 ||	      /* OVERLAYFS_SUPER_MAGIC */
	       (same_ino && sf.f_type == 0x9123683e); /* BTRFS_SUPER_MAGIC */
}

struct elfsym_table *elfsym_table_open(const char *path, uint64_t dev, uint64_t ino, char *err,
				       size_t errlen)
{
	struct elfsym_table *t;
	struct stat st;
	int fd;

	fd = open_regular(path, false, &st, err, errlen);
	if (fd < 0)
		return NULL;
	if (ino && !is_mapped_file(fd, &st, dev, ino)) {
		snprintf(
		    err, errlen,
		    "not the file that was mapped (device %u:%u inode %llu, mapped %u:%u inode "
		    "%llu): replaced since the recording, or recorded on another machine",
		    major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino, major(dev),
		    minor(dev), (unsigned long long)ino);
		close(fd);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	elf_version(EV_CURRENT);
	if (t)
		t->e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!t || !t->e || elf_kind(t->e) != ELF_K_ELF) {
		snprintf(err, errlen, "not an ELF file: %s", t ? elf_errmsg(-1) : "out of memory");
		goto fail;
	}
	if (table_read(t, err, errlen))
		goto fail;
	elf_cntl(t->e, ELF_C_FDDONE); /* what the names point at stays mapped */
	close(fd);
	return t;
fail:
	elfsym_table_free(t);
	close(fd);
	return NULL;
}

/* The address the symbols give for file offset OFF, or false when no segment loads it. */
static bool off_to_vaddr(const struct elfsym_table *t, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < t->nloads; i++) {
		const struct elfsym_load *l = &t->loads[i];

		if (off >= l->offset && off < l->offset + l->filesz) {
			*vaddr = off - l->offset + l->vaddr;
			return true;
		}
	}
	return false;
}

const char *elfsym_lookup(const struct elfsym_table *t, uint64_t off, uint64_t *symoff)
{
	const struct elfsym_fn *f;
	size_t lo = 0, hi = t->n;
	uint64_t va;

	if (!off_to_vaddr(t, off, &va))
		return NULL;
	while (lo < hi) { /* the first function above VA */
		size_t mid = lo + (hi - lo) / 2;

		if (t->fns[mid].addr <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	f = &t->fns[lo - 1];
	/* a sized function covers its bytes only (a stripped library's internal code after an
	 * exported function is not that function); an unsized one (_fini, assembly), up to the
	 * next only, not the rest of the file */
	if (f->size ? va >= f->addr + f->size : lo == t->n)
		return NULL;
	*symoff = va - f->addr;
	return f->name;
}

void elfsym_table_free(struct elfsym_table *t)
{
	if (!t)
		return;
	if (t->e)
		elf_end(t->e);
	if (t->dbg)
		elf_end(t->dbg);
	free(t->fns);
	free(t->loads);
	free(t);
}

static int grow_ents(struct elfsym_cache *c)
{
	size_t cap = c->cap ? 2 * c->cap : 16;
	struct elfsym_cache_ent **n;

	if (c->n < c->cap)
		return 0;
	n = realloc(c->ents, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->ents = n;
	c->cap = cap;
	return 0;
}

static bool ent_is(const struct elfsym_cache_ent *ce, const char *path, uint64_t dev, uint64_t ino)
{
	return ce->ino == ino && ce->dev == dev && !strcmp(ce->path, path);
}

const struct elfsym_table *elfsym_cache_get(struct elfsym_cache *c, const char *path, uint64_t dev,
					    uint64_t ino, const char **err)
{
	struct elfsym_cache_ent *ce;

	for (size_t k = 0; k < c->n; k++) {
		size_t i = k ? k - 1 + (k - 1 >= c->last) : c->last; /* the last hit first */

		ce = c->ents[i];
		if (ent_is(ce, path, dev, ino)) {
			c->last = i;
			*err = ce->err;
			return ce->t;
		}
	}
	*err = "out of memory";
	if (grow_ents(c))
		return NULL;
	ce = calloc(1, sizeof(*ce));
	if (!ce || !(ce->path = strdup(path))) {
		free(ce);
		return NULL;
	}
	ce->dev = dev;
	ce->ino = ino;
	ce->t = elfsym_table_open(path, dev, ino, ce->err, sizeof(ce->err));
	c->last = c->n;
	c->ents[c->n++] = ce;
	*err = ce->err;
	return ce->t;
}

void elfsym_cache_free(struct elfsym_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->ents[i]->path);
		elfsym_table_free(c->ents[i]->t);
		free(c->ents[i]);
	}
	free(c->ents);
	memset(c, 0, sizeof(*c));
}
