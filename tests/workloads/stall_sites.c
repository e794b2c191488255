// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Collapse stalls from two known functions, for the stall call sites of the report: kv_alloc()
 * (an inference server's KV buffers: mmap + MADV_HUGEPAGE + MADV_COLLAPSE) and loader_pin() (a
 * loader making its staging buffer huge the same way). Built with frame pointers (Makefile).
 * Once told to start, each maps its regions of 4K pages and asks for their collapse; prints
 * "kv_alloc stalls A" and "loader_pin stalls B": the MADV_COLLAPSE calls that succeeded, each
 * a collapse there and then, in this thread (one stall each). Needs THP "madvise" or "never".
 * Usage: stall_sites KV_REGIONS LOADER_REGIONS
 */
#include "wl_common.h"
#include <errno.h>
#include <sys/mman.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define HPAGE (2ul << 20)

/*
 * One 2 MiB-aligned region of 4K pages, or NULL. No MADV_HUGEPAGE: with THP "madvise" or "never"
 * (the test sees to it) the faults take 4K pages and khugepaged leaves the region alone, so only
 * our MADV_COLLAPSE (which ignores those settings) collapses it: one stall per successful call.
 */
static inline __attribute__((always_inline)) char *map_small_pages(void)
{
	char *raw =
	    mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	for (size_t off = 0; off < HPAGE; off += 4096)
		p[off] = 1;
	return p;
}

/* Inlined so that madvise is called from kv_alloc / loader_pin themselves. -1: failed. */
static inline __attribute__((always_inline)) long collapse_each(long n)
{
	long stalls = 0;

	for (long i = 0; i < n; i++) {
		char *p = map_small_pages();

		if (!p)
			return -1;
		if (madvise(p, HPAGE, MADV_COLLAPSE) == 0)
			stalls++;
		else if (errno == EINVAL)
			return -1;
	}
	return stalls;
}

__attribute__((noinline)) long kv_alloc(long n)
{
	return collapse_each(n);
}

__attribute__((noinline)) long loader_pin(long n)
{
	return collapse_each(n);
}

int main(int argc, char **argv)
{
	long kv = argc > 2 ? atol(argv[1]) : 0, ld = argc > 2 ? atol(argv[2]) : 0, a, b;

	if (kv < 1 || kv > 1024 || ld < 1 || ld > 1024) {
		fprintf(stderr, "usage: stall_sites KV_REGIONS LOADER_REGIONS (1..1024 each)\n");
		return 2;
	}
	if (wl_handshake())
		return 1;
	a = kv_alloc(kv);
	b = loader_pin(ld);
	if (a < 0 || b < 0) {
		fprintf(stderr, "stall_sites: MADV_COLLAPSE not supported or mmap failed: %s\n",
			strerror(errno));
		return 3;
	}
	printf("kv_alloc stalls %ld\nloader_pin stalls %ld\n", a, b);
	fflush(stdout);
	return 0;
}
