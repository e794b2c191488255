// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The model reads the meaning BPF decided (format 3): FL_F_WRITE, the fault outcome, the memory
 * syscall op and madvise advice, process events through proc_ev_decode(), and RSS pages in the
 * header's page size. A recording made of such events is read back by model_build(). */
#include "model.h"
#include "procev.h"
#include "recfile.h"
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PID 4242
#define META "{\"host\":{\"page_size\":16384}}"

static int write_events(const char *path)
{
	struct fl_fault w = {
	    .h = {FL_EV_FAULT, FL_F_WRITE, PID, 100}, .pid = PID, .error_code = 0, .addr = 0x1000};
	/* error_code 2 (the x86 write bit) without FL_F_WRITE: a reader must not decode it */
	struct fl_fault r = {
	    .h = {FL_EV_FAULT, FL_F_KERNEL, PID, 101}, .pid = PID, .error_code = 2, .addr = 0x2000};
	struct fl_fault_dur d[4] = {
	    {.h = {FL_EV_FAULT_DUR, 0, PID, 102}, .pid = PID, .outcome = FL_FO_MINOR},
	    {.h = {FL_EV_FAULT_DUR, 0, PID, 103}, .pid = PID, .outcome = FL_FO_MAJOR},
	    /* VM_FAULT_NEEDDSYNC (0x2000) with a minor outcome: not an error any more */
	    {.h = {FL_EV_FAULT_DUR, 0, PID, 104},
	     .pid = PID,
	     .vm_fault = 0x2000,
	     .outcome = FL_FO_MINOR},
	    {.h = {FL_EV_FAULT_DUR, 0, PID, 105}, .pid = PID, .outcome = FL_FO_ERROR},
	};
	struct fl_proc fork = {.h = {FL_EV_PROC, 0, PID, 106},
			       .pid = PID + 1,
			       .ppid = PID,
			       .kind = FL_PROC_FORK,
			       .child = PID + 1,
			       .comm = "child"};
	struct fl_rss rss = {.h = {FL_EV_RSS, 0, PID, 107}, .pid = PID, .pages = {1, 2, 0, 0}};
	struct fl_writer *wr;
	int err = fl_writer_open(&wr, path, META);

	if (err)
		return err;
	err = err ?: fl_writer_append(wr, &w, sizeof(w));
	err = err ?: fl_writer_append(wr, &r, sizeof(r));
	for (int i = 0; i < 4; i++)
		err = err ?: fl_writer_append(wr, &d[i], sizeof(d[i]));
	err = err ?: fl_writer_append(wr, &fork, sizeof(fork));
	err = err ?: fl_writer_append(wr, &rss, sizeof(rss));
	return fl_writer_close(wr, "{}") ?: err;
}

UNIT_TEST(model_reads_the_bpf_meaning)
{
	char path[] = "/tmp/fl-unit-model-XXXXXX";
	struct model m;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_U64(write_events(path), 0);
	CHECK_EQ_U64(model_build(&m, path), 0);
	CHECK_EQ_U64(m.faults_user, 1);
	CHECK_EQ_U64(m.faults_kernel, 1);
	CHECK_EQ_U64(m.faults_write, 1);
	CHECK_EQ_U64(m.faults_minor, 2);
	CHECK_EQ_U64(m.faults_major, 1);
	CHECK_EQ_U64(m.faults_error, 1);
	CHECK_EQ_U64(m.forks, 1);
	CHECK_EQ_U64(m.page_size, 16384);
	CHECK_EQ_U64(m.nrss, 1);
	model_free(&m);
	unlink(path);
}

UNIT_TEST(proc_ev_decode_names_the_process)
{
	struct fl_proc fork = {.h = {.type = FL_EV_PROC, .ts_ns = 7},
			       .pid = 11,
			       .ppid = 10,
			       .kind = FL_PROC_FORK,
			       .child = 11};
	struct fl_proc bad = {.h = {.type = FL_EV_PROC}, .pid = 12, .kind = 9};
	struct proc_ev e;

	memset(fork.comm, 'x', sizeof(fork.comm)); /* not NUL-terminated in the event */
	CHECK(proc_ev_decode(&fork, sizeof(fork), &e));
	CHECK_EQ_U64(e.kind, FL_PROC_FORK);
	CHECK_EQ_U64(e.pid, 11);
	CHECK_EQ_U64(e.parent, 10);
	CHECK_EQ_U64(e.ts_ns, 7);
	CHECK_EQ_U64(strlen(e.comm), FL_COMM_LEN - 1);
	CHECK(!proc_ev_decode(&fork, sizeof(fork) - 1, &e)); /* too short */
	CHECK(!proc_ev_decode(&bad, sizeof(bad), &e));	     /* unknown kind */
}
