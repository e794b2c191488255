// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory that reclaim can take back without swap: once told to start, maps TOTAL_MB in CHUNK_MB
 * pieces, writes every 4K page and gives each piece back with MADV_FREE (lazily freed pages sit
 * on the file LRU until reclaim discards them, counted in /proc/vmstat pglazyfreed). In a memory
 * cgroup smaller than TOTAL_MB this makes the allocating thread reclaim (memcg reclaim).
 * Prints "touched PAGES" and exits.
 * Usage: lazyfree TOTAL_MB [CHUNK_MB]
 */
#include "wl_common.h"
#include <sys/mman.h>

#ifndef MADV_FREE
#define MADV_FREE 8
#endif

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 0, chunk = argc > 2 ? atol(argv[2]) : 16;
	unsigned long pages = 0;

	if (total < 1 || chunk < 1) {
		fprintf(stderr, "usage: lazyfree TOTAL_MB [CHUNK_MB]\n");
		return 2;
	}
	if (wl_handshake())
		return 1;
	for (long done = 0; done < total; done += chunk) {
		size_t len = chunk << 20;
		char *p =
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		madvise(p, len, MADV_NOHUGEPAGE);
		for (size_t off = 0; off < len; off += 4096, pages++)
			p[off] = 1;
		if (madvise(p, len, MADV_FREE)) {
			perror("madvise(MADV_FREE)");
			return 1;
		}
	}
	printf("touched %lu\n", pages);
	fflush(stdout);
	return 0;
}
