// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * RSS ground truth: grows to a known RSS by touching MIB MiB of fresh anonymous memory (4 KiB
 * faults), prints VmRSS and VmHWM as the kernel counts them, unmaps all but KEEP MiB of it,
 * prints VmRSS again, sleeps a little and exits.
 * Usage: rss_shrink MIB KEEP_MIB
 * Prints: "grown rss_kb=N hwm_kb=N" then "shrunk rss_kb=N".
 */
#include "wl_common.h"
#include <sys/mman.h>

/* "VmRSS:   1234 kB" in /proc/self/status -> 1234 */
static long status_kb(const char *key)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			kb = strtol(line + strlen(key), NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	size_t len, keep;
	char *p;

	if (argc < 3) {
		fprintf(stderr, "usage: rss_shrink MIB KEEP_MIB\n");
		return 2;
	}
	len = strtoul(argv[1], NULL, 10) << 20;
	keep = strtoul(argv[2], NULL, 10) << 20;
	if (keep > len)
		keep = len;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(p, len, MADV_NOHUGEPAGE); /* one fault per page, as a heap grows */
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
	printf("grown rss_kb=%ld hwm_kb=%ld\n", status_kb("VmRSS:"), status_kb("VmHWM:"));
	fflush(stdout);
	if (munmap(p + keep, len - keep)) {
		perror("munmap");
		return 1;
	}
	printf("shrunk rss_kb=%ld\n", status_kb("VmRSS:"));
	fflush(stdout);
	usleep(100 * 1000);
	return 0;
}
