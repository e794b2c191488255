// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Forks and execs a command once told to start (so a tracer attached with --children sees the
 * fork and the exec), feeding the child's stdin "go\n", and waits for it. Prints
 * "child PID status S" and exits with the child's status.
 * Usage: spawn COMMAND [ARGS...]
 */
#include "wl_common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	int fds[2], status;
	pid_t child;

	if (argc < 2) {
		fprintf(stderr, "usage: spawn COMMAND [ARGS...]\n");
		return 2;
	}
	if (wl_handshake() || pipe(fds))
		return 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execv(argv[1], argv + 1);
		perror("exec");
		_exit(127);
	}
	close(fds[0]);
	if (write(fds[1], "go\n", 3) != 3)
		return 1;
	close(fds[1]);
	waitpid(child, &status, 0);
	printf("child %d status %d\n", child, WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	fflush(stdout);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
