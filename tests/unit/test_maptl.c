// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The mapping timeline (user/maptl.c) on a made-up recording: buffers at one reused address
 * named by the code that mapped them, a file mmap named by its event, a fault read before its
 * mmap's event and one read after its munmap's, an 88-byte memsys event of an older v3 file, the
 * heap from brk's start_brk, and a fault in no mapping counted as unknown with its reason. */
#include "model.h"
#include "recfile.h"
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PID 4343
#define BUF 0x10000000ull
#define META                                                                                       \
	"{\"host\":{\"page_size\":4096},\"targets\":[{\"pid\":4343,\"maps\":"                      \
	"\"00400000-00401000 r-xp 00000000 fe:00 11 /usr/bin/prog\\n\"}]}"

static int add(struct fl_writer *w, const void *e, size_t n)
{
	return fl_writer_append(w, e, n);
}

static int mmap_ev(struct fl_writer *w, uint64_t ts, uint64_t ret, uint64_t len, bool anon,
		   const char *name, size_t size)
{
	struct fl_memsys e = {.h = {FL_EV_MEMSYS, anon ? FL_F_MAP_ANON : 0, PID, ts},
			      .pid = PID,
			      .op = FL_MS_MMAP,
			      .len = len,
			      .arg = anon ? 0x22 : 0x2,
			      .ret = (int64_t)ret,
			      .caller_ip = 0x400100};

	if (name) {
		e.dev = (254 << 20) | 0;
		e.ino = 77;
		snprintf(e.name, sizeof(e.name), "%s", name);
	}
	return add(w, &e, size);
}

static int munmap_ev(struct fl_writer *w, uint64_t ts, uint64_t addr, uint64_t len)
{
	struct fl_memsys e = {.h = {FL_EV_MEMSYS, 0, PID, ts},
			      .pid = PID,
			      .op = FL_MS_MUNMAP,
			      .addr = addr,
			      .len = len};

	return add(w, &e, sizeof(e));
}

static int fault(struct fl_writer *w, uint64_t ts, uint64_t addr)
{
	struct fl_fault e = {.h = {FL_EV_FAULT, 0, PID, ts}, .pid = PID, .addr = addr};

	return add(w, &e, sizeof(e));
}

static int write_events(const char *path)
{
	struct fl_memsys brk = {.h = {FL_EV_MEMSYS, 0, PID, 5},
				.pid = PID,
				.op = FL_MS_BRK,
				.addr = 0x600000 + 0x3000,
				.ret = 0x600000 + 0x3000,
				.pgoff = 0x600000};
	struct fl_writer *w;
	int err = fl_writer_open(&w, path, META);
	uint64_t ts = 10;

	if (err)
		return err;
	err = err ?: add(w, &brk, sizeof(brk));
	err = err ?: fault(w, 6, 0x601000);
	/* 3 buffers of 2 pages at one address, one fault per page */
	for (int i = 0; i < 3; i++, ts += 10) {
		err = err ?: mmap_ev(w, ts, BUF, 0x2000, true, NULL, sizeof(struct fl_memsys));
		err = err ?: fault(w, ts + 1, BUF);
		err = err ?: fault(w, ts + 2, BUF + 0x1000);
		err = err ?: munmap_ev(w, ts + 3, BUF, 0x2000);
	}
	/* the same address as a file: named by its event */
	err = err ?: mmap_ev(w, 100, BUF, 0x1000, false, "weights.bin", sizeof(struct fl_memsys));
	err = err ?: fault(w, 101, BUF);
	/* read before its mmap's event (which has the earlier time) */
	err = err ?: fault(w, 111, 0x20000000);
	err =
	    err ?: mmap_ev(w, 110, 0x20000000, 0x1000, false, "late.bin", sizeof(struct fl_memsys));
	/* read after its munmap's event: a 4-page buffer of its own size */
	err = err ?: mmap_ev(w, 120, 0x30000000, 0x4000, true, NULL, sizeof(struct fl_memsys));
	err = err ?: munmap_ev(w, 130, 0x30000000, 0x4000);
	err = err ?: fault(w, 125, 0x30000000);
	/* an older v3 file's 88-byte event: a file mapping without its name */
	err = err ?: mmap_ev(w, 140, 0x40000000, 0x1000, false, NULL, FL_MEMSYS_V3_SIZE);
	err = err ?: fault(w, 141, 0x40000000);
	/* nothing ever mapped there */
	err = err ?: fault(w, 150, 0x50000000);
	return fl_writer_close(w, "{}") ?: err;
}

