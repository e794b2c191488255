/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where the kernel's constants live: architecture syscall tables and register names, CO-RE
 * flavours of kernel structs that changed, and the decoding of kernel values into the event
 * enums of faultline.h. The meaning of a kernel value is decided here, once; user space only
 * reads the enums (FL_F_WRITE, enum fl_fault_outcome, enum fl_memsys_op, enum fl_madv).
 */
#ifndef FL_COMPAT_BPF_H
#define FL_COMPAT_BPF_H

#include "faultline.h"
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* --- syscall numbers and registers, per architecture ------------------------------------ */

/* The raw_syscalls tracepoints give numbers, not names. */
#if defined(__TARGET_ARCH_x86)
enum {
	FL_NR_READ = 0,
	FL_NR_WRITE = 1,
	FL_NR_CLOSE = 3,
	FL_NR_MMAP = 9,
	FL_NR_MUNMAP = 11,
	FL_NR_BRK = 12,
	FL_NR_READV = 19,
	FL_NR_WRITEV = 20,
	FL_NR_MREMAP = 25,
	FL_NR_MADVISE = 28,
	FL_NR_ACCEPT = 43,
	FL_NR_SENDTO = 44,
	FL_NR_RECVFROM = 45,
	FL_NR_SENDMSG = 46,
	FL_NR_RECVMSG = 47,
	FL_NR_ACCEPT4 = 288,
};
#define FL_REGS_NR orig_ax
#define FL_REGS_IP ip
#elif defined(__TARGET_ARCH_arm64)
enum {
	FL_NR_READ = 63,
	FL_NR_WRITE = 64,
	FL_NR_CLOSE = 57,
	FL_NR_MMAP = 222,
	FL_NR_MUNMAP = 215,
	FL_NR_BRK = 214,
	FL_NR_READV = 65,
	FL_NR_WRITEV = 66,
	FL_NR_MREMAP = 216,
	FL_NR_MADVISE = 233,
	FL_NR_ACCEPT = 202,
	FL_NR_SENDTO = 206,
	FL_NR_RECVFROM = 207,
	FL_NR_SENDMSG = 211,
	FL_NR_RECVMSG = 212,
	FL_NR_ACCEPT4 = 242,
};
#define FL_REGS_NR syscallno
#define FL_REGS_IP pc
#else
#error "compat.bpf.h: syscall numbers for this architecture are missing"
#endif

/* Syscall arguments 0-3 as the kernel saw them (x86-64: di si dx r10; arm64: x0-x3). */
static __always_inline void fl_syscall_args(struct pt_regs *regs, __u64 a[4])
{
#if defined(__TARGET_ARCH_arm64)
	a[0] = BPF_CORE_READ(regs, regs[0]);
	a[1] = BPF_CORE_READ(regs, regs[1]);
	a[2] = BPF_CORE_READ(regs, regs[2]);
	a[3] = BPF_CORE_READ(regs, regs[3]);
#else
	a[0] = BPF_CORE_READ(regs, di);
	a[1] = BPF_CORE_READ(regs, si);
	a[2] = BPF_CORE_READ(regs, dx);
	a[3] = BPF_CORE_READ(regs, r10);
#endif
}

/* A syscall's fifth and sixth arguments (mmap's fd and offset). */
static __always_inline void fl_syscall_args56(struct pt_regs *regs, __u64 *a4, __u64 *a5)
{
#if defined(__TARGET_ARCH_arm64)
	*a4 = BPF_CORE_READ(regs, regs[4]);
	*a5 = BPF_CORE_READ(regs, regs[5]);
#else
	*a4 = BPF_CORE_READ(regs, r8);
	*a5 = BPF_CORE_READ(regs, r9);
#endif
}

/* The memory syscall NR is, or FL_MS_NONE. */
static __always_inline __u32 fl_memsys_op(long nr)
{
	switch (nr) {
	case FL_NR_MMAP:
		return FL_MS_MMAP;
	case FL_NR_MUNMAP:
		return FL_MS_MUNMAP;
	case FL_NR_BRK:
		return FL_MS_BRK;
	case FL_NR_MREMAP:
		return FL_MS_MREMAP;
	case FL_NR_MADVISE:
		return FL_MS_MADVISE;
	}
	return FL_MS_NONE;
}

