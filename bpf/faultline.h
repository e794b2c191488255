/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event format shared by the BPF programs, the record file and the report.
 * Fixed-width types only; no vmlinux.h. Every event starts with struct fl_hdr and is a multiple
 * of 8 bytes. This is a contract: bump FL_FORMAT_VERSION in user/recfile.h when it changes.
 */
#ifndef FAULTLINE_H
#define FAULTLINE_H

#ifdef __FAULTLINE_BPF__
/* vmlinux.h already provides __u8.. __u64 */
#else
#include <linux/types.h>
#endif

#define FL_COMM_LEN 16
#define FL_NET_CAP 256	 /* bytes of payload captured per socket read/write */
#define FL_MS_NAME 48	 /* fl_memsys.name: a mapped file's basename */
#define FL_HIST_SLOTS 32 /* log2 buckets of nanoseconds: slot i holds [2^i, 2^(i+1)) */
#define FL_FINE_BITS 3	 /* each log2 bucket split in 2^FL_FINE_BITS (bpf/hist_slot.h) */
#define FL_FINE_SUB (1 << FL_FINE_BITS)
#define FL_FINE_SLOTS (FL_HIST_SLOTS * FL_FINE_SUB)
#define FL_MAX_CPUS 512

enum fl_type {
	FL_EV_FAULT = 1,  /* page_fault_user / page_fault_kernel (flags: FL_F_KERNEL) */
	FL_EV_FAULT_DUR,  /* handle_mm_fault duration and outcome (fexit or kretprobe) */
	FL_EV_FILE_FAULT, /* filemap:mm_filemap_fault */
	FL_EV_STALL,	  /* a timed stall of a traced thread; cause in fl_stall.cause */
	FL_EV_KCOMPACTD,  /* background compaction woke or slept */
	FL_EV_LOCK_HOLD,  /* a traced mm's mmap_lock held for write for longer than the threshold */
	FL_EV_RSS,	  /* a traced mm's RSS counters (sampled: see fl_rss_due) */
	FL_EV_PROC,	  /* fork / exec / exit of a traced task */
	FL_EV_MEMSYS,	  /* mmap munmap madvise brk mremap (--alloc=lite) */
	FL_EV_ALLOC,	  /* slow allocator call (--alloc=full) */
	FL_EV_CUDA,	  /* pinned-memory call (cudaHostRegister and friends) */
	FL_EV_NET,	  /* read/write on a traced TCP socket (record --capture-payload) */
	FL_EV_REQ,	  /* an HTTP request parsed by record from FL_EV_NET (user space only) */
	FL_EV_STACK,	  /* the user stack of the FL_EV_STALL of the same (tid, ts_ns, cause) */
	FL_EV_FAULT_RUN,  /* consecutive faults of a thread in one millisecond (format 4) */
	FL_EV_TYPE_MAX
};

/* fl_hdr.flags */
#define FL_F_KERNEL (1u << 0) /* FL_EV_FAULT: fault taken in kernel mode on a user address */
#define FL_F_OTHER (1u << 1)  /* the event ran in a thread outside the target (e.g. khugepaged) */
/* FL_CAUSE_KHUGEPAGED stall: a user thread asked for the collapse (MADV_COLLAPSE, synchronous in
 * the calling thread), not the khugepaged daemon. Absent in older files: there a collapse without
 * FL_F_OTHER (run in a target thread) was one too. */
#define FL_F_ASKED (1u << 2)
/* FL_EV_FAULT, FL_EV_FAULT_DUR: a write access (decided in BPF: bpf/compat.bpf.h) */
#define FL_F_WRITE (1u << 3)
/* FL_EV_MEMSYS mmap: MAP_ANONYMOUS, MAP_STACK, PROT_EXEC asked for (decided in BPF: compat.bpf.h)
 */
#define FL_F_MAP_ANON (1u << 4)
#define FL_F_MAP_STACK (1u << 5)
#define FL_F_MAP_EXEC (1u << 6)

