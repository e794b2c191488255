// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Makes exactly N malloc calls and N free calls of known sizes once told to start, so allocator
 * counts can be checked exactly. Prints "pid PID", waits for a line on stdin, allocates N blocks
 * (block i is 16 + (i % 64) * 16 bytes), frees them, prints "done N mallocs N frees BYTES bytes"
 * and exits with _exit (no atexit handler may call the allocator). Nothing else in the measured
 * part calls the allocator: output uses write(2), the pointer array comes from mmap.
 * Usage: malloc_n N [--wait]   (--wait: wait for a second line before exiting)
 */
#include "wl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	int wait = argc > 2 && !strcmp(argv[2], "--wait");
	char *volatile *ptrs;
	unsigned long long bytes = 0;
	char buf[128];

	if (n <= 0) {
		wl_say("usage: malloc_n N [--wait]\n");
		return 2;
	}
	ptrs = mmap(NULL, n * sizeof(*ptrs), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (ptrs == MAP_FAILED)
		return 1;
	snprintf(buf, sizeof(buf), "pid %d\n", getpid());
	wl_say(buf);
	wl_wait_line();
	for (long i = 0; i < n; i++) {
		size_t sz = 16 + (i % 64) * 16;

		ptrs[i] = malloc(sz);
		if (!ptrs[i])
			_exit(1);
		ptrs[i][0] = 1;
		bytes += sz;
	}
	for (long i = 0; i < n; i++)
		free(ptrs[i]);
	snprintf(buf, sizeof(buf), "done %ld mallocs %ld frees %llu bytes\n", n, n, bytes);
	wl_say(buf);
	if (wait)
		wl_wait_line();
	_exit(0);
}
