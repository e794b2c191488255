// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Page faults: every user and kernel-mode fault on user memory (tracepoints, available on every
 * kernel), their duration and outcome where the kernel allows fentry or kprobes on
 * handle_mm_fault, and file-backed faults (mmapped weights).
 */
#include "common.bpf.h"

/*
 * Fault events go to a ring buffer of the CPU they happen on: a storm on several CPUs would
 * otherwise take one ring's spinlock for every fault. User space creates the rings (for the
 * online CPUs) and puts them here before anything is attached: on kernels before 6.8 each insert
 * waits for an RCU grace period. A CPU without one (none created, hot-plugged later) uses the
 * shared ring. Faults need no order against other events: the model counts them (per thread, per
 * millisecond, per mapping from /proc snapshots), it does not replay them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* user space: one slot per possible CPU */
	__type(key, __u32);
	__type(value, __u32);
	/* no inner-map template here: user space gives one ring as the template (the size of a
	 * template declared here cannot be set before libbpf 1.2) */
} cpu_rings SEC(".maps");

/* This CPU's fault ring, else the shared one. */
static __always_inline void *fault_ring(bool *own)
{
	__u32 cpu = bpf_get_smp_processor_id();
	void *ring = bpf_map_lookup_elem(&cpu_rings, &cpu);

	*own = ring != NULL;
	return ring ?: (void *)&events;
}

static __always_inline void fault_submit(void *e, void *ring, bool own)
{
	if (!own) {
		fl_submit(e);
		return;
	}
	/* wake user space once a batch has built up, as fl_submit does for the shared ring */
	bpf_ringbuf_submit(e, bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= cfg_cpu_wakeup_bytes
				  ? BPF_RB_FORCE_WAKEUP
				  : BPF_RB_NO_WAKEUP);
}

/* --fault-events=all: one FL_EV_FAULT per fault. */
static __always_inline void fault_emit(__u32 tgid, __u32 tid, __u16 flags, __u64 addr, __u64 ip,
				       __u64 error_code, __u64 now)
{
	struct fl_fault *e;
	bool own;
	void *ring = fault_ring(&own);

	e = fl_reserve_at(ring, sizeof(*e), FL_EV_FAULT, flags, tid, now);
	if (!e)
		return;
	e->pid = tgid;
	e->error_code = error_code;
	e->addr = addr;
	e->ip = ip;
	fault_submit(e, ring, own);
}

/* What a fault needs of its CPU, in one lookup: the open run (--fault-events=runs or off), the
 * fault counts and the memos (struct fl_fault_cpu). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_fault_cpu);
} fault_cpu SEC(".maps");

/* The run as an event; lost, its faults count as dropped events. */
static __always_inline void run_emit(struct fl_run_slot *r)
{
	struct fl_fault_run *e;
	bool own;
	void *ring = fault_ring(&own);

	r->ev.span_ns = r->last_ts - r->ev.h.ts_ns;
	e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		fl_count(FL_CNT_DROPS, r->ev.count);
		return;
	}
	__builtin_memcpy(e, &r->ev, sizeof(*e));
	fault_submit(e, ring, own);
}

/* Whether the fault continues R: everything but the address was checked by the caller. */
static __always_inline bool run_continues(struct fl_run_slot *r, __u64 addr)
{
	if (cfg_fault_events == FL_FE_OFF)
		return true;
	if (r->ev.count == 1 && addr >= r->ev.addr && addr - r->ev.addr <= FL_RUN_MAX_STRIDE) {
		r->ev.stride = addr - r->ev.addr;
		return true;
	}
	return r->ev.count >= 2 && addr == r->last_addr + r->ev.stride;
}

/*
 * A user-mode fault's arguments from the page_fault_user/kernel tracepoint (address, regs,
 * error_code), read where they are needed rather than kept across the program's first helper call.
 * BTF: regs is a typed pointer (tp_btf); else a plain value read with BPF_CORE_READ (raw_tp).
 */
