// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Direct compaction on demand: fills FILL_MB with 4K pages (THP off for that region), gives back
 * one page in every STRIDE so free memory is scattered order-0 holes, then, once told to start, faults
 * THP_MB of MADV_HUGEPAGE memory one huge page at a time. With THP defrag=always, once the free
 * 2 MiB blocks are used up every huge-page fault compacts memory in this thread.
 * Prints "huge_bytes N" (THP_MB's share that got huge pages) and exits.
 * Usage: fragment FILL_MB THP_MB [STRIDE]   (STRIDE default 2)
 */
#include <sys/mman.h>
#include "wl_common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define HPAGE (2ul << 20)

static int fill_and_fragment(size_t len, long stride)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	madvise(p, len, MADV_NOHUGEPAGE);
	if (madvise(p, len, MADV_POPULATE_WRITE)) {
		for (size_t off = 0; off < len; off += 4096) /* kernels before 5.14 */
			p[off] = 1;
	}
	for (size_t off = 0; off < len; off += stride * 4096)
		madvise(p + off, 4096, MADV_DONTNEED);
	return 0;
}

int main(int argc, char **argv)
{
	long fill_mb = argc > 2 ? atol(argv[1]) : 0, thp_mb = argc > 2 ? atol(argv[2]) : 0;
	long stride = argc > 3 ? atol(argv[3]) : 2;
	size_t len = (size_t)thp_mb << 20;
	char *raw, *p;

	if (fill_mb < 0 || thp_mb < 2 || stride < 2) {
		fprintf(stderr, "usage: fragment FILL_MB THP_MB [STRIDE]\n");
		return 2;
	}
	if (fill_mb && fill_and_fragment((size_t)fill_mb << 20, stride)) {
		perror("fill");
		return 1;
	}
	raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	madvise(p, len, MADV_HUGEPAGE);
	if (wl_handshake())
		return 1;
	for (size_t off = 0; off < len; off += HPAGE)
		p[off] = 1;
	printf("huge_bytes %llu\n", (unsigned long long)wl_anon_huge_bytes(p, len));
	fflush(stdout);
	return 0;
}
