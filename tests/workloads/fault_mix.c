// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A known mix of page faults, for checking major/minor counts against the kernel's own:
 * ANON_PAGES first touches of fresh anonymous memory (minor faults, huge pages off) and reads of
 * FILE_PAGES pages of a file written to DIR and then dropped from the page cache (major faults:
 * MADV_RANDOM turns read-ahead off, so each page is read from disk by its own fault, and the
 * lock is dropped during the read, so most of them are retried once with FAULT_FLAG_TRIED).
 *
 * Sets everything up, prints "cached C of FILE_PAGES" (pages still resident per mincore) and
 * "pid N", waits for a line on stdin, faults, then prints "done MINFLT MAJFLT" (its own totals
 * from /proc/self/stat, read as the last thing before printing) and exits.
 * DIR must be on a disk-backed file system (not tmpfs), or nothing can be major.
 * Usage: fault_mix ANON_PAGES FILE_PAGES DIR
 */

#include "wl_common.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

static int die(const char *what, const char *path)
{
	fprintf(stderr, "fault_mix: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	long anon_pages, file_pages;
	unsigned long minflt, majflt, sum = 0;
	char path[4096], line[16];
	volatile char *file, *anon;
	int fd;

	if (argc != 4 || (anon_pages = atol(argv[1])) < 1 || (file_pages = atol(argv[2])) < 1) {
		fprintf(stderr, "usage: fault_mix ANON_PAGES FILE_PAGES DIR\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/fault_mix.%d", argv[3], getpid());
	fd = wl_cold_file("fault_mix", path, file_pages);
	file = mmap(NULL, file_pages * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (file == MAP_FAILED)
		die("cannot mmap", path);
	unlink(path); /* the mapping keeps it; nothing is left behind if we are killed */
	close(fd);
	if (madvise((void *)file, file_pages * PAGE, MADV_RANDOM))
		die("madvise(MADV_RANDOM) failed on", path);
	anon = mmap(NULL, anon_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (anon == MAP_FAILED)
		die("cannot mmap", "anonymous memory");
	madvise((void *)anon, anon_pages * PAGE, MADV_NOHUGEPAGE);
	printf("cached %ld of %ld\n", wl_resident_pages((void *)file, file_pages), file_pages);
	printf("pid %d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (long i = 0; i < anon_pages; i++)
		anon[i * PAGE] = 1;
	for (long i = 0; i < file_pages; i++)
		sum += file[i * PAGE];
	wl_self_faults(&minflt, &majflt);
	printf("done %lu %lu\n", minflt, majflt);
	fflush(stdout);
	return sum ? 0 : 1;
}
