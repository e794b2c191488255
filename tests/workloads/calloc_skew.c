// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A skewed calloc distribution: N fast callocs (32 bytes) and S slow ones (64 MiB of reused heap,
 * which calloc must clear), so the slow tail holds more than 1% of the calls and the p99 falls in
 * the slot of the maximum. Prints "pid PID", waits for a line on stdin, makes the calls (each block
 * freed at once), prints "done N fast S slow" and exits with _exit.
 * Usage: calloc_skew N S
 */
#include "wl_common.h"
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[1]) : 0, slow = argc > 2 ? atol(argv[2]) : 0;
	char buf[128];
	char *volatile p;

	if (n <= 0 || slow <= 0) {
		wl_say("usage: calloc_skew N S\n");
		return 2;
	}
	/* 64 MiB blocks from the heap, kept after free: calloc reuses and clears them */
	mallopt(M_MMAP_THRESHOLD, 128 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	p = malloc(64 << 20);
	if (!p)
		return 1;
	memset(p, 1, 64 << 20);
	free(p);
	/* the same calls once before the count starts, so the heap's layout is settled */
	free(calloc(1, 32));
	free(calloc(1, 64 << 20));
	free(calloc(1, 32));
	snprintf(buf, sizeof(buf), "pid %d\n", getpid());
	wl_say(buf);
	wl_wait_line();
	for (long i = 0, made = 0; i < n + slow; i++) {
		/* the slow ones spread among the fast ones: exactly S of them */
		size_t sz = i % ((n + slow) / slow) == 1 && made < slow ? 64 << 20 : 32;

		made += sz > 32;
		p = calloc(1, sz);
		if (!p)
			_exit(1);
		p[sz - 1] = 1;
		free(p);
	}
	snprintf(buf, sizeof(buf), "done %s fast %s slow\n", argv[1], argv[2]);
	wl_say(buf);
	_exit(0);
}
