// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The syscall programs: one on sys_enter and one on sys_exit for everything faultline wants from
 * syscalls, the memory syscalls of --alloc=lite (memsys.bpf.h) and the socket calls of requests
 * (requests.bpf.h). These tracepoints fire on every syscall of every process on the machine,
 * traced or not, and each program run costs the BPF dispatch (tens of ns) before its first
 * instruction: one program per direction, not one per part. A syscall neither part wants returns
 * after a switch on its number, before any map lookup.
 *
 * Which parts run is set by user space per program (cfg_sys_memsys, cfg_sys_net: FL_SYS_* bits,
 * from the probe plan's alloc_syscalls and requests concerns); constants at load, so the verifier
 * drops a part that is off. raw_tp variants for kernels where tp_btf is refused.
 */
#include "common.bpf.h"
#include "memsys.bpf.h"
#include "requests.bpf.h"

const volatile __u32 cfg_sys_memsys = 0;
const volatile __u32 cfg_sys_net = 0;

/* VARIANT: FL_SYS_BTF or FL_SYS_RAW, a constant: the program the call is inlined in. */
static __always_inline int sys_enter(struct pt_regs *regs, long nr, __u32 variant)
{
	__u16 dir, kind;
	__u32 op;

	if (cfg_sys_memsys & variant) {
		op = fl_memsys_op(nr);
		if (op != FL_MS_NONE)
			return memsys_enter(regs, op);
	}
	if ((cfg_sys_net & variant) && net_classify(nr, &dir, &kind))
		return net_enter(regs, dir, kind);
	return 0;
}

static __always_inline int sys_exit(long nr, long ret, __u32 variant)
{
	__u16 dir, kind;
	__u32 op;

	if (cfg_sys_memsys & variant) {
		op = fl_memsys_op(nr);
		if (op != FL_MS_NONE)
			return memsys_exit(op, ret);
	}
	if ((cfg_sys_net & variant) && net_classify(nr, &dir, &kind))
		return net_exit(ret, dir, kind);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(fl_sys_enter, struct pt_regs *regs, long id)
{
	return sys_enter(regs, id, FL_SYS_BTF);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fl_sys_exit, struct pt_regs *regs, long ret)
{
	if (!((cfg_sys_memsys | cfg_sys_net) & FL_SYS_BTF))
		return 0;
	return sys_exit(regs->FL_REGS_NR, ret, FL_SYS_BTF);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(fl_sys_enter_raw, struct pt_regs *regs, long id)
{
	return sys_enter(regs, id, FL_SYS_RAW);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(fl_sys_exit_raw, struct pt_regs *regs, long ret)
{
	if (!((cfg_sys_memsys | cfg_sys_net) & FL_SYS_RAW))
		return 0;
	return sys_exit(BPF_CORE_READ(regs, FL_REGS_NR), ret, FL_SYS_RAW);
}
