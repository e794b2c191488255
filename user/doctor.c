// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline doctor: audits the node (and optionally one process) for the memory settings that
 * make an LLM server's first tokens late: THP and its defrag policy, huge page pools, memory
 * headroom, the kernel's counters of past trouble, what faultline itself can trace, and the
 * process's allocator. No BPF is needed and it runs as any user: what it cannot read it says.
 */
#include "commands.h"
#include "jw.h"
#include "probes.h"
#include "procfs.h"
#include "session.h"
#include "util.h"
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THP_DIR "/sys/kernel/mm/transparent_hugepage"
#define DOCTOR_MAX_CHECKS 64

enum doctor_status { ST_OK, ST_INFO, ST_WARN };

struct check {
	char id[48], label[32];
	const char *group;
	enum doctor_status status;
	char value[256];
	char advice[640];
};

struct doctor {
	struct check checks[DOCTOR_MAX_CHECKS];
	int n;
	const char *group;    /* the group new checks go into */
	char thp_enabled[32]; /* "always", "madvise", "never" or "" when unreadable */
	char thp_defrag[32];
	int hg_regions; /* the process's MADV_HUGEPAGE regions, -1 without -p or unreadable */
	int nh_regions; /* ... and MADV_NOHUGEPAGE ones */
	int smaps_err;	/* why /proc/PID/smaps could not be read (-errno) */
	/* -p looks at smaps for window_ms: a server that madvises per request flips in between */
	uint64_t window_ms;
	int looks, hg_looks;  /* looks taken, and those that found MADV_HUGEPAGE regions */
	uint64_t hg_first_ms; /* when one first did, from the start of the window */
	double uptime_h;
};

static const char *const status_names[] = {"ok", "info", "warn"};

/* --- checks -------------------------------------------------------------------------------- */

static struct check *check_new(struct doctor *d, const char *id, const char *label)
{
	static struct check spare; /* past the table's end: dropped, never seen */
	struct check *c = d->n < DOCTOR_MAX_CHECKS ? &d->checks[d->n++] : &spare;

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->group = d->group;
	c->status = ST_INFO;
	return c;
}

__attribute__((format(printf, 2, 3))) static void check_value(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->value, sizeof(c->value), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void
check_advice(struct check *c, enum doctor_status st, const char *fmt, ...)
{
	va_list ap;

	c->status = st;
	va_start(ap, fmt);
	vsnprintf(c->advice, sizeof(c->advice), fmt, ap);
	va_end(ap);
}

/* A file doctor could not read: says which and why, as an info line. */
static void check_unreadable(struct check *c, const char *path, int err)
{
	check_value(c, "unreadable");
	check_advice(c, ST_INFO, "%s: %s%s", path, strerror(err),
		     err == EACCES || err == EPERM ? " (run as root or as the process's user)"
						   : "");
}

/* --- reading /proc and /sys ---------------------------------------------------------------- */

/* "KEY value" or "Key:   value kB" lines (vmstat, meminfo, status, smaps_rollup). 0 or -ENOENT. */
static int kv_u64(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, key, klen) || (l[klen] != ' ' && l[klen] != ':' && l[klen] != '\t'))
			continue;
		*out = strtoull(l + klen + (l[klen] == ':'), NULL, 10);
		return 0;
	}
	return -ENOENT;
}

/* The value of a "Key:\tvalue" line as text (e.g. status's THP_enabled). 0 or -ENOENT. */
static int kv_str(const char *text, const char *key, char *out, size_t len)
{
	uint64_t unused;
	const char *l, *end;

	if (kv_u64(text, key, &unused))
		return -ENOENT;
	l = strstr(text, key) + strlen(key) + 1;
	l += strspn(l, " \t");
	end = strchrnul(l, '\n');
	snprintf(out, len, "%.*s", (int)(end - l), l);
	return 0;
}

static int read_u64_file(const char *path, uint64_t *out)
{
	char buf[64];
	int err = read_line(path, buf, sizeof(buf));

	if (err)
		return err;
	return parse_u64(buf, 0, UINT64_MAX, out);
}

/* "3 (1.2/h)": a counter since boot with its rate per hour of uptime. */
static void value_rate(struct doctor *d, struct check *c, uint64_t n)
{
	check_value(c, "%llu (%.1f/h)", (unsigned long long)n,
		    d->uptime_h > 0 ? n / d->uptime_h : 0);
}

/* --- Node ---------------------------------------------------------------------------------- */

/* Reads a THP selection file ("always [madvise] never") into SEL; the check says if it cannot. */
static int thp_read(struct check *c, const char *path, char *sel, size_t len)
{
	char buf[256];
	int err = read_line(path, buf, sizeof(buf));

	sel[0] = 0;
	if (err) {
		check_unreadable(c, path, -err);
		return err;
	}
	thp_selected(buf, sel, len);
	check_value(c, "%s", sel);
	return 0;
}

