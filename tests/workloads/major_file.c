// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Major faults on a named file: writes PAGES pages to PATH, makes them clean (fsync) and evicts
 * them (POSIX_FADV_DONTNEED; with "drop", also /proc/sys/vm/drop_caches when pages are still
 * resident: for a test VM, not a shared host), maps the file shared and read-only with
 * MADV_RANDOM and reads one byte of each page. MADV_RANDOM turns read-ahead off, and fault-around
 * maps only pages already cached, so each page is read from disk by its own (major) fault.
 *
 * Prints "cached C of PAGES" (pages still resident per mincore after the eviction) and "pid N",
 * waits for a line on stdin, touches the pages, prints "done MAJFLT_DELTA MINFLT_DELTA" (its own
 * counters from /proc/self/stat around the loop), then waits for another line and exits. With
 * "late" the file is mapped only after the line and unmapped before "done" (a mapping no maps
 * list shows: only the mapping timeline can name it). PATH is left for the caller to remove.
 * PATH must be on a disk-backed file system (not tmpfs), or nothing can be major.
 * Usage: major_file PATH PAGES [drop] [late]
 */

#include "wl_common.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>

#define PAGE 4096UL

static void die(const char *what, const char *path)
{
	fprintf(stderr, "major_file: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Pages DONTNEED left (locked, under writeback): the whole clean page cache goes. */
static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd < 0 || write(fd, "1\n", 2) != 2)
		die("cannot write 1 to", "/proc/sys/vm/drop_caches");
	close(fd);
}

/* Maps PATH (fd) read-only and shared, without read-ahead. */
static volatile char *map_random(int fd, long pages, const char *path)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("cannot mmap", path);
	if (madvise(p, pages * PAGE, MADV_RANDOM))
		die("madvise(MADV_RANDOM) failed on", path);
	return p;
}

int main(int argc, char **argv)
{
	unsigned long min0, maj0, min1, maj1, sum = 0;
	bool drop = false, late = false;
	volatile char *file;
	long pages;
	int fd;

	for (int i = 3; i < argc; i++) {
		drop |= !strcmp(argv[i], "drop");
		late |= !strcmp(argv[i], "late");
	}
	if (argc < 3 || (pages = atol(argv[2])) < 1) {
		fprintf(stderr, "usage: major_file PATH PAGES [drop] [late]\n");
		return 2;
	}
	fd = wl_cold_file("major_file", argv[1], pages);
	file = map_random(fd, pages, argv[1]);
	if (drop && wl_resident_pages((void *)file, pages))
		drop_caches();
	printf("cached %ld of %ld\n", wl_resident_pages((void *)file, pages), pages);
	if (late)
		munmap((void *)file, pages * PAGE);
	if (wl_handshake())
		return 1;
	if (late)
		file = map_random(fd, pages, argv[1]);
	wl_self_faults(&min0, &maj0);
	for (long i = 0; i < pages; i++)
		sum += file[i * PAGE];
	wl_self_faults(&min1, &maj1);
	if (late)
		munmap((void *)file, pages * PAGE);
	printf("done %lu %lu\n", maj1 - maj0, min1 - min0);
	fflush(stdout);
	wl_wait_line();
	return sum ? 0 : 1;
}