#define FAULT_ADDR(args) ((args)[0])
#define FAULT_IP(args, btf)                                                                        \
	((btf) ? ((struct pt_regs *)(args)[1])->ip : BPF_CORE_READ((struct pt_regs *)(args)[1], ip))
#define FAULT_ERROR_CODE(args) ((args)[2])

/* What a user-mode fault must share with a run to continue it, in one value: the thread and
 * whether it writes (pid_tgid leaves bit 63 clear: tgids are below 2^22). */
static __always_inline __u64 run_key(__u64 pid_tgid, __u64 error_code)
{
	return pid_tgid | (__u64) !!fl_pf_error_write(error_code) << 63;
}

/*
 * A fault that continues this CPU's open run, without reading the clock: the clock was a third of
 * what a fault cost (docs/benchmarks.md). It is read on a run's first fault, on every
 * FL_RUN_CLOCK_EVERY-th and whenever jiffies moved since the last read (bpf_jiffies64 is one load),
 * and a run ends where it shows that the millisecond ended. So the faults after the last read of a
 * run are placed at or before it: up to FL_RUN_CLOCK_EVERY - 1 faults in a row may count in the
 * millisecond before theirs, and never across another event (fl_ev_seq is still read per fault:
 * a fault that sees it unchanged came before any event reserved since).
 *
 * It comes first, before the target check: the run's thread passed that check (on_fault) and is
 * this one, and tgt_gen unchanged says no target was added or removed since. User-mode faults
 * only: a kernel-mode one may be faultline's own (fl_own_stack_fault). The run's second fault,
 * which sets its step, takes the whole path.
 */
static __always_inline bool fault_run_quick(struct fl_fault_cpu *c, __u64 id, __u64 *args, bool btf)
{
	struct fl_run_slot *r = &c->run;
	__u32 n = r->ev.count;
	__u64 addr;

	if (n < 2 || !(n & (FL_RUN_CLOCK_EVERY - 1)) || r->jiffies != bpf_jiffies64())
		return false; /* and so n < FL_RUN_MAX_COUNT, a multiple of FL_RUN_CLOCK_EVERY */
	if (r->key != run_key(id, FAULT_ERROR_CODE(args)) ||
	    r->seq != *(volatile __u64 *)&fl_ev_seq)
		return false;
	if (!cfg_trace_all && c->tgt_gen != *(volatile __u64 *)&fl_tgt_gen)
		return false;
	if (cfg_fault_events != FL_FE_OFF) {
		addr = FAULT_ADDR(args);
		if (addr != r->last_addr + r->ev.stride || FAULT_IP(args, btf) != r->ev.ip)
			return false;
		r->last_addr = addr;
	}
	r->ev.count = n + 1;
	c->faults[0]++;
	return true;
}

/* --fault-events=runs or off: the fault continues this CPU's open run, or begins the next. */
static __always_inline void fault_run_add(struct fl_run_slot *r, __u64 id, __u64 error_code,
					  __u16 flags, __u64 addr, __u64 ip, __u64 now)
{
	__u64 seq = *(volatile __u64 *)&fl_ev_seq; /* after the clock: see fl_reserve_tid */

	if (cfg_fault_events == FL_FE_OFF)
		addr = ip = 0; /* counts per thread and millisecond only */
	if (r->ev.count && r->ev.h.tid == (__u32)id && r->ev.h.flags == flags && r->ev.ip == ip &&
	    r->seq == seq && now < r->ms_end && r->ev.count < FL_RUN_MAX_COUNT &&
	    run_continues(r, addr)) {
		r->ev.count++;
		r->last_addr = addr;
		r->last_ts = now;
		r->jiffies = bpf_jiffies64();
		return;
	}
	if (r->ev.count)
		run_emit(r);
	r->ev.h.type = FL_EV_FAULT_RUN;
	r->ev.h.flags = flags;
	r->ev.h.tid = (__u32)id;
	r->ev.h.ts_ns = now;
	r->ev.pid = id >> 32;
	r->ev.count = 1;
	r->ev.addr = addr;
	r->ev.stride = 0;
	r->ev.ip = ip;
	r->ev.span_ns = 0;
	r->key = (flags & FL_F_KERNEL) ? 0 : run_key(id, error_code); /* 0: no quick path */
	r->last_addr = addr;
	r->last_ts = now;
	r->seq = seq;
	r->ms_end = (now / 1000000 + 1) * 1000000;
	r->jiffies = bpf_jiffies64();
}

