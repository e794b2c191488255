/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Address to symbol with libelf: a file offset in an ELF file (a mapped executable or library)
 * to the function that holds it. Each file is read once, its functions kept sorted.
 */
#ifndef FL_SYMCACHE_H
#define FL_SYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symcache;

struct symcache *symcache_new(void);
void symcache_free(struct symcache *c);
/*
 * The function of PATH that holds file offset OFF: its name in *NAME (owned by the cache) and
 * OFF's distance from its start in *DELTA. false when PATH cannot be read as ELF, has no symbol
 * there (stripped), or OFF is in no loaded segment. DEV and INO are the mapping's (as in
 * /proc/PID/maps): a file replaced since then is not read (open_target_file).
 */
bool symcache_lookup(struct symcache *c, const char *path, uint64_t dev, uint64_t ino, uint64_t off,
		     const char **name, uint64_t *delta);
/* Reads LEN bytes of PATH at file offset OFF into BUF (an instruction before a return address). */
bool symcache_read(struct symcache *c, const char *path, uint64_t dev, uint64_t ino, uint64_t off,
		   void *buf, size_t len);

#endif