static void check_thp_enabled(struct doctor *d)
{
	struct check *c = check_new(d, "thp_enabled", "THP enabled");
	const char *s = d->thp_enabled;

	if (thp_read(c, THP_DIR "/enabled", d->thp_enabled, sizeof(d->thp_enabled)))
		return;
	if (!strcmp(s, "always"))
		check_advice(c, ST_WARN,
			     "every anonymous region gets huge pages: page faults may stall "
			     "in compaction and khugepaged rescans the whole heap, both show up as "
			     "TTFT jitter; echo madvise > " THP_DIR "/enabled");
	else if (!strcmp(s, "madvise"))
		check_advice(c, ST_OK,
			     "huge pages only where a process asks (MADV_HUGEPAGE): THP "
			     "is an opt-in tool, the latency-friendly setting");
	else
		check_advice(c, ST_OK,
			     "THP off: no compaction jitter from THP, but large hot regions "
			     "(weights, KV buffers) pay 4 KiB TLB and IOMMU costs; madvise lets "
			     "them opt in");
}

static void check_thp_defrag(struct doctor *d)
{
	struct check *c = check_new(d, "thp_defrag", "THP defrag");
	const char *s = d->thp_defrag;

	if (thp_read(c, THP_DIR "/defrag", d->thp_defrag, sizeof(d->thp_defrag)))
		return;
	if (!strcmp(s, "always"))
		check_advice(c, ST_WARN,
			     "a huge page fault that finds no free 2 MiB block stalls in "
			     "direct reclaim and compaction (milliseconds per fault); echo never "
			     "(or defer+madvise) > " THP_DIR "/defrag");
	else if (!strcmp(s, "madvise") && d->hg_regions == 0)
		check_advice(c, ST_OK,
			     "the process had no MADV_HUGEPAGE regions in %d looks over "
			     "%.1f s, so none of its faults compact directly; other processes that "
			     "madvise do",
			     d->looks, d->window_ms / 1000.0);
	else if (!strcmp(s, "madvise") && d->hg_regions > 0)
		check_advice(c, ST_WARN,
			     "regions madvised MADV_HUGEPAGE (PyTorch's CPU allocator, "
			     "jemalloc with thp:always) stall in direct compaction when no 2 MiB "
			     "block is free, and this process had some in %d of %d looks over "
			     "%.1f s (up to %d regions, first at +%.1f s); echo defer+madvise or "
			     "never > " THP_DIR "/defrag",
			     d->hg_looks, d->looks, d->window_ms / 1000.0, d->hg_regions,
			     d->hg_first_ms / 1000.0);
	else if (!strcmp(s, "madvise"))
		check_advice(c, ST_WARN,
			     "regions madvised MADV_HUGEPAGE (PyTorch's CPU allocator, "
			     "jemalloc with thp:always) stall in direct compaction when no 2 MiB "
			     "block is free; echo defer+madvise or never > " THP_DIR "/defrag");
	else
		check_advice(
		    c, ST_OK, "%s",
		    !strcmp(s, "never")
			? "no direct compaction on faults: "
			  "huge pages come from free blocks or khugepaged"
			: "faults fall back to 4 KiB pages and wake kcompactd instead of stalling");
}

static void check_khugepaged(struct doctor *d)
{
	static const char *const knobs[] = {"defrag", "pages_to_scan", "scan_sleep_millisecs",
					    "max_ptes_none"};
	struct check *c = check_new(d, "khugepaged", "khugepaged");
	char path[128], *p = c->value;
	size_t left = sizeof(c->value);

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		uint64_t v;
		int n, err;

		snprintf(path, sizeof(path), THP_DIR "/khugepaged/%s", knobs[i]);
		err = read_u64_file(path, &v);
		if (err) {
			check_unreadable(c, path, -err);
			return;
		}
		n = snprintf(p, left, "%s%s=%llu", i ? " " : "", knobs[i], (unsigned long long)v);
		if (n < 0 || (size_t)n >= left)
			break;
		p += n;
		left -= n;
	}
	check_advice(c, ST_INFO,
		     "khugepaged collapses 4 KiB pages into huge pages in the "
		     "background and takes the mmap_lock while it does; with THP enabled=always it "
		     "scans every process");
}

/* Nodes in a kernel list such as "0", "0-3" or "0-1,4": a count, -1 when it does not parse. */
static int numa_count(const char *list)
{
	int n = 0, lo, hi, len;

	for (const char *p = list; *p; p += len + (p[len] == ',')) {
		if (sscanf(p, "%d-%d%n", &lo, &hi, &len) == 2 && hi >= lo)
			n += hi - lo + 1;
		else if (sscanf(p, "%d%n", &lo, &len) == 1)
			n++;
		else
			return -1;
		if (p[len] && p[len] != ',')
			return -1;
	}
	return n ? n : -1;
}