/* A page fault on user memory; FLAGS: FL_F_KERNEL for page_fault_kernel. */
static __always_inline int on_fault(__u64 *args, bool btf, __u16 flags)
{
	__u64 id = bpf_get_current_pid_tgid(); /* once: every fault of the target comes here */
	__u32 tgid = id >> 32;
	__u64 addr, ip, error_code;
	struct fl_fault_cpu *c;
	__u32 zero = 0;
	__u64 now;

	c = bpf_map_lookup_elem(&fault_cpu, &zero); /* the only per-CPU lookup of a fault */
	if (!c)
		return 0;
	if (cfg_emit_events && cfg_fault_events != FL_FE_ALL && !(flags & FL_F_KERNEL) &&
	    fault_run_quick(c, id, args, btf))
		return 0;
	if (!fl_is_target_memo(tgid, &c->tgt_tgid, &c->tgt_gen))
		return 0;
	if ((flags & FL_F_KERNEL) && fl_own_stack_fault())
		return 0; /* faultline's own read of the stack, failed: not the target's fault */
	error_code = FAULT_ERROR_CODE(args);
	flags |= fl_pf_error_write(error_code);
	c->faults[(flags & FL_F_KERNEL) ? 1 : 0]++;
	fl_account_fault(1, 0);
	if (!cfg_emit_events)
		return 0; /* top, serve: counts only (an RSS sample would be an event: none either)
			   */
	now = bpf_ktime_get_ns(); /* once: the RSS sample's clock and the event's time */
	fl_rss_due(tgid, now, &c->rss_tgid, &c->rss_last_ns);
	addr = FAULT_ADDR(args);
	ip = FAULT_IP(args, btf);
	if (cfg_fault_events == FL_FE_ALL)
		fault_emit(tgid, (__u32)id, flags, addr, ip, error_code, now);
	else
		fault_run_add(&c->run, id, error_code, flags, addr, ip, now);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(fl_pf_user_btf)
{
	return on_fault(ctx, true, 0);
}

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(fl_pf_kernel_btf)
{
	return on_fault(ctx, true, FL_F_KERNEL);
}

/* Fallback where the kernel has no BTF for tracepoints: same arguments, untyped. */
SEC("raw_tp/page_fault_user")
int fl_pf_user_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_fault(ctx->args, false, 0);
}

SEC("raw_tp/page_fault_kernel")
int fl_pf_kernel_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_fault(ctx->args, false, FL_F_KERNEL);
}

/*
 * Fault duration: handle_mm_fault from entry to the final return. A fault that returns
 * VM_FAULT_RETRY is called again with FAULT_FLAG_TRIED; those attempts are one fault, timed from
 * the first entry, as the kernel's own accounting (mm_account_fault) counts it once.
 */
static __always_inline int fault_enter(__u64 addr, __u32 flags)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_FAULT};
	__u32 tried = bpf_core_enum_value(enum fault_flag, FAULT_FLAG_TRIED);
	struct start_val *v;

	if (!fl_is_target())
		return 0;
	v = bpf_map_lookup_elem(&starts, &k);
	if (v && v->arg1 && (flags & tried)) {
		v->count++;
		v->arg2 = flags;
		return 0;
	}
	/* arg0: address, arg1: set once an attempt returned VM_FAULT_RETRY, arg2: flags */
	struct start_val nv = {.ts_ns = bpf_ktime_get_ns(), .arg0 = addr, .arg2 = flags};

	bpf_map_update_elem(&starts, &k, &nv, BPF_ANY);
	return 0;
}

