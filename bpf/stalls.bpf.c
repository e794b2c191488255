// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Timed stalls of traced threads: direct and memcg reclaim, direct compaction, khugepaged
 * collapses of a traced mm, mmap_lock waits (and long write holds), page migration; plus
 * kcompactd activity and RSS of traced mms.
 */
#include "common.bpf.h"

/* --- direct reclaim -------------------------------------------------------------------- */

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(fl_reclaim_begin, int order, gfp_t gfp)
{
	if (fl_is_target())
		fl_start(FL_START_DIRECT_RECLAIM, 0, gfp, order);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(fl_reclaim_end, unsigned long nr_reclaimed)
{
	struct start_val s;

	if (fl_finish(FL_START_DIRECT_RECLAIM, &s)) {
		fl_emit_stall(FL_CAUSE_DIRECT_RECLAIM, s.ts_ns, bpf_ktime_get_ns() - s.ts_ns,
			      s.order, nr_reclaimed, s.arg1, 0);
		fl_emit_stack(ctx, FL_CAUSE_DIRECT_RECLAIM, s.ts_ns);
	}
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(fl_memcg_reclaim_begin, int order, gfp_t gfp)
{
	if (fl_is_target())
		fl_start(FL_START_MEMCG_RECLAIM, 0, gfp, order);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(fl_memcg_reclaim_end, unsigned long nr_reclaimed)
{
	struct start_val s;

	if (fl_finish(FL_START_MEMCG_RECLAIM, &s)) {
		fl_emit_stall(FL_CAUSE_MEMCG_RECLAIM, s.ts_ns, bpf_ktime_get_ns() - s.ts_ns,
			      s.order, nr_reclaimed, s.arg1, 0);
		fl_emit_stack(ctx, FL_CAUSE_MEMCG_RECLAIM, s.ts_ns);
	}
	return 0;
}

/* --- direct compaction ----------------------------------------------------------------- */

/*
 * try_to_compact_pages() marks the start of a direct compaction; it then compacts zone after
 * zone (mm_compaction_begin/end each), with no tracepoint at the very end. So every zone's end
 * emits the stall so far, with the same start time: user space keeps the last one per
 * (thread, start). A try that compacted no zone but found one deferred is a stall too (status
 * COMPACT_DEFERRED), as the kernel's compact_stall counts every try not COMPACT_SKIPPED.
 */
SEC("tp_btf/mm_compaction_try_to_compact_pages")
int BPF_PROG(fl_compact_try, int order, gfp_t gfp, int prio)
{
	if (fl_is_target())
		fl_start(FL_START_COMPACTION, 0, gfp, order);
	return 0;
}

SEC("tp_btf/mm_compaction_end")
int BPF_PROG(fl_compact_end, struct compact_control *cc, unsigned long zone_start,
	     unsigned long zone_end, bool sync, int status)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_COMPACTION};
	struct start_val *v = bpf_map_lookup_elem(&starts, &k);
	__u64 now, dur;

	if (!v)
		return 0;
	now = bpf_ktime_get_ns();
	dur = now - v->ts_ns;
	v->count++;
	if (v->count == 1)
		fl_account(FL_CAUSE_DIRECT_COMPACTION, dur);
	fl_emit_stall_noacct(FL_CAUSE_DIRECT_COMPACTION, v->ts_ns, dur, v->order, status, v->arg1,
			     0);
	if (v->count == 1) /* one stack per try, not per zone */
		fl_emit_stack(ctx, FL_CAUSE_DIRECT_COMPACTION, v->ts_ns);
	return 0;
}

SEC("tp_btf/mm_compaction_deferred")
int BPF_PROG(fl_compact_deferred, struct zone *zone, int order)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_COMPACTION};
	struct start_val *v;
	__u64 dur;

	if (!fl_is_target())
		return 0;
	fl_count(FL_CNT_COMPACTION_DEFERRED, 1);
	v = bpf_map_lookup_elem(&starts, &k);
	if (!v || v->count)
		return 0; /* a zone of this try was compacted or deferred already */
	v->count = 1;
	dur = bpf_ktime_get_ns() - v->ts_ns;
	fl_account(FL_CAUSE_DIRECT_COMPACTION, dur);
	fl_emit_stall_noacct(FL_CAUSE_DIRECT_COMPACTION, v->ts_ns, dur, v->order,
			     bpf_core_enum_value(enum compact_result, COMPACT_DEFERRED), v->arg1,
			     0);
	fl_emit_stack(ctx, FL_CAUSE_DIRECT_COMPACTION, v->ts_ns);
	return 0;
}

SEC("tp_btf/mm_compaction_kcompactd_wake")
int BPF_PROG(fl_kcompactd_wake, int nid, int order, enum zone_type zone)
{
	struct fl_kcompactd *e;

	fl_count(FL_CNT_KCOMPACTD_WAKE, 1);
	e = fl_reserve(struct fl_kcompactd, FL_EV_KCOMPACTD, FL_F_OTHER);
	if (!e)
		return 0;
	e->nid = nid;
	e->wake = 1;
	e->order = order;
	e->zone = zone;
	fl_submit(e);
	return 0;
}