static void check_numa(struct doctor *d)
{
	struct check *c = check_new(d, "numa_nodes", "NUMA nodes");
	const char *path = "/sys/devices/system/node/online";
	char buf[128];
	int err = read_line(path, buf, sizeof(buf)), n;

	if (err) {
		check_unreadable(c, path, -err);
		return;
	}
	n = numa_count(buf);
	if (n < 0)
		check_value(c, "%s", buf);
	else
		check_value(c, "%d (online: %s)", n, buf);
	check_advice(c, ST_INFO, "%s",
		     n != 1 ? "several nodes: pin the server and its "
			      "pinned buffers to the GPU's node (numactl --cpunodebind --membind)"
			    : "one node: no remote-memory placement to worry about");
}

/* --- Huge pages ---------------------------------------------------------------------------- */

static void check_pool(struct doctor *d, const char *dir)
{
	const char *size = strrchr(dir, '-') + 1;
	uint64_t total, free_pages, surplus = 0, kb;
	char path[PATH_MAX], id[48], label[32], b[32];
	struct check *c;
	int err;

	snprintf(id, sizeof(id), "hugepages_%s", size);
	snprintf(label, sizeof(label), "pool of %s pages", size);
	c = check_new(d, id, label);
	snprintf(path, sizeof(path), "%s/nr_hugepages", dir);
	err = read_u64_file(path, &total);
	if (err) {
		check_unreadable(c, path, -err);
		return;
	}
	snprintf(path, sizeof(path), "%s/free_hugepages", dir);
	if (read_u64_file(path, &free_pages))
		free_pages = 0;
	snprintf(path, sizeof(path), "%s/surplus_hugepages", dir);
	read_u64_file(path, &surplus);
	kb = strtoull(size, NULL, 10);
	check_value(c, "%llu total, %llu free (%s reserved)", (unsigned long long)total,
		    (unsigned long long)free_pages, fmt_bytes(total * kb * 1024, b, sizeof(b)));
	if (!total)
		check_advice(c, ST_INFO, "no pool of this size");
	else
		check_advice(c, ST_INFO,
			     "%llu in use; pool pages never need compaction but are "
			     "RAM nobody else can use",
			     (unsigned long long)(total - free_pages));
}

static void check_nr_hugepages(struct doctor *d)
{
	struct check *c = check_new(d, "nr_hugepages", "vm.nr_hugepages");
	const char *path = "/proc/sys/vm/nr_hugepages";
	uint64_t n;
	int err = read_u64_file(path, &n);

	if (err) {
		check_unreadable(c, path, -err);
		return;
	}
	check_value(c, "%llu", (unsigned long long)n);
	if (!n)
		check_advice(c, ST_INFO,
			     "no explicit huge page pool: a small, deliberate one (echo N "
			     "> %s) backs pinned buffers and model files with 2 MiB pages, no "
			     "compaction and 512x fewer IOMMU mappings to pin",
			     path);
	else
		check_advice(c, ST_INFO,
			     "an explicit pool of the default size: use it for pinned "
			     "buffers or model files (hugetlbfs, MAP_HUGETLB); unused pages are "
			     "wasted RAM");
}

static void check_hugepages(struct doctor *d)
{
	glob_t g;

	d->group = "Huge pages";
	check_nr_hugepages(d);
	if (glob("/sys/kernel/mm/hugepages/hugepages-*", GLOB_ONLYDIR, NULL, &g))
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		check_pool(d, g.gl_pathv[i]);
	globfree(&g);
}

/* --- Memory -------------------------------------------------------------------------------- */

static void check_headroom(struct doctor *d, const char *mi)
{
	struct check *c = check_new(d, "mem_available", "MemAvailable");
	uint64_t total, avail;
	char a[32], t[32];
	double pct;

	if (kv_u64(mi, "MemTotal", &total) || kv_u64(mi, "MemAvailable", &avail) || !total) {
		check_unreadable(c, "/proc/meminfo", ENOENT);
		return;
	}
	pct = 100.0 * avail / total;
	check_value(c, "%s of %s (%.0f%%)", fmt_bytes(avail << 10, a, sizeof(a)),
		    fmt_bytes(total << 10, t, sizeof(t)), pct);
	if (pct < 10)
		check_advice(c, ST_WARN,
			     "little headroom: allocations and page faults will enter "
			     "direct reclaim and wait for it; leave room for the page cache that "
			     "holds model files");
	else
		check_advice(c, ST_OK,
			     "enough headroom that allocations need not reclaim directly");
}

