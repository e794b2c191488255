/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * BPF-only helpers shared by every program: the target filter, the ring buffer with batched
 * wake-ups and drop counting, and the in-kernel aggregation used by `top` and `serve`.
 * The maps and configuration live in proc.bpf.c; the other objects see them as externs, and
 * `bpftool gen object` links them into one object with one skeleton.
 */
#ifndef FL_COMMON_BPF_H
#define FL_COMMON_BPF_H

/* vmlinux.h and libbpf's headers first: the others use their types (blocks keep their order) */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "compat.bpf.h"
#include "faultline.h"
#include "hist_slot.h"

/* proc.bpf.c defines FL_DEFINE_GLOBALS: it owns the maps and configuration, others see externs. */
#ifdef FL_DEFINE_GLOBALS
#define FL_GLOBAL
#define FL_CFG(type, name, val) const volatile type name = val
#else
#define FL_GLOBAL extern
#define FL_CFG(type, name, val) extern const volatile type name
#endif

/* Configuration, set by user space between open and load. */
FL_CFG(bool, cfg_trace_all, false);
FL_CFG(bool, cfg_follow_children, false);
FL_CFG(bool, cfg_emit_events, true);
FL_CFG(bool, cfg_emit_net, false); /* top/serve: request capture only (FL_EV_NET) */
FL_CFG(bool, cfg_aggregate, false);
FL_CFG(__u32, cfg_self_pid, 0);
FL_CFG(__u64, cfg_wakeup_bytes, 4 << 20);
FL_CFG(__u64, cfg_cpu_wakeup_bytes, 2 << 20); /* the per-CPU fault rings (faults.bpf.c) */
FL_CFG(__u64, cfg_lock_wait_min_ns, 5000);    /* shorter: uncontended, plus our own probes */
FL_CFG(__u64, cfg_lock_hold_min_ns, 100000);
FL_CFG(__u64, cfg_rss_interval_ns, 10000000);
/* RSS read by the programs that run anyway (fl_rss_due, fl_rss_now), not on kmem:rss_stat */
FL_CFG(bool, cfg_rss_sample, false);
FL_CFG(__u32, cfg_mmap_lock_write_arg, 1);  /* 1 on 6.10+, 2 while memcg_path was there */
FL_CFG(__u32, cfg_fault_events, FL_FE_ALL); /* enum fl_fault_events (record --fault-events) */

/* Bumped whenever target_mms changes, so per-CPU caches of "is this mm traced?" stay true. */
FL_GLOBAL __u64 fl_mm_gen;
/*
 * Bumped after every change to the targets map (a tgid added, or added again, or removed) and
 * after exec (its mm is to be learnt again), so the per-CPU memo of the last target seen
 * (tgt_memo) never answers for a stale entry nor skips learning an mm.
 */
FL_GLOBAL __u64 fl_tgt_gen;
/*
 * Bumped before any event other than a fault is reserved: a fault run (faults.bpf.c) ends where
 * it changes, so no event of any thread (a request's first byte, an mmap) falls inside a run.
 * Global rather than per CPU: a thread can move to another CPU and back within a run.
 */
FL_GLOBAL __u64 fl_ev_seq;

struct mm_info {
	__u32 pid;
	__u32 pad;
	__u64 last_rss_ns;
};

/* Start of something timed, per thread and kind. */
enum fl_start_kind {
	FL_START_DIRECT_RECLAIM = 1,
	FL_START_MEMCG_RECLAIM,
	FL_START_COMPACTION,
	FL_START_LOCK_WAIT,
	FL_START_LOCK_HOLD,
	FL_START_MIGRATION,
	FL_START_FAULT,
	FL_START_KHUGEPAGED_HOLD,
	/* new kinds go above this line */
	FL_START_MAX
};

struct start_key {
	__u32 tid;
	__u32 kind;
};

struct start_val {
	__u64 ts_ns;
	__u64 arg0;
	__u64 arg1;
	__u64 arg2;
	__u32 count; /* retries, zones compacted... */
	__s32 order;
};

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct fl_target);
} targets SEC(".maps");

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct mm_info);
} target_mms SEC(".maps");

struct tgt_memo {
	__u32 tgid; /* the last target this CPU saw, with its mm learnt; 0: none */
	__u32 pad;
	__u64 gen; /* fl_tgt_gen when it was seen */
};

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tgt_memo);
} tgt_memo SEC(".maps");

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} events SEC(".maps");

/*
 * The thread whose user stack this CPU is reading (fl_emit_stack), else 0. Reading a user stack
 * can fault (a page not present, a frame pointer into nothing): the kernel traces those faults
 * as kernel-mode faults and fails them, and /proc/PID/stat does not count them; neither do we.
 */
FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} stack_walk SEC(".maps");

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct start_key);
	__type(value, struct start_val);
} starts SEC(".maps");

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_CAUSE_MAX *FL_HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hists SEC(".maps");

FL_GLOBAL struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct fl_tstat);
} tstats SEC(".maps");

static __always_inline void fl_count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += n;
}

static __always_inline __u32 fl_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline __u32 fl_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/*
 * The target filter, first thing in every program. Learns the process's mm on first sight so
 * that events running in other contexts (khugepaged, rss_stat) can be matched by mm.
 * A fault storm asks the same question on every fault: a per-CPU memo (MEMO_TGID, MEMO_GEN, in a
 * map value; may be NULL) answers it without the hash lookup. Only targets whose mm is learnt are
 * kept (learning needs the lookup).
 */
static __always_inline bool fl_is_target_memo(__u32 tgid, __u32 *memo_tgid, __u64 *memo_gen)
{
	/* read before the lookup: a removal after it changes the generation the memo keeps */
	__u64 gen = *(volatile __u64 *)&fl_tgt_gen;
	struct fl_target *t;

	if (cfg_trace_all)
		return tgid != cfg_self_pid && tgid != 0;
	if (memo_tgid && *memo_tgid == tgid && *memo_gen == gen && tgid)
		return true;
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (!t)
		return false;
	if (!t->mm) {
		struct task_struct *task = bpf_get_current_task_btf();
		__u64 mm = (__u64)BPF_CORE_READ(task, mm);
		struct mm_info info = {.pid = tgid};

		if (mm && task->tgid == tgid) {
			t->mm = mm;
			/* A vfork()ed child shares its parent's mm until exec: the first owner
			 * keeps it, so the child's exec or exit does not forget the parent's. */
			if (!bpf_map_update_elem(&target_mms, &mm, &info, BPF_NOEXIST))
				__sync_fetch_and_add(&fl_mm_gen, 1);
		}
	}
	if (t->mm && memo_tgid) {
		*memo_tgid = tgid;
		*memo_gen = gen;
	}
	return true;
}

static __always_inline bool fl_is_target_tgid(__u32 tgid)
{
	struct tgt_memo *memo;
	__u32 zero = 0;

	if (cfg_trace_all)
		return fl_is_target_memo(tgid, NULL, NULL);
	memo = bpf_map_lookup_elem(&tgt_memo, &zero);
	return memo ? fl_is_target_memo(tgid, &memo->tgid, &memo->gen)
		    : fl_is_target_memo(tgid, NULL, NULL);
}

/* Forgets MM when TGID owns it (see the vfork note in fl_is_target_tgid). */
static __always_inline void fl_forget_mm(__u64 mm, __u32 tgid)
{
	struct mm_info *info = bpf_map_lookup_elem(&target_mms, &mm);

	if (info && info->pid == tgid && !bpf_map_delete_elem(&target_mms, &mm))
		__sync_fetch_and_add(&fl_mm_gen, 1);
}

static __always_inline bool fl_is_target(void)
{
	return fl_is_target_tgid(fl_tgid());
}

static __always_inline bool fl_is_target_mm(__u64 mm)
{
	if (cfg_trace_all)
		return true;
	return bpf_map_lookup_elem(&target_mms, &mm) != NULL;
}

/* Wake user space only once a batch has built up; it also polls on a short timer. */
static __always_inline __u64 fl_wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes
		   ? BPF_RB_FORCE_WAKEUP
		   : BPF_RB_NO_WAKEUP;
}

/* The header every event starts with, for the current thread. */
static __always_inline void fl_hdr_init(struct fl_hdr *h, __u16 type, __u16 flags, __u64 ts_ns)
{
	h->type = type;
	h->flags = flags;
	h->tid = fl_tid();
	h->ts_ns = ts_ns;
}

/* A record of SIZE in RING (the shared one, or a per-CPU fault ring), its header filled in with
 * TS, for a caller that has read the clock already (a read costs ~40 ns on a VM, as bpf_stats
 * counts it). */
static __always_inline void *fl_reserve_at(void *ring, __u32 size, __u16 type, __u16 flags,
					   __u32 tid, __u64 ts)
{
	struct fl_hdr *h = bpf_ringbuf_reserve(ring, size, 0);

	if (!h) {
		fl_count(FL_CNT_DROPS, 1);
		return NULL;
	}
	h->type = type;
	h->flags = flags;
	h->tid = tid;
	h->ts_ns = ts;
	return h;
}

