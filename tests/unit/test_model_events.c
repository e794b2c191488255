// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The model reads the meaning BPF decided (format 3): FL_F_WRITE, the fault outcome, the memory
 * syscall op and madvise advice, process events through proc_ev_decode(), and RSS pages in the
 * header's page size. A recording made of such events is read back by model_build(). */
#include "model.h"
#include "procev.h"
#include "recfile.h"
#include "unit.h"
#include <errno.h>
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

/* A run of COUNT faults of TID from TS (format 4, record --fault-events=runs). */
static struct fl_fault_run run(uint32_t tid, uint16_t flags, uint64_t ts, uint32_t count,
			       uint64_t stride, uint32_t span)
{
	return (struct fl_fault_run){.h = {FL_EV_FAULT_RUN, flags, tid, ts},
				     .pid = PID,
				     .count = count,
				     .addr = 0x10000,
				     .stride = stride,
				     .ip = 0x401000,
				     .span_ns = span};
}

static int write_runs(const char *path, const char *meta, int nbig)
{
	const uint64_t ms = 5000000000ull; /* the start of millisecond 5000 */
	struct fl_fault_run e[] = {
	    run(7, FL_F_WRITE, ms + 100000, 5, 4096, 800000),
	    run(8, FL_F_KERNEL, ms + 500000, 3, 0, 0),
	    /* no kernel makes these: skipped, and said */
	    run(7, 0, ms, 0, 4096, 0), run(7, 0, ms, ~0u, 4096, 999),
	    run(7, 0, ms, FL_RUN_MAX_COUNT + 1, 4096, 999),
	    run(7, 0, ms, 2, 4096, FL_RUN_MAX_SPAN_NS),
	    run(7, 0, ms + 900000, 2, 4096, 200000), /* ends in the next millisecond */
	};
	struct fl_fault f = {.h = {FL_EV_FAULT, 0, 7, ms + 1000000}, .pid = PID, .addr = 0x9000};
	struct fl_fault_run big = run(9, 0, ms, FL_RUN_MAX_COUNT, 4096, 999999);
	struct fl_writer *wr;
	int err = fl_writer_open(&wr, path, meta);

	if (err)
		return err;
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		err = err ?: fl_writer_append(wr, &e[i], sizeof(e[i]));
	err = err ?: fl_writer_append(wr, &f, sizeof(f));
	for (int i = 0; i < nbig; i++)
		err = err ?: fl_writer_append(wr, &big, sizeof(big));
	return fl_writer_close(wr, "{}") ?: err;
}

static uint64_t bucket(const struct model *m, uint32_t tid, uint64_t ms)
{
	for (size_t i = 0; i < m->nfault_buckets; i++)
		if (m->fault_buckets[i].tid == tid && m->fault_buckets[i].ms == ms)
			return m->fault_buckets[i].count;
	return 0;
}

UNIT_TEST(model_expands_fault_runs)
{
	char path[] = "/tmp/fl-unit-runs-XXXXXX";
	struct model m;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_U64(write_runs(path, "{\"options\":{\"fault_events\":\"runs\"}}", 0), 0);
	CHECK_EQ_U64(model_build(&m, path), 0);
	CHECK_EQ_U64(m.fault_runs, 2);
	CHECK_EQ_U64(m.fault_runs_bad, 5);
	CHECK_EQ_U64(m.faults_user, 5 + 1);
	CHECK_EQ_U64(m.faults_kernel, 3);
	CHECK_EQ_U64(m.faults_write, 5);
	CHECK_EQ_U64(m.fault_ts.n, 9);
	/* each fault in its thread's millisecond, as FL_EV_FAULT would have put it */
	CHECK_EQ_U64(bucket(&m, 7, 5000), 5);
	CHECK_EQ_U64(bucket(&m, 8, 5000), 3);
	CHECK_EQ_U64(bucket(&m, 7, 5001), 1);
	CHECK(!m.fault_addrs_off);
	CHECK(!strcmp(m.session.opts.fault_events, "runs"));
	model_free(&m);

	/* off: counted the same, no addresses to place */
	CHECK_EQ_U64(write_runs(path, "{\"options\":{\"fault_events\":\"off\"}}", 0), 0);
	CHECK_EQ_U64(model_build(&m, path), 0);
	CHECK(m.fault_addrs_off);
	CHECK_EQ_U64(m.faults_user + m.faults_kernel, 9);
	model_free(&m);

	/* runs at the limit weigh as their faults in the memory check: refused, not swallowed */
	struct model_budget saved = model_budget;

	model_budget.bytes = model_heap_used() + (8 << 20);
	model_budget.refused = false;
	CHECK_EQ_U64(write_runs(path, "{}", 400), 0);
	CHECK_EQ_U64(model_build(&m, path), (uint64_t)-E2BIG);
	CHECK(model_budget.refused);
	model_budget = saved;
	unlink(path);
}
