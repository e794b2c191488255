// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The allocator. --alloc=lite (default): the memory syscalls (mmap munmap madvise brk mremap) of
 * traced processes, timed, with the caller's ip (memsys.bpf.h, run by the syscall programs of
 * sys.bpf.c). --alloc=full adds one uprobe/uretprobe pair on
 * every malloc-family function of the allocator the process really uses (user/uprobes.c finds it
 * and attaches per pid); the function is the uprobe's cookie (enum fl_alloc_fn).
 *
 * --alloc=slow puts the same pair only on the allocator's slow paths (FL_AF_SLOW_FIRST on).
 *
 * Counts are kept in the kernel, per function, for every outermost call (an allocator calling
 * itself, e.g. glibc's realloc(NULL, n) entering malloc, is one call); only calls slower than
 * alloc_slow_ns become events. Slow-path functions are counted nested too (tcmalloc's
 * FetchFromCentralCache -> Populate -> GrowHeap is one of each), their time once, outermost.
 */
#include "common.bpf.h"

#define ALLOC_DEPTH 4 /* frames kept per thread; deeper nesting is counted but not timed */
#define ALLOC_FN_SLOTS                                                                             \
	32 /* per-thread counters: a power of two above FL_AF_MAX, for the verifier */

const volatile __u64 alloc_slow_ns = 50000;

struct alloc_frame {
	__u64 ts_ns;
	__u64 size;
	__u64 arg; /* free/realloc/sdallocx: the pointer passed in; posix_memalign: &ptr */
	__u32 func;
	__u32 pad;
};

/* Per thread: the call stack of allocator calls in flight, and this thread's totals. */
struct alloc_thread {
	__u32 pid;
	__u32 depth;
	struct alloc_frame frames[ALLOC_DEPTH];
	__u64 calls[ALLOC_FN_SLOTS];
	__u64 total_ns;
};

_Static_assert(FL_AF_MAX <= ALLOC_FN_SLOTS, "ALLOC_FN_SLOTS too small");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct alloc_thread);
} alloc_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_AF_MAX);
	__type(key, __u32);
	__type(value, struct fl_alloc_stat);
} alloc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_AF_MAX *FL_HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} alloc_hist SEC(".maps");

/* Per function (and calibration row), the fine histogram p50/p99 are read from. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_AF_ROWS *FL_FINE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} alloc_fine SEC(".maps");

static __always_inline void alloc_fine_add(__u32 row, __u64 dur_ns)
{
	__u32 idx = row * FL_FINE_SLOTS + fl_fine_slot(dur_ns);
	__u64 *cnt = bpf_map_lookup_elem(&alloc_fine, &idx);

	if (cnt)
		*cnt += 1;
}

/*
 * --alloc=slow: who called the allocator. Its slow paths run a few frames below the public call
 * (sysmalloc <- _int_malloc <- malloc <- the caller), in code built without frame pointers, so the
 * stack is scanned instead: the first word above the stack pointer that points just past a call
 * instruction and outside the allocator library's text (alloc_lib_text, set per process by user
 * space) is taken as the return address into the caller. Slow paths are rare (a few per request),
 * so the scan's reads cost little where they happen. Counted per (pid, function, return address).
 */
#define SLOW_SCAN_WORDS 64

struct slow_caller_key {
	__u32 pid;
	__u32 func;
	__u64 ip; /* 0: none found */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct slow_caller_key);
	__type(value, __u64);
} alloc_slow_callers SEC(".maps");

/* Per probed function (the cookie): where the allocator's code is, relative to the probe. */
struct lib_text {
	__u64 delta; /* the probe's file offset minus that of the library's executable mapping */
	__u64 len;   /* the executable mapping's length */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_AF_MAX);
	__type(key, __u32);
	__type(value, struct lib_text);
} alloc_lib_text SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[SLOW_SCAN_WORDS]);
} slow_scan SEC(".maps");

