// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * MADV_COLLAPSE, deterministic: maps N 2 MiB-aligned regions of 4K pages (MADV_NOHUGEPAGE while
 * touching, so no THP at fault time whatever the THP mode), then, once told to start, asks the
 * kernel to collapse them into huge pages. Prints "collapsed N huge_bytes B" (N: regions whose
 * MADV_COLLAPSE call succeeded) and exits.
 * Usage: collapse REGIONS
 */
#include "wl_common.h"
#include <errno.h>
#include <sys/mman.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define HPAGE (2ul << 20)

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0, ok = 0;
	size_t len = n * HPAGE;
	char *raw, *p;

	if (n < 1 || n > 4096) {
		fprintf(stderr, "usage: collapse REGIONS (1..4096)\n");
		return 2;
	}
	raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
	if (wl_anon_huge_bytes(p, len))
		fprintf(stderr, "collapse: warning: huge pages before MADV_COLLAPSE\n");
	if (wl_handshake())
		return 1;
	madvise(p, len, MADV_HUGEPAGE); /* clears VM_NOHUGEPAGE, which MADV_COLLAPSE refuses */
	for (long i = 0; i < n; i++) {
		if (madvise(p + i * HPAGE, HPAGE, MADV_COLLAPSE) == 0)
			ok++;
		else if (errno == EINVAL) {
			fprintf(stderr, "collapse: MADV_COLLAPSE not supported: %s\n",
				strerror(errno));
			return 3;
		}
	}
	printf("collapsed %ld huge_bytes %llu\n", ok,
	       (unsigned long long)wl_anon_huge_bytes(p, len));
	fflush(stdout);
	return 0;
}