enum fl_cause {
	FL_CAUSE_FAULT = 0,
	FL_CAUSE_DIRECT_RECLAIM,
	FL_CAUSE_MEMCG_RECLAIM,
	FL_CAUSE_DIRECT_COMPACTION,
	FL_CAUSE_KHUGEPAGED,
	FL_CAUSE_MMAP_LOCK_WAIT,
	FL_CAUSE_MIGRATION,
	FL_CAUSE_ALLOC,	 /* allocator call (--alloc=full), aggregated only */
	FL_CAUSE_PINNED, /* pinned-memory call */
	FL_CAUSE_MAX
};

/* Per-CPU counters kept in the kernel (map `counters`). */
enum fl_counter {
	FL_CNT_DROPS = 0,	    /* ring buffer full: events lost */
	FL_CNT_FAULTS_USER,	    /* user-mode faults of targets */
	FL_CNT_FAULTS_KERNEL,	    /* kernel-mode faults on user addresses of targets */
	FL_CNT_KHUGEPAGED_SCAN,	    /* khugepaged pmd scans of target mms */
	FL_CNT_KCOMPACTD_WAKE,	    /* kcompactd wake-ups, system-wide */
	FL_CNT_COMPACTION_DEFERRED, /* direct compaction deferred in a target thread */
	FL_CNT_MAX
};