static __always_inline void *fl_reserve_in(void *ring, __u32 size, __u16 type, __u16 flags,
					   __u32 tid)
{
	return fl_reserve_at(ring, size, type, flags, tid, bpf_ktime_get_ns());
}

/* As fl_reserve_sz, for a caller that has read bpf_get_current_pid_tgid() already (TID). */
static __always_inline void *fl_reserve_tid(__u32 size, __u16 type, __u16 flags, __u32 tid)
{
	if (!cfg_emit_events)
		return NULL;
	/* before the clock is read: a fault that saw the old value came before this event */
	if (cfg_fault_events != FL_FE_ALL)
		__sync_fetch_and_add(&fl_ev_seq, 1);
	return fl_reserve_in(&events, size, type, flags, tid);
}

static __always_inline void *fl_reserve_sz(__u32 size, __u16 type, __u16 flags)
{
	if (!cfg_emit_events)
		return NULL;
	return fl_reserve_tid(size, type, flags, fl_tid());
}

#define fl_reserve(type_struct, type, flags)                                                       \
	((type_struct *)fl_reserve_sz(sizeof(type_struct), type, flags))

static __always_inline void fl_submit(void *ev)
{
	bpf_ringbuf_submit(ev, fl_wakeup_flags());
}

/* --- RSS samples ------------------------------------------------------------------------- */

/*
 * kmem:rss_stat fires on nearly every fault of every process. Instead the fault program reads the
 * counters when a target's last sample is older than cfg_rss_interval_ns (growth comes by
 * faults), and the memory syscalls, exec and exit read them each time (shrinking comes by them).
 * The fault side asks on every fault: a per-CPU memo of the last tgid and when its sample is due
 * (in struct fl_fault_cpu) answers it without a hash lookup.
 */
/* An FL_EV_RSS for PID with MM's counters now. */
static __always_inline void fl_rss_emit(struct mm_struct *mm, __u32 pid)
{
	struct fl_rss *e = fl_reserve(struct fl_rss, FL_EV_RSS, 0);

	if (!e)
		return;
	e->pid = pid;
	e->pad = 0;
	fl_rss_read(mm, e->pages);
	fl_submit(e);
}

/* The traced mm of the current task (its counters' owner), or NULL. */
static __always_inline struct mm_info *fl_rss_target(struct mm_struct **mm)
{
	__u64 key;

	*mm = bpf_get_current_task_btf()->mm;
	key = (__u64)*mm;
	return bpf_map_lookup_elem(&target_mms, &key);
}

/* The current target's RSS now, whatever its last sample (memory syscalls). */
static __always_inline void fl_rss_now(__u64 now)
{
	struct mm_struct *mm;
	struct mm_info *info;

	if (!cfg_rss_sample || cfg_trace_all)
		return;
	info = fl_rss_target(&mm);
	if (!info)
		return;
	info->last_rss_ns = now;
	fl_rss_emit(mm, info->pid);
}

/* In a target's fault: its RSS if its last sample is older than cfg_rss_interval_ns. MEMO_TGID
 * and MEMO_NS: this CPU's memo of the last tgid and its last sample (a map value). */
static __always_inline void fl_rss_due(__u32 tgid, __u64 now, __u32 *memo_tgid, __u64 *memo_ns)
{
	struct mm_struct *mm;
	struct mm_info *info;

	if (!cfg_rss_sample || cfg_trace_all)
		return;
	if (*memo_tgid == tgid && now - *memo_ns < cfg_rss_interval_ns)
		return;
	info = fl_rss_target(&mm);
	*memo_tgid = tgid;
	*memo_ns = now;
	if (!info)
		return;
	if (now - info->last_rss_ns < cfg_rss_interval_ns) {
		*memo_ns = info->last_rss_ns; /* another CPU sampled it: due after that one */
		return;
	}
	info->last_rss_ns = now;
	fl_rss_emit(mm, info->pid);
}

static __always_inline struct fl_tstat *fl_tstat_get(void)
{
	__u32 tid = fl_tid();
	struct fl_tstat *ts = bpf_map_lookup_elem(&tstats, &tid);

	if (ts)
		return ts;
	struct fl_tstat init = {.pid = fl_tgid()};

	bpf_get_current_comm(init.comm, sizeof(init.comm));
	bpf_map_update_elem(&tstats, &tid, &init, BPF_NOEXIST);
	return bpf_map_lookup_elem(&tstats, &tid);
}