SEC("tp_btf/mm_compaction_kcompactd_sleep")
int BPF_PROG(fl_kcompactd_sleep, int nid)
{
	struct fl_kcompactd *e = fl_reserve(struct fl_kcompactd, FL_EV_KCOMPACTD, FL_F_OTHER);

	if (!e)
		return 0;
	e->nid = nid;
	e->wake = 0;
	e->order = -1;
	fl_submit(e);
	return 0;
}

/* --- mmap_lock ------------------------------------------------------------------------- */

/*
 * The tracepoints lost their memcg_path argument in 6.10; user space reads the prototype from
 * BTF and sets cfg_mmap_lock_write_arg (1 or 2). The unused branch is pruned at load.
 */
static __always_inline bool lock_write_arg(__u64 *ctx)
{
	__u64 w;

	/* Separate constant-offset loads: the verifier refuses a computed ctx offset. */
	if (cfg_mmap_lock_write_arg == 2)
		asm volatile("%0 = *(u64 *)(%1 + 16)" : "=r"(w) : "r"(ctx));
	else
		asm volatile("%0 = *(u64 *)(%1 + 8)" : "=r"(w) : "r"(ctx));
	return (bool)w;
}

SEC("tp_btf/mmap_lock_start_locking")
int fl_lock_start(__u64 *ctx)
{
	__u64 mm = ctx[0];

	if (!fl_is_target())
		return 0;
	fl_start(FL_START_LOCK_WAIT, mm, lock_write_arg(ctx), 0);
	return 0;
}

/*
 * A target thread's own write hold stays in `starts` after the unlock (count 1, arg1 the hold),
 * because MADV_COLLAPSE traces mm_collapse_huge_page only after unlocking. Any later lock taken by
 * the thread makes that hold stale (count 2), so a collapse that failed before taking the lock
 * does not claim an unrelated munmap's hold.
 */
static __always_inline void lock_hold_stale(void)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_LOCK_HOLD};
	struct start_val *v = bpf_map_lookup_elem(&starts, &k);

	if (v)
		v->count = 2;
}

SEC("tp_btf/mmap_lock_acquire_returned")
int fl_lock_acquired(__u64 *ctx)
{
	__u64 mm = ctx[0], now;
	bool write = lock_write_arg(ctx);
	struct start_val s;

	if (fl_finish(FL_START_LOCK_WAIT, &s)) {
		now = bpf_ktime_get_ns();
		if (now - s.ts_ns >= cfg_lock_wait_min_ns) {
			fl_emit_stall(FL_CAUSE_MMAP_LOCK_WAIT, s.ts_ns, now - s.ts_ns, 0, write, mm,
				      0);
			fl_emit_stack(ctx, FL_CAUSE_MMAP_LOCK_WAIT, s.ts_ns);
		}
		if (write)
			fl_start(FL_START_LOCK_HOLD, mm, 0, 0);
		else
			lock_hold_stale();
		return 0;
	}
	/* Others (khugepaged) holding a traced mm for write stall every thread that faults. */
	if (write && fl_is_target_mm(mm))
		fl_start(FL_START_KHUGEPAGED_HOLD, mm, 0, 0);
	return 0;
}

SEC("tp_btf/mmap_lock_released")
int fl_lock_released(__u64 *ctx)
{
	__u64 mm = ctx[0];
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_KHUGEPAGED_HOLD};
	struct start_val s, *v;
	struct fl_lock_hold *e;
	__u64 hold;

	if (!lock_write_arg(ctx))
		return 0;
	v = bpf_map_lookup_elem(&starts, &k);
	if (v && v->arg0 == mm) {
		/* Keep the hold for the collapse tracepoint that follows the unlock. */
		v->arg1 = bpf_ktime_get_ns() - v->ts_ns;
		return 0;
	}
	k.kind = FL_START_LOCK_HOLD;
	v = bpf_map_lookup_elem(&starts, &k);
	if (!v || v->arg0 != mm || v->count)
		return 0;
	s = *v;
	hold = bpf_ktime_get_ns() - s.ts_ns;
	v->arg1 = hold; /* kept for MADV_COLLAPSE: see lock_hold_stale() */
	v->count = 1;
	if (hold < cfg_lock_hold_min_ns)
		return 0;
	e = fl_reserve(struct fl_lock_hold, FL_EV_LOCK_HOLD, 0);
	if (!e)
		return 0;
	e->h.ts_ns = s.ts_ns;
	e->pid = fl_tgid();
	e->write = 1;
	e->hold_ns = hold;
	fl_submit(e);
	return 0;
}

