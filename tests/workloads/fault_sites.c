// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Faults from known code, for the report's "Top faulting code": touch_a() and touch_b() each
 * write one byte per page of a fresh mapping, and memset() (in libc) fills a third. Prints its
 * pid, waits for a line on stdin, runs the three, prints "NAME FAULTS" for each as the kernel
 * counted them (/proc/self/stat minflt+majflt around the call), then stays alive until stdin is
 * closed, so that the session's last look at its mappings still sees it. With --fork, a child
 * forked after the start line does the three (and prints), the parent waits for it.
 * Usage: fault_sites PAGES_A PAGES_B PAGES_MEMSET [--fork]
 */
#include "wl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096

/* noclone: the symbol stays "touch_a", not "touch_a.constprop.0" */
__attribute__((noinline, noclone)) void touch_a(volatile char *p, long pages)
{
	for (long i = 0; i < pages; i++)
		p[i * PAGE] = 1;
}

__attribute__((noinline, noclone)) void touch_b(volatile char *p, long pages)
{
	for (long i = 0; i < pages; i++)
		p[i * PAGE] = 2;
}

static char *fresh(long pages)
{
	char *p =
	    mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE); /* one fault per page */
	return p;
}

static unsigned long faults_now(void)
{
	unsigned long minflt, majflt;

	wl_self_faults(&minflt, &majflt);
	return minflt + majflt;
}

static void run(long a, long b, long c)
{
	char *pa = fresh(a), *pb = fresh(b), *pc = fresh(c);
	unsigned long f0, f1, f2, f3;

	faults_now(); /* after a fork: its copy-on-write faults in stdio and malloc happen here */
	f0 = faults_now();
	touch_a(pa, a);
	f1 = faults_now();
	touch_b(pb, b);
	f2 = faults_now();
	memset(pc, 3, c * PAGE);
	f3 = faults_now();
	printf("touch_a %lu\ntouch_b %lu\nmemset %lu\n", f1 - f0, f2 - f1, f3 - f2);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int fork_it = argc == 5 && !strcmp(argv[4], "--fork");
	long a, b, c;
	pid_t pid;

	if ((argc != 4 && !fork_it) || (a = atol(argv[1])) < 1 || (b = atol(argv[2])) < 1 ||
	    (c = atol(argv[3])) < 1) {
		fprintf(stderr, "usage: fault_sites PAGES_A PAGES_B PAGES_MEMSET [--fork]\n");
		return 2;
	}
	faults_now(); /* the first fopen's own faults happen here, not in a measured window */
	if (wl_handshake())
		return 1;
	if (!fork_it) {
		run(a, b, c);
	} else if ((pid = fork()) == 0) {
		run(a, b, c);
		_exit(0);
	} else if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
		perror("fork");
		return 1;
	}
	printf("done\n");
	fflush(stdout);
	wl_wait_line(); /* until stdin is closed */
	return 0;
}
