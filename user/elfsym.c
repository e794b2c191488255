// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ELF symbols with libelf: a function's name to the file offset a uprobe is attached at. */
#include "elfsym.h"
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
static void scan_symtab(Elf *e, Elf_Scn *scn, Elf_Data *versym, struct elfsym *ss, int n,
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
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
		    GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC)
			continue;
		name = elf_strptr(e, sh.sh_link, sym.st_name);
		if (!name)
			continue;
		if (versym)
			gelf_getversym(versym, i, &vs);
		dflt = !(vs & 0x8000) && (!strchr(name, '@') || strstr(name, "@@"));
		for (int k = 0; k < n; k++) {
			if (!sym_matches(name, ss[k].name) ||
			    (vaddr[k] && (is_default[k] || !dflt)))
				continue;
			vaddr[k] = sym.st_value;
			is_default[k] = dflt;
			ifunc[k] = GELF_ST_TYPE(sym.st_info) == STT_GNU_IFUNC;
		}
	}
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
		scan_symtab(e, dynsym, versym, ss, n, vaddr, dflt, ifunc);
	if (symtab)
		scan_symtab(e, symtab, NULL, ss, n, vaddr, dflt, ifunc);
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