static void check_min_free(struct doctor *d, const char *mi)
{
	struct check *c = check_new(d, "min_free_kbytes", "vm.min_free_kbytes");
	const char *path = "/proc/sys/vm/min_free_kbytes";
	uint64_t kb, total = 0;
	int err = read_u64_file(path, &kb);

	if (err) {
		check_unreadable(c, path, -err);
		return;
	}
	kv_u64(mi, "MemTotal", &total);
	check_value(c, "%llu kB (%.2f%% of RAM)", (unsigned long long)kb,
		    total ? 100.0 * kb / total : 0);
	check_advice(c, ST_INFO,
		     "kswapd reclaims in the background from a little above this "
		     "watermark; a larger value (or vm.watermark_scale_factor) gives it room to "
		     "work before allocations stall in direct reclaim");
}

static void check_swap(struct doctor *d, const char *mi)
{
	struct check *c = check_new(d, "swap", "swap");
	uint64_t total = 0, free_kb = 0;
	char t[32], u[32];

	kv_u64(mi, "SwapTotal", &total);
	kv_u64(mi, "SwapFree", &free_kb);
	if (!total) {
		check_value(c, "none");
		check_advice(
		    c, ST_INFO,
		    "no swap: anonymous memory is never swapped back in as major "
		    "faults; under pressure only the page cache (model files) is reclaimed");
		return;
	}
	check_value(c, "%s used of %s", fmt_bytes((total - free_kb) << 10, u, sizeof(u)),
		    fmt_bytes(total << 10, t, sizeof(t)));
	check_advice(c, ST_INFO,
		     "a server's swapped-out pages come back as major faults in the "
		     "request that touches them; -p shows the process's VmSwap");
}

static void check_overcommit(struct doctor *d)
{
	struct check *c = check_new(d, "overcommit", "vm.overcommit_memory");
	const char *path = "/proc/sys/vm/overcommit_memory";
	uint64_t mode, ratio = 0;
	int err = read_u64_file(path, &mode);

	if (err) {
		check_unreadable(c, path, -err);
		return;
	}
	read_u64_file("/proc/sys/vm/overcommit_ratio", &ratio);
	check_value(c, "%llu%s", (unsigned long long)mode,
		    mode == 0	? " (heuristic)"
		    : mode == 1 ? " (always)"
				: " (never)");
	if (mode == 2)
		check_advice(c, ST_WARN,
			     "strict accounting (ratio %llu%%): large virtual "
			     "reservations (CUDA, PyTorch, jemalloc arenas) can fail with ENOMEM "
			     "long before RAM is used",
			     (unsigned long long)ratio);
	else
		check_advice(c, ST_INFO,
			     "virtual reservations succeed; memory is committed on "
			     "first touch, so the page faults land in whoever touches it first");
}

static void check_memory(struct doctor *d)
{
	size_t len;
	char *mi = read_file("/proc/meminfo", &len);

	d->group = "Memory";
	if (!mi) {
		check_unreadable(check_new(d, "meminfo", "/proc/meminfo"), "/proc/meminfo", errno);
	} else {
		check_headroom(d, mi);
		check_swap(d, mi);
		check_min_free(d, mi);
	}
	check_overcommit(d);
	free(mi);
}

/* --- History since boot -------------------------------------------------------------------- */

static void check_compaction(struct doctor *d, const char *vm)
{
	struct check *c = check_new(d, "compact_stall", "direct compaction stalls");
	uint64_t stall = 0, fail = 0;

	kv_u64(vm, "compact_stall", &stall);
	kv_u64(vm, "compact_fail", &fail);
	value_rate(d, c, stall);
	check_advice(c, ST_INFO, "%s",
		     stall ? "allocations waited while the kernel moved pages to "
			     "build a huge or high-order page (THP defrag, large kmalloc)"
			   : "no allocation has waited for compaction since boot");
	c = check_new(d, "compact_fail", "compactions that failed");
	value_rate(d, c, fail);
	check_advice(c, ST_INFO, "%s",
		     fail ? "stalls that did not even get their page: memory is "
			    "fragmented; an explicit pool or defrag=never avoids paying for them"
			  : "every direct compaction found its page");
}

static void check_reclaim(struct doctor *d, const char *vm)
{
	static const char *const zones[] = {"allocstall_dma", "allocstall_dma32",
					    "allocstall_normal", "allocstall_movable",
					    "allocstall_device"};
	struct check *c = check_new(d, "allocstall", "direct reclaim stalls");
	uint64_t sum = 0, v;

	for (size_t i = 0; i < ARRAY_SIZE(zones); i++)
		if (!kv_u64(vm, zones[i], &v))
			sum += v;
	value_rate(d, c, sum);
	check_advice(c, ST_INFO, "%s",
		     sum ? "allocations reclaimed memory themselves because "
			   "kswapd fell behind: more headroom or a higher min_free_kbytes helps"
			 : "no allocation has had to reclaim memory itself since boot");
}

