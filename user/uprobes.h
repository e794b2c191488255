/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Uprobes scoped to the traced processes: the allocator each one really uses (an LD_PRELOADed
 * libjemalloc or libtcmalloc, else glibc) and every libcudart/libcuda it has mapped, found in its
 * own /proc/PID/maps (through /proc/PID/root), symbols resolved with libelf (elfsym.h, versioned
 * names included), attached per pid with the function as the BPF cookie. Libraries loaded later
 * (dlopen) are found by rescanning; a child that execs is probed again; an exited process loses
 * its probes at once.
 */
#ifndef FL_UPROBES_H
#define FL_UPROBES_H

#include "alloc_calib.h"
#include "elfsym.h"
#include "faultline.h"
#include "procev.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uprobes;
struct session;
struct session_opts;
struct probe_plan;
struct faultline_bpf;
struct bpf_link;
struct bpf_program;
struct huge_worker;

#define UPROBES_RESCAN_MS 500
#define UPROBES_SLOW_NS_DEFAULT 50000 /* --alloc-slow */
#define UP_MAX_SYMS ELFSYM_MAX

/*
 * What was probed, per process and library: the probes' own state, read by the trailer's writer
 * (meta_alloc) to say what was probed and why not.
 */
enum lib_kind { LIB_ALLOC, LIB_CUDART, LIB_CUDA };

struct sym_state {
	const char *name;
	unsigned int fn;
	uint64_t offset;
	bool probed;
	bool emulated; /* its first instruction is one the kernel emulates (alloc_calib.h) */
	int skip;      /* the probe is this many bytes past the function's start (ditto) */
	char status[112];
};

struct up_lib {
	char *path; /* as the target's maps name it */
	uint64_t inode, dev;
	enum lib_kind kind;
	const char *allocator;	     /* LIB_ALLOC: "glibc", "jemalloc"... */
	uint64_t text_off, text_len; /* its executable mapping: file offset, length */
	struct sym_state syms[UP_MAX_SYMS];
	int nsyms;
	struct bpf_link **links;
	int nlinks;
	uint64_t attached_ns;
	char detached[48]; /* why its probes are gone; "" while attached */
	char error[160];
};

struct up_proc {
	int pid;
	bool gone;
	bool alloc_done;   /* the allocator of the current image is probed (or was tried) */
	bool exec_pending; /* exec'd: probes kept (same files stay probed), stale ones pruned later
			    */
	struct up_lib *libs;
	int nlibs;
	char *code_maps; /* every executable mapping seen, as maps lines: names syscall callers */
	size_t code_len;
};

struct uprobes {
	struct session *s;
	bool alloc_on, cuda_on;
	bool alloc_slow; /* --alloc=slow: the allocators' slow paths, not their public API */
	bool maps_on;	 /* --alloc=lite: keep each process's code mappings for the caller column */
	struct bpf_program *alloc_entry, *alloc_ret, *cuda_entry, *cuda_ret;
	struct up_proc *procs;
	int nprocs;
	uint64_t last_scan_ns;
	struct alloc_calib calib; /* --alloc=full: the probes' own cost, measured at the start */
	struct huge_worker *huge; /* started at the first register call */
	uint64_t huge_busy;	  /* register calls written as FL_HUGE_BUSY */
};

/* Before load: turns alloc_calls / alloc_syscalls / cuda_pinned off as the options ask. */
void uprobes_plan(struct probe_plan *p, const struct session_opts *o);
/* Between open and load: the rodata the allocator programs read. */
void uprobes_configure(struct faultline_bpf *skel, const struct session_opts *o);

/* After the session is open: probes every current target. 0 or -ENOMEM. */
int uprobes_open(struct uprobes **up, struct session *s);
/* Looks for newly mapped libraries in every target, at most every UPROBES_RESCAN_MS. */
void uprobes_poll(struct uprobes *up);
/* fork (with --children): probe the child; exec: probe the new image; exit: drop its probes. */
void uprobes_on_proc(struct uprobes *up, const struct proc_ev *e);
/* record's ring-buffer callback: FL_EV_PROC and FL_EV_CUDA events. Returns the event to store
 * (COPY, filled in, for a CUDA register call). */
void *uprobes_on_event(struct uprobes *up, void *data, size_t size, struct fl_cuda *copy);
/*
 * Register calls are measured off the ring-buffer thread: uprobes_on_event returns NULL for one it
 * queued, and this hands back (to EMIT, on the caller's thread) those measured since, in order.
 * FINISH (at the end of the session): stops the worker and hands back every queued call, those
 * not measured yet with FL_HUGE_UNKNOWN.
 */
typedef void (*uprobes_emit_fn)(void *ctx, void *data, size_t size);
void uprobes_huge_emit(struct uprobes *up, bool finish, uprobes_emit_fn emit, void *ctx);
/* Register calls: bytes of the range backed by huge pages right now (pagemap + kpageflags). */
void uprobes_fill_cuda(struct fl_cuda *e);
/* --alloc=full: measures the probes' cost again (record, at the end), pooled with the first. */
void uprobes_calibrate_again(struct uprobes *up);
/* Detaches every uprobe (the kernel removes its breakpoints). */
void uprobes_detach(struct uprobes *up);
void uprobes_free(struct uprobes *up);

/* Names, shared with the report. */
const char *alloc_fn_name(unsigned int fn);
const char *cuda_fn_name(unsigned int fn);
const char *alloc_mode_name(int mode);
const char *uprobes_lib_kind_name(enum lib_kind k);

#endif
