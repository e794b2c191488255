// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "meta.h"
#include "faultline.skel.h"
#include "procfs.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

void meta_clocks(struct jw *w)
{
	/* Read back to back, so any of them converts into the others within a microsecond. */
	uint64_t mono = clock_ns(CLOCK_MONOTONIC), real = clock_ns(CLOCK_REALTIME),
		 boot = clock_ns(CLOCK_BOOTTIME);

	jw_obj_open(w);
	jw_ku64(w, "monotonic_ns", mono);
	jw_ku64(w, "realtime_ns", real);
	jw_ku64(w, "boottime_ns", boot);
	jw_obj_close(w);
}

static void kv_file(struct jw *w, const char *key, const char *path, bool selected)
{
	char buf[256], sel[64];

	jw_key(w, key);
	if (read_line(path, buf, sizeof(buf))) {
		jw_null(w);
		return;
	}
	if (selected) {
		thp_selected(buf, sel, sizeof(sel));
		jw_str(w, sel);
	} else {
		jw_str(w, buf);
	}
}

static void meminfo(struct jw *w)
{
	static const char *keys[] = {"MemTotal",       "MemAvailable", "HugePages_Total",
				     "HugePages_Free", "Hugepagesize", "AnonHugePages"};
	char *text = read_file("/proc/meminfo", NULL);

	jw_key(w, "meminfo");
	jw_obj_open(w);
	for (size_t i = 0; text && i < ARRAY_SIZE(keys); i++) {
		char pat[64], *p;
		unsigned long long v;

		snprintf(pat, sizeof(pat), "\n%s:", keys[i]);
		p = strstr(text, pat);
		if (p && sscanf(p + strlen(pat), "%llu", &v) == 1)
			jw_ku64(w, keys[i], v);
	}
	jw_obj_close(w);
	free(text);
}

