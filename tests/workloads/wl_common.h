/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared by the test workloads: the "pid N" / wait-for-a-line handshake and small helpers. */
#ifndef FL_WL_COMMON_H
#define FL_WL_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Prints "pid N", then waits for a line on stdin, read byte by byte so nothing after it is lost
 * to stdio buffering (children inherit the rest). */
static inline int wl_handshake(void)
{
	char c;

	printf("pid %d\n", getpid());
	fflush(stdout);
	while (read(0, &c, 1) == 1)
		if (c == '\n')
			return 0;
	return -1;
}

/* Writes S with write(2): for workloads whose measured part must not call the allocator (stdio
 * may allocate its buffer). Exits if stdout is gone. */
static inline void wl_say(const char *s)
{
	if (write(STDOUT_FILENO, s, strlen(s)) < 0)
		_exit(1);
}

/* Waits for a line on stdin, read byte by byte (no stdio, so no allocation). */
static inline void wl_wait_line(void)
{
	char c;

	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		;
}

static inline uint64_t wl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* This process's minor and major faults as the kernel counts them (/proc/self/stat). */
static inline void wl_self_faults(unsigned long *minflt, unsigned long *majflt)
{
	char buf[1024], *p;
	FILE *f = fopen("/proc/self/stat", "r");

	*minflt = *majflt = 0;
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	p = strrchr(buf, ')');
	/* fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt */
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu %*u %lu", minflt, majflt);
}

/* Bytes of anonymous huge pages mapped in [start, start+len), from /proc/self/smaps. */
static inline uint64_t wl_anon_huge_bytes(const void *start, size_t len)
{
	unsigned long lo, hi, kb;
	uint64_t total = 0;
	char line[512];
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = lo < (uintptr_t)start + len && hi > (uintptr_t)start;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			total += kb * 1024;
	}
	fclose(f);
	return total;
}

/* Writes PAGES pages to PATH, makes them clean (fsync) and evicts them from the page cache
 * (POSIX_FADV_DONTNEED), so the next access of each must read it. Returns the fd; exits with a
 * message naming PROG on any error. */
static inline int wl_cold_file(const char *prog, const char *path, long pages)
{
	static char buf[4096];
	const char *what = "cannot write";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0) {
		what = "cannot create";
		goto fail;
	}
	for (long i = 0; i < pages; i++) {
		memset(buf, (int)(i & 0xff) | 1, sizeof(buf));
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			goto fail;
	}
	what = "cannot fsync";
	if (fsync(fd))
		goto fail;
	what = "posix_fadvise(DONTNEED) failed on";
	errno = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (!errno)
		return fd;
fail:
	fprintf(stderr, "%s: %s %s: %s\n", prog, what, path, strerror(errno));
	exit(1);
}

/* How many of PAGES 4 KiB pages at P are in memory (mincore), -1 on error. */
static inline long wl_resident_pages(void *p, long pages)
{
	unsigned char *vec = calloc(pages, 1);
	long n = 0;

	if (!vec || mincore(p, pages * 4096UL, vec)) {
		free(vec);
		return -1;
	}
	for (long i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

#endif