/*
 * madvise's advice as enum fl_madv. x86-64 and arm64 use the asm-generic values, which enum
 * fl_madv copies; an architecture with its own (alpha, mips, parisc) would translate here.
 */
static __always_inline __u16 fl_madv_of(__u64 advice)
{
	return advice < FL_MADV_OTHER ? advice : FL_MADV_OTHER;
}

/* --- page faults ------------------------------------------------------------------------ */

/*
 * FL_F_WRITE from the page_fault_user/kernel tracepoints' error code: the x86 page-fault error
 * code (enum x86_pf_error_code). Those tracepoints exist on x86 only.
 */
static __always_inline __u16 fl_pf_error_write(__u64 error_code)
{
#if defined(__TARGET_ARCH_x86)
	return error_code & bpf_core_enum_value(enum x86_pf_error_code, X86_PF_WRITE) ? FL_F_WRITE
										      : 0;
#else
	return 0;
#endif
}

/* FL_F_WRITE from handle_mm_fault's flags (enum fault_flag). */
static __always_inline __u16 fl_fault_flags_write(__u32 flags)
{
	return flags & bpf_core_enum_value(enum fault_flag, FAULT_FLAG_WRITE) ? FL_F_WRITE : 0;
}

/*
 * How a completed fault ended, as the kernel's mm_account_fault() counts it: a VM_FAULT_ERROR
 * fault is neither major nor minor; major when the fault did I/O (VM_FAULT_MAJOR) or was retried
 * (FAULT_FLAG_TRIED). VM_FAULT_ERROR is a macro, not an enum: its members are listed here.
 * VM_FAULT_NEEDDSYNC is not among them (a DAX fault that wants fsync is no error).
 */
static __always_inline __u32 fl_fault_outcome(__u32 vm_fault, __u32 flags)
{
	__u32 error = bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_OOM) |
		      bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_SIGBUS) |
		      bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_SIGSEGV) |
		      bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_HWPOISON) |
		      bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_HWPOISON_LARGE) |
		      bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_FALLBACK);

	if (vm_fault & error)
		return FL_FO_ERROR;
	if ((vm_fault & bpf_core_enum_value(enum vm_fault_reason, VM_FAULT_MAJOR)) ||
	    (flags & bpf_core_enum_value(enum fault_flag, FAULT_FLAG_TRIED)))
		return FL_FO_MAJOR;
	return FL_FO_MINOR;
}

/* --- RSS counters ----------------------------------------------------------------------- */

/* Before 6.2 the counters were atomics in struct mm_rss_stat; now they are percpu_counters. */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

/* The mm's RSS counters, indexed like enum fl_rss_member (MM_FILEPAGES.. MM_SHMEMPAGES). */
static __always_inline void fl_rss_read(struct mm_struct *mm, __s64 *pages)
{
	if (bpf_core_type_exists(struct mm_rss_stat___old)) {
		struct mm_struct___old *old = (void *)mm;

		pages[0] = BPF_CORE_READ(old, rss_stat.count[0].counter);
		pages[1] = BPF_CORE_READ(old, rss_stat.count[1].counter);
		pages[2] = BPF_CORE_READ(old, rss_stat.count[2].counter);
		pages[3] = BPF_CORE_READ(old, rss_stat.count[3].counter);
		return;
	}
	pages[0] = BPF_CORE_READ(mm, rss_stat[0].count);
	pages[1] = BPF_CORE_READ(mm, rss_stat[1].count);
	pages[2] = BPF_CORE_READ(mm, rss_stat[2].count);
	pages[3] = BPF_CORE_READ(mm, rss_stat[3].count);
}

/* mmap(2)'s flags and prot as FL_F_MAP_* (uapi values, the same on x86-64 and arm64). */
#define FL_UAPI_MAP_ANONYMOUS 0x20
#define FL_UAPI_MAP_STACK 0x20000
#define FL_UAPI_PROT_EXEC 0x4

static __always_inline __u16 fl_mmap_flags(__u64 flags, __u64 prot)
{
	return (flags & FL_UAPI_MAP_ANONYMOUS ? FL_F_MAP_ANON : 0) |
	       (flags & FL_UAPI_MAP_STACK ? FL_F_MAP_STACK : 0) |
	       (prot & FL_UAPI_PROT_EXEC ? FL_F_MAP_EXEC : 0);
}

#endif /* FL_COMPAT_BPF_H */
