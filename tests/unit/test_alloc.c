/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The allocator and pinned-memory model on made-up events: brk growth per image across an exec,
 * an unregister/free's size from its register/alloc, GB/s only for calls that succeeded, and an
 * unknown huge-page share. */
#include "alloc_model.h"
#include "alloc_report.h"
#include "jw.h"
#include "model.h"
#include "procfs.h"
#include "unit.h"
#include "uprobes.h"
#include "util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void brk_ev(struct model *m, uint32_t pid, uint64_t addr, uint64_t ret)
{
	struct fl_memsys e = {.h = {.type = FL_EV_MEMSYS},
			      .pid = pid,
			      .op = FL_MS_BRK,
			      .addr = addr,
			      .ret = (int64_t)ret,
			      .dur_ns = 1000};

	alloc_model_add(m, &e);
}

static void exec_ev(struct model *m, uint32_t pid, const char *comm)
{
	struct fl_proc e = {.h = {.type = FL_EV_PROC}, .pid = pid, .kind = FL_PROC_EXEC};

	strncpy(e.comm, comm, sizeof(e.comm) - 1);
	alloc_model_add(m, &e);
}

static void cuda_ev(struct model *m, uint64_t ts, uint32_t fn, uint64_t ptr, uint64_t size,
		    int64_t ret, uint64_t huge)
{
	struct fl_cuda e = {.h = {.type = FL_EV_CUDA, .ts_ns = ts},
			    .pid = 7,
			    .func = fn,
			    .ptr = ptr,
			    .size = size,
			    .ret = ret,
			    .dur_ns = 1000000,
			    .huge_bytes = huge};

	alloc_model_add(m, &e);
}

/* The report's JSON for M, as a jansson object (caller decrefs). */
static json_t *alloc_json(struct model *m, bool pinned)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;
	json_t *j;

	jw_init(&w, f, false);
	pinned ? pinned_print_json(m, &w) : alloc_print_json(m, &w);
	fclose(f);
	j = json_loads(buf, 0, NULL);
	free(buf);
	return j;
}

static char *text_of(struct model *m, bool pinned)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	pinned ? pinned_print_text(m, f) : alloc_print_text(m, f);
	fclose(f);
	return buf;
}

UNIT_TEST(alloc_brk_per_image)
{
	struct model m = {};
	json_t *j, *b;
	char *t;

	brk_ev(&m, 5, 0, 0x555000000000);	       /* bash: query */
	brk_ev(&m, 5, 0x555000021000, 0x555000021000); /* +132 KiB */
	brk_ev(&m, 5, 0x555000042000, 0x555000042000); /* +132 KiB */
	exec_ev(&m, 5, "python3");
	brk_ev(&m, 5, 0, 0x5a0000000000);	       /* the new image's heap, elsewhere */
	brk_ev(&m, 5, 0x5a0000100000, 0x5a0000100000); /* +1 MiB */
	brk_ev(&m, 5, 0x7a0000000000, 0x5a0000100000); /* refused: the old break comes back */
	brk_ev(&m, 5, 0x5a0000080000, 0x5a0000080000); /* -512 KiB */
	brk_ev(&m, 6, 0, 0x560000000000);	       /* another process, exec not seen: */
	brk_ev(&m, 6, 0, 0x561000000000);	       /* brk(0) moved: a new image */
	brk_ev(&m, 6, 0x561000002000, 0x561000002000);
	alloc_model_finish(&m);
	j = alloc_json(&m, false);
	CHECK(j != NULL);
	b = json_array_get(json_object_get(j, "brk"), 0);
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "pid")), 5);
	CHECK_STR(json_string_value(json_object_get(b, "comm")), "python3");
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "growth_bytes")), 0x80000);
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "peak_growth_bytes")), 0x100000);
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "images")), 2);
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "refused")), 1);
	b = json_array_get(json_object_get(j, "brk"), 1);
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "growth_bytes")), 0x2000);
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "images")), 2);
	b = json_object_get(json_object_get(j, "syscalls"), "brk");
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "errors")), 1);
	/* grown: 2 * 132 KiB + 1 MiB + 8 KiB; the moves between images are not growth */
	CHECK_EQ_U64(json_integer_value(json_object_get(b, "bytes")), 0x42000 + 0x100000 + 0x2000);
	json_decref(j);
	t = text_of(&m, false);
	CHECK(t && strstr(t, "pid 5       python3"));
	CHECK(t && strstr(t, "+512.0 KiB"));
	free(t);
	alloc_model_free(&m);
}

