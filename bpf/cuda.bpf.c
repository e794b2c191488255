// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * CUDA pinned memory: uprobe/uretprobe on cudaHostRegister and friends in every libcudart and
 * libcuda a traced process has mapped (user/uprobes.c attaches them per pid; the function is the
 * cookie, enum fl_cuda_fn). Every call is an event: pointer, size, flags, return code, duration
 * and the page faults the calling thread took meanwhile (pinning faults in what is not resident).
 */
#include "common.bpf.h"

struct cuda_key {
	__u32 tid;
	__u32 func;
};

struct cuda_start {
	__u64 ts_ns;
	__u64 ptr; /* or, for the allocating calls, where the callee stores the pointer */
	__u64 size;
	__u64 flags;
	__u64 faults;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cuda_key);
	__type(value, struct cuda_start);
} cuda_starts SEC(".maps");

static __always_inline __u64 thread_faults(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return task->min_flt + task->maj_flt;
}

static __always_inline bool cuda_out_ptr(__u32 func)
{
	return func == FL_CF_HOST_ALLOC || func == FL_CF_MALLOC_HOST ||
	       func == FL_CF_CU_HOST_ALLOC || func == FL_CF_CU_ALLOC_HOST;
}

SEC("uprobe")
int BPF_KPROBE(fl_cuda_entry)
{
	struct cuda_key k = {.tid = fl_tid(), .func = bpf_get_attach_cookie(ctx)};
	struct cuda_start s = {};

	s.ptr = PT_REGS_PARM1(ctx);
	switch (k.func) {
	case FL_CF_HOST_REGISTER:
	case FL_CF_HOST_ALLOC:
	case FL_CF_CU_HOST_REGISTER:
	case FL_CF_CU_HOST_ALLOC:
		s.size = PT_REGS_PARM2(ctx);
		s.flags = (__u32)PT_REGS_PARM3(ctx);
		break;
	case FL_CF_MALLOC_HOST:
	case FL_CF_CU_ALLOC_HOST:
		s.size = PT_REGS_PARM2(ctx);
		break;
	default: /* unregister and free take the pointer only */
		break;
	}
	s.faults = thread_faults();
	s.ts_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&cuda_starts, &k, &s, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(fl_cuda_ret)
{
	struct cuda_key k = {.tid = fl_tid(), .func = bpf_get_attach_cookie(ctx)};
	__u64 now = bpf_ktime_get_ns();
	struct cuda_start *s;
	struct fl_cuda *e;
	__s32 ret = PT_REGS_RC(ctx); /* cudaError_t and CUresult are C enums: 32 bits */

	s = bpf_map_lookup_elem(&cuda_starts, &k);
	if (!s)
		return 0;
	fl_account(FL_CAUSE_PINNED, now - s->ts_ns);
	e = fl_reserve(struct fl_cuda, FL_EV_CUDA, 0);
	if (e) {
		e->h.ts_ns = s->ts_ns;
		e->pid = fl_tgid();
		e->func = k.func;
		e->ptr = s->ptr;
		if (cuda_out_ptr(k.func)) {
			__u64 p = 0;

			if (ret == 0 && s->ptr)
				bpf_probe_read_user(&p, sizeof(p), (void *)s->ptr);
			e->ptr = p;
		}
		e->size = s->size;
		e->flags = s->flags;
		e->ret = ret;
		e->dur_ns = now - s->ts_ns;
		e->faults = thread_faults() - s->faults;
		e->huge_bytes = 0;
		/* wake user space now: it reads the range's huge pages when it takes the event,
		 * and the caller may unmap the range soon after the call returns */
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	}
	bpf_map_delete_elem(&cuda_starts, &k);
	return 0;
}
