// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor under every figure of the bench's BPF time per fault (scripts/bench.sh, bpfcost): a
 * program on the tracepoint faultline's fault program uses, that returns at once. What bpf_stats
 * counts for it is the kernel's own cost of timing a program (two clock reads, on a VM a
 * paravirtual clock) and of calling it; faultline's figure above it is its own work.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/page_fault_user")
int BPF_PROG(fl_floor)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
