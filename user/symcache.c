// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Address to symbol with libelf: one sorted table of functions per file, read on first use. */
#include "symcache.h"
#include "util.h"
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sym {
	uint64_t addr, size;
	char *name;
};

struct seg {
	uint64_t vaddr, offset, filesz;
};

struct symfile {
	char *path;
	uint64_t dev, ino;
	bool ok; /* read as ELF */
	struct sym *syms;
	size_t nsyms;
	struct seg *segs;
	size_t nsegs;
};

struct symcache {
	struct symfile *files;
	size_t nfiles;
};

struct symcache *symcache_new(void)
{
	return calloc(1, sizeof(struct symcache));
}

static void symfile_free(struct symfile *f)
{
	for (size_t i = 0; i < f->nsyms; i++)
		free(f->syms[i].name);
	free(f->syms);
	free(f->segs);
	free(f->path);
}

void symcache_free(struct symcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nfiles; i++)
		symfile_free(&c->files[i]);
	free(c->files);
	free(c);
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The functions of one symbol table, appended to F's. */
static void read_symtab(Elf *e, Elf_Scn *scn, struct symfile *f)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	GElf_Shdr sh;
	size_t n;

	if (!gelf_getshdr(scn, &sh) || !data || !sh.sh_entsize)
		return;
	n = sh.sh_size / sh.sh_entsize;
	struct sym *ns = realloc(f->syms, (f->nsyms + n) * sizeof(*ns));

	if (!ns)
		return;
	f->syms = ns;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym s;
		const char *name;

		if (!gelf_getsym(data, i, &s) || s.st_shndx == SHN_UNDEF || !s.st_value ||
		    (GELF_ST_TYPE(s.st_info) != STT_FUNC &&
		     GELF_ST_TYPE(s.st_info) != STT_GNU_IFUNC))
			continue;
		name = elf_strptr(e, sh.sh_link, s.st_name);
		if (!name || !*name || !(f->syms[f->nsyms].name = strdup(name)))
			continue;
		f->syms[f->nsyms].addr = s.st_value;
		f->syms[f->nsyms].size = s.st_size;
		f->nsyms++;
	}
}

static void read_segs(Elf *e, struct symfile *f)
{
	size_t n;

	if (elf_getphdrnum(e, &n) || !(f->segs = calloc(n ? n : 1, sizeof(*f->segs))))
		return;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		f->segs[f->nsegs++] = (struct seg){ph.p_vaddr, ph.p_offset, ph.p_filesz};
	}
}

static void symfile_load(struct symfile *f)
{
	Elf_Scn *scn = NULL;
	char why[64];
	Elf *e;
	int fd = open_target_file(f->path, f->dev, f->ino, why, sizeof(why));

	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e && elf_kind(e) == ELF_K_ELF) {
		f->ok = true;
		read_segs(e, f);
		while ((scn = elf_nextscn(e, scn))) {
			GElf_Shdr sh;

			/* .symtab where the file has one (unstripped), .dynsym as well: the
			 * exported names of a stripped library */
			if (gelf_getshdr(scn, &sh) &&
			    (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM))
				read_symtab(e, scn, f);
		}
		qsort(f->syms, f->nsyms, sizeof(*f->syms), cmp_sym);
	}
	if (e)
		elf_end(e);
	close(fd);
}

static struct symfile *symfile_get(struct symcache *c, const char *path, uint64_t dev, uint64_t ino)
{
	struct symfile *f;

	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].ino == ino && c->files[i].dev == dev &&
		    !strcmp(c->files[i].path, path))
			return &c->files[i];
	f = realloc(c->files, (c->nfiles + 1) * sizeof(*f));
	if (!f)
		return NULL;
	c->files = f;
	f = &c->files[c->nfiles];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		return NULL;
	f->dev = dev;
	f->ino = ino;
	c->nfiles++;
	symfile_load(f);
	return f;
}

bool symcache_lookup(struct symcache *c, const char *path, uint64_t dev, uint64_t ino, uint64_t off,
		     const char **name, uint64_t *delta)
{
	struct symfile *f = symfile_get(c, path, dev, ino);
	uint64_t va = 0;
	bool in_seg = false;
	size_t lo = 0, hi;

	if (!f || !f->ok || !f->nsyms)
		return false;
	for (size_t i = 0; i < f->nsegs && !in_seg; i++) {
		const struct seg *s = &f->segs[i];

		if (off >= s->offset && off < s->offset + s->filesz) {
			va = off - s->offset + s->vaddr;
			in_seg = true;
		}
	}
	if (!in_seg)
		return false;
	/* the last function starting at or below VA */
	hi = f->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].addr <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	const struct sym *s = &f->syms[lo - 1];

	/* past a sized function's end: code no symbol covers (a stripped static function); a
	 * sizeless one (_fini, assembly) covers up to the next symbol only, not the rest of .text
	 */
	if (s->size ? va >= s->addr + s->size : lo == f->nsyms)
		return false;
	*name = s->name;
	*delta = va - s->addr;
	return true;
}

bool symcache_read(struct symcache *c, const char *path, uint64_t dev, uint64_t ino, uint64_t off,
		   void *buf, size_t len)
{
	char why[64];
	int fd;
	bool ok;

	(void)c;
	fd = open_target_file(path, dev, ino, why, sizeof(why));
	if (fd < 0)
		return false;
	ok = pread(fd, buf, len, (off_t)off) == (ssize_t)len;
	close(fd);
	return ok;
}