UNIT_TEST(alloc_pinned_sizes_and_rates)
{
	struct model m = {};
	json_t *j, *calls, *c;
	char *t;

	cuda_ev(&m, 10, FL_CF_HOST_REGISTER, 0x1000, 1 << 30, 0, 1 << 29);	 /* 1 GiB in 1 ms */
	cuda_ev(&m, 20, FL_CF_HOST_REGISTER, 0x9000, 4096, 35, FL_HUGE_UNKNOWN); /* failed */
	cuda_ev(&m, 30, FL_CF_HOST_UNREGISTER, 0x1000, 0, 0, 0);   /* undoes the first */
	cuda_ev(&m, 40, FL_CF_HOST_UNREGISTER, 0x1000, 0, 713, 0); /* again: nothing to undo */
	cuda_ev(&m, 50, FL_CF_HOST_UNREGISTER, 0x9000, 0, 713, 0); /* its register failed */
	cuda_ev(&m, 60, FL_CF_CU_ALLOC_HOST, 0x5000, 2 << 20, 0, 0);
	cuda_ev(&m, 70, FL_CF_CU_FREE_HOST, 0x5000, 0, 0, 0);
	alloc_model_finish(&m);
	j = alloc_json(&m, true);
	calls = json_object_get(j, "calls");
	CHECK_EQ_U64(json_array_size(calls), 7);
	c = json_array_get(calls, 0);
	CHECK(json_real_value(json_object_get(c, "gb_per_s")) > 1073 &&
	      json_real_value(json_object_get(c, "gb_per_s")) < 1074);
	CHECK(json_real_value(json_object_get(c, "huge_share")) == 0.5);
	c = json_array_get(calls, 1);
	CHECK(json_is_null(json_object_get(c, "gb_per_s")));   /* failed */
	CHECK(json_is_null(json_object_get(c, "huge_bytes"))); /* unmapped before we looked */
	CHECK(json_is_null(json_object_get(c, "huge_share")));
	c = json_array_get(calls, 2);
	CHECK_EQ_U64(json_integer_value(json_object_get(c, "size")), 1 << 30);
	CHECK(json_is_null(json_object_get(c, "gb_per_s")));
	CHECK(json_is_null(json_object_get(json_array_get(calls, 3), "size")));
	CHECK(json_is_null(json_object_get(json_array_get(calls, 4), "size")));
	CHECK_EQ_U64(json_integer_value(json_object_get(json_array_get(calls, 6), "size")),
		     2 << 20);
	c = json_object_get(json_object_get(j, "by_function"), "cudaHostUnregister");
	CHECK_EQ_U64(json_integer_value(json_object_get(c, "calls")), 3);
	CHECK_EQ_U64(json_integer_value(json_object_get(c, "failed")), 2);
	CHECK_EQ_U64(json_integer_value(json_object_get(c, "bytes")), 1 << 30);
	json_decref(j);
	t = text_of(&m, true);
	CHECK(t && strstr(t, "cudaHostUnregister") && !strstr(t, " 0.00 ") && !strstr(t, " 0 B "));
	if (getenv("UNIT_SHOW"))
		fputs(t, stderr);
	free(t);
	alloc_model_free(&m);
}

/* A range gone before faultline looks is unknown (-ENODATA), not "no huge pages". */
UNIT_TEST(alloc_huge_bytes_of_unmapped_range)
{
	size_t len = 4 << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	memset(p, 1, len);
	if (geteuid() == 0) /* /proc/kpageflags needs root */
		CHECK(huge_backed_bytes(getpid(), (uint64_t)p, len) >= 0);
	munmap(p, len);
	CHECK(huge_backed_bytes(getpid(), (uint64_t)p, len) < 0);
	if (geteuid() == 0)
		CHECK_EQ_U64(huge_backed_bytes(getpid(), (uint64_t)p, len), -ENODATA);
}

/* A range of the target's choosing: only what is mapped is walked, sampled beyond 65536 blocks. */
UNIT_TEST(alloc_huge_bytes_of_a_huge_range)
{
	size_t len = 256ull << 30, hb = 2 << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t t0;
	int64_t r;

	if (p == MAP_FAILED || geteuid()) /* /proc/kpageflags needs root */
		return;
	/* one block in 2048 touched: an even one, so the stride of 2 reads it */
	for (size_t off = 0; off < len; off += 2 * hb * 1024)
		p[off] = 1;
	t0 = clock_ns(CLOCK_MONOTONIC);
	r = huge_backed_bytes(getpid(), (uint64_t)p, len);
	CHECK(r >= 0 && (uint64_t)r <= len);
	/* 1 << 62 bytes from here: 2^41 blocks, but only this process's mappings above p */
	r = huge_backed_bytes(getpid(), (uint64_t)p, 1ull << 62);
	CHECK(r >= 0 && (uint64_t)r <= 1ull << 62);
	CHECK(clock_ns(CLOCK_MONOTONIC) - t0 < 20ull * 1000000000);
	munmap(p, len);
}
