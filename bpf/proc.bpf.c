// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The maps and configuration every program shares (declared extern in common.bpf.h), and the
 * process tree: fork/exec/exit keep the target set current in the kernel for --children.
 */
#define FL_DEFINE_GLOBALS
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void emit_proc(__u32 kind, __u32 pid, __u32 ppid, __u32 child,
				      struct task_struct *task)
{
	struct fl_proc *e = fl_reserve(struct fl_proc, FL_EV_PROC, 0);

	if (!e)
		return;
	e->pid = pid;
	e->ppid = ppid;
	e->kind = kind;
	e->child = child;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	fl_submit(e);
}

/* A thread that dies mid-stall must not leave its start behind. */
static __always_inline void forget_thread_starts(__u32 tid)
{
	for (__u32 kind = FL_START_DIRECT_RECLAIM; kind < FL_START_MAX; kind++) {
		struct start_key k = {.tid = tid, .kind = kind};

		bpf_map_delete_elem(&starts, &k);
	}
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fl_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct fl_target t = {};

	/* A new thread of a target is covered by its tgid already. */
	if (ptgid == ctgid || !fl_is_target_tgid(ptgid))
		return 0;
	if (!cfg_trace_all) {
		if (!cfg_follow_children)
			return 0;
		bpf_map_update_elem(&targets, &ctgid, &t, BPF_ANY);
		__sync_fetch_and_add(&fl_tgt_gen, 1); /* its mm (t.mm = 0) is to be learnt */
	}
	emit_proc(FL_PROC_FORK, ctgid, ptgid, ctgid, child);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(fl_exec, struct task_struct *p)
{
	__u32 tgid = p->tgid;
	struct fl_target *t;

	if (!fl_is_target_tgid(tgid))
		return 0;
	/* exec replaced the mm: forget the old one, learn the new one on next sight. */
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (t && t->mm) {
		fl_forget_mm(t->mm, tgid);
		t->mm = 0;
		__sync_fetch_and_add(&fl_tgt_gen, 1);
	}
	emit_proc(FL_PROC_EXEC, tgid, 0, 0, p);
	/* the new program's first image (its mm is learnt at the next fault) */
	if (cfg_rss_sample && !cfg_trace_all && p->mm)
		fl_rss_emit(p->mm, tgid);
	return 0;
}

/* A vfork()ed child that exits before exec shares its parent's mm: the sample is not its. */
static __always_inline void exit_rss(struct mm_struct *mm, __u32 tgid)
{
	__u64 key = (__u64)mm;
	struct mm_info *info = bpf_map_lookup_elem(&target_mms, &key);

	if (!info || info->pid == tgid)
		fl_rss_emit(mm, tgid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(fl_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;
	struct fl_target *t;

	if (!fl_is_target_tgid(tgid))
		return 0;
	forget_thread_starts(p->pid);
	/* do_exit() drops signal->live before this tracepoint: 0 means the last thread is going. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	/* The last image, where the kernel fires this before exit_mm() (p->mm still set); where
	 * exit_mm() came first, the last sample is the last fault's or memory syscall's. */
	if (cfg_rss_sample && !cfg_trace_all && p->mm)
		exit_rss(p->mm, tgid);
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (t) {
		__u64 mm = t->mm;

		if (mm)
			fl_forget_mm(mm, tgid);
		bpf_map_delete_elem(&targets, &tgid);
		__sync_fetch_and_add(&fl_tgt_gen, 1);
	}
	emit_proc(FL_PROC_EXIT, tgid, 0, 0, p);
	return 0;
}
