// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Touches N fresh anonymous pages from T threads once told to start, so page-fault counts can be
 * checked against the kernel's own /proc/PID/stat. Prints its pid, waits for a line on stdin
 * (or SIGUSR1), touches, then prints "minflt majflt" as the kernel counted them and exits.
 * --per-thread also prints "thread TID MINFLT MAJFLT" for each toucher thread first: its own
 * faults (RUSAGE_THREAD), taken when it is done touching.
 * Usage: touch_pages PAGES [THREADS] [--nohuge] [--rounds R] [--per-thread]
 */
#include "wl_common.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static long pages_per_thread;
static int rounds = 1, nohuge, per_thread;

struct toucher {
	pthread_t thread;
	pid_t tid;
	struct rusage ru;
};

static void *toucher(void *arg)
{
	struct toucher *t = arg;

	size_t len = pages_per_thread * 4096;

	for (int r = 0; r < rounds; r++) {
		char *p =
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
		if (nohuge)
			madvise(p, len, MADV_NOHUGEPAGE);
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		munmap(p, len);
	}
	t->tid = gettid();
	getrusage(RUSAGE_THREAD, &t->ru);
	return arg;
}

int main(int argc, char **argv)
{
	int threads = 1;
	static struct toucher tt[64];
	unsigned long minflt, majflt;
	char line[16];

	if (argc < 2) {
		fprintf(stderr, "usage: touch_pages PAGES [THREADS] [--nohuge] [--rounds R] "
				"[--per-thread]\n");
		return 2;
	}
	pages_per_thread = atol(argv[1]);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--nohuge"))
			nohuge = 1;
		else if (!strcmp(argv[i], "--per-thread"))
			per_thread = 1;
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else
			threads = atoi(argv[i]);
	}
	if (threads < 1 || threads > 64 || pages_per_thread < 1)
		return 2;
	pages_per_thread /= threads;
	printf("pid %d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < threads; i++)
		pthread_create(&tt[i].thread, NULL, toucher, &tt[i]);
	for (int i = 0; i < threads; i++)
		pthread_join(tt[i].thread, NULL);
	for (int i = 0; per_thread && i < threads; i++)
		printf("thread %d %ld %ld\n", (int)tt[i].tid, tt[i].ru.ru_minflt,
		       tt[i].ru.ru_majflt);
	wl_self_faults(&minflt, &majflt);
	printf("%lu %lu\n", minflt, majflt);
	fflush(stdout);
	return 0;
}