static void check_thp_fallback(struct doctor *d, const char *vm)
{
	struct check *c = check_new(d, "thp_fault_fallback", "THP faults that fell back");
	uint64_t alloc = 0, fallback = 0;

	kv_u64(vm, "thp_fault_alloc", &alloc);
	kv_u64(vm, "thp_fault_fallback", &fallback);
	check_value(c, "%llu of %llu huge page faults (%.0f%%)", (unsigned long long)fallback,
		    (unsigned long long)(alloc + fallback),
		    alloc + fallback ? 100.0 * fallback / (alloc + fallback) : 0);
	check_advice(
	    c, ST_INFO, "%s",
	    fallback ? "faults that wanted a huge page and got 4 KiB "
		       "ones: memory is fragmented, and with defrag=always each tried compaction "
		       "first"
		     : "every huge page fault got its huge page");
}

static void check_majfault(struct doctor *d, const char *vm)
{
	struct check *c = check_new(d, "pgmajfault", "major faults");
	uint64_t n = 0;

	kv_u64(vm, "pgmajfault", &n);
	value_rate(d, c, n);
	check_advice(c, ST_INFO,
		     "faults that waited for disk: mmapped model files read on first "
		     "touch or after the page cache dropped them, and swap-ins");
}

static void check_history(struct doctor *d)
{
	char buf[64];
	size_t len;
	char *vm;

	d->group = "History since boot";
	if (!read_line("/proc/uptime", buf, sizeof(buf)))
		d->uptime_h = strtod(buf, NULL) / 3600;
	vm = read_file("/proc/vmstat", &len);
	if (!vm) {
		check_unreadable(check_new(d, "vmstat", "/proc/vmstat"), "/proc/vmstat", errno);
		return;
	}
	check_compaction(d, vm);
	check_reclaim(d, vm);
	check_thp_fallback(d, vm);
	check_majfault(d, vm);
	free(vm);
}

/* --- Tracing ------------------------------------------------------------------------------- */

static void check_btf(struct doctor *d)
{
	struct check *c = check_new(d, "btf", "kernel BTF");
	const char *path = "/sys/kernel/btf/vmlinux";

	if (access(path, R_OK)) {
		check_value(c, "missing");
		check_advice(c, ST_WARN,
			     "%s: %s; faultline's CO-RE programs need a kernel built "
			     "with CONFIG_DEBUG_INFO_BTF=y",
			     path, strerror(errno));
		return;
	}
	check_value(c, "present");
	check_advice(c, ST_OK, "%s: CO-RE programs load without kernel headers", path);
}

static void check_attach(struct doctor *d, const char *id, enum probe_attach a, bool root)
{
	struct check *c = check_new(d, id, probe_attach_name(a));
	char why[160] = "";

	if (a == ATTACH_FENTRY && !root) {
		check_value(c, "not checked");
		check_advice(c, ST_INFO, "finding out loads a BPF program: run doctor as root");
		return;
	}
	if (probe_attach_works(a, why, sizeof(why))) {
		check_value(c, "available");
		check_advice(c, ST_OK, "%s",
			     a == ATTACH_TP_BTF ? "page faults and memory stalls are "
						  "traced through BTF tracepoints"
			     : a == ATTACH_FENTRY
				 ? "fault durations through fentry/fexit on handle_mm_fault"
				 : "fault durations through kprobes if fentry is refused");
		return;
	}
	check_value(c, "unavailable");
	check_advice(c, a == ATTACH_TP_BTF ? ST_WARN : ST_INFO, "%s%s", why,
		     a == ATTACH_TP_BTF ? ""
					: "; faultline still counts every fault and times "
					  "every stall, without per-fault durations");
}