/* Whether the code before return address V ends in a call: e8 rel32, ff 15 rel32, ff /2 reg. */
static __always_inline bool after_call(__u64 v)
{
	__u8 b[8];

	if (v < 4096 || bpf_probe_read_user(b, sizeof(b), (void *)(v - 8)))
		return false;
	return b[3] == 0xe8 || (b[2] == 0xff && b[3] == 0x15) ||
	       (b[6] == 0xff && (b[7] & 0xf8) == 0xd0);
}

static __always_inline void slow_caller_count(struct pt_regs *ctx, __u32 func)
{
	struct slow_caller_key k = {.pid = fl_tgid(), .func = func};
	struct lib_text *lt = bpf_map_lookup_elem(&alloc_lib_text, &func);
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&slow_scan, &zero), *cnt, one = 1, lo, hi;

	if (!lt || !lt->len || !w)
		return;
	/* the probe's address less its place in the code: ASLR and exec need no update */
	lo = PT_REGS_IP(ctx) - lt->delta - 16; /* ip may be past the breakpoint */
	hi = lo + lt->len + 32;
	if (!bpf_probe_read_user(w, sizeof(__u64) * SLOW_SCAN_WORDS, (void *)PT_REGS_SP(ctx))) {
		for (int i = 0; i < SLOW_SCAN_WORDS; i++) {
			__u64 v = w[i];

			if ((v >= lo && v < hi) || !after_call(v))
				continue;
			k.ip = v;
			break;
		}
	}
	cnt = bpf_map_lookup_elem(&alloc_slow_callers, &k);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&alloc_slow_callers, &k, &one, BPF_NOEXIST);
}

static __always_inline struct alloc_thread *alloc_thread_get(void)
{
	__u32 tid = fl_tid();
	struct alloc_thread *t = bpf_map_lookup_elem(&alloc_threads, &tid);

	if (t)
		return t;
	struct alloc_thread init = {.pid = fl_tgid()};

	bpf_map_update_elem(&alloc_threads, &tid, &init, BPF_NOEXIST);
	return bpf_map_lookup_elem(&alloc_threads, &tid);
}

SEC("uprobe")
int BPF_KPROBE(fl_alloc_entry)
{
	__u32 func = bpf_get_attach_cookie(ctx);
	struct alloc_thread *t = alloc_thread_get();
	struct alloc_frame *fr;
	__u32 d;

	if (!t)
		return 0;
	d = t->depth;
	t->depth = d + 1;
	if (d >= ALLOC_DEPTH)
		return 0;
	fr = &t->frames[d];
	fr->func = func;
	fr->arg = 0;
	switch (func) {
	case FL_AF_CALLOC:
		fr->size = PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx);
		break;
	case FL_AF_REALLOC:
	case FL_AF_RALLOCX:
	case FL_AF_SDALLOCX:
		fr->arg = PT_REGS_PARM1(ctx);
		fr->size = PT_REGS_PARM2(ctx);
		break;
	case FL_AF_FREE:
	case FL_AF_DALLOCX:
		fr->arg = PT_REGS_PARM1(ctx);
		fr->size = 0;
		break;
	case FL_AF_POSIX_MEMALIGN:
		fr->arg = PT_REGS_PARM1(ctx);
		fr->size = PT_REGS_PARM3(ctx);
		break;
	case FL_AF_ALIGNED_ALLOC:
	case FL_AF_MEMALIGN:
		fr->size = PT_REGS_PARM2(ctx);
		break;
	case FL_AF_SYSTRIM: /* systrim(pad, av): not a size asked */
	case FL_AF_CONSOLIDATE:
	case FL_AF_MUNMAP_CHUNK:
	case FL_AF_TC_FETCH:
	case FL_AF_TC_RELEASE:
	case FL_AF_TC_POPULATE:
	case FL_AF_TC_GROWHEAP: /* GrowHeap(this, pages): pages of the build's own size */
	case FL_AF_TC_RELEASE_PAGES:
		fr->size = 0;
		break;
	default: /* malloc, mallocx, sysmalloc(nb, av) */
		fr->size = PT_REGS_PARM1(ctx);
		break;
	}
	if (func >= FL_AF_SLOW_FIRST && func < FL_AF_MAX)
		slow_caller_count(ctx, func);
	fr->ts_ns = bpf_ktime_get_ns(); /* last: the switch and the scan are not the call's time */
	return 0;
}