static __always_inline int fault_exit(__u32 flags, __u32 ret)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_FAULT};
	__u32 retry = bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_RETRY);
	struct fl_fault_dur *e;
	struct start_val *v, s;
	__u32 outcome;
	__u64 dur;

	v = bpf_map_lookup_elem(&starts, &k);
	if (!v)
		return 0;
	if (ret & retry) {
		v->arg1 = 1; /* the next attempt continues this fault */
		return 0;
	}
	s = *v;
	bpf_map_delete_elem(&starts, &k);
	dur = bpf_ktime_get_ns() - s.ts_ns;
	fl_account(FL_CAUSE_FAULT, dur);
	outcome = fl_fault_outcome(ret, flags);
	fl_account_fault(0, outcome == FL_FO_MAJOR);
	e = fl_reserve(struct fl_fault_dur, FL_EV_FAULT_DUR, fl_fault_flags_write(flags));
	if (!e)
		return 0;
	e->h.ts_ns = s.ts_ns;
	e->pid = fl_tgid();
	e->vm_fault = ret;
	e->addr = s.arg0;
	e->dur_ns = dur;
	e->fault_flags = flags;
	e->retries = s.count;
	e->outcome = outcome;
	fl_submit(e);
	return 0;
}

SEC("fentry/handle_mm_fault")
int BPF_PROG(fl_fault_fentry, struct vm_area_struct *vma, unsigned long address, unsigned int flags)
{
	return fault_enter(address, flags);
}

SEC("fexit/handle_mm_fault")
int BPF_PROG(fl_fault_fexit, struct vm_area_struct *vma, unsigned long address, unsigned int flags,
	     struct pt_regs *regs, vm_fault_t ret)
{
	return fault_exit(flags, ret);
}

SEC("kprobe/handle_mm_fault")
int BPF_KPROBE(fl_fault_kprobe, struct vm_area_struct *vma, unsigned long address,
	       unsigned int flags)
{
	return fault_enter(address, flags);
}

/* kretprobes cannot see the arguments: the flags come from entry (arg2). */
SEC("kretprobe/handle_mm_fault")
int BPF_KRETPROBE(fl_fault_kretprobe, vm_fault_t ret)
{
	struct start_key k = {.tid = fl_tid(), .kind = FL_START_FAULT};
	struct start_val *v = bpf_map_lookup_elem(&starts, &k);

	return fault_exit(v ? v->arg2 : 0, ret);
}

static __always_inline int on_filemap_fault(struct address_space *mapping, __u64 index)
{
	struct fl_file_fault *e;
	struct inode *inode;

	if (!fl_is_target())
		return 0;
	e = fl_reserve(struct fl_file_fault, FL_EV_FILE_FAULT, 0);
	if (!e)
		return 0;
	inode = BPF_CORE_READ(mapping, host);
	e->pid = fl_tgid();
	e->ino = BPF_CORE_READ(inode, i_ino);
	e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->index = index;
	fl_submit(e);
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(fl_filemap_fault_btf, struct address_space *mapping, unsigned long index)
{
	return on_filemap_fault(mapping, index);
}

SEC("raw_tp/mm_filemap_fault")
int fl_filemap_fault_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_filemap_fault((struct address_space *)ctx->args[0], ctx->args[1]);
}

/*
 * Kernels without the mm_filemap_fault tracepoint (it is not in 6.1): filemap_fault() itself,
 * where the tracepoint fires on newer kernels, with the same inode and page index.
 */
static __always_inline int on_vmf(struct vm_fault *vmf)
{
	struct file *file = BPF_CORE_READ(vmf, vma, vm_file);

	return on_filemap_fault(BPF_CORE_READ(file, f_mapping), BPF_CORE_READ(vmf, pgoff));
}

SEC("fentry/filemap_fault")
int BPF_PROG(fl_filemap_fault_fentry, struct vm_fault *vmf)
{
	return on_vmf(vmf);
}

SEC("kprobe/filemap_fault")
int BPF_KPROBE(fl_filemap_fault_kprobe, struct vm_fault *vmf)
{
	return on_vmf(vmf);
}