static void check_privileges(struct doctor *d, bool root)
{
	struct check *c = check_new(d, "privileges", "privileges");

	if (root) {
		check_value(c, "root");
		check_advice(c, ST_OK, "record, top and serve can load their programs");
		return;
	}
	check_value(c, "uid %u", (unsigned)geteuid());
	check_advice(c, ST_INFO,
		     "record, top and serve need root or CAP_BPF+CAP_PERFMON+"
		     "CAP_SYS_ADMIN; doctor reports what this user can read");
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

static void check_tracing(struct doctor *d)
{
	bool root = geteuid() == 0;

	d->group = "Tracing";
	libbpf_set_print(silent_print);
	check_btf(d);
	check_attach(d, "tp_btf", ATTACH_TP_BTF, root);
	check_attach(d, "fentry", ATTACH_FENTRY, root);
	check_attach(d, "kprobe", ATTACH_KPROBE, root);
	check_privileges(d, root);
	probe_btf_release();
}

/* --- Process ------------------------------------------------------------------------------- */

static void check_allocator(struct doctor *d, int pid, const char *maps)
{
	struct check *c = check_new(d, "allocator", "allocator");
	char lib[PATH_MAX];
	const char *name = maps_allocator(maps, lib, sizeof(lib));

	check_value(c, "%s%s%s%s", name, lib[0] ? " (" : "", lib, lib[0] ? ")" : "");
	if (!strcmp(name, "glibc"))
		check_advice(c, ST_WARN,
			     "glibc malloc in a long-lived server fragments its arenas, "
			     "keeps RSS high and adds allocator jitter to TTFT; preload jemalloc: "
			     "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 (pid %d)",
			     pid);
	else
		check_advice(c, ST_OK,
			     "%s packs small objects tightly and returns memory to the "
			     "kernel (madvise), keeping RSS stable",
			     name);
}

/* LD_PRELOAD, MALLOC_CONF, GLIBC_TUNABLES, PYTORCH_CUDA_ALLOC_CONF and friends, space-separated. */
static int env_hints(int pid, char *out, size_t len)
{
	static const char *const hints[] = {"LD_PRELOAD=", "MALLOC_CONF=", "GLIBC_TUNABLES=",
					    "MALLOC_ARENA_MAX=", "PYTORCH_CUDA_ALLOC_CONF="};
	char path[64];
	size_t n, used = 0;
	char *env;

	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	env = read_file(path, &n);
	if (!env)
		return -errno;
	out[0] = 0;
	for (size_t off = 0; off < n; off += strnlen(env + off, n - off) + 1) {
		for (size_t i = 0; i < ARRAY_SIZE(hints); i++) {
			if (strncmp(env + off, hints[i], strlen(hints[i])) || used >= len)
				continue;
			used +=
			    snprintf(out + used, len - used, "%s%s", used ? " " : "", env + off);
		}
	}
	free(env);
	return 0;
}

static void check_env(struct doctor *d, int pid, const char *maps)
{
	struct check *c = check_new(d, "env", "allocator environment");
	char path[64];
	int err = env_hints(pid, c->value, sizeof(c->value));

	if (err) {
		snprintf(path, sizeof(path), "/proc/%d/environ", pid);
		check_unreadable(c, path, -err);
		return;
	}
	if (!c->value[0])
		check_value(
		    c, "none of LD_PRELOAD MALLOC_CONF GLIBC_TUNABLES PYTORCH_CUDA_ALLOC_CONF");
	if (strstr(c->value, "LD_PRELOAD=") && strstr(c->value, "jemalloc"))
		check_advice(c, ST_OK, "jemalloc preloaded%s",
			     strstr(c->value, "MALLOC_CONF=")
				 ? ""
				 : "; MALLOC_CONF=background_thread:true moves its purging off the "
				   "request path");
	else if (maps && strstr(maps, "libcudart") && !strstr(c->value, "PYTORCH_CUDA_ALLOC_CONF"))
		check_advice(c, ST_INFO,
			     "CUDA is mapped: PYTORCH_CUDA_ALLOC_CONF="
			     "expandable_segments:True limits GPU memory fragmentation");
	else
		check_advice(c, ST_INFO, "the allocator settings the process started with");
}

static void check_rss(struct doctor *d, int pid)
{
	struct check *c = check_new(d, "rss", "RSS");
	uint64_t rss = 0, anon = 0, huge = 0, swap = 0;
	char path[64], r[32], h[32], s[32];
	size_t len;
	char *text;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	text = read_file(path, &len);
	if (!text) {
		check_unreadable(c, path, errno);
		return;
	}
	kv_u64(text, "Rss", &rss);
	kv_u64(text, "Anonymous", &anon);
	kv_u64(text, "AnonHugePages", &huge);
	kv_u64(text, "Swap", &swap);
	free(text);
	check_value(c, "%s, AnonHugePages %s (%.0f%% of anon), swap %s",
		    fmt_bytes(rss << 10, r, sizeof(r)), fmt_bytes(huge << 10, h, sizeof(h)),
		    anon ? 100.0 * huge / anon : 0, fmt_bytes(swap << 10, s, sizeof(s)));
	if (swap)
		check_advice(c, ST_WARN,
			     "part of the server is swapped out: touching it again is a "
			     "major fault inside some request");
	else
		check_advice(c, ST_INFO,
			     "the huge page share is what THP gave the process; low with "
			     "enabled=madvise unless it madvises its big regions");
}

/* Counts the process's MADV_HUGEPAGE (VmFlags hg) and MADV_NOHUGEPAGE (nh) regions. */
static int smaps_thp_regions(int pid, int *hg, int *nh)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*hg = *nh = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmFlags:", 8))
			continue;
		*hg += strstr(line, " hg") != NULL;
		*nh += strstr(line, " nh") != NULL;
	}
	fclose(f);
	return 0;
}

