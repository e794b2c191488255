/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ELF symbols (libelf): functions looked up by name in a shared library or executable (to attach
 * uprobes), and the reverse, the function that holds a code address (to name a fault's ip).
 */
#ifndef FL_ELFSYM_H
#define FL_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

#define ELFSYM_MAX 20

struct elfsym {
	const char *name; /* in: "malloc"; versioned names ("malloc@@GLIBC_2.2.5") match too */
	uint64_t offset;  /* out: file offset of the function, 0 when not resolved */
	char status[112]; /* out: why not, when offset is 0 */
};

/*
 * Resolves the N (at most ELFSYM_MAX) names of SS in the ELF file open on FD: .dynsym, then
 * .symtab, or for a stripped file its debug file's (/usr/lib/debug/.build-id/, where local
 * functions such as glibc's sysmalloc are, also as "NAME.constprop.0" clones); a default version
 * wins over an old one; an ifunc is not resolved (its address is the
 * resolver's). 0, or -EINVAL with ERR set when FD is not an ELF file.
 */
int elfsym_resolve(int fd, struct elfsym *ss, int n, char *err, size_t errlen);

/* One ELF file's functions, sorted by address, for address->symbol lookups. */
struct elfsym_table;

/*
 * Reads the functions of PATH's .symtab and .dynsym (a stripped file has only its exported ones)
 * when it is the mapped file: inode INO on device DEV as in /proc/PID/maps (INO 0: not checked;
 * DEV 0: inode only; a file replaced since the recording would name the wrong code). A symbolic
 * link at PATH is not followed. NULL with ERR set when it cannot be read or is another file.
 */
struct elfsym_table *elfsym_table_open(const char *path, uint64_t dev, uint64_t ino, char *err,
				       size_t errlen);
/*
 * The function holding file offset OFF (an ip minus its mapping's start plus the mapping's
 * offset), with *SYMOFF the ip's offset in it; NULL when no function covers it (a stripped
 * library's internal code).
 */
const char *elfsym_lookup(const struct elfsym_table *t, uint64_t off, uint64_t *symoff);
void elfsym_table_free(struct elfsym_table *t);

/* Tables by path, each file read once: a report symbolizes many ips of few files. */
struct elfsym_cache {
	struct elfsym_cache_ent {
		char *path;
		uint64_t dev, ino;
		struct elfsym_table *t; /* NULL: not readable, ERR says why */
		char err[128];
	} * *ents; /* each allocated once: an ERR handed out stays valid until the cache is freed */
	size_t n, cap, last;
};

/* PATH's table from the cache, read on first use; NULL with *ERR pointing at why (valid until
 * elfsym_cache_free). */
const struct elfsym_table *elfsym_cache_get(struct elfsym_cache *c, const char *path, uint64_t dev,
					    uint64_t ino, const char **err);
void elfsym_cache_free(struct elfsym_cache *c);

#endif
