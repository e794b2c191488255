// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Makes the allocator grow its heap a known number of times, for --alloc=slow's counts. Prints
 * "pid PID", waits for a line on stdin, then makes LARGE mallocs of 2 MiB and frees them, then
 * SMALL mallocs of 4000 bytes (kept), and prints
 * "done grows G mmapped M freed_mmapped F large L small S" and exits with _exit.
 *
 * Under glibc every malloc that enters sysmalloc either moves the break (sbrk(0) before and
 * after differ: the heap grew past its top) or returns an mmapped chunk (the size word's
 * IS_MMAPPED bit); one that does neither was served from the top or the bins. So G + M is the
 * exact number of sysmalloc calls, and F (frees of mmapped chunks) that of munmap_chunk calls.
 * Under tcmalloc each 2 MiB block (above its 1 MiB minimum growth, none freed before it is
 * asked) is one PageHeap::GrowHeap. Nothing else in the measured part calls the allocator:
 * output uses write(2), the pointer array comes from mmap.
 * Usage: heap_grow SMALL LARGE [--not-glibc]  (--not-glibc: no look at glibc's chunk headers,
 * which another allocator may not have: M and F are then 0)
 */
#include "wl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMALL_SIZE 4000
#define LARGE_SIZE (2u << 20)

/* glibc's chunk header: the size word before the block, bit 1 set for an mmapped chunk. */
static int chunk_mmapped(const void *p)
{
	return (((const size_t *)p)[-1] & 2) != 0;
}

int main(int argc, char **argv)
{
	long small = argc > 1 ? atol(argv[1]) : -1, large = argc > 2 ? atol(argv[2]) : -1;
	int glibc = !(argc > 3 && !strcmp(argv[3], "--not-glibc"));
	long grows = 0, mmapped = 0, freed_mmapped = 0;
	char *volatile *ptrs;
	char buf[160];

	if (small < 0 || large < 0) {
		wl_say("usage: heap_grow SMALL LARGE [--not-glibc]\n");
		return 2;
	}
	ptrs = mmap(NULL, (small + large + 1) * sizeof(*ptrs), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ptrs == MAP_FAILED)
		return 1;
	/* the first malloc also sets up the allocator (glibc: a sysmalloc for its tcache): before
	 */
	ptrs[0] = malloc(1); /* through the volatile array: the compiler may not drop the pair */
	free(ptrs[0]);
	snprintf(buf, sizeof(buf), "pid %d\n", getpid());
	wl_say(buf);
	wl_wait_line();
	for (long i = 0; i < large + small; i++) {
		void *before = sbrk(0);

		ptrs[i] = malloc(i < large ? LARGE_SIZE : SMALL_SIZE);
		if (!ptrs[i])
			return 1;
		if (sbrk(0) != before)
			grows++;
		else if (glibc && chunk_mmapped(ptrs[i]))
			mmapped++;
		if (i == large - 1)
			for (long j = 0; j < large; j++) {
				freed_mmapped += glibc && chunk_mmapped(ptrs[j]);
				free(ptrs[j]);
			}
	}
	snprintf(buf, sizeof(buf),
		 "done grows %ld mmapped %ld freed_mmapped %ld large %ld small %ld\n", grows,
		 mmapped, freed_mmapped, large, small);
	wl_say(buf);
	_exit(0);
}