static void check_thp_process(struct doctor *d, int pid)
{
	struct check *c = check_new(d, "thp_process", "THP for the process");
	char path[64], state[16] = "?";
	size_t len;
	char *status;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	status = read_file(path, &len);
	if (status)
		kv_str(status, "THP_enabled", state, sizeof(state));
	free(status);
	if (d->hg_regions < 0) {
		snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
		check_unreadable(c, path, -d->smaps_err);
		return;
	}
	check_value(c,
		    "THP_enabled=%s, %d MADV_HUGEPAGE (at most, %d of %d looks over %.1f s) "
		    "and %d MADV_NOHUGEPAGE regions",
		    state, d->hg_regions, d->hg_looks, d->looks, d->window_ms / 1000.0,
		    d->nh_regions);
	check_advice(c, ST_INFO, "%s",
		     !strcmp(state, "0") ? "THP disabled for this process by "
					   "prctl(PR_SET_THP_DISABLE)"
		     : d->hg_regions	 ? "the madvised regions are the "
					   "ones that compact directly under defrag=madvise"
					 : "THP follows the node's settings");
}

static void check_cuda(struct doctor *d, const char *maps)
{
	struct check *c = check_new(d, "cuda_libs", "CUDA libraries");
	bool rt = strstr(maps, "libcudart") != NULL, drv = strstr(maps, "libcuda.so") != NULL;

	check_value(c, "%s",
		    rt && drv ? "libcudart, libcuda"
		    : rt      ? "libcudart"
		    : drv     ? "libcuda"
			      : "none mapped");
	check_advice(c, ST_INFO, "%s",
		     rt || drv ? "record --cuda=auto times its pinned-memory "
				 "calls (cudaHostRegister...): huge pages make pinning cheaper"
			       : "no pinned-memory calls to trace");
}

static void check_identity(struct doctor *d, int pid)
{
	struct check *c = check_new(d, "process", "process");
	char path[64], comm[64] = "?", exe[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	read_line(path, comm, sizeof(comm));
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	check_value(c, "pid %d (%s)", pid, comm);
	if (n > 0)
		check_advice(c, ST_INFO, "%s", exe);
	else
		check_advice(c, ST_INFO, "%s: %s", path, strerror(errno));
}

static void check_process(struct doctor *d, int pid)
{
	char *maps;

	d->group = "Process";
	check_identity(d, pid);
	maps = maps_read(pid);
	if (!maps) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
		check_unreadable(check_new(d, "maps", "mappings"), path, errno);
	} else {
		check_allocator(d, pid, maps);
	}
	check_env(d, pid, maps);
	check_rss(d, pid);
	check_thp_process(d, pid);
	if (maps)
		check_cuda(d, maps);
	free(maps);
}

/* --- output -------------------------------------------------------------------------------- */

/* Prints TEXT wrapped at 100 columns, each line indented by INDENT spaces. */
static void print_wrapped(FILE *f, const char *text, int indent)
{
	int col = 0;

	while (*text) {
		size_t w = strcspn(text, " ");

		if (col && col + 1 + (int)w > 100 - indent) {
			fputc('\n', f);
			col = 0;
		}
		fprintf(f, "%s%*s%.*s", col ? " " : "", col ? 0 : indent, "", (int)w, text);
		col += (col ? 1 : 0) + w;
		text += w;
		text += strspn(text, " ");
	}
	if (col)
		fputc('\n', f);
}

static void print_text(const struct doctor *d, FILE *f)
{
	const char *group = NULL;

	for (int i = 0; i < d->n; i++) {
		const struct check *c = &d->checks[i];

		if (!group || strcmp(group, c->group)) {
			group = c->group;
			fprintf(f, "%s%s\n", i ? "\n" : "", group);
		}
		/* values and advice can quote a target (its comm, a path): escaped for the terminal
		 */
		fprintf(f, "  %-5s %-26s %s\n", status_names[c->status], c->label,
			fl_esc(c->value));
		if (c->advice[0])
			print_wrapped(f, fl_esc(c->advice), 8);
	}
}

static void print_json(const struct doctor *d, FILE *f)
{
	struct jw w;

	jw_init(&w, f, true);
	jw_obj_open(&w);
	jw_key(&w, "checks");
	jw_arr_open(&w);
	for (int i = 0; i < d->n; i++) {
		const struct check *c = &d->checks[i];

		jw_obj_open(&w);
		jw_kstr(&w, "id", c->id);
		jw_kstr(&w, "group", c->group);
		jw_kstr(&w, "status", status_names[c->status]);
		jw_kstr(&w, "value", c->value);
		jw_kstr(&w, "advice", c->advice);
		jw_obj_close(&w);
	}
	jw_arr_close(&w);
	jw_obj_close(&w);
	fputc('\n', f);
}

