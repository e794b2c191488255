/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ELF symbols: functions looked up by name in a shared library or executable (libelf). */
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
 * .symtab; a default version wins over an old one; an ifunc is not resolved (its address is the
 * resolver's). 0, or -EINVAL with ERR set when FD is not an ELF file.
 */
int elfsym_resolve(int fd, struct elfsym *ss, int n, char *err, size_t errlen);

#endif