#ifndef PF_KTHREAD
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h: not in BTF (a #define) */
#endif

/* --- khugepaged and MADV_COLLAPSE -------------------------------------------------------- */

SEC("tp_btf/mm_khugepaged_scan_pmd")
int BPF_PROG(fl_khugepaged_scan, struct mm_struct *mm)
{
	if (fl_is_target_mm((__u64)mm))
		fl_count(FL_CNT_KHUGEPAGED_SCAN, 1);
	return 0;
}

/*
 * collapse_huge_page() takes the mm's mmap_lock for write while it copies the 512 pages, and
 * traces after unlocking: the stall is that write hold, seen by every thread of the target.
 */
SEC("tp_btf/mm_collapse_huge_page")
int BPF_PROG(fl_collapse, struct mm_struct *mm, int isolated, int status)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_KHUGEPAGED_HOLD};
	struct start_val *v;
	__u64 start = bpf_ktime_get_ns(), dur = 0;
	__u16 flags = 0;

	if (!fl_is_target_mm((__u64)mm))
		return 0;
	v = bpf_map_lookup_elem(&starts, &k);
	if (v && v->arg0 == (__u64)mm) {
		start = v->ts_ns;
		dur = v->arg1;
		bpf_map_delete_elem(&starts, &k);
	} else {
		/* MADV_COLLAPSE in a target thread: the write hold it just released, if any. */
		k.kind = FL_START_LOCK_HOLD;
		v = bpf_map_lookup_elem(&starts, &k);
		if (v && v->arg0 == (__u64)mm && v->count == 1) {
			start = v->ts_ns;
			dur = v->arg1;
			v->count = 2;
		}
	}
	if (!fl_is_target())
		flags = FL_F_OTHER;
	/* The khugepaged daemon is a kernel thread; MADV_COLLAPSE runs in the thread that asked. */
	if (!(bpf_get_current_task_btf()->flags & PF_KTHREAD))
		flags |= FL_F_ASKED;
	fl_emit_stall(FL_CAUSE_KHUGEPAGED, start, dur, 9, status, isolated, flags);
	if (!(flags & FL_F_OTHER)) /* MADV_COLLAPSE in a target thread: its caller */
		fl_emit_stack(ctx, FL_CAUSE_KHUGEPAGED, start);
	return 0;
}

/* --- migration ------------------------------------------------------------------------- */

SEC("tp_btf/mm_migrate_pages_start")
int BPF_PROG(fl_migrate_start, enum migrate_mode mode, int reason)
{
	if (fl_is_target())
		fl_start(FL_START_MIGRATION, mode, reason, 0);
	return 0;
}

SEC("tp_btf/mm_migrate_pages")
int BPF_PROG(fl_migrate_end, unsigned long succeeded, unsigned long failed)
{
	struct start_val s;

	if (fl_finish(FL_START_MIGRATION, &s)) {
		fl_emit_stall(FL_CAUSE_MIGRATION, s.ts_ns, bpf_ktime_get_ns() - s.ts_ns, 0,
			      succeeded, failed, 0);
		fl_emit_stack(ctx, FL_CAUSE_MIGRATION, s.ts_ns);
	}
	return 0;
}

/* --- RSS ------------------------------------------------------------------------------- */

/*
 * Only with --probes rss=tp_btf: by default the fault program samples RSS (fl_rss_due).
 * rss_stat fires on nearly every page fault of every process. A per-CPU memo of the last mm seen
 * (traced or not, and when this CPU last sampled it) answers most calls without a hash lookup.
 */
struct rss_memo {
	__u64 mm;
	__u64 gen;
	__u64 last_ns;
	__u64 traced;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rss_memo);
} rss_memo SEC(".maps");

SEC("tp_btf/rss_stat")
int BPF_PROG(fl_rss, struct mm_struct *mm, int member)
{
	__u64 key = (__u64)mm, now, gen = fl_mm_gen;
	struct rss_memo *memo;
	struct mm_info *info;
	struct fl_rss *e;
	__u32 zero = 0;

	/* Other processes' counters are the common case: answered before reading the clock. */
	memo = bpf_map_lookup_elem(&rss_memo, &zero);
	if (memo && memo->mm == key && memo->gen == gen && !memo->traced)
		return 0;
	now = bpf_ktime_get_ns();
	if (memo && memo->mm == key && memo->gen == gen &&
	    now - memo->last_ns < cfg_rss_interval_ns)
		return 0;
	info = bpf_map_lookup_elem(&target_mms, &key);
	if (memo) {
		memo->mm = key;
		memo->gen = gen;
		memo->traced = info != NULL;
		memo->last_ns = now;
	}
	if (!info)
		return 0;
	if (now - info->last_rss_ns < cfg_rss_interval_ns)
		return 0;
	info->last_rss_ns = now;
	e = fl_reserve(struct fl_rss, FL_EV_RSS, 0);
	if (!e)
		return 0;
	e->pid = info->pid;
	fl_rss_read(mm, e->pages);
	fl_submit(e);
	return 0;
}
