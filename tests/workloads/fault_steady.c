// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Faults for the live views (top, serve). T named threads ("toucher-0"...) each own a region of
 * anonymous 4K pages (no THP). Prints "pid N", then reads commands on stdin:
 *   a number N: every thread together touches N fresh pages (one minor fault each); then it
 *               prints "done N"
 *   EOF:        exits, unless --rate is running
 * With --rate R the threads also fault R pages per second in total, for as long as the process
 * lives, giving pages back with munmap+mmap (which takes mmap_lock for write: with several
 * threads some faults wait for it, so there are mmap_lock stalls to see).
 * Usage: fault_steady THREADS [--rate FAULTS_PER_S]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define REGION_PAGES 4096ul
#define SLICE_NS 10000000ull /* the rate is kept over 10 ms slices */

struct worker {
	pthread_t tid;
	int idx;
	uint64_t rate; /* pages per second, this thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t burst; /* pages still to touch for the current burst */
	char *region;
	size_t next; /* next page of the region to touch */
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int busy;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static char *region_map(void)
{
	char *p = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("fault_steady: mmap");
		exit(1);
	}
	madvise(p, REGION_PAGES * PAGE, MADV_NOHUGEPAGE);
	return p;
}

/* One fresh page: a new region once the current one is used up. */
static void touch_one(struct worker *w)
{
	if (w->next == REGION_PAGES) {
		munmap(w->region, REGION_PAGES * PAGE);
		w->region = region_map();
		w->next = 0;
	}
	w->region[w->next++ * PAGE] = 1;
}

static void run_burst(struct worker *w)
{
	uint64_t n;

	pthread_mutex_lock(&w->lock);
	n = w->burst;
	w->burst = 0;
	pthread_mutex_unlock(&w->lock);
	if (!n)
		return;
	while (n--)
		touch_one(w);
	pthread_mutex_lock(&done_lock);
	if (--busy == 0)
		pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t start = now_ns(), done = 0;
	char name[16];

	snprintf(name, sizeof(name), "toucher-%d", w->idx);
	pthread_setname_np(pthread_self(), name);
	w->region = region_map();
	for (;;) {
		run_burst(w);
		if (w->rate) {
			uint64_t due = (now_ns() - start) * w->rate / 1000000000ull;

			while (done < due) {
				touch_one(w);
				done++;
			}
			usleep(SLICE_NS / 1000);
			continue;
		}
		pthread_mutex_lock(&w->lock);
		while (!w->burst)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void burst(struct worker *ws, int n, uint64_t pages)
{
	pthread_mutex_lock(&done_lock);
	busy = n;
	pthread_mutex_unlock(&done_lock);
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&ws[i].lock);
		ws[i].burst = pages / n + (i == 0 ? pages % n : 0);
		if (!ws[i].burst)
			ws[i].burst = 1; /* every thread counts down busy once */
		pthread_cond_signal(&ws[i].cond);
		pthread_mutex_unlock(&ws[i].lock);
	}
	pthread_mutex_lock(&done_lock);
	while (busy)
		pthread_cond_wait(&done_cond, &done_lock);
	pthread_mutex_unlock(&done_lock);
}

int main(int argc, char **argv)
{
	static struct worker ws[64];
	uint64_t rate = 0;
	char line[64];
	int n;

	if (argc < 2 || (n = atoi(argv[1])) < 1 || n > 64) {
		fprintf(stderr, "usage: fault_steady THREADS [--rate FAULTS_PER_S]\n");
		return 2;
	}
	if (argc == 4 && !strcmp(argv[2], "--rate"))
		rate = strtoull(argv[3], NULL, 10);
	for (int i = 0; i < n; i++) {
		ws[i].idx = i;
		ws[i].rate = rate / n;
		pthread_mutex_init(&ws[i].lock, NULL);
		pthread_cond_init(&ws[i].cond, NULL);
		pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
	}
	printf("pid %d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t pages = strtoull(line, NULL, 10);

		burst(ws, n, pages);
		printf("done %llu\n", (unsigned long long)pages);
		fflush(stdout);
	}
	if (rate)
		for (;;)
			pause();
	return 0;
}