void meta_host(struct jw *w)
{
	struct utsname u;
	char buf[256];

	uname(&u);
	jw_key(w, "host");
	jw_obj_open(w);
	jw_kstr(w, "hostname", u.nodename);
	jw_kstr(w, "kernel", u.release);
	jw_kstr(w, "machine", u.machine);
	jw_ku64(w, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	jw_ku64(w, "page_size", sysconf(_SC_PAGESIZE));
	jw_kstr(w, "boot_id",
		read_line("/proc/sys/kernel/random/boot_id", buf, sizeof(buf)) ? NULL : buf);
	meminfo(w);
	jw_obj_close(w);

	jw_key(w, "thp");
	jw_obj_open(w);
	kv_file(w, "enabled", "/sys/kernel/mm/transparent_hugepage/enabled", true);
	kv_file(w, "defrag", "/sys/kernel/mm/transparent_hugepage/defrag", true);
	kv_file(w, "shmem_enabled", "/sys/kernel/mm/transparent_hugepage/shmem_enabled", true);
	kv_file(w, "khugepaged_defrag", "/sys/kernel/mm/transparent_hugepage/khugepaged/defrag",
		false);
	kv_file(w, "khugepaged_pages_to_scan",
		"/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan", false);
	kv_file(w, "khugepaged_scan_sleep_millisecs",
		"/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs", false);
	kv_file(w, "khugepaged_max_ptes_none",
		"/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none", false);
	jw_obj_close(w);

	jw_key(w, "hugepages");
	jw_obj_open(w);
	kv_file(w, "nr_hugepages", "/proc/sys/vm/nr_hugepages", false);
	kv_file(w, "nr_overcommit_hugepages", "/proc/sys/vm/nr_overcommit_hugepages", false);
	kv_file(w, "free_2048kB", "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
		false);
	kv_file(w, "nr_1048576kB", "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
		false);
	jw_obj_close(w);
}

struct meta_opts meta_opts;

#define REDACTED "<redacted>"

static bool has_ci(const char *s, size_t n, const char *word)
{
	size_t k = strlen(word);

	for (size_t i = 0; i + k <= n; i++)
		if (!strncasecmp(s + i, word, k))
			return true;
	return false;
}

static bool ends_ci(const char *s, size_t n, const char *word)
{
	size_t k = strlen(word);

	return n >= k && !strncasecmp(s + n - k, word, k);
}

/*
 * An option or variable name that announces a secret: --api-key, --hf-token, DB_PASSWORD,
 * client_secret... but not --max-num-batched-tokens or --tokenizer.
 */
static bool secret_name(const char *s, size_t n)
{
	static const char *const anywhere[] = {"password", "passwd", "secret",	   "api-key",
					       "api_key",  "apikey", "credential", NULL};
	static const char *const at_end[] = {"token", "key", "auth", "pass", NULL};

	for (int i = 0; anywhere[i]; i++)
		if (has_ci(s, n, anywhere[i]))
			return true;
	for (int i = 0; at_end[i]; i++)
		if (ends_ci(s, n, at_end[i]))
			return true;
	return false;
}

/*
 * Writes one command-line argument, with what looks like a secret replaced by <redacted>
 * (unless record --keep-cmdline). *NEXT says the previous argument was a secret's option
 * (--api-key X); it is set here for the next one.
 */
static void put_arg(struct jw *w, const char *s, size_t n, bool *next)
{
	const char *eq = memchr(s, '=', n);
	bool was_next = *next;
	char buf[512];

	*next = false;
	if (meta_opts.keep_cmdline) {
		jw_strn(w, s, n);
		return;
	}
	if (was_next && !(n > 1 && s[0] == '-')) {
		jw_str(w, REDACTED);
		return;
	}
	if (eq && secret_name(s, eq - s)) {
		/* NAME=<redacted>, or all of it redacted when NAME is too long to keep */
		if ((size_t)(eq - s) + 1 < sizeof(buf) - sizeof(REDACTED)) {
			snprintf(buf, sizeof(buf), "%.*s" REDACTED, (int)(eq - s + 1), s);
			jw_str(w, buf);
		} else {
			jw_str(w, REDACTED);
		}
		return;
	}
	if (!eq && n > 1 && s[0] == '-' && secret_name(s, n)) {
		*next = true; /* --api-key VALUE: the value is the next argument */
		jw_strn(w, s, n);
		return;
	}
	if (has_ci(s, n, "password") || has_ci(s, n, "secret") || has_ci(s, n, "key=") ||
	    (n > 3 && !strncmp(s, "sk-", 3))) {
		jw_str(w, REDACTED);
		return;
	}
	jw_strn(w, s, n);
}

/* NUL-separated /proc files (cmdline, environ); REDACT: command-line secrets (cmdline). */
static void nul_list(struct jw *w, const char *text, size_t len, const char *const *only,
		     bool redact)
{
	bool next = false;

	jw_arr_open(w);
	for (size_t off = 0; off < len;) {
		const char *s = text + off;
		size_t n = strnlen(s, len - off);
		bool keep = !only;

		for (int i = 0; only && only[i]; i++)
			keep |= !strncmp(s, only[i], strlen(only[i]));
		if (keep && redact)
			put_arg(w, s, n, &next);
		else if (keep)
			jw_strn(w, s, n);
		off += n + 1;
	}
	jw_arr_close(w);
}

void meta_target(struct jw *w, int pid)
{
	static const char *const env_hints[] = {"LD_PRELOAD=",
						"MALLOC_CONF=",
						"GLIBC_TUNABLES=",
						"PYTORCH_CUDA_ALLOC_CONF=",
						"MALLOC_ARENA_MAX=",
						"CUDA_VISIBLE_DEVICES=",
						NULL};
	char path[64], buf[4096], lib[512];
	char *text, *maps;
	size_t len;
	ssize_t n;

	jw_obj_open(w);
	jw_ku64(w, "pid", pid);
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	jw_kstr(w, "comm", read_line(path, buf, sizeof(buf)) ? NULL : buf);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	jw_kstr(w, "exe", n > 0 ? buf : NULL);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	text = read_file(path, &len);
	jw_key(w, "cmdline");
	if (text)
		nul_list(w, text, len, NULL, true);
	else
		jw_null(w);
	free(text);
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	text = read_file(path, &len);
	jw_key(w, "env");
	if (text)
		nul_list(w, text, len, env_hints, false);
	else
		jw_null(w);
	free(text);
	/* a pyenv-style shim: the child does the work; the report names it (issue #14) */
	n = pid_launcher_child(pid, buf, sizeof(buf));
	if (n > 0) {
		jw_key(w, "launcher_child");
		jw_obj_open(w);
		jw_ku64(w, "pid", n);
		jw_kstr(w, "comm", buf);
		jw_obj_close(w);
	}
	maps = maps_read(pid);
	jw_kstr(w, "allocator", maps_allocator(maps, lib, sizeof(lib)));
	jw_kstr(w, "allocator_lib", lib[0] ? lib : NULL);
	jw_kstr(w, "maps", maps);
	free(maps);
	jw_obj_close(w);
}

char *meta_build(const struct session *s, int argc, char **argv, const char *command)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;
	bool next = false;

	if (!f)
		return NULL;
	jw_init(&w, f, false);
	jw_obj_open(&w);
	jw_kstr(&w, "tool", "faultline");
	jw_kstr(&w, "version", FL_VERSION);
	jw_key(&w, "argv");
	jw_arr_open(&w);
	for (int i = 0; i < argc; i++)
		put_arg(&w, argv[i], strlen(argv[i]), &next);
	jw_arr_close(&w);
	jw_key(&w, "clocks");
	meta_clocks(&w);
	meta_host(&w);
	jw_key(&w, "options");
	jw_obj_open(&w);
	jw_kbool(&w, "children", s->opts.children);
	jw_kbool(&w, "all", s->opts.all);
	jw_ku64(&w, "ringbuf_bytes", s->opts.ringbuf_bytes);
	jw_kstr(&w, "command", command);
	/* raw socket bytes (FL_EV_NET) in the file, rather than parsed requests (FL_EV_REQ) */
	jw_kbool(&w, "capture_payload", meta_opts.capture_payload);
	jw_kbool(&w, "keep_cmdline", meta_opts.keep_cmdline);
	/* how faults are in the file (format 4): absent in older files, which have "all" */
	jw_kstr(&w, "fault_events",
		s->opts.fault_events == FL_FE_ALL   ? "all"
		: s->opts.fault_events == FL_FE_OFF ? "off"
						    : "runs");
	jw_obj_close(&w);
	jw_key(&w, "targets");
	jw_arr_open(&w);
	for (int i = 0; i < s->opts.npids; i++)
		meta_target(&w, s->opts.pids[i]);
	jw_arr_close(&w);
	jw_key(&w, "probes");
	probe_plan_json(&s->plan, &w);
	jw_obj_close(&w);
	fclose(f);
	return buf;
}