/* OUTER: not nested in another probed call; only those add to the thread's and the cause's time. */
static __always_inline void alloc_account(struct alloc_thread *t, __u32 func, __u64 dur_ns,
					  __u64 size, bool outer)
{
	struct fl_alloc_stat *st;
	__u32 slot, idx;
	__u64 *cnt;

	if (func >= FL_AF_MAX)
		return;
	st = bpf_map_lookup_elem(&alloc_stats, &func);
	if (st) {
		st->count++;
		st->total_ns += dur_ns;
		st->bytes += size;
		if (dur_ns > st->max_ns)
			st->max_ns = dur_ns;
	}
	slot = fl_log2_slot(dur_ns);
	idx = func * FL_HIST_SLOTS + slot;
	cnt = bpf_map_lookup_elem(&alloc_hist, &idx);
	if (cnt)
		*cnt += 1;
	alloc_fine_add(func, dur_ns);
	t->calls[func & (ALLOC_FN_SLOTS - 1)]++;
	if (!outer)
		return;
	t->total_ns += dur_ns;
	fl_account(FL_CAUSE_ALLOC, dur_ns);
}

/* RC is the return register, read once at the top: ctx must not be indexed by a switch. */
static __always_inline __u64 alloc_result_ptr(__u64 rc, const struct alloc_frame *fr)
{
	__u64 ptr = 0;

	switch (fr->func) {
	case FL_AF_FREE:
	case FL_AF_SDALLOCX:
	case FL_AF_DALLOCX:
		return fr->arg;
	case FL_AF_POSIX_MEMALIGN:
		if (rc == 0 && fr->arg)
			bpf_probe_read_user(&ptr, sizeof(ptr), (void *)fr->arg);
		return ptr;
	case FL_AF_SYSTRIM ... FL_AF_TC_RELEASE_PAGES: /* slow paths that return no block */
		return 0;
	default: /* malloc, calloc, realloc, ..., sysmalloc */
		return rc;
	}
}

SEC("uretprobe")
int BPF_KRETPROBE(fl_alloc_ret)
{
	__u32 func = bpf_get_attach_cookie(ctx);
	struct alloc_thread *t;
	struct alloc_frame *fr;
	struct fl_alloc *e;
	__u64 now = bpf_ktime_get_ns(), rc = PT_REGS_RC(ctx), dur;
	__u32 tid = fl_tid(), d;

	t = bpf_map_lookup_elem(&alloc_threads, &tid);
	if (!t || !t->depth)
		return 0; /* the entry ran before its probe was attached */
	d = t->depth - 1;
	t->depth = d;
	if (d >= ALLOC_DEPTH)
		return 0;
	fr = &t->frames[d];
	if (fr->func != func) {
		t->depth = 0; /* lost a return (longjmp out of a hook?): start over */
		return 0;
	}
	dur = now - fr->ts_ns;
	if (d) { /* nested inside another allocator call: that one is counted, and timed */
		if (func >= FL_AF_SLOW_FIRST && func < FL_AF_MAX)
			alloc_account(t, func, dur, fr->size, false);
		return 0;
	}
	if (func >= FL_AF_MAX) { /* faultline's own calibration: the probes' cost, nothing else */
		if (func < FL_AF_ROWS)
			alloc_fine_add(func, dur);
		return 0;
	}
	alloc_account(t, func, dur, fr->size, true);
	if (dur < alloc_slow_ns)
		return 0;
	e = fl_reserve(struct fl_alloc, FL_EV_ALLOC, 0);
	if (!e)
		return 0;
	e->h.ts_ns = fr->ts_ns;
	e->pid = fl_tgid();
	e->func = func;
	e->size = fr->size;
	e->ptr = alloc_result_ptr(rc, fr);
	e->dur_ns = dur;
	fl_submit(e);
	return 0;
}