struct fl_hdr {
	__u16 type;
	__u16 flags;
	__u32 tid;
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

struct fl_fault {
	struct fl_hdr h; /* flags: FL_F_KERNEL, FL_F_WRITE */
	__u32 pid;
	__u32 error_code; /* the x86 page-fault error code, raw: readers use h.flags */
	__u64 addr;
	__u64 ip; /* the faulting instruction: report's "Top faulting code" (user/faultsite.c) */
};

/*
 * record --fault-events: how faults reach user space (cfg_fault_events). RUNS, record's default:
 * the faults a thread takes one after the other on a CPU, in the same millisecond, at the same
 * instruction, at addresses in an arithmetic progression and with no other event between them,
 * are one FL_EV_FAULT_RUN (bpf/faults.bpf.c); ALL (serve --flight): one FL_EV_FAULT per fault;
 * OFF: runs keyed on the thread, the flags and the millisecond only, without addresses or
 * instructions.
 */
enum fl_fault_events { FL_FE_ALL = 0, FL_FE_RUNS, FL_FE_OFF };

/* The syscall programs (bpf/sys.bpf.c) as bits of cfg_sys_memsys and cfg_sys_net: which of them
 * runs the memory-syscall part and the request part. */
enum fl_sys_prog { FL_SYS_BTF = 1, FL_SYS_RAW = 2 };

/* A run's faults lie within one millisecond: a longer one is malformed (user/model.c). */
#define FL_RUN_MAX_SPAN_NS 1000000
/* The most faults in one run: far above what one CPU takes in a millisecond (a fault costs more
 * than 15 ns), so only a crafted file has more; readers skip such a run. */
#define FL_RUN_MAX_COUNT 65536
/* A run reads the clock on its first fault and on every FL_RUN_CLOCK_EVERY-th (and when jiffies
 * moved): span_ns ends at the last fault timed (bpf/faults.bpf.c fault_run_quick). */
#define FL_RUN_CLOCK_EVERY 16
/* The farthest step between two faults of a run (one huge page of x86-64). */
#define FL_RUN_MAX_STRIDE (2u << 20)

/*
 * COUNT faults of thread h.tid, one after the other on one CPU: fault i at addr + i * stride,
 * all at instruction ip, the first at h.ts_ns and the last one timed span_ns later, in the same
 * absolute millisecond (ts_ns / 1000000) as the first (the faults after the last one timed, at
 * most FL_RUN_CLOCK_EVERY - 1, may have come a little later: see fault_run_quick).
 * --fault-events=off: addr, stride and ip are 0.
 */
struct fl_fault_run {
	struct fl_hdr h; /* ts_ns: the first fault; flags: FL_F_KERNEL, FL_F_WRITE */
	__u32 pid;
	__u32 count; /* >= 1 */
	__u64 addr;
	__u64 stride;
	__u64 ip;
	__u32 span_ns; /* < FL_RUN_MAX_SPAN_NS */
	__u32 pad;
};

/*
 * The open run of a CPU (in map fault_cpu, per CPU): the FL_EV_FAULT_RUN being built, with what
 * decides whether the next fault continues it. User space reads what is left in it when record
 * stops, after the programs are detached (session_fault_runs).
 */
struct fl_run_slot {
	struct fl_fault_run ev; /* count 0: none open; span_ns is set when it is emitted */
	/* what fault_run_quick reads, next to ev's count, stride and ip */
	__u64 last_addr;
	__u64 key;     /* run_key of the run's thread and write flag; 0: kernel-mode faults */
	__u64 seq;     /* fl_ev_seq when the run began */
	__u64 jiffies; /* jiffies when last_ts was read (see fault_run_quick) */
	__u64 last_ts;
	__u64 ms_end; /* the end of the run's millisecond: one compare per fault, no division */
};

/*
 * What the fault program keeps per CPU (map fault_cpu), in one map value so that a fault looks up
 * one: the open run, this CPU's fault counts (FL_CNT_FAULTS_USER and _KERNEL are counted here, not
 * in counters: user space adds them, session_counter and live_snap_read), and the memos of the
 * last target seen (see fl_is_target_tgid) and of when its RSS sample is due (fl_rss_due).
 */
struct fl_fault_cpu {
	struct fl_run_slot run;
	__u64 tgt_gen;	 /* fl_tgt_gen when tgt_tgid was seen */
	__u64 faults[2]; /* [0]: user-mode faults, [1]: kernel-mode (FL_F_KERNEL) */
	__u32 tgt_tgid;	 /* the last target this CPU saw, with its mm learnt; 0: none */
	__u32 rss_tgid;	 /* the tgid whose RSS sample time rss_last_ns is */
	__u64 rss_last_ns;
};

/* How a fault ended, as the kernel's mm_account_fault() counts it (bpf/compat.bpf.h). */
enum fl_fault_outcome { FL_FO_MINOR = 1, FL_FO_MAJOR, FL_FO_ERROR };

struct fl_fault_dur {
	struct fl_hdr h; /* ts_ns is when the fault started; flags: FL_F_WRITE */
	__u32 pid;
	__u32 vm_fault; /* vm_fault_t of the final attempt, raw: readers use outcome */
	__u64 addr;
	__u64 dur_ns;	   /* from the first attempt to the last, retries included */
	__u32 fault_flags; /* enum fault_flag of the final attempt, raw */
	__u32 retries;
	__u32 outcome; /* enum fl_fault_outcome */
	__u32 pad;
};

struct fl_file_fault {
	struct fl_hdr h;
	__u32 pid;
	__u32 dev;
	__u64 ino;
	__u64 index; /* page index in the file */
};

struct fl_stall {
	struct fl_hdr h; /* ts_ns is when the stall began */
	__u32 pid;
	__u16 cause; /* enum fl_cause */
	__s16 order;
	__u64 dur_ns;
	__u64 arg0; /* reclaim: pages reclaimed; compaction: status; khugepaged: status;
		     * mmap_lock: 1 if write; migration: pages migrated */
	__u64 arg1; /* reclaim/compaction: gfp flags; khugepaged: pages isolated;
		     * mmap_lock: mm pointer; migration: pages failed */
};

#define FL_STACK_DEPTH 32 /* user frames kept per stall */

/*
 * The user stack of a timed stall in a traced thread (bpf_get_stack, BPF_F_USER_STACK: frame
 * pointers, so code built without them gives short stacks). Emitted once per stall, right after
 * its first FL_EV_STALL, with the stall's start as h.ts_ns. Not for stalls run in another thread
 * (FL_F_OTHER: khugepaged): there is no user stack of the target to take.
 */
struct fl_stack {
	struct fl_hdr h; /* ts_ns is the stall's start, as in its FL_EV_STALL */
	__u32 pid;
	__u16 cause; /* enum fl_cause */
	__u16 nr;    /* valid entries of ips (0: the kernel gave none) */
	/* The word at the user stack pointer, 0 when unreadable: the return address into the
	 * caller when ips[0] is in a leaf syscall wrapper (madvise), which has no frame of its own
	 * and so drops that caller from a frame-pointer walk. User space decides whether to use it.
	 */
	__u64 sp_word;
	__u64 ips[FL_STACK_DEPTH]; /* ips[0] the innermost: the user ip at kernel entry */
};

struct fl_kcompactd {
	struct fl_hdr h;
	__u32 nid;
	__u32 wake; /* 1 woke, 0 went to sleep */
	__s32 order;
	__u32 zone;
};

struct fl_lock_hold {
	struct fl_hdr h;
	__u32 pid;
	__u32 write;
	__u64 hold_ns;
};

enum fl_rss_member { FL_RSS_FILE = 0, FL_RSS_ANON, FL_RSS_SWAP, FL_RSS_SHMEM, FL_RSS_MAX };

struct fl_rss {
	struct fl_hdr h;
	__u32 pid;
	__u32 pad;
	__s64 pages[FL_RSS_MAX]; /* indexed like the kernel's MM_FILEPAGES.. MM_SHMEMPAGES */
};

enum fl_proc_kind { FL_PROC_FORK = 1, FL_PROC_EXEC, FL_PROC_EXIT };

struct fl_proc {
	struct fl_hdr h;
	__u32 pid;
	__u32 ppid;  /* fork: the parent; exec/exit: 0 */
	__u32 kind;  /* enum fl_proc_kind */
	__u32 child; /* fork: the new task's tgid */
	char comm[FL_COMM_LEN];
};

/* The memory syscall of an FL_EV_MEMSYS (the number is decided in BPF: bpf/compat.bpf.h). */
enum fl_memsys_op {
	FL_MS_NONE = 0,
	FL_MS_MMAP,
	FL_MS_MUNMAP,
	FL_MS_BRK,
	FL_MS_MREMAP,
	FL_MS_MADVISE,
	FL_MS_MAX
};

/* madvise advice: the asm-generic values (x86-64, arm64); bpf/compat.bpf.h maps others. */
enum fl_madv {
	FL_MADV_NORMAL = 0,
	FL_MADV_RANDOM = 1,
	FL_MADV_SEQUENTIAL = 2,
	FL_MADV_WILLNEED = 3,
	FL_MADV_DONTNEED = 4,
	FL_MADV_FREE = 8,
	FL_MADV_REMOVE = 9,
	FL_MADV_DONTFORK = 10,
	FL_MADV_DOFORK = 11,
	FL_MADV_MERGEABLE = 12,
	FL_MADV_UNMERGEABLE = 13,
	FL_MADV_HUGEPAGE = 14,
	FL_MADV_NOHUGEPAGE = 15,
	FL_MADV_DONTDUMP = 16,
	FL_MADV_DODUMP = 17,
	FL_MADV_WIPEONFORK = 18,
	FL_MADV_KEEPONFORK = 19,
	FL_MADV_COLD = 20,
	FL_MADV_PAGEOUT = 21,
	FL_MADV_POPULATE_READ = 22,
	FL_MADV_POPULATE_WRITE = 23,
	FL_MADV_DONTNEED_LOCKED = 24,
	FL_MADV_COLLAPSE = 25,
	FL_MADV_OTHER = 32, /* anything else (a newer kernel's advice) */
	FL_MADV_MAX
};

struct fl_memsys {
	struct fl_hdr h; /* ts_ns is the syscall entry */
	__u32 pid;
	__u16 op;     /* enum fl_memsys_op */
	__u16 advice; /* FL_MS_MADVISE: enum fl_madv; else 0 */
	__u64 addr;
	__u64 len;
	__u64 arg; /* raw: mmap: flags | prot << 32; madvise: advice; mremap: flags */
	__s64 ret;
	__u64 dur_ns;
	__u64 caller_ip;  /* the return address on the user stack at entry (the wrapper's caller) */
	__u64 syscall_ip; /* user ip at syscall entry (inside the syscall wrapper) */
	/* FL_MS_MMAP of a file (fd >= 0 and not MAP_ANONYMOUS), else 0: the file mapped, as
	 * mm_filemap_fault names it (dev is the kernel's s_dev: major << 20 | minor). Absent
	 * (the event 88 bytes long) in v3 files written before they were added. */
	__u32 dev;
	__u32 pad;
	__u64 ino;
	__u64 pgoff;	       /* offset in the file, in bytes; FL_MS_BRK: the heap's start */
	char name[FL_MS_NAME]; /* the file's basename (the dentry's), NUL-terminated */
};
#define FL_MEMSYS_V3_SIZE 88 /* fl_memsys before dev..name: readers accept both */

/*
 * Allocator functions probed with --alloc=full (the public API) or --alloc=slow (from
 * FL_AF_SLOW_FIRST on: the internal functions where an allocator grows or returns memory); the
 * uprobe's cookie and fl_alloc.func. Readers name a value they do not know "?".
 */
enum fl_alloc_fn {
	FL_AF_MALLOC = 0, /* malloc, tc_malloc */
	FL_AF_CALLOC,
	FL_AF_REALLOC,
	FL_AF_FREE,
	FL_AF_POSIX_MEMALIGN,
	FL_AF_ALIGNED_ALLOC,
	FL_AF_MEMALIGN,
	FL_AF_MALLOCX, /* jemalloc's own API */
	FL_AF_RALLOCX,
	FL_AF_SDALLOCX,
	FL_AF_DALLOCX,
	FL_AF_SYSMALLOC,    /* glibc (local symbols: libc6-dbg): grows the heap (brk) or mmaps */
	FL_AF_SYSTRIM,	    /* glibc: gives the top of the heap back (brk down) */
	FL_AF_CONSOLIDATE,  /* glibc: malloc_consolidate, merges the fast bins */
	FL_AF_MUNMAP_CHUNK, /* glibc: frees an mmapped chunk */
	FL_AF_TC_FETCH,	    /* tcmalloc: ThreadCache::FetchFromCentralCache */
	FL_AF_TC_RELEASE,   /* tcmalloc: ThreadCache::ReleaseToCentralCache */
	FL_AF_TC_POPULATE,  /* tcmalloc: CentralFreeList::Populate */
	FL_AF_TC_GROWHEAP,  /* tcmalloc: PageHeap::GrowHeap */
	FL_AF_TC_RELEASE_PAGES, /* tcmalloc: PageHeap::ReleaseAtLeastNPages */
	FL_AF_MAX
};
#define FL_AF_SLOW_FIRST FL_AF_SYSMALLOC

/*
 * Cookies of faultline's own calibration functions (user/alloc_calib.c), probed with the same
 * programs: durations go to their own rows of alloc_fine, nothing else. One whose first
 * instruction the kernel emulates (push, as malloc's), one it must single-step (test, as free's).
 */
enum fl_alloc_calib {
	FL_AF_CALIB_EMU = FL_AF_MAX,
	FL_AF_CALIB_STEP,
	FL_AF_ROWS /* rows of alloc_fine */
};

/* Pinned-memory functions (CUDA runtime, then driver); the uprobe's cookie and fl_cuda.func. */
enum fl_cuda_fn {
	FL_CF_HOST_REGISTER = 0,  /* cudaHostRegister(ptr, size, flags) */
	FL_CF_HOST_UNREGISTER,	  /* cudaHostUnregister(ptr) */
	FL_CF_HOST_ALLOC,	  /* cudaHostAlloc(&ptr, size, flags) */
	FL_CF_MALLOC_HOST,	  /* cudaMallocHost(&ptr, size) */
	FL_CF_FREE_HOST,	  /* cudaFreeHost(ptr) */
	FL_CF_CU_HOST_REGISTER,	  /* cuMemHostRegister_v2(ptr, size, flags) */
	FL_CF_CU_HOST_ALLOC,	  /* cuMemHostAlloc(&ptr, size, flags) */
	FL_CF_CU_ALLOC_HOST,	  /* cuMemAllocHost_v2(&ptr, size) */
	FL_CF_CU_HOST_UNREGISTER, /* cuMemHostUnregister(ptr) */
	FL_CF_CU_FREE_HOST,	  /* cuMemFreeHost(ptr) */
	FL_CF_MAX
};

/* Per-function totals kept in the kernel with --alloc=full (map alloc_stats, per CPU). */
struct fl_alloc_stat {
	__u64 count; /* outermost calls only: an allocator calling itself is not counted twice */
	__u64 total_ns;
	__u64 max_ns;
	__u64 bytes; /* sizes asked for */
};

struct fl_alloc {
	struct fl_hdr h; /* ts_ns is the call entry */
	__u32 pid;
	__u32 func; /* enum fl_alloc_fn */
	__u64 size;
	__u64 ptr;
	__u64 dur_ns;
};

struct fl_cuda {
	struct fl_hdr h; /* ts_ns is the call entry */
	__u32 pid;
	__u32 func; /* enum fl_cuda_fn */
	__u64 ptr;
	__u64 size;
	__u64 flags;
	__s64 ret;
	__u64 dur_ns;
	__u64 faults;	  /* page faults the calling thread took during the call */
	__u64 huge_bytes; /* filled in user space: bytes of the range backed by huge pages, or
			   * FL_HUGE_UNKNOWN when none of the range was mapped any more by then */
};

#define FL_HUGE_UNKNOWN (~0ULL)
/* huge_bytes not measured: faultline's worker had a full queue (too many register calls at once) */
#define FL_HUGE_BUSY (~0ULL - 1)

enum fl_net_dir { FL_NET_ACCEPT = 1, FL_NET_IN, FL_NET_OUT, FL_NET_CLOSE };

struct fl_net {
	struct fl_hdr h;
	__u32 pid;
	__s32 fd;
	__u32 dir;     /* enum fl_net_dir */
	__u32 cap_len; /* bytes of data[] that are valid */
	__s64 bytes;   /* syscall result */
	__u8 data[FL_NET_CAP];
};

#define FL_REQ_ABORTED (1u << 0)    /* fl_req.flags: closed before the response ended */
#define FL_REQ_INCOMPLETE (1u << 1) /* still open when the recording ended */

/*
 * One HTTP request as record's wire parser saw it (user/wire.c), written instead of the raw
 * FL_EV_NET payload: no header other than X-Request-Id, no body, no query string.
 * h.ts_ns is the request's first byte, h.tid the thread that answered.
 */
struct fl_req {
	struct fl_hdr h;
	__u64 first_byte_ns;  /* first response byte (status line); 0: none */
	__u64 first_token_ns; /* first response body byte / first SSE data; 0: none */
	__u64 end_ns;	      /* last response byte */
	__u64 in_bytes;	      /* bytes read on the connection for this request */
	__u64 out_bytes;      /* bytes written for its response */
	__u32 pid;
	__s32 fd;
	__s32 status; /* HTTP status; 0 when unknown */
	__u32 flags;  /* FL_REQ_* */
	char method[16];
	char path[96];	/* up to the '?': the query string is not kept */
	char xrid[128]; /* X-Request-Id, NUL-terminated */
	char id[128];	/* the response's "id" (cmpl-...), NUL-terminated */
};

/* Per-thread counters kept in the kernel for `top` and `serve`. */
struct fl_tstat {
	__u32 pid;
	__u32 pad;
	char comm[FL_COMM_LEN];
	__u64 faults;
	__u64 faults_major;
	__u64 stall_count[FL_CAUSE_MAX];
	__u64 stall_ns[FL_CAUSE_MAX];
};

/* Value of the targets map. */
struct fl_target {
	__u64 mm; /* the process's mm_struct, learnt lazily */
};

#endif /* FAULTLINE_H */
