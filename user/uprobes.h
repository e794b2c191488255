/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Uprobes scoped to the traced processes: the allocator each one really uses (an LD_PRELOADed
 * libjemalloc or libtcmalloc, else glibc) and every libcudart/libcuda it has mapped, found in its
 * own /proc/PID/maps (through /proc/PID/root), symbols resolved with libelf (versioned names
 * included), attached per pid with the function as the BPF cookie. Libraries loaded later
 * (dlopen) are found by rescanning; a child that execs is probed again; an exited process loses
 * its probes at once.
 */
#ifndef FL_UPROBES_H
#define FL_UPROBES_H

#include <stddef.h>
#include <stdint.h>
#include "faultline.h"
#include "procev.h"

struct uprobes;
struct session;
struct session_opts;
struct probe_plan;
struct faultline_bpf;
struct jw;

#define UPROBES_RESCAN_MS 500

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
void *uprobes_on_event(struct uprobes *up, void *data, size_t size,
		       struct fl_cuda *copy);
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
/* Detaches every uprobe (the kernel removes its breakpoints). */
void uprobes_detach(struct uprobes *up);
/* Trailer key "alloc": mode, per-function counts and histograms, threads, probed libraries and
 * (--alloc=lite) each process's executable mappings. */
void uprobes_trailer(struct uprobes *up, struct jw *w);
void uprobes_free(struct uprobes *up);

/* Bytes of [addr, addr+len) in PID backed by huge pages (THP or hugetlb), or -errno. Only the
 * mapped parts are walked, at most 65536 2 MiB blocks of them (beyond that, sampled). */
int64_t huge_backed_bytes(int pid, uint64_t addr, uint64_t len);

/* record's --alloc MODE, --alloc-slow TIME and --cuda MODE (NAME without dashes). */
int uprobes_parse_opt(struct session_opts *o, const char *name, const char *arg);

/* Names, shared with the report. */
const char *alloc_fn_name(unsigned int fn);
const char *cuda_fn_name(unsigned int fn);
const char *alloc_mode_name(int mode);

#endif
