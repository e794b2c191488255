// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fault storm for scripts/bench.sh: T threads each own a region of anonymous 4K pages (no THP)
 * and write one byte per page, so every touch is a fresh minor fault; then they give the pages
 * back (madvise(MADV_DONTNEED), or munmap + mmap with --mode mmap) and go round again, until the
 * total number of faults is reached or the duration is up. --rate paces the storm to a fixed
 * number of faults per second (for measuring a consumer's CPU at a known event rate).
 *
 * Prints one line of key=value pairs: what it did, the wall time of the storm, faults/s, and
 * the kernel's own minflt count for the process (ground truth for the tracers).
 *
 * Usage: bench_faults [-t THREADS] [-n FAULTS] [-s SECONDS] [-r FAULTS_PER_S] [-p PAGES]
 *                     [--mode dontneed|mmap] [--read] [--hold]
 * --read reads each page instead of writing it: the fault maps the shared zero page, which
 * skips allocating and zeroing a page, so the kernel takes faults faster.
 * --hold waits, after printing the result line, until stdin reaches its end: a tracer's
 * per-program statistics (bpf_stats) can be read while its programs are still loaded.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define BATCH_PAGES 64 /* pages touched between rate checks */

struct cfg {
	int threads;
	uint64_t faults;     /* total over all threads; 0 with -s */
	double seconds;	     /* 0 with -n */
	uint64_t rate;	     /* total faults/s; 0 = as fast as possible */
	size_t region_pages; /* per thread */
	int use_mmap;
	int read_only; /* read instead of write: each fault maps the shared zero page (cheaper) */
	int hold;      /* after the result line, wait for the end of stdin */
};

struct worker {
	pthread_t tid;
	const struct cfg *cfg;
	uint64_t quota; /* faults this thread takes (with -n) */
	uint64_t done;
};

static volatile char sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static char *region_map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("bench_faults: mmap");
		exit(1);
	}
	/* 4K pages only: one fault per page, whatever the THP setting */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* Gives the region's pages back, so the next touch of each one faults again. */
static char *region_recycle(const struct cfg *c, char *p, size_t len)
{
	if (!c->use_mmap) {
		if (madvise(p, len, MADV_DONTNEED)) {
			perror("bench_faults: madvise(MADV_DONTNEED)");
			exit(1);
		}
		return p;
	}
	munmap(p, len);
	return region_map(len);
}

/* With --rate: sleeps until this thread is back on its schedule. */
static void pace(const struct cfg *c, uint64_t start_ns, uint64_t done)
{
	uint64_t per_thread = c->rate / c->threads, due_ns, now;

	if (!per_thread)
		return;
	due_ns = start_ns + done * 1000000000ull / per_thread;
	now = now_ns();
	if (due_ns > now) {
		struct timespec ts = {.tv_sec = (due_ns - now) / 1000000000ull,
				      .tv_nsec = (due_ns - now) % 1000000000ull};

		nanosleep(&ts, NULL);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct cfg *c = w->cfg;
	size_t len = c->region_pages * PAGE, pos = 0;
	uint64_t start = now_ns(), end = c->seconds ? start + (uint64_t)(c->seconds * 1e9) : 0;
	char *p = region_map(len);

	for (;;) {
		size_t n =
		    c->region_pages - pos < BATCH_PAGES ? c->region_pages - pos : BATCH_PAGES;

		if (w->quota && w->quota - w->done < n)
			n = w->quota - w->done;
		if (c->read_only)
			for (size_t i = 0; i < n; i++)
				sink += ((volatile char *)p)[(pos + i) * PAGE];
		else
			for (size_t i = 0; i < n; i++)
				p[(pos + i) * PAGE] = 1;
		w->done += n;
		pos += n;
		if (w->quota && w->done >= w->quota)
			break;
		if (end && now_ns() >= end)
			break;
		if (pos == c->region_pages) {
			p = region_recycle(c, p, len);
			pos = 0;
		}
		if (c->rate)
			pace(c, start, w->done);
	}
	munmap(p, len);
	return NULL;
}

static unsigned long self_minflt(void)
{
	char buf[1024], *p;
	unsigned long minflt = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu", &minflt);
	fclose(f);
	return minflt;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -EINVAL : 0;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: bench_faults [-t THREADS] [-n FAULTS | -s SECONDS] [-r FAULTS_PER_S]\n"
	    "                    [-p PAGES_PER_THREAD] [--mode dontneed|mmap] [--read] [--hold]\n"
	    "  default: -t 2 -n 2000000 -p 1024 --mode dontneed, as fast as possible\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct cfg *c)
{
	static const struct option longopts[] = {{"threads", required_argument, NULL, 't'},
						 {"faults", required_argument, NULL, 'n'},
						 {"seconds", required_argument, NULL, 's'},
						 {"rate", required_argument, NULL, 'r'},
						 {"pages", required_argument, NULL, 'p'},
						 {"mode", required_argument, NULL, 'm'},
						 {"read", no_argument, NULL, 'R'},
						 {"hold", no_argument, NULL, 'H'},
						 {}};
	uint64_t v;
	int o;

	*c = (struct cfg){.threads = 2, .faults = 2000000, .region_pages = 1024};
	while ((o = getopt_long(argc, argv, "t:n:s:r:p:", longopts, NULL)) != -1) {
		if (o == 'R') {
			c->read_only = 1;
			continue;
		}
		if (o == 'H') {
			c->hold = 1;
			continue;
		}
		if (o == 'm') {
			if (strcmp(optarg, "dontneed") && strcmp(optarg, "mmap"))
				usage();
			c->use_mmap = !strcmp(optarg, "mmap");
			continue;
		}
		if (o == '?' || parse_u64(optarg, &v) || !v)
			usage();
		if (o == 't' && v <= 256)
			c->threads = v;
		else if (o == 'n')
			c->faults = v, c->seconds = 0;
		else if (o == 's' && v <= 86400)
			c->seconds = v, c->faults = 0;
		else if (o == 'r')
			c->rate = v;
		else if (o == 'p' && v <= (1u << 20))
			c->region_pages = v;
		else
			usage();
	}
	if (optind < argc)
		usage();
}

int main(int argc, char **argv)
{
	struct worker ws[256] = {};
	unsigned long flt0, flt1;
	uint64_t t0, t1, total = 0;
	struct cfg c;

	parse_args(argc, argv, &c);
	flt0 = self_minflt();
	t0 = now_ns();
	for (int i = 0; i < c.threads; i++) {
		ws[i].cfg = &c;
		ws[i].quota =
		    c.faults ? c.faults / c.threads + (i < (int)(c.faults % c.threads)) : 0;
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i])) {
			fprintf(stderr, "bench_faults: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (int i = 0; i < c.threads; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].done;
	}
	t1 = now_ns();
	flt1 = self_minflt();
	printf("mode=%s%s threads=%d touches=%llu wall_s=%.4f faults_per_s=%.0f minflt=%lu\n",
	       c.use_mmap ? "mmap" : "dontneed", c.read_only ? "-read" : "", c.threads,
	       (unsigned long long)total, (t1 - t0) / 1e9, total / ((t1 - t0) / 1e9), flt1 - flt0);
	if (c.hold) {
		char buf[256];

		fflush(stdout);
		while (fread(buf, 1, sizeof(buf), stdin) > 0)
			;
	}
	return 0;
}
