// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the JSON the model decodes: the whole input is JSON text, used as the
 * trailer (inputs of even length: targets_end, drops, the allocator's processes, code_maps,
 * functions, threads, overhead, counters) or as the metadata (odd length: targets and their
 * maps, probes, clocks), next to a fixed one and a fixed set of events of every kind that
 * refer to the same pid (faults, stalls, memory syscalls, brk, RSS, fork/exec/exit, slow
 * allocator calls, CUDA calls). The rest is fuzz_model's: a valid file through report and diff.
 *
 * Seeds live in tests/fuzz/seeds/fuzz_trailer/: trailers and metadata of real recordings.
 */
#define LLVMFuzzerTestOneInput fuzz_model_one
#define LLVMFuzzerInitialize fuzz_model_init
#include "fuzz_model.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

#define PID 7
#define BASE_TS 1000000

static const char fixed_meta[] =
    "{\"host\":\"fuzz\",\"clocks\":{\"monotonic_ns\":1000000,\"realtime_ns\":1700000000000000000},"
    "\"targets\":[{\"pid\":7,\"comm\":\"fuzz\",\"cmdline\":\"fuzz\",\"maps\":"
    "\"55d000000000-55d000001000 r-xp 00001000 08:01 1234 /usr/bin/fuzz\\n"
    "55d000100000-55d000200000 rw-p 00000000 00:00 0 [heap]\\n"
    "7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6\\n\"}]}";
static const char fixed_trailer[] =
    "{\"stop_reason\":\"targets exited\",\"drops_per_cpu\":[0,1],"
    "\"clocks\":{\"monotonic_ns\":3000000},\"alloc\":{\"mode\":\"full\",\"slow_ns\":1000,"
    "\"processes\":[{\"pid\":7,\"code_maps\":"
    "\"7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6\\n\"}]}}";

static void add(struct buf *b, const void *ev, size_t len)
{
	uint16_t n = len;

	put(b, &n, 2);
	put(b, ev, len);
}

/* One event of every kind, all of pid PID, in [BASE_TS, BASE_TS + 1 ms]. */
static void fixed_events(struct buf *b)
{
	struct fl_hdr h = {.tid = PID, .ts_ns = BASE_TS};
	struct fl_fault fa = {.pid = PID, .error_code = 6, .addr = 0x55d000100040};
	struct fl_stall st = {.pid = PID, .cause = FL_CAUSE_DIRECT_RECLAIM, .dur_ns = 5000};
	struct fl_memsys ms = {.pid = PID,
			       .op = FL_MS_MMAP,
			       .len = 1 << 20,
			       .ret = 0x7f0000200000,
			       .dur_ns = 300,
			       .caller_ip = 0x7f0000000100};
	struct fl_memsys brk = {.pid = PID,
				.op = FL_MS_BRK,
				.addr = 0x55d000300000,
				.ret = 0x55d000300000,
				.caller_ip = 0x55d000000100};
	struct fl_rss rss = {.pid = PID, .pages = {10, 20, 0}};
	struct fl_proc pr = {.pid = PID, .kind = FL_PROC_EXEC, .comm = "fuzz"};
	struct fl_alloc al = {.pid = PID, .func = 1, .size = 4096, .dur_ns = 2000};
	struct fl_cuda cu = {.pid = PID,
			     .func = 1,
			     .ptr = 0x7f0000400000,
			     .size = 1 << 21,
			     .dur_ns = 4000,
			     .huge_bytes = 1 << 21};

	fa.h =
	    (struct fl_hdr){.type = FL_EV_FAULT, .flags = FL_F_WRITE, .tid = PID, .ts_ns = BASE_TS};
	add(b, &fa, sizeof(fa));
	st.h = h;
	st.h.type = FL_EV_STALL;
	add(b, &st, sizeof(st));
	ms.h = h;
	ms.h.type = FL_EV_MEMSYS;
	add(b, &ms, sizeof(ms));
	brk.h = h;
	brk.h.type = FL_EV_MEMSYS;
	add(b, &brk, sizeof(brk));
	rss.h = h;
	rss.h.type = FL_EV_RSS;
	add(b, &rss, sizeof(rss));
	pr.h = h;
	pr.h.type = FL_EV_PROC;
	add(b, &pr, sizeof(pr));
	al.h = h;
	al.h.type = FL_EV_ALLOC;
	add(b, &al, sizeof(al));
	cu.h = h;
	cu.h.type = FL_EV_CUDA;
	cu.h.ts_ns += 1000000;
	add(b, &cu, sizeof(cu));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return fuzz_model_init(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *other = size % 2 ? fixed_trailer : fixed_meta;
	uint16_t in_len = size, other_len = strlen(other);
	struct buf b = {};
	uint8_t last = 0;

	if (size > UINT16_MAX)
		return -1;
	if (size % 2) { /* the input is the metadata */
		put(&b, &in_len, 2);
		put(&b, data, size);
		put(&b, &other_len, 2);
		put(&b, other, other_len);
	} else {
		put(&b, &other_len, 2);
		put(&b, other, other_len);
		put(&b, &in_len, 2);
		put(&b, data, size);
	}
	fixed_events(&b);
	put(&b, &last, 1); /* a trailing 0: no diff (fuzz_model runs it) */
	fuzz_model_one(b.p, b.n);
	free(b.p);
	return 0;
}