/* --- trailer: "alloc" ------------------------------------------------------------------- */

/* Whether every probed symbol of function FN begins with an instruction the kernel emulates. */
static bool fn_emulated(const struct uprobes *up, unsigned int fn)
{
	bool any = false;

	for (int i = 0; i < up->nprocs; i++)
		for (int k = 0; k < up->procs[i].nlibs; k++) {
			const struct up_lib *l = &up->procs[i].libs[k];

			for (int j = 0; l->kind == LIB_ALLOC && j < l->nsyms; j++) {
				if (l->syms[j].fn != fn || !l->syms[j].probed)
					continue;
				if (!l->syms[j].emulated)
					return false;
				any = true;
			}
		}
	return any;
}

/* The fine histogram of FN, sparse: [[slot, count], ...] (fl_fine_slot()). */
static void alloc_fine_json(const struct session *s, __u32 fn, uint64_t *h, struct jw *w)
{
	jw_key(w, "hist_fine");
	jw_arr_open(w);
	for (__u32 slot = 0; slot < FL_FINE_SLOTS; slot++) {
		__u32 idx = fn * FL_FINE_SLOTS + slot;
		uint64_t n = 0;

		if (bpf_map__lookup_elem(s->skel->maps.alloc_fine, &idx, sizeof(idx), h,
					 sizeof(*h) * s->ncpus, 0))
			continue;
		for (int c = 0; c < s->ncpus; c++)
			n += h[c];
		if (!n)
			continue;
		jw_arr_open(w);
		jw_u64(w, slot);
		jw_u64(w, n);
		jw_arr_close(w);
	}
	jw_arr_close(w);
}

static void calib_row_json(struct jw *w, const char *key, const struct alloc_calib_row *r)
{
	jw_key(w, key);
	jw_obj_open(w);
	jw_ku64(w, "calls", r->calls);
	jw_ku64(w, "p50_ns", r->p50_ns);
	jw_ku64(w, "p25_ns", r->p25_ns);
	jw_ku64(w, "p75_ns", r->p75_ns);
	jw_obj_close(w);
}

