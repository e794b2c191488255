// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "procfs.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int cmp_vma(const void *a, const void *b)
{
	const struct vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int parse_line(const char *line, struct vma *v)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char perms[5];
	int pos = 0;

	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &off, &maj, &min,
		   &ino, &pos) < 7)
		return -EINVAL;
	if (end < start)
		return -EINVAL;
	v->start = start;
	v->end = end;
	v->offset = off;
	v->inode = ino;
	v->dev = makedev(maj, min);
	snprintf(v->perms, sizeof(v->perms), "%s", perms);
	v->path = strdup(pos ? line + pos : "");
	if (!v->path)
		return -ENOMEM;
	v->path[strcspn(v->path, "\n")] = 0;
	return 0;
}

int vmas_parse(struct vmas *vmas, const char *text)
{
	const char *p = text;

	memset(vmas, 0, sizeof(*vmas));
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[4352];
		struct vma v;

		if (len < sizeof(line)) {
			int err;

			memcpy(line, p, len);
			line[len] = 0;
			err = parse_line(line, &v);
			if (err == -ENOMEM)
				return fl_nomem();
			if (!err) {
				if (grow_array((void **)&vmas->v, &vmas->cap, vmas->n,
					       sizeof(*vmas->v), 64)) {
					free(v.path);
					return -ENOMEM;
				}
				vmas->v[vmas->n++] = v;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	sort_n(vmas->v, vmas->n, sizeof(*vmas->v), cmp_vma);
	return 0;
}

char *maps_read(int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	return read_file(path, NULL);
}

const struct vma *vmas_find(const struct vmas *vmas, uint64_t addr)
{
	size_t lo = 0, hi = vmas->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct vma *v = &vmas->v[mid];

		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

const char *vma_region(const struct vma *v)
{
	const char *slash;

	if (!v)
		return "unmapped";
	if (!v->path[0])
		return "anon";
	if (!strcmp(v->path, "[heap]"))
		return "heap";
	if (v->path[0] == '[')
		return v->path;
	slash = strrchr(v->path, '/');
	return slash ? slash + 1 : v->path;
}

void vmas_free(struct vmas *vmas)
{
	for (size_t i = 0; i < vmas->n; i++)
		free(vmas->v[i].path);
	free(vmas->v);
	memset(vmas, 0, sizeof(*vmas));
}

const char *maps_allocator(const char *text, char *lib, size_t len)
{
	static const struct {
		const char *needle, *name;
	} known[] = {
	    {"libjemalloc", "jemalloc"}, {"libtcmalloc", "tcmalloc"}, {"libmimalloc", "mimalloc"},
	    {"/libc.so", "glibc"},	 {"/libc-", "glibc"},
	};

	if (lib && len)
		lib[0] = 0;
	for (size_t k = 0; k < ARRAY_SIZE(known); k++) {
		const char *hit = text ? strstr(text, known[k].needle) : NULL;

		if (!hit)
			continue;
		if (lib && len) {
			const char *start = hit, *end = strchr(hit, '\n');

			while (start > text && start[-1] != ' ')
				start--;
			if (!end)
				end = hit + strlen(hit);
			snprintf(lib, len, "%.*s", (int)(end - start), start);
		}
		return known[k].name;
	}
	return "glibc";
}

/* --- /proc/PID/stat ---------------------------------------------------------------------- */

int proc_stat_parse(const char *text, struct proc_stat *st)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	size_t n;

	memset(st, 0, sizeof(*st));
	if (!open || !close || close < open)
		return -EINVAL;
	n = close - open - 1;
	if (n >= sizeof(st->comm))
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, n);
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice num_threads itrealvalue starttime (fields 3 to 22) */
	if (sscanf(close + 1,
		   " %c %d %*d %*d %*d %*d %lu %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu",
		   &st->state, &st->ppid, &st->flags, &st->starttime) != 4)
		return -EINVAL;
	return 0;
}

int proc_stat_read(int pid, struct proc_stat *st)
{
	char path[64], *text;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	/* the whole file, not its first line: a comm may hold a newline */
	text = read_file(path, NULL);
	if (!text) {
		memset(st, 0, sizeof(*st));
		return -errno;
	}
	err = proc_stat_parse(text, st);
	free(text);
	return err;
}

int proc_ppid(int pid)
{
	struct proc_stat st;

	return proc_stat_read(pid, &st) ? -1 : st.ppid;
}

/* --- /proc/PID/pagemap: huge pages behind a range ----------------------------------------- */

#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)
#define KPF_HUGE (1ull << 17)
#define KPF_THP (1ull << 22)
#define HUGE_BLOCK (2ull << 20)

/*
 * The range is the target's to choose (cudaHostRegister(ptr, 1 << 62) is a valid call that fails):
 * only its parts that /proc/PID/maps shows mapped are walked, at most HUGE_MAX_SAMPLES blocks of
 * them (beyond that every k-th block stands for k), and the walk gives up when *STOP is set.
 */
#define HUGE_MAX_SAMPLES 65536

struct huge_walk {
	int pm, kf;
	uint64_t page;	    /* pagemap has one entry per page */
	uint64_t stride, k; /* k: blocks passed; every stride-th is read */
	unsigned int reads;
	bool present;
	int64_t total;
};

static uint64_t blocks_of(uint64_t s, uint64_t e)
{
	return (e - 1) / HUGE_BLOCK - s / HUGE_BLOCK + 1;
}

static int huge_segment(struct huge_walk *hw, uint64_t b, uint64_t end, const atomic_bool *stop)
{
	while (b < end) {
		uint64_t next = (b & ~(HUGE_BLOCK - 1)) + HUGE_BLOCK, ent = 0, flags = 0;
		uint64_t skip = hw->k % hw->stride ? hw->stride - hw->k % hw->stride : 0;

		if (skip) {
			/* on to the next sampled block, without looking at those between */
			if (skip >= blocks_of(b, end)) {
				hw->k += blocks_of(b, end);
				return 0;
			}
			hw->k += skip;
			b = (b & ~(HUGE_BLOCK - 1)) + skip * HUGE_BLOCK;
			continue;
		}
		hw->k++;
		if (stop && !(++hw->reads & 255) &&
		    atomic_load_explicit(stop, memory_order_relaxed))
			return -EINTR;
		if (next > end || next < b)
			next = end;
		if (pread(hw->pm, &ent, 8, (b / hw->page) * 8) == 8 && (ent & PM_PRESENT))
			hw->present = true;
		if ((ent & PM_PRESENT) && (ent & PM_PFN_MASK) &&
		    pread(hw->kf, &flags, 8, (ent & PM_PFN_MASK) * 8) == 8 &&
		    (flags & (KPF_THP | KPF_HUGE)))
			hw->total += (next - b) * hw->stride;
		b = next;
	}
	return 0;
}

/* Per 2 MiB block of the mapped parts of the range: its first page's flags say whether the
 * block is a huge page. -ENODATA when no block's first page is present (the range was unmapped
 * before we looked), -EINTR when STOP was set. */
int64_t huge_backed_bytes_until(int pid, uint64_t addr, uint64_t len, const atomic_bool *stop)
{
	struct huge_walk hw = {.stride = 1, .page = getpagesize()};
	uint64_t end = addr + len, blocks = 0, mapped = 0;
	struct vmas vm;
	char path[64], *text;
	int err = 0;

	if (!len || end < addr)
		return 0;
	text = maps_read(pid);
	if (!text)
		return -errno;
	err = vmas_parse(&vm, text);
	free(text);
	if (err)
		return err;
	for (size_t i = 0; i < vm.n; i++) {
		uint64_t s = vm.v[i].start > addr ? vm.v[i].start : addr;
		uint64_t e = vm.v[i].end < end ? vm.v[i].end : end;

		if (s < e) {
			blocks += blocks_of(s, e);
			mapped += e - s;
		}
	}
	if (blocks > HUGE_MAX_SAMPLES)
		hw.stride = (blocks + HUGE_MAX_SAMPLES - 1) / HUGE_MAX_SAMPLES;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	hw.pm = open(path, O_RDONLY | O_CLOEXEC);
	hw.kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (hw.pm < 0 || hw.kf < 0)
		err = -errno;
	for (size_t i = 0; !err && i < vm.n; i++) {
		uint64_t s = vm.v[i].start > addr ? vm.v[i].start : addr;
		uint64_t e = vm.v[i].end < end ? vm.v[i].end : end;

		if (s < e)
			err = huge_segment(&hw, s, e, stop);
	}
	if (hw.kf >= 0)
		close(hw.kf);
	if (hw.pm >= 0)
		close(hw.pm);
	vmas_free(&vm);
	if (err)
		return err;
	if (!hw.present)
		return -ENODATA;
	/* a sampled estimate never exceeds what is mapped */
	return hw.total > (int64_t)mapped ? (int64_t)mapped : hw.total;
}

int64_t huge_backed_bytes(int pid, uint64_t addr, uint64_t len)
{
	return huge_backed_bytes_until(pid, addr, len, NULL);
}
