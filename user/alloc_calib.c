// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "alloc_calib.h"
#include "faultline.skel.h"
#include "hist.h"
#include "util.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The probed functions, in assembly so that their first instruction is the one the allocator's
 * begins with (and no compiler inlines or drops them): fl_calib_emu pushes as glibc's malloc
 * does, fl_calib_step tests its argument as glibc's free does. Neither does anything else.
 */
#if defined(__x86_64__)
__asm__(".text\n"
	".p2align 4\n"
	".type fl_calib_emu, @function\n"
	"fl_calib_emu:\n"
	"	push %r12\n"
	"	push %rbp\n"
	"	push %rbx\n"
	"	pop %rbx\n"
	"	pop %rbp\n"
	"	pop %r12\n"
	"	ret\n"
	".size fl_calib_emu, .-fl_calib_emu\n"
	".p2align 4\n"
	".type fl_calib_step, @function\n"
	"fl_calib_step:\n"
	"	test %rdi, %rdi\n"
	"	ret\n"
	".size fl_calib_step, .-fl_calib_step\n");
void fl_calib_emu(unsigned long arg);
void fl_calib_step(unsigned long arg);

bool alloc_calib_emulated(const uint8_t *insn, int len)
{
	if (len >= 1 && insn[0] >= 0x50 && insn[0] <= 0x57)
		return true; /* push %rax..%rdi */
	if (len >= 1 && insn[0] >= 0x70 && insn[0] <= 0x7f)
		return true; /* jcc rel8 */
	if (len >= 2 && insn[0] == 0x0f && insn[1] >= 0x80 && insn[1] <= 0x8f)
		return true; /* jcc rel32 */
	/* push %r8..%r15 */
	return len >= 2 && insn[0] == 0x41 && insn[1] >= 0x50 && insn[1] <= 0x57;
}

int alloc_calib_probe_skip(const uint8_t *insn, int len)
{
	int n = 0;

	if (len >= 3 && (insn[0] & 0xf0) == 0x40 && insn[1] == 0x85 && (insn[2] & 0xc0) == 0xc0)
		n = 3; /* test %r64, %r64 */
	else if (len >= 2 && insn[0] == 0x85 && (insn[1] & 0xc0) == 0xc0)
		n = 2; /* test %r32, %r32 */
	return n && alloc_calib_emulated(insn + n, len - n) ? n : 0;
}
#else
/* Elsewhere one function: no emulation is assumed, both rows measure it. */
__attribute__((noinline)) void fl_calib_emu(unsigned long arg)
{
	__asm__ volatile("" ::"r"(arg) : "memory");
}
#define fl_calib_step fl_calib_emu

bool alloc_calib_emulated(const uint8_t *insn, int len)
{
	(void)insn;
	(void)len;
	return false;
}

int alloc_calib_probe_skip(const uint8_t *insn, int len)
{
	(void)insn;
	(void)len;
	return 0;
}
#endif

/* The file and file offset of code address ADDR in faultline's own image, from /proc/self/maps. */
static int self_offset(uintptr_t addr, char *path, size_t len, uint64_t *off)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 128];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, pgoff;
		int n = 0;

		if (sscanf(line, "%lx-%lx %*s %lx %*s %*u %n", &start, &end, &pgoff, &n) < 3 || !n)
			continue;
		if (addr < start || addr >= end || line[n] != '/')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, len, "%s", line + n);
		*off = addr - start + pgoff;
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static int read_row(struct faultline_bpf *skel, __u32 row, uint64_t *slots)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	uint64_t *v;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (__u32 s = 0; s < FL_FINE_SLOTS && !err; s++) {
		__u32 idx = row * FL_FINE_SLOTS + s;

		slots[s] = 0;
		err = bpf_map__lookup_elem(skel->maps.alloc_fine, &idx, sizeof(idx), v,
					   sizeof(*v) * ncpu, 0);
		for (int c = 0; !err && c < ncpu; c++)
			slots[s] += v[c];
	}
	free(v);
	return err;
}

