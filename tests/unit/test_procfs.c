// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The /proc readers: /proc/PID/stat, from fixed text and from real processes named with
 * prctl(PR_SET_NAME) so that their comm holds spaces, parentheses and a newline. */
#include "procfs.h"
#include "unit.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* fields 23 on (vsize...) cut short: the parser reads up to starttime (22) */
#define STAT_TAIL " 1 2 3 0 -1 4194560 5 6 7 8 9 10 11 12 20 0 1 0 98765 1000 200"

UNIT_TEST(procfs_stat_parse)
{
	struct proc_stat st;

	CHECK(!proc_stat_parse("42 (bash) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 555 "
			       "1000 200\n",
			       &st));
	CHECK_STR(st.comm, "bash");
	CHECK(st.state == 'S');
	CHECK_EQ_U64(st.ppid, 7);
	CHECK_EQ_U64(st.flags, 4194560);
	CHECK_EQ_U64(st.starttime, 555);
	/* a comm that looks like the fields that follow it: only the last ')' ends it */
	CHECK(!proc_stat_parse("43 (a) Z 9 (b c) R" STAT_TAIL, &st));
	CHECK_STR(st.comm, "a) Z 9 (b c");
	CHECK(st.state == 'R');
	CHECK_EQ_U64(st.ppid, 1);
	CHECK_EQ_U64(st.starttime, 98765);
	CHECK(!proc_stat_parse("44 (x\ny) (z)) D" STAT_TAIL, &st));
	CHECK_STR(st.comm, "x\ny) (z)");
	CHECK(st.state == 'D');
	/* a kernel thread: PF_KTHREAD */
	CHECK(!proc_stat_parse("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0",
			       &st));
	CHECK(st.flags & 0x00200000);
	CHECK(proc_stat_parse("45 (cut short) S 1 2", &st) == -EINVAL);
	CHECK(proc_stat_parse("46 no parentheses S 1", &st) == -EINVAL);
	CHECK(proc_stat_parse("47 )backwards( S" STAT_TAIL, &st) == -EINVAL);
	CHECK(proc_stat_parse("", &st) == -EINVAL);
}

/* A child named NAME, blocked reading its end of a pipe until *RELEASE is closed. */
static int spawn_named(const char *name, int *release)
{
	int ready[2], hold[2];
	char c;
	pid_t pid;

	if (pipe(ready) || pipe(hold))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		prctl(PR_SET_NAME, name);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		close(hold[1]);
		return -1;
	}
	close(ready[0]);
	*release = hold[1];
	return pid;
}

UNIT_TEST(procfs_stat_real_process)
{
	static const char *const names[] = {"a) Z 9 (b c", "sp ace)(", "nl\n) S 1 ("};
	struct proc_stat self, st;

	CHECK(!proc_stat_read(getpid(), &self));
	CHECK_EQ_U64(proc_ppid(getpid()), getppid());
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int release = -1, status, pid = spawn_named(names[i], &release);

		CHECK(pid > 0);
		if (pid <= 0)
			continue;
		CHECK(!proc_stat_read(pid, &st));
		CHECK_STR(st.comm, names[i]);
		CHECK(st.state == 'S' || st.state == 'R');
		CHECK_EQ_U64(st.ppid, getpid());
		CHECK(st.starttime >= self.starttime);
		CHECK(!(st.flags & 0x00200000));
		CHECK_EQ_U64(proc_ppid(pid), getpid());
		close(release);
		/* exited, not reaped: a zombie until waitpid (polled: it exits on its own time) */
		for (int t = 0; t < 10000 && !proc_stat_read(pid, &st) && st.state != 'Z'; t++)
			usleep(1000);
		CHECK(st.state == 'Z');
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(proc_stat_read(pid, &st) == -ENOENT);
		CHECK_EQ_U64(proc_ppid(pid), (uint64_t)-1);
	}
}
