// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Faults a known number of pages in each kind of mapping, for the mapping timeline: F pages of
 * FILE mapped private and written (a write to a private file page is one copy-on-write fault
 * per page: no fault-around), A pages of a private anonymous region, H pages of [heap] grown
 * with sbrk, and NBUF buffers of B pages each, mapped, written and unmapped one after the other
 * (so they reuse one address). THP is off for the process, so each page is one fault. Counts
 * its own faults around each part (getrusage: no allocation) and prints, before exiting,
 * "file N anon N heap N buffers N" and "sizes anon BYTES buffer BYTES". With HOLD_MS, it first
 * prints "pid N" and waits for a line on stdin (for record -p), and at the end keeps its
 * mappings that long before exiting (for record's periodic look at its maps).
 * Usage: map_regions FILE F A H NBUF B [HOLD_MS]
 */
#include "wl_common.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

static void touch(char *p, long pages, long page)
{
	for (long i = 0; i < pages; i++)
		((volatile char *)p)[i * page] = 1;
}

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE), f, a, h, nbuf, b, n_file, n_anon, n_heap, n_buf = 0, t;
	char buf[256], *p;
	int fd;

	if (argc != 7 && argc != 8) {
		wl_say("usage: map_regions FILE F A H NBUF B [HOLD_MS]\n");
		return 2;
	}
	f = atol(argv[2]), a = atol(argv[3]), h = atol(argv[4]), nbuf = atol(argv[5]);
	b = atol(argv[6]);
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		_exit(1);
	if (argc == 8 && wl_handshake())
		_exit(1);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		_exit(1);
	p = mmap(NULL, f * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		_exit(1);
	t = minflt();
	touch(p, f, page);
	n_file = minflt() - t;

	p = mmap(NULL, a * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	t = minflt();
	touch(p, a, page);
	n_anon = minflt() - t;

	p = sbrk(0);
	p = (char *)(((unsigned long)p + page - 1) & ~(page - 1));
	if (brk(p + h * page))
		_exit(1);
	t = minflt();
	touch(p, h, page);
	n_heap = minflt() - t;

	for (long i = 0; i < nbuf; i++) {
		p = mmap(NULL, b * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
		if (p == MAP_FAILED)
			_exit(1);
		t = minflt();
		touch(p, b, page);
		n_buf += minflt() - t;
		munmap(p, b * page);
	}
	snprintf(buf, sizeof(buf),
		 "file %ld anon %ld heap %ld buffers %ld\nsizes anon %ld buffer %ld\n", n_file,
		 n_anon, n_heap, n_buf, a * page, b * page);
	wl_say(buf);
	if (argc == 8)
		usleep(atol(argv[7]) * 1000);
	_exit(0);
}
