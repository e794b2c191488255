// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mmap_lock contention: M threads mmap, touch and munmap small regions in a loop (each munmap and
 * mmap takes the mmap_lock for write) while F threads fault fresh pages of a shared region, for
 * SECONDS once told to start. Each thread times its own mmap/munmap/fault work; prints
 * "ops N busy_ns T" (T: the summed time all threads spent in those calls, an upper bound on
 * the time they can have waited for the lock).
 * Usage: mmap_churn MAPPERS FAULTERS SECONDS
 */
#include "wl_common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

static double seconds;
static _Atomic uint64_t total_ops, total_busy_ns;

static void *mapper(void *arg)
{
	uint64_t end = wl_now_ns() + seconds * 1e9, ops = 0, busy = 0;

	while (wl_now_ns() < end) {
		uint64_t t0 = wl_now_ns();
		char *p = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (p == MAP_FAILED)
			break;
		p[0] = 1;
		munmap(p, 64 << 10);
		busy += wl_now_ns() - t0;
		ops++;
	}
	total_ops += ops;
	total_busy_ns += busy;
	return arg;
}

static void *faulter(void *arg)
{
	size_t len = 64 << 20;
	uint64_t end = wl_now_ns() + seconds * 1e9, ops = 0, busy = 0;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return arg;
	madvise(p, len, MADV_NOHUGEPAGE);
	while (wl_now_ns() < end) {
		uint64_t t0 = wl_now_ns();

		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		madvise(p, len, MADV_DONTNEED);
		busy += wl_now_ns() - t0;
		ops++;
	}
	munmap(p, len);
	total_ops += ops;
	total_busy_ns += busy;
	return arg;
}

int main(int argc, char **argv)
{
	int m = argc > 3 ? atoi(argv[1]) : 0, f = argc > 3 ? atoi(argv[2]) : 0;
	pthread_t t[64];

	seconds = argc > 3 ? atof(argv[3]) : 0;
	if (m < 1 || f < 0 || m + f > 64 || seconds <= 0) {
		fprintf(stderr, "usage: mmap_churn MAPPERS FAULTERS SECONDS\n");
		return 2;
	}
	if (wl_handshake())
		return 1;
	for (int i = 0; i < m + f; i++)
		pthread_create(&t[i], NULL, i < m ? mapper : faulter, NULL);
	for (int i = 0; i < m + f; i++)
		pthread_join(t[i], NULL);
	printf("ops %llu busy_ns %llu\n", (unsigned long long)total_ops,
	       (unsigned long long)total_busy_ns);
	fflush(stdout);
	return 0;
}