/* The probes' own cost (alloc_calib.h): alloc.probe_calibration, absent before this version. */
static void alloc_calib_json(struct jw *w, const struct alloc_calib *c)
{
	jw_key(w, "probe_calibration");
	jw_obj_open(w);
	if (c->done) {
		calib_row_json(w, "emulated", &c->emu);
		calib_row_json(w, "stepped", &c->step);
	} else {
		jw_kstr(w, "error", c->error[0] ? c->error : "not run");
	}
	jw_obj_close(w);
}

static void alloc_functions(const struct session *s, const struct uprobes *up, struct jw *w)
{
	struct faultline_bpf *skel = s->skel;
	int ncpu = s->ncpus;
	struct fl_alloc_stat *st = calloc(ncpu, sizeof(*st));
	uint64_t *h = calloc(ncpu, sizeof(*h));

	jw_key(w, "functions");
	jw_arr_open(w);
	for (__u32 fn = 0; st && h && fn < FL_AF_MAX; fn++) {
		struct fl_alloc_stat sum = {};

		if (bpf_map__lookup_elem(skel->maps.alloc_stats, &fn, sizeof(fn), st,
					 sizeof(*st) * ncpu, 0))
			continue;
		for (int c = 0; c < ncpu; c++) {
			sum.count += st[c].count;
			sum.total_ns += st[c].total_ns;
			sum.bytes += st[c].bytes;
			if (st[c].max_ns > sum.max_ns)
				sum.max_ns = st[c].max_ns;
		}
		if (!sum.count)
			continue;
		jw_obj_open(w);
		jw_kstr(w, "func", alloc_fn_name(fn));
		jw_ku64(w, "count", sum.count);
		jw_ku64(w, "total_ns", sum.total_ns);
		jw_ku64(w, "max_ns", sum.max_ns);
		jw_ku64(w, "bytes", sum.bytes);
		jw_key(w, "hist");
		jw_arr_open(w);
		for (__u32 slot = 0; slot < FL_HIST_SLOTS; slot++) {
			__u32 idx = fn * FL_HIST_SLOTS + slot;
			uint64_t n = 0;

			if (!bpf_map__lookup_elem(skel->maps.alloc_hist, &idx, sizeof(idx), h,
						  sizeof(*h) * ncpu, 0))
				for (int c = 0; c < ncpu; c++)
					n += h[c];
			jw_u64(w, n);
		}
		jw_arr_close(w);
		alloc_fine_json(s, fn, h, w);
		if (up->calib.done) {
			bool emu = fn_emulated(up, fn);
			const struct alloc_calib_row *r = emu ? &up->calib.emu : &up->calib.step;

			jw_kstr(w, "probe_entry", emu ? "emulated" : "stepped");
			jw_ku64(w, "probe_overhead_ns", r->p50_ns);
		}
		jw_obj_close(w);
	}
	jw_arr_close(w);
	free(st);
	free(h);
}

/* struct alloc_thread in bpf/alloc.bpf.c: pid, depth, 4 frames of 32 bytes, 32 calls, total_ns. */
struct alloc_thread_val {
	__u32 pid;
	__u32 depth;
	__u64 frames[4 * 4];
	__u64 calls[32];
	__u64 total_ns;
};

static void alloc_threads(const struct session *s, struct jw *w)
{
	struct bpf_map *map = s->skel->maps.alloc_threads;
	__u32 key, *prev = NULL;
	int n = 0;

	jw_key(w, "threads");
	jw_arr_open(w);
	if (bpf_map__value_size(map) != sizeof(struct alloc_thread_val))
		goto out;
	while (n < 256 && !bpf_map__get_next_key(map, prev, &key, sizeof(key))) {
		struct alloc_thread_val v;
		uint64_t calls = 0;

		prev = &key;
		if (bpf_map__lookup_elem(map, &key, sizeof(key), &v, sizeof(v), 0))
			continue;
		for (int f = 0; f < FL_AF_MAX; f++)
			calls += v.calls[f];
		if (!calls)
			continue;
		jw_obj_open(w);
		jw_ku64(w, "tid", key);
		jw_ku64(w, "pid", v.pid);
		jw_ku64(w, "calls", calls);
		jw_ku64(w, "total_ns", v.total_ns);
		jw_key(w, "by_func");
		jw_obj_open(w);
		for (int f = 0; f < FL_AF_MAX; f++)
			if (v.calls[f])
				jw_ku64(w, alloc_fn_name(f), v.calls[f]);
		jw_obj_close(w);
		jw_obj_close(w);
		n++;
	}
out:
	jw_arr_close(w);
}

