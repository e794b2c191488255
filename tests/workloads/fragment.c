// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Direct compaction on demand: fills FILL_MB with 4K pages (THP off for that region), gives back
 * one page in every STRIDE so free memory is scattered order-0 holes, then, once told to start,
 * faults MADV_HUGEPAGE memory one huge page at a time. With THP defrag=always, once the free
 * 2 MiB blocks are used up every huge-page fault compacts memory in this thread.
 * The start line is "go" (fault THP_MB) or "go MB" (fault MB, at most THP_MB): the caller can
 * size the run from the free 2 MiB blocks it sees just before it starts.
 * Prints "thp_faults N" (huge-page-sized ranges touched), "huge_bytes N" (their share that got
 * huge pages) and exits.
 * Usage: fragment FILL_MB THP_MB [STRIDE]   (STRIDE default 2)
 */
#include "wl_common.h"
#include <sys/mman.h>

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

/* Should memory run out anyway (others allocating meanwhile), the OOM killer picks this first. */
static void oom_first(void)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "w");

	if (f) {
		fputs("1000\n", f);
		fclose(f);
	}
}

/* Prints "pid N", reads the start line ("go" or "go MB") byte by byte; -1 on EOF or bad line. */
static long wait_start(long max_mb)
{
	char line[64], *end;
	size_t n = 0;
	long mb;

	printf("pid %d\n", getpid());
	fflush(stdout);
	while (read(0, line + n, 1) == 1 && line[n] != '\n')
		if (++n == sizeof(line) - 1)
			return -1;
	line[n] = '\0';
	if (strcmp(line, "go") == 0)
		return max_mb;
	if (strncmp(line, "go ", 3) != 0)
		return -1;
	mb = strtol(line + 3, &end, 10);
	return *end || mb < 2 || mb > max_mb ? -1 : mb;
}

int main(int argc, char **argv)
{
	long fill_mb = argc > 2 ? atol(argv[1]) : 0, thp_mb = argc > 2 ? atol(argv[2]) : 0;
	long stride = argc > 3 ? atol(argv[3]) : 2, go_mb;
	size_t len = (size_t)thp_mb << 20, n = 0;
	char *raw, *p;

	if (fill_mb < 0 || thp_mb < 2 || stride < 2) {
		fprintf(stderr, "usage: fragment FILL_MB THP_MB [STRIDE]\n");
		return 2;
	}
	oom_first();
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
	go_mb = wait_start(thp_mb);
	if (go_mb < 0) {
		fprintf(stderr, "fragment: expected a start line \"go\" or \"go MB\" (2..%ld)\n",
			thp_mb);
		return 1;
	}
	alarm(60); /* the caller waits for the exit: never hang it */
	len = (size_t)go_mb << 20 & ~(HPAGE - 1);
	for (size_t off = 0; off < len; off += HPAGE, n++)
		p[off] = 1;
	printf("thp_faults %zu\nhuge_bytes %llu\n", n,
	       (unsigned long long)wl_anon_huge_bytes(p, len));
	fflush(stdout);
	return 0;
}