/* In-kernel aggregation for top/serve: a log2 histogram per cause and per-thread totals. */
static __always_inline void fl_account(__u32 cause, __u64 dur_ns)
{
	struct fl_tstat *ts;
	__u32 slot, idx;
	__u64 *cnt;

	if (!cfg_aggregate || cause >= FL_CAUSE_MAX)
		return;
	slot = fl_log2_slot(dur_ns);
	idx = cause * FL_HIST_SLOTS + slot;
	cnt = bpf_map_lookup_elem(&hists, &idx);
	if (cnt)
		*cnt += 1;
	ts = fl_tstat_get();
	if (ts) {
		ts->stall_count[cause] += 1;
		ts->stall_ns[cause] += dur_ns;
	}
}

/*
 * Per-thread fault counts: the fault tracepoints count every fault (FAULTS); the duration path,
 * where the kernel allows it, adds only the major ones (MAJOR), so nothing is counted twice.
 */
static __always_inline void fl_account_fault(__u64 faults, __u64 major)
{
	struct fl_tstat *ts;

	if (!cfg_aggregate)
		return;
	ts = fl_tstat_get();
	if (!ts)
		return;
	ts->faults += faults;
	ts->faults_major += major;
}

static __always_inline int fl_start(__u32 kind, __u64 arg0, __u64 arg1, __s32 order)
{
	struct start_key k = {.tid = fl_tid(), .kind = kind};
	struct start_val v = {
	    .ts_ns = bpf_ktime_get_ns(), .arg0 = arg0, .arg1 = arg1, .order = order};

	return bpf_map_update_elem(&starts, &k, &v, BPF_ANY);
}

/* Takes the start of KIND for this thread: returns it (copied) and removes it. */
static __always_inline bool fl_finish(__u32 kind, struct start_val *out)
{
	struct start_key k = {.tid = fl_tid(), .kind = kind};
	struct start_val *v = bpf_map_lookup_elem(&starts, &k);

	if (!v)
		return false;
	*out = *v;
	bpf_map_delete_elem(&starts, &k);
	return true;
}

static __always_inline void fl_emit_stall_noacct(__u32 cause, __u64 start_ns, __u64 dur_ns,
						 __s32 order, __u64 arg0, __u64 arg1, __u16 flags)
{
	struct fl_stall *e;

	e = fl_reserve(struct fl_stall, FL_EV_STALL, flags);
	if (!e)
		return;
	e->h.ts_ns = start_ns;
	e->pid = fl_tgid();
	e->cause = cause;
	e->order = order;
	e->dur_ns = dur_ns;
	e->arg0 = arg0;
	e->arg1 = arg1;
	fl_submit(e);
}

/*
 * The user stack of the stall of CAUSE that began at START_NS, in the current (target) thread.
 * CTX is the program's context, which bpf_get_stack needs. Stalls are rare (a few per second at
 * most), so every stall gets its own copy rather than a stack id that a full map could lose.
 */
/* Whether this kernel-mode fault is fl_emit_stack's own read of this thread's user stack. */
static __always_inline bool fl_own_stack_fault(void)
{
	__u32 zero = 0, *walk = bpf_map_lookup_elem(&stack_walk, &zero);

	return walk && *walk && *walk == fl_tid();
}

static __always_inline void fl_emit_stack(void *ctx, __u32 cause, __u64 start_ns)
{
	__u32 zero = 0, *walk;
	struct fl_stack *e;
	struct pt_regs *regs;
	__u64 sp;
	long n;

	e = fl_reserve(struct fl_stack, FL_EV_STACK, 0);
	if (!e)
		return;
	e->h.ts_ns = start_ns;
	e->pid = fl_tgid();
	e->cause = cause;
	walk = bpf_map_lookup_elem(&stack_walk, &zero);
	if (walk)
		*walk = fl_tid();
	n = bpf_get_stack(ctx, e->ips, sizeof(e->ips), BPF_F_USER_STACK);
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	sp = BPF_CORE_READ(regs, sp);
	if (!sp || bpf_probe_read_user(&e->sp_word, sizeof(e->sp_word), (void *)sp))
		e->sp_word = 0;
	if (walk)
		*walk = 0;
	e->nr = n > 0 ? n / sizeof(__u64) : 0;
	fl_submit(e);
}

static __always_inline void fl_emit_stall(__u32 cause, __u64 start_ns, __u64 dur_ns, __s32 order,
					  __u64 arg0, __u64 arg1, __u16 flags)
{
	fl_account(cause, dur_ns);
	fl_emit_stall_noacct(cause, start_ns, dur_ns, order, arg0, arg1, flags);
}

#endif /* FL_COMMON_BPF_H */
