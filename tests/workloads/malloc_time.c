// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Times its own malloc and free of small sizes (16..256 bytes), clock_gettime around each call,
 * N calls of each: once before the handshake (untraced, the ground truth), once after (traced).
 * Prints "untraced malloc_p50_ns A free_p50_ns B", then "pid PID", waits for a line on stdin,
 * repeats, prints "traced malloc_p50_ns C free_p50_ns D" and "done N mallocs N frees" and exits
 * with _exit. The durations live in arrays mmap'ed before the first timed call, so the only
 * allocator calls of the traced part are the N mallocs and N frees (the medians by quickselect:
 * glibc's qsort may allocate).
 * Usage: malloc_time N
 */
#include "wl_common.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The median of V by quickselect, in place: qsort may call malloc for its buffer. */
static uint64_t median(uint64_t *v, long n)
{
	long lo = 0, hi = n - 1, k = n / 2;

	while (lo < hi) {
		uint64_t pivot = v[lo + (hi - lo) / 2], t;
		long i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/* N mallocs and N frees, each timed; the medians into *M and *F. */
static void run(long n, uint64_t *md, uint64_t *fd, uint64_t *m, uint64_t *f)
{
	for (long i = 0; i < n; i++) {
		size_t sz = 16 + (i % 16) * 16;
		uint64_t t0, t1, t2;
		void *volatile p;

		t0 = wl_now_ns();
		p = malloc(sz);
		t1 = wl_now_ns();
		free(p);
		t2 = wl_now_ns();
		md[i] = t1 - t0;
		fd[i] = t2 - t1;
	}
	*m = median(md, n);
	*f = median(fd, n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	uint64_t *md, *fd, m, f;
	char buf[160];

	if (n <= 0) {
		wl_say("usage: malloc_time N\n");
		return 2;
	}
	md = mmap(NULL, 2 * n * sizeof(*md), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	if (md == MAP_FAILED)
		return 1;
	fd = md + n;
	run(n, md, fd, &m, &f); /* also warms the tcache and the arrays' pages */
	run(n, md, fd, &m, &f);
	snprintf(buf, sizeof(buf), "untraced malloc_p50_ns %llu free_p50_ns %llu\npid %d\n",
		 (unsigned long long)m, (unsigned long long)f, getpid());
	wl_say(buf);
	wl_wait_line();
	run(n, md, fd, &m, &f);
	snprintf(buf, sizeof(buf),
		 "traced malloc_p50_ns %llu free_p50_ns %llu\ndone %ld mallocs %ld frees\n",
		 (unsigned long long)m, (unsigned long long)f, n, n);
	wl_say(buf);
	_exit(0);
}