/* --- command line -------------------------------------------------------------------------- */

static void usage(FILE *f, const char *cmd)
{
	fprintf(
	    f,
	    "Usage: %s [-p PID [--window TIME]] [--json]\n\n"
	    "Audits this node (and one process) for the memory settings that make an LLM\n"
	    "server's first tokens late: THP, huge page pools, headroom, past compaction and\n"
	    "reclaim, what faultline can trace here, and the process's allocator.\n\n"
	    "  -p, --pid PID    also audit this process (allocator, env, RSS, THP, CUDA)\n"
	    "  -w, --window T   with -p, look at its MADV_HUGEPAGE regions over T\n"
	    "                   (default 2s; 0: once): a server may madvise per request\n"
	    "      --json       {\"checks\":[{\"id\",\"group\",\"status\",\"value\",\"advice\"}]}\n"
	    "  -h, --help       this text\n\n"
	    "Examples:\n"
	    "  faultline doctor\n"
	    "  faultline doctor -p $(pgrep -f 'vllm serve') --json\n",
	    cmd);
}

/* 0, 2 for bad usage (said why), or 1 when the pid does not exist. */
static int parse_args(int argc, char **argv, int *pid, bool *json, uint64_t *window_ms)
{
	static const struct option longopts[] = {{"pid", required_argument, NULL, 'p'},
						 {"window", required_argument, NULL, 'w'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {}};
	char path[64];
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "p:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, 1, INT_MAX, &v)) {
				fl_err("-p: '%s' is not a pid", optarg);
				return 2;
			}
			*pid = v;
			break;
		case 'w':
			if (parse_duration_ms(optarg, window_ms) || *window_ms > 600000) {
				fl_err("--window '%s': expected a duration up to 10m (2s, 0.5)",
				       optarg);
				return 2;
			}
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fl_err("doctor: unexpected argument '%s' (a pid goes after -p)", argv[optind]);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%d", *pid);
	if (*pid && access(path, F_OK)) {
		fl_err("pid %d does not exist", *pid);
		return 1;
	}
	if (*pid && pid_is_kthread(*pid)) {
		fl_err(
		    "pid %d is a kernel thread: it has no allocator, environment or memory of its "
		    "own to audit; give the pid of a user process",
		    *pid);
		return 1;
	}
	return 0;
}

/*
 * The process's MADV_HUGEPAGE regions, looked at every 200 ms over the window: a server that
 * madvises per request has them only at times, and one look made doctor flip between ok and
 * warn. Keeps the most seen, in how many looks, and when first.
 */
static void watch_thp_regions(struct doctor *d, int pid)
{
	uint64_t start = clock_ns(CLOCK_MONOTONIC), now = start;

	do {
		int hg = 0, nh = 0, err = smaps_thp_regions(pid, &hg, &nh);

		if (err) {
			if (!d->looks) {
				d->smaps_err = err;
				d->hg_regions = -1;
				return;
			}
			break; /* gone meanwhile: what was seen stands */
		}
		if (hg > 0 && !d->hg_looks++)
			d->hg_first_ms = (now - start) / 1000000;
		d->hg_regions = d->looks++ ? (hg > d->hg_regions ? hg : d->hg_regions) : hg;
		d->nh_regions = nh > d->nh_regions ? nh : d->nh_regions;
		if ((now - start) / 1000000 + 200 > d->window_ms)
			break;
		usleep(200000);
		now = clock_ns(CLOCK_MONOTONIC);
	} while (1);
}

int cmd_doctor(int argc, char **argv)
{
	struct doctor *d = calloc(1, sizeof(*d));
	bool json = false;
	int pid = 0, rc;

	if (!d) {
		fl_err("doctor: out of memory");
		return 1;
	}
	d->window_ms = 2000;
	rc = parse_args(argc, argv, &pid, &json, &d->window_ms);
	if (rc)
		goto out;
	d->hg_regions = -1;
	/* before the node's checks: the defrag advice depends on the process's regions */
	if (pid)
		watch_thp_regions(d, pid);
	d->group = "Node";
	check_thp_enabled(d);
	check_thp_defrag(d);
	check_khugepaged(d);
	check_numa(d);
	check_hugepages(d);
	check_memory(d);
	check_history(d);
	check_tracing(d);
	if (pid)
		check_process(d, pid);
	if (json)
		print_json(d, stdout);
	else
		print_text(d, stdout);
out:
	free(d);
	return rc;
}
