// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Processes that exec and exit before a tracer can read their maps: once told to start, forks
 * N children one after the other, each exec'ing PROG (no arguments; a short program such as a
 * copy of true), and waits for each with wait4, which gives the child's own fault count.
 * Prints "children N faults F self S": F the children's faults (minor + major, fork to exit),
 * S its own during the loop (getrusage).
 * Usage: exec_exit N PROG
 */
#include "wl_common.h"
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

static long self_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

int main(int argc, char **argv)
{
	long n, faults = 0, self;
	char buf[128];

	if (argc != 3) {
		fprintf(stderr, "usage: exec_exit N PROG\n");
		return 2;
	}
	n = atol(argv[1]);
	if (wl_handshake())
		return 1;
	self = self_faults();
	for (long i = 0; i < n; i++) {
		struct rusage ru;
		int status;
		pid_t child = fork();

		if (child < 0)
			return 1;
		if (child == 0) {
			execl(argv[2], argv[2], (char *)NULL);
			_exit(127);
		}
		if (wait4(child, &status, 0, &ru) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			return 1;
		faults += ru.ru_minflt + ru.ru_majflt;
	}
	self = self_faults() - self;
	snprintf(buf, sizeof(buf), "children %ld faults %ld self %ld\n", n, faults, self);
	wl_say(buf);
	return 0;
}