/*
 * --alloc=slow: alloc.slow_callers, optional: [{pid, func, ip, count}], the return address into
 * the code that called the allocator when a slow path ran (0: none found on the stack).
 */
static void alloc_slow_callers(const struct session *s, struct jw *w)
{
	struct bpf_map *map = s->skel->maps.alloc_slow_callers;
	struct {
		__u32 pid, func;
		__u64 ip;
	} key, *prev = NULL;
	int n = 0;

	jw_key(w, "slow_callers");
	jw_arr_open(w);
	while (n < 1024 && !bpf_map__get_next_key(map, prev, &key, sizeof(key))) {
		__u64 count;

		prev = &key;
		if (bpf_map__lookup_elem(map, &key, sizeof(key), &count, sizeof(count), 0))
			continue;
		jw_obj_open(w);
		jw_ku64(w, "pid", key.pid);
		jw_kstr(w, "func", alloc_fn_name(key.func));
		jw_ku64(w, "ip", key.ip);
		jw_ku64(w, "count", count);
		jw_obj_close(w);
		n++;
	}
	jw_arr_close(w);
}

static void alloc_lib(const struct up_lib *l, struct jw *w)
{
	jw_obj_open(w);
	jw_kstr(w, "path", l->path);
	jw_kstr(w, "kind", uprobes_lib_kind_name(l->kind));
	jw_kstr(w, "allocator", l->kind == LIB_ALLOC ? l->allocator : NULL);
	jw_ku64(w, "attached_ns", l->attached_ns);
	jw_kstr(w, "detached", l->detached[0] ? l->detached : NULL);
	jw_kstr(w, "error", l->error[0] ? l->error : NULL);
	jw_key(w, "symbols");
	jw_arr_open(w);
	for (int k = 0; k < l->nsyms; k++) {
		jw_obj_open(w);
		jw_kstr(w, "name", l->syms[k].name);
		jw_kstr(w, "func",
			l->kind == LIB_ALLOC ? alloc_fn_name(l->syms[k].fn)
					     : cuda_fn_name(l->syms[k].fn));
		jw_kbool(w, "probed", l->syms[k].probed);
		jw_kstr(w, "status", l->syms[k].status[0] ? l->syms[k].status : "not probed");
		jw_ku64(w, "offset", l->syms[k].offset);
		if (l->syms[k].skip) /* optional: the probe is past the function's first insn */
			jw_ku64(w, "probe_skip", l->syms[k].skip);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

void meta_alloc(struct jw *w, const struct session *s, const struct uprobes *up)
{
	const struct session_opts *o;

	if (!up) {
		jw_null(w);
		return;
	}
	o = &s->opts;
	jw_obj_open(w);
	jw_kstr(w, "mode", alloc_mode_name(o->alloc_mode));
	jw_kstr(w, "cuda", o->cuda_mode == FL_CUDA_OFF ? "off" : "auto");
	jw_ku64(w, "slow_ns", o->alloc_slow_ns ? o->alloc_slow_ns : UPROBES_SLOW_NS_DEFAULT);
	if (up->huge_busy)
		jw_ku64(w, "huge_busy", up->huge_busy);
	if (up->alloc_on) {
		alloc_calib_json(w, &up->calib);
		alloc_functions(s, up, w);
		alloc_threads(s, w);
		if (up->alloc_slow)
			alloc_slow_callers(s, w);
	}
	jw_key(w, "processes");
	jw_arr_open(w);
	for (int i = 0; i < up->nprocs; i++) {
		const struct up_proc *p = &up->procs[i];

		jw_obj_open(w);
		jw_ku64(w, "pid", p->pid);
		if (up->maps_on)
			jw_kstr(w, "code_maps", p->code_maps ? p->code_maps : "");
		jw_key(w, "libraries");
		jw_arr_open(w);
		for (int k = 0; k < p->nlibs; k++)
			alloc_lib(&p->libs[k], w);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}
