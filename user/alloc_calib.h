/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The allocator probes' own cost, measured when an --alloc=full session starts: faultline probes
 * two functions of its own with the very programs malloc gets (fl_alloc_entry/fl_alloc_ret) and
 * calls each ALLOC_CALIB_CALLS times. Those functions do nothing, so the durations the programs
 * measure are the part of a uprobe+uretprobe round trip that lands between the entry and return
 * timestamps: what every allocator latency carries on top of the call itself. Two functions
 * because the kernel emulates some first instructions (push: malloc's) and must single-step the
 * others (test: free's), and the second costs more.
 */
#ifndef FL_ALLOC_CALIB_H
#define FL_ALLOC_CALIB_H

#include "faultline.h"
#include <stdbool.h>
#include <stdint.h>

struct faultline_bpf;

#define ALLOC_CALIB_CALLS 3000
#define ALLOC_CALIB_MS 400 /* per function, at most: a loaded machine calibrates on fewer calls */

/* One calibration function: the median and spread of the probes' cost. */
struct alloc_calib_row {
	uint64_t calls;
	uint64_t p50_ns; /* the overhead subtracted */
	uint64_t p25_ns, p75_ns;
};

struct alloc_calib {
	bool done;
	int runs;
	char error[160];		  /* why not, when not done */
	struct alloc_calib_row emu, step; /* first instruction emulated / single-stepped */
	uint64_t pool[2][FL_FINE_SLOTS];  /* every run's durations, emu then step */
};

/*
 * Runs the calibration in the calling thread and pools it with C's earlier runs (record runs it at
 * the start and again at the end, so that a machine that got busier or quieter meanwhile is seen
 * both ways); fills C (C->error when the first run failed; a later failure keeps what was had).
 */
int alloc_calib_run(struct faultline_bpf *skel, struct alloc_calib *c);

/*
 * Whether the kernel emulates the instruction at the start of INSN (x86-64: push of a register,
 * as glibc's malloc begins) rather than single-stepping it; which calibration row applies.
 */
bool alloc_calib_emulated(const uint8_t *insn, int len);

/*
 * Bytes to move a function's uprobe past its first instruction (0: none), so that the kernel
 * emulates the instruction it traps on rather than single-stepping it (two exceptions instead of
 * one, ~6 us more per call under a hypervisor): only past a register-only test (glibc's free
 * begins "test %rdi,%rdi; je"), which touches neither the stack nor the arguments, so the entry
 * sees the same arguments and the return probe the same return address, onto an emulated one.
 */
int alloc_calib_probe_skip(const uint8_t *insn, int len);

#endif
