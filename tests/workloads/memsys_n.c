// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Makes an exact set of memory syscalls once told to start, for --alloc=lite: N times mmap
 * (block i is (i + 1) * 3 pages), touch, madvise(MADV_DONTNEED) of the whole block and munmap;
 * then M times mmap one page, mremap it to two pages (MREMAP_MAYMOVE) and munmap the two pages.
 * Prints "pid PID", waits for a line on stdin, makes the calls (and no other memory syscall),
 * then prints "mmap C B munmap C B madvise C B mremap C B" (calls and bytes) and exits.
 * Usage: memsys_n N M
 */
#include "wl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[1]) : -1, m = argc > 2 ? atol(argv[2]) : -1;
	unsigned long long mm_c = 0, mm_b = 0, un_c = 0, un_b = 0, ad_c = 0, ad_b = 0, re_c = 0,
			   re_b = 0;
	long page = sysconf(_SC_PAGESIZE);
	char buf[256];

	if (n < 0 || m < 0) {
		wl_say("usage: memsys_n N M\n");
		return 2;
	}
	snprintf(buf, sizeof(buf), "pid %d\n", getpid());
	wl_say(buf);
	wl_wait_line();
	for (long i = 0; i < n; i++) {
		size_t len = (i + 1) * 3 * page;
		char *p =
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		memset(p, 1, len);
		madvise(p, len, MADV_DONTNEED);
		munmap(p, len);
		mm_c++, mm_b += len, ad_c++, ad_b += len, un_c++, un_b += len;
	}
	for (long i = 0; i < m; i++) {
		char *p =
		    mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *q;

		if (p == MAP_FAILED)
			_exit(1);
		q = mremap(p, page, 2 * page, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			_exit(1);
		munmap(q, 2 * page);
		mm_c++, mm_b += page, re_c++, re_b += 2 * page, un_c++, un_b += 2 * page;
	}
	snprintf(buf, sizeof(buf),
		 "mmap %llu %llu munmap %llu %llu madvise %llu %llu mremap %llu %llu\n", mm_c, mm_b,
		 un_c, un_b, ad_c, ad_b, re_c, re_b);
	wl_say(buf);
	_exit(0);
}