static int calib_one(struct faultline_bpf *skel, __u32 row, void (*fn)(unsigned long),
		     uint64_t *pool, struct alloc_calib_row *out, char *error, size_t len)
{
	LIBBPF_OPTS(bpf_uprobe_opts, ro, .bpf_cookie = row, .retprobe = true);
	LIBBPF_OPTS(bpf_uprobe_opts, eo, .bpf_cookie = row);
	uint64_t before[FL_FINE_SLOTS], after[FL_FINE_SLOTS], off = 0, deadline, calls;
	struct bpf_link *rl = NULL, *el = NULL;
	char path[PATH_MAX] = "";
	int err, i;

	err = self_offset((uintptr_t)fn, path, sizeof(path), &off);
	if (err) {
		snprintf(error, len, "cannot find faultline's own code in /proc/self/maps: %s",
			 strerror(-err));
		return err;
	}
	rl = bpf_program__attach_uprobe_opts(skel->progs.fl_alloc_ret, getpid(), path, off, &ro);
	if (rl)
		el = bpf_program__attach_uprobe_opts(skel->progs.fl_alloc_entry, getpid(), path,
						     off, &eo);
	if (!el) {
		err = -errno;
		snprintf(error, len, "cannot probe faultline's own code: %s", strerror(-err));
		goto out;
	}
	for (i = 0; i < 50; i++) /* warm: the first calls fault in the probe's pages */
		fn(i);
	err = read_row(skel, row, before);
	deadline = clock_ns(CLOCK_MONOTONIC) + ALLOC_CALIB_MS * 1000000ull;
	for (i = 0; !err && i < ALLOC_CALIB_CALLS; i++) {
		fn(i);
		if (!(i & 63) && clock_ns(CLOCK_MONOTONIC) > deadline)
			break;
	}
	if (!err)
		err = read_row(skel, row, after);
	if (err) {
		snprintf(error, len, "cannot read the calibration histogram: %s", strerror(-err));
		goto out;
	}
	calls = 0;
	for (i = 0; i < FL_FINE_SLOTS; i++)
		calls += after[i] - before[i];
	if (!calls) {
		snprintf(error, len, "the probes on faultline's own code did not fire");
		err = -ENODATA;
		goto out;
	}
	for (i = 0; i < FL_FINE_SLOTS; i++)
		pool[i] += after[i] - before[i];
	out->calls += calls;
	out->p50_ns = finehist_pct(pool, 50, UINT64_MAX);
	out->p25_ns = finehist_pct(pool, 25, UINT64_MAX);
	out->p75_ns = finehist_pct(pool, 75, UINT64_MAX);
out:
	bpf_link__destroy(el);
	bpf_link__destroy(rl);
	return err;
}

int alloc_calib_run(struct faultline_bpf *skel, struct alloc_calib *c)
{
	struct alloc_calib_row emu = c->emu, step = c->step;
	char error[sizeof(c->error)] = "";
	__u32 tid = gettid();
	int err;

	err =
	    calib_one(skel, FL_AF_CALIB_EMU, fl_calib_emu, c->pool[0], &emu, error, sizeof(error));
	if (!err)
		err = calib_one(skel, FL_AF_CALIB_STEP, fl_calib_step, c->pool[1], &step, error,
				sizeof(error));
	/* the programs kept this thread's frames: not a traced thread, out of the trailer */
	bpf_map__delete_elem(skel->maps.alloc_threads, &tid, sizeof(tid), 0);
	if (!err) {
		c->emu = emu;
		c->step = step;
		c->done = true;
		c->runs++;
		return 0;
	}
	if (c->done) { /* a later run: the figures of the earlier ones stay */
		fl_info("allocator probe calibration, again at the end: %s", error);
		return err;
	}
	snprintf(c->error, sizeof(c->error), "%s", error);
	fl_info("allocator probe calibration: %s; latencies are shown as measured, probe cost "
		"included",
		c->error);
	return err;
}
