// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The allocator. --alloc=lite (default): the memory syscalls (mmap munmap madvise brk mremap) of
 * traced processes, timed, with the caller's ip. --alloc=full adds one uprobe/uretprobe pair on
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

/* --- --alloc=lite: memory syscalls ------------------------------------------------------ */

struct memsys_start {
	__u64 ts_ns;
	__u64 addr, len, arg;
	__u64 caller_ip, syscall_ip;
	__u16 op; /* enum fl_memsys_op */
	__u16 advice;
	__u32 dev;    /* mmap of a file: see struct fl_memsys */
	__u16 hflags; /* the event's fl_hdr.flags: FL_F_MAP_* for mmap */
	__u16 pad[3];
	__u64 ino, pgoff;
	char name[FL_MS_NAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct memsys_start);
} memsys_starts SEC(".maps");

/*
 * mmap of a file: the file behind FD, named as mm_filemap_fault names it (dev, inode) and by its
 * dentry's name, so that the report can name the mapping even when the process is gone before
 * anyone reads its /proc/PID/maps.
 */
static __always_inline void memsys_mmap_file(struct memsys_start *s, __u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *f = NULL;
	struct fdtable *fdt;
	const unsigned char *name;

	if ((s->hflags & FL_F_MAP_ANON) || (__s64)fd < 0 || fd > 0xffffff)
		return;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	s->ino = BPF_CORE_READ(f, f_inode, i_ino);
	s->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(s->name, sizeof(s->name), name) < 0)
		s->name[0] = 0;
}

static __always_inline int memsys_enter(struct pt_regs *regs, long nr)
{
	struct memsys_start s = {.op = fl_memsys_op(nr)};
	__u32 tid = fl_tid();
	__u64 a[4], sp, fd, off;

	if (s.op == FL_MS_NONE || !fl_is_target())
		return 0;
	fl_syscall_args(regs, a);
	s.addr = a[0];
	switch (s.op) {
	case FL_MS_MMAP: /* flags in the low half, prot in the high half */
		s.len = a[1];
		s.arg = (a[2] << 32) | (__u32)a[3];
		s.hflags = fl_mmap_flags(a[3], a[2]);
		fl_syscall_args56(regs, &fd, &off);
		s.pgoff = off;
		memsys_mmap_file(&s, fd);
		break;
	case FL_MS_MUNMAP:
		s.len = a[1];
		break;
	case FL_MS_MADVISE:
		s.len = a[1];
		s.arg = a[2];
		s.advice = fl_madv_of(a[2]);
		break;
	case FL_MS_MREMAP: /* old_addr, old_len, new_len, flags */
		s.len = a[2];
		s.arg = a[3];
		break;
	default: /* brk(addr): where the heap starts, for a heap not seen in a maps list */
		s.pgoff =
		    BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), mm, start_brk);
		break;
	}
	s.syscall_ip = BPF_CORE_READ(regs, FL_REGS_IP);
	/* glibc's wrappers are leaf functions: the word at sp is the return address into the
	 * caller, which names the library that asked (libc for malloc, libjemalloc, python...). */
	sp = BPF_CORE_READ(regs, sp);
	if (bpf_probe_read_user(&s.caller_ip, sizeof(s.caller_ip), (void *)sp))
		s.caller_ip = 0;
	s.ts_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&memsys_starts, &tid, &s, BPF_ANY);
	/* RSS before a call that may shrink it (the peak), and after it (fl_rss_due samples growth
	 * by faults at most every 10 ms and would miss both) */
	if (s.op != FL_MS_MMAP)
		fl_rss_now(s.ts_ns);
	return 0;
}

static __always_inline int memsys_exit(long nr, long ret)
{
	__u32 op = fl_memsys_op(nr), tid;
	struct memsys_start *s;
	struct fl_memsys *e;

	if (op == FL_MS_NONE)
		return 0;
	tid = fl_tid();
	s = bpf_map_lookup_elem(&memsys_starts, &tid);
	if (!s)
		return 0;
	if (s->op != op) {
		bpf_map_delete_elem(&memsys_starts, &tid);
		return 0;
	}
	e = fl_reserve(struct fl_memsys, FL_EV_MEMSYS, s->hflags);
	if (e) {
		e->h.ts_ns = s->ts_ns;
		e->pid = fl_tgid();
		e->op = op;
		e->advice = s->advice;
		e->addr = s->addr;
		e->len = s->len;
		e->arg = s->arg;
		e->ret = ret;
		e->dur_ns = bpf_ktime_get_ns() - s->ts_ns;
		e->caller_ip = s->caller_ip;
		e->syscall_ip = s->syscall_ip;
		e->dev = s->dev;
		e->pad = 0;
		e->ino = s->ino;
		e->pgoff = s->pgoff;
		__builtin_memcpy(e->name, s->name, sizeof(e->name));
		fl_submit(e);
	}
	bpf_map_delete_elem(&memsys_starts, &tid);
	fl_rss_now(bpf_ktime_get_ns()); /* mmap too: MAP_POPULATE and MAP_LOCKED take no faults */
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(fl_memsys_enter, struct pt_regs *regs, long id)
{
	return memsys_enter(regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fl_memsys_exit, struct pt_regs *regs, long ret)
{
	return memsys_exit(regs->FL_REGS_NR, ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(fl_memsys_enter_raw, struct pt_regs *regs, long id)
{
	return memsys_enter(regs, id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(fl_memsys_exit_raw, struct pt_regs *regs, long ret)
{
	return memsys_exit(BPF_CORE_READ(regs, FL_REGS_NR), ret);
}
