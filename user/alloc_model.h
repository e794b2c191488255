/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The allocator and pinned-memory part of the model: memory syscalls (--alloc=lite), per-function
 * counts and histograms kept in the kernel (--alloc=full, decoded once from the trailer's "alloc"
 * member), slow calls, the libraries and symbols probed, brk per process, and the CUDA
 * pinned-memory calls (user/pinned_model.h). Every derived figure (percentiles, callers, sizes of
 * unregister/free) is computed in alloc_model_finish(); the printers (user/alloc_report.c) and diff
 * only read it.
 */
#ifndef FL_ALLOC_MODEL_H
#define FL_ALLOC_MODEL_H

#include "faultline.h"
#include "hist.h"
#include "model.h" /* struct vmas (its /proc module) */
#include "pinned_model.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

enum { SYS_MMAP, SYS_MUNMAP, SYS_BRK, SYS_MREMAP, SYS_MADVISE, SYS_MAX };
extern const char *const alloc_sys_names[SYS_MAX];

#define MADV_SLOTS FL_MADV_MAX /* by enum fl_madv, decided in BPF */
/* "dontneed", ..., NULL where the advice has no name here ("other") */
extern const char *const alloc_madv_names[MADV_SLOTS];

/* One memory syscall (--alloc=lite); percentiles exact, from every duration. */
struct sys_stat {
	uint64_t count, bytes, errors, total_ns;
	uint64_t p50_ns, p99_ns, max_ns;
	struct u64vec durs;
	struct log2hist hist;
};

/* Why a caller could not be named: JSON by_caller[].why, and the text's short form. */
enum caller_why { WHY_KNOWN, WHY_NO_MAPS, WHY_NO_CODE };

struct caller_stat {
	char *name;
	enum caller_why why;
	uint64_t calls, bytes;
};

/* --alloc=slow: slow-path calls per function and caller (the code that called the allocator). */
struct slow_caller_stat {
	char *func;
	char *name; /* "main (heap_grow)", "libpython3.11.so.1.0+0x1a2b3c", "not found on the stack"
		     */
	uint64_t count;
};

struct caller_rec {
	uint32_t pid;
	uint64_t caller_ip, syscall_ip, bytes;
};

/*
 * Per process (tgid). brk(addr) returns the new break, brk(0) asks for it; after an exec the
 * heap starts over somewhere else, so growth is counted per image: from the first break seen
 * after the exec (or at the start of the session) to the last one.
 */
struct proc_info {
	int pid;
	char comm[FL_COMM_LEN];
	bool brk_exec; /* exec'd since the last brk: a new image */
	uint32_t images;
	uint64_t brk_calls, brk_failed;
	uint64_t brk_start, brk_cur, brk_peak;
};

/* --- the trailer's "alloc" member, decoded once (docs/json-schema.md) ------------------------ */

/*
 * A probed function (--alloc=full): exact counts, the in-kernel log2 histogram and, from
 * recordings that have it, the fine one (8 sub-buckets per power of two) and the probes' cost.
 */
struct alloc_fn_stat {
	char *name; /* malloc, free, ... */
	uint64_t count, bytes, total_ns, max_ns;
	struct log2hist hist;
	uint64_t *fine; /* FL_FINE_SLOTS counts; NULL in older recordings */
	/* as measured: fine estimates (log2 slot bounds without "fine"), at most max_ns */
	uint64_t raw_p50_ns, raw_p99_ns;
	/* what the report quotes: the measured values less the probe overhead when calibrated */
	uint64_t p50_ns, p99_ns, mean_ns;
	bool calibrated;
	const char *probe_entry; /* "emulated" or "stepped" (alloc_calib.h), when calibrated */
	uint64_t overhead_ns, noise_ns; /* the probes' cost per call, its spread */
	bool p50_probe, p99_probe; /* below the overhead's noise: the probe dominates the figure */
};

/* The probes' own cost (alloc.probe_calibration): one row per kind of first instruction. */
struct alloc_calib_fig {
	uint64_t calls, p50_ns, p25_ns, p75_ns;
};

/* A thread's calls (the trailer's first 256 threads). */
struct alloc_thread {
	uint64_t tid, pid, calls, total_ns;
	uint64_t by_func[FL_AF_MAX];
};

struct alloc_sym {
	char *name, *func, *status;
	bool probed;
	uint64_t offset;
};

/* An allocator or CUDA library mapped by a traced process, and what was probed in it. */
struct alloc_lib {
	int pid;
	char *path, *kind, *allocator, *detached, *error; /* NULL where the trailer has none */
	struct alloc_sym *syms;
	size_t nsyms;
};

struct pid_code {
	int pid;
	struct vmas code;
};

struct alloc_model {
	/* from the trailer */
	char *mode, *cuda_mode; /* "off", "lite", "full"; "off", "auto"; NULL without a trailer */
	uint64_t slow_ns;
	bool calibrated;
	char *calib_error; /* why the probes' cost is not known (an --alloc=full recording) */
	struct alloc_calib_fig calib_emu, calib_step;
	struct alloc_fn_stat *fns;
	size_t nfns;
	struct alloc_thread *threads;
	size_t nthreads;
	struct alloc_lib *libs; /* in the trailer's order: by process, then library */
	size_t nlibs;
	struct pid_code *codes; /* the code mappings uprobes.c saw per process */
	size_t ncodes;

	/* from the events */
	struct sys_stat sys[SYS_MAX];
	uint64_t madv_count[MADV_SLOTS], madv_bytes[MADV_SLOTS];
	struct caller_rec *recs;
	size_t nrecs, cap_recs;
	struct caller_stat *callers; /* named first, most calls first */
	size_t ncallers;
	struct proc_info *procs;
	size_t nprocs, cap_procs, last_proc;
	struct slow_caller_stat *slow_callers; /* most calls first */
	size_t nslow_callers;
	struct fl_alloc *slow; /* slowest first */
	size_t nslow, cap_slow;
	uint64_t slow_total;
	struct pinned_model pinned;
};

/* From model.c's add_event: FL_EV_MEMSYS, FL_EV_ALLOC, FL_EV_CUDA and FL_EV_PROC. */
void alloc_model_add(struct model *m, const void *ev);
/* Once every event and the trailer are read: decodes the trailer, resolves callers, sorts,
 * computes the percentiles. */
void alloc_model_finish(struct model *m);
void alloc_model_free(struct model *m);

/* The mode the recording ran with, "unknown (no trailer)" without one. */
const char *alloc_mode(const struct model *m);
bool alloc_mode_is(const struct model *m, const char *mode);
/* The command process PID ran last (exec/fork events, else the recording's targets), or "?". */
const char *alloc_proc_comm(const struct model *m, int pid);
bool alloc_lib_is_allocator(const struct alloc_lib *l);
bool alloc_lib_is_cuda(const struct alloc_lib *l);

/* A timed allocator call (the slow ones kept) or pinned-memory call, for the timeline views. */
struct timed_call {
	uint64_t ts_ns, dur_ns, size;
	uint32_t pid, tid;
	const char *name; /* malloc, cudaHostRegister, ... */
	bool pinned;
	int64_t ret; /* pinned calls: the CUDA status; 0 for allocator calls */
};

/* Calls FN for each of them (allocator calls first, then pinned ones); returns how many. */
size_t alloc_timed_calls(const struct model *m, void (*fn)(const struct timed_call *, void *),
			 void *arg);

#endif
