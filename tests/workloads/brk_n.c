// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Moves the heap's end with sbrk, for --alloc=lite's brk accounting: N times sbrk(+STEP), then
 * sbrk(-STEP) once. Prints "brk start S end E peak P" (hex): S is the kernel's start_brk (field 47
 * of /proc/self/stat), where this image's heap began; E and P the break at the end and its peak.
 * Usage: brk_n N STEP
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long start_brk(void)
{
	char buf[4096], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	int field = 2;

	if (f)
		fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the comm may hold spaces */
	for (p = p ? p + 1 : buf; *p && field < 47; p++)
		if (*p == ' ')
			field++;
	return strtoul(p, NULL, 10);
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[1]) : -1, step = argc > 2 ? atol(argv[2]) : -1;
	unsigned long start = start_brk(), peak;

	if (n < 0 || step <= 0) {
		fprintf(stderr, "usage: brk_n N STEP\n");
		return 2;
	}
	for (long i = 0; i < n; i++)
		if (sbrk(step) == (void *)-1)
			return 1;
	peak = (unsigned long)sbrk(0);
	if (sbrk(-step) == (void *)-1)
		return 1;
	printf("brk start %lx end %lx peak %lx\n", start, (unsigned long)sbrk(0), peak);
	return 0;
}