static const struct region_stat *region(const struct model *m, const char *name)
{
	for (size_t i = 0; i < m->nregions; i++)
		if (!strcmp(m->regions[i].name, name))
			return &m->regions[i];
	return NULL;
}

UNIT_TEST(maptl_places_faults_by_time)
{
	char path[] = "/tmp/fl-unit-maptl-XXXXXX";
	const struct region_stat *r;
	struct model m;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK(write_events(path) == 0);
	CHECK(model_build(&m, path) == 0);
	r = region(&m, "anon mmap by prog, 8.0 KiB");
	CHECK(r && r->faults == 6 && r->maps == 3 && r->unmaps == 3);
	CHECK(r && r->creator && !strcmp(r->creator, "prog"));
	r = region(&m, "weights.bin");
	CHECK(r && r->faults == 1 && !strcmp(r->kind, "file") && r->ino == 77);
	r = region(&m, "late.bin");
	CHECK(r && r->faults == 1);
	r = region(&m, "anon mmap by prog, 16.0 KiB");
	CHECK(r && r->faults == 1);
	r = region(&m, "heap");
	CHECK(r && r->faults == 1);
	r = region(&m, "file (mapped during the session, not named: older file)");
	CHECK(r && r->faults == 1);
	r = region(&m, "unknown (no mapping seen)");
	CHECK(r && r->faults == 1 && r->why);
	CHECK(m.faults_unknown == 1);
	CHECK(m.maptl_syscalls);
	model_free(&m);
	unlink(path);
}

static int fault_run(struct fl_writer *w, uint64_t ts, uint64_t addr, int64_t stride,
		     uint32_t count)
{
	struct fl_fault_run e = {.h = {FL_EV_FAULT_RUN, FL_F_WRITE, PID, ts},
				 .pid = PID,
				 .count = count,
				 .addr = addr,
				 .stride = (uint64_t)stride,
				 .span_ns = count - 1};

	return add(w, &e, sizeof(e));
}

/*
 * Runs of faults across two adjacent mappings and past both ends, up and down: each mapping
 * counts the faults in it, and those in no mapping are unknown, one by one.
 */
static int write_runs(const char *path)
{
	const uint64_t b = 0x60000000ull;
	struct fl_writer *w;
	int err = fl_writer_open(&w, path, META);

	if (err)
		return err;
	err = err ?: mmap_ev(w, 10, b, 0x3000, true, NULL, sizeof(struct fl_memsys));
	err = err ?: mmap_ev(w, 11, b + 0x3000, 0x5000, true, NULL, sizeof(struct fl_memsys));
	/* b - 4K (none), 3 in the first, 5 in the second, b + 32K (none) */
	err = err ?: fault_run(w, 1000, b - 0x1000, 0x1000, 10);
	/* from the second's last page down: 5 in it, 3 in the first, b - 4K, b - 8K (none) */
	err = err ?: fault_run(w, 2000, b + 0x7000, -0x1000, 10);
	/* the same page again and again; one page from a mapping's end by 2 MiB strides */
	err = err ?: fault_run(w, 3000, b + 0x1000, 0, 7);
	err = err ?: fault_run(w, 4000, b + 0x2fff, 2 << 20, 4);
	return fl_writer_close(w, "{}") ?: err;
}

UNIT_TEST(maptl_counts_fault_runs_per_mapping)
{
	char path[] = "/tmp/fl-unit-maptl-runs-XXXXXX";
	const struct region_stat *r;
	struct model m;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK(write_runs(path) == 0);
	CHECK(model_build(&m, path) == 0);
	CHECK_EQ_U64(m.fault_runs, 4);
	CHECK_EQ_U64(m.faults_user, 10 + 10 + 7 + 4);
	r = region(&m, "anon mmap by prog, 12.0 KiB");
	CHECK(r && r->faults == 3 + 3 + 7 + 1 && r->write == r->faults && !r->kernel);
	r = region(&m, "anon mmap by prog, 20.0 KiB");
	CHECK(r && r->faults == 5 + 5);
	CHECK_EQ_U64(m.faults_unknown, 2 + 2 + 3);
	model_free(&m);
	unlink(path);
}
