// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bpf_floor: attaches bench/floor.bpf.c (a page_fault_user program that returns at once), prints
 * "attached", and holds it until stdin reaches its end, so that scripts/bench.sh can read its
 * bpf_stats (run_time_ns, run_cnt) from this process's fdinfo beside faultline's, in the same
 * fault storms. Needs root.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "floor.skel.h"

int main(void)
{
	struct floor_bpf *skel = floor_bpf__open_and_load();
	char buf[256];
	int err;

	if (!skel) {
		fprintf(stderr, "bpf_floor: cannot load the floor program: %s (run as root)\n",
			strerror(errno));
		return 1;
	}
	err = floor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "bpf_floor: cannot attach to page_fault_user: %s\n",
			strerror(-err));
		floor_bpf__destroy(skel);
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	floor_bpf__destroy(skel);
	return 0;
}
