// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The report's allocator and RSS sections, formatted from the model (pinned: pinned_report.c). */
#include "alloc_report.h"
#include "alloc_model.h"
#include "jw.h"
#include "model.h"
#include "uprobes.h"
#include "util.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX_ROWS 20
#define TEXT_MAX_PROCS 3 /* brk rows: the main processes, the rest summed up */
#define TEXT_MAX_CALLERS 8
#define RSS_SHOWN 5 /* RSS rows, largest first (and the TREND_SHOWN largest last images) */
#define TREND_SHOWN 3
#define RATE_MIN_S 1.0 /* an RSS rate over less than this says nothing about a trend */

static const char *const why_json[] = {
    [WHY_NO_MAPS] = "no mappings of the process: it exited before faultline read them",
    [WHY_NO_CODE] = "the address is in none of the process's code mappings faultline saw "
		    "(an image that exec'd or exited between two looks, or unmapped code)",
};
static const char *const why_text[] = {
    [WHY_KNOWN] = "",
    [WHY_NO_MAPS] = " (process gone before its maps were read)",
    [WHY_NO_CODE] = " (not in any code mapping seen)",
};

/* --- allocator: what the trailer says ------------------------------------------------------- */

static bool lib_is(const struct alloc_lib *l, bool alloc)
{
	return alloc ? alloc_lib_is_allocator(l) : alloc_lib_is_cuda(l);
}

/* A C++ symbol (tcmalloc's "_ZN8tcmalloc8PageHeap8GrowHeapEm") by the function it counts as. */
static const char *sym_shown(const struct alloc_sym *s)
{
	return s->name && !strncmp(s->name, "_Z", 2) && s->func ? s->func : s->name;
}

/* "malloc calloc ..." for probed symbols; the others with their reasons. */
static void text_lib(const struct alloc_lib *l, FILE *f)
{
	fprintf(f, "  pid %d %s", l->pid, fl_esc(l->path) ?: "?");
	if (l->detached && strcmp(l->detached, "session ended"))
		fprintf(f, " (probes removed: %s)", fl_esc(l->detached));
	if (l->error) {
		fprintf(f, ": not probed: %s\n", fl_esc(l->error));
		return;
	}
	fprintf(f, "\n    probed:");
	for (size_t i = 0; i < l->nsyms; i++)
		if (l->syms[i].probed)
			fprintf(f, " %s", sym_shown(&l->syms[i]));
	fprintf(f, "\n");
	for (size_t i = 0; i < l->nsyms; i++)
		if (!l->syms[i].probed)
			fprintf(f, "    %-18s %s\n", sym_shown(&l->syms[i]),
				l->syms[i].status ?: "");
}

void alloc_libs_text(const struct model *m, FILE *f, bool alloc)
{
	const struct alloc_model *a = m->alloc;
	int shown = 0;

	for (size_t i = 0; a && i < a->nlibs; i++) {
		const struct alloc_lib *l = &a->libs[i];

		if (!lib_is(l, alloc))
			continue;
		if (alloc)
			fprintf(f, "  allocator: %s\n", l->allocator ?: "?");
		text_lib(l, f);
		shown++;
	}
	if (!shown)
		fprintf(f, "  %s\n",
			alloc ? "no allocator library probed"
			      : "no CUDA library was mapped by a traced process");
}

/* A corrected percentile, "*" after it where the probe's cost dominates it. */
static const char *fmt_corr(uint64_t ns, bool probe, char *buf, size_t len)
{
	char v[32];

	snprintf(buf, len, "%s%s", fmt_ns(ns, v, sizeof(v)), probe ? "*" : "");
	return buf;
}

/* The probes' own cost and which functions paid which, one line per kind of first instruction. */
static void text_calib(const struct alloc_model *a, FILE *f)
{
	static const char *const kinds[] = {"emulated", "stepped"};
	static const char *const how[] = {"emulated by the kernel (push)",
					  "single-stepped by the kernel"};
	char b[32], c[32];

	if (!a->calibrated) {
		fprintf(f,
			"  (probe cost not measured%s%s: p50/p99 include the uprobe round trip, "
			"several us per call)\n",
			a->calib_error ? ": " : " by this recording",
			a->calib_error ? a->calib_error : "");
		return;
	}
	fprintf(f,
		"  probe cost per call, measured at the start on faultline's own code, taken out "
		"of p50/p99:\n");
	for (int k = 0; k < 2; k++) {
		const struct alloc_calib_fig *r = k ? &a->calib_step : &a->calib_emu;
		char fns[160] = "";
		size_t n = 0;

		for (size_t i = 0; i < a->nfns; i++)
			if (a->fns[i].probe_entry && !strcmp(a->fns[i].probe_entry, kinds[k]))
				n += snprintf(fns + n, n < sizeof(fns) ? sizeof(fns) - n : 0, " %s",
					      a->fns[i].name ?: "?");
		fprintf(f,
			"    %-8s %8s (middle half %s, %" PRIu64
			" calls): first instruction %s:%s\n",
			kinds[k], fmt_ns(r->p50_ns, b, sizeof(b)),
			fmt_ns(r->p75_ns > r->p25_ns ? r->p75_ns - r->p25_ns : 0, c, sizeof(c)),
			r->calls, how[k], fns[0] ? fns : " (none here)");
	}
}

static void text_functions(const struct alloc_model *a, FILE *f)
{
	char b[32], c[32], d[32], e[32], g[32], h[32];
	bool fine = false, probe = false;

	if (!a->nfns)
		return;
	fprintf(f, "\n  %-21s %12s %12s %10s %10s %10s %10s %12s\n", "function", "calls",
		"bytes asked", "p50", "p99", "max", "probed p50", "total");
	for (size_t i = 0; i < a->nfns; i++) {
		const struct alloc_fn_stat *fn = &a->fns[i];

		fine |= fn->fine != NULL;
		probe |= fn->p50_probe || fn->p99_probe;
		fprintf(f, "  %-21s %12" PRIu64 " %12s %10s %10s %10s %10s %12s\n", fn->name ?: "?",
			fn->count, fmt_bytes(fn->bytes, b, sizeof(b)),
			fmt_corr(fn->p50_ns, fn->p50_probe, c, sizeof(c)),
			fmt_corr(fn->p99_ns, fn->p99_probe, d, sizeof(d)),
			fmt_ns(fn->max_ns, e, sizeof(e)), fmt_ns(fn->raw_p50_ns, h, sizeof(h)),
			fmt_ns(fn->total_ns, g, sizeof(g)));
	}
	if (fine)
		fprintf(f,
			"  (p50/p99: estimates from in-kernel buckets of 1/8 of a power of two, at "
			"most the max; probed p50, max and total as measured, probe cost included; "
			"counts are exact)\n");
	else
		fprintf(f,
			"  (p50/p99: upper bounds of the in-kernel log2 buckets, at most the max; "
			"counts are exact)\n");
	if (probe)
		fprintf(f, "  (*: probe-dominated: the call's own time is below the noise of the "
			   "probe's cost, so is not told apart from 0)\n");
	text_calib(a, f);
	for (size_t i = 0; i < a->nfns; i++) {
		fprintf(f, "\n  %s latency (as measured, probe cost included)\n",
			a->fns[i].name ?: "?");
		log2hist_print(f, &a->fns[i].hist, "nsecs", false);
	}
}

static void text_slow(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;
	char b[32], d[32];

	fprintf(f, "\n  calls slower than %s: %" PRIu64 "%s\n", fmt_ns(a->slow_ns, d, sizeof(d)),
		a->slow_total, a->slow_total ? ", slowest:" : "");
	for (size_t i = 0; i < a->nslow && i < TEXT_MAX_ROWS; i++) {
		const struct fl_alloc *s = &a->slow[i];

		fprintf(f, "    +%9.3fs pid %-7u tid %-7u %-14s %10s -> 0x%-14" PRIx64 " %s\n",
			(s->h.ts_ns - m->first_ts) / 1e9, s->pid, s->h.tid, alloc_fn_name(s->func),
			fmt_bytes(s->size, b, sizeof(b)), (uint64_t)s->ptr,
			fmt_ns(s->dur_ns, d, sizeof(d)));
	}
}

/* --alloc=slow: which code was calling the allocator when its slow paths ran. */
static void text_slow_callers(const struct alloc_model *a, FILE *f)
{
	if (!a->nslow_callers)
		return;
	fprintf(f, "\n  slow-path calls by caller (the first return address on the stack past the "
		   "allocator's code):\n");
	for (size_t i = 0; i < a->nslow_callers && i < TEXT_MAX_ROWS; i++)
		fprintf(f, "    %8" PRIu64 "  %-21s <- %s\n", a->slow_callers[i].count,
			a->slow_callers[i].func, fl_esc(a->slow_callers[i].name));
	if (a->nslow_callers > TEXT_MAX_ROWS)
		fprintf(f, "    ... and %zu more\n", a->nslow_callers - TEXT_MAX_ROWS);
}

/* --- allocator: what the events say ---------------------------------------------------------- */

/* "+1.5 MiB", "-8.0 KiB" */
static const char *fmt_sbytes(int64_t v, char *buf, size_t len)
{
	char b[32];

	snprintf(buf, len, "%c%s", v < 0 ? '-' : '+',
		 fmt_bytes(v < 0 ? -(uint64_t)v : (uint64_t)v, b, sizeof(b)));
	return buf;
}

static int64_t brk_growth(const struct proc_info *p)
{
	return (int64_t)(p->brk_cur - p->brk_start);
}

static int cmp_brk_peak(const void *x, const void *y)
{
	const struct proc_info *a = *(const struct proc_info *const *)x;
	const struct proc_info *b = *(const struct proc_info *const *)y;
	uint64_t pa = a->brk_peak - a->brk_start, pb = b->brk_peak - b->brk_start;

	return pa < pb ? 1 : pa > pb ? -1 : a->pid - b->pid;
}

/* The processes with brk calls, largest peak first; caller frees. */
static const struct proc_info **procs_by_brk(const struct alloc_model *a, size_t *n)
{
	const struct proc_info **v = calloc(a->nprocs ? a->nprocs : 1, sizeof(*v));

	if (!v)
		fl_nomem();
	*n = 0;
	for (size_t i = 0; v && i < a->nprocs; i++)
		if (a->procs[i].brk_calls > 0)
			v[(*n)++] = &a->procs[i];
	if (v)
		sort_n(v, *n, sizeof(*v), cmp_brk_peak);
	return v;
}

static void text_syscall_table(const struct alloc_model *a, FILE *f)
{
	char b[32], c[32], d[32], e[32];

	fprintf(f, "\n  %-16s %10s %12s %8s %10s %10s %10s\n", "memory syscall", "calls", "bytes",
		"errors", "p50", "p99", "max");
	for (int k = 0; k < SYS_MAX; k++) {
		const struct sys_stat *s = &a->sys[k];
		bool none = !s->count;

		fprintf(f, "  %-16s %10" PRIu64 " %12s %8" PRIu64 " %10s %10s %10s\n",
			alloc_sys_names[k], s->count,
			none ? "-" : fmt_bytes(s->bytes, b, sizeof(b)), s->errors,
			none ? "-" : fmt_ns(s->p50_ns, c, sizeof(c)),
			none ? "-" : fmt_ns(s->p99_ns, d, sizeof(d)),
			none ? "-" : fmt_ns(s->max_ns, e, sizeof(e)));
	}
	fprintf(f, "  (bytes: the lengths passed, brk: how far the heap grew; errors: -errno, brk: "
		   "refused)\n");
}

/* "madvise: dontneed 200 calls 2.3 MiB (returned to the OS), hugepage 1 call 256.0 MiB" */
static void text_madvise(const struct alloc_model *a, FILE *f)
{
	char b[32];
	int shown = 0;

	for (int i = 0; i < MADV_SLOTS; i++) {
		if (!a->madv_count[i])
			continue;
		fprintf(f, "%s %s %" PRIu64 " call%s %s%s", shown++ ? "," : "  madvise:",
			alloc_madv_names[i] ? alloc_madv_names[i] : "other", a->madv_count[i],
			a->madv_count[i] == 1 ? "" : "s", fmt_bytes(a->madv_bytes[i], b, sizeof(b)),
			i == 4 || i == 8 ? " (returned to the OS)" : "");
	}
	if (shown)
		fprintf(f, "\n");
}

static void text_callers(const struct alloc_model *a, FILE *f)
{
	uint64_t calls = 0, bytes = 0;
	char b[32], name[96];
	size_t i;

	if (!a->ncallers)
		return;
	fprintf(f, "\n  %-52s %10s %12s\n", "memory syscalls by calling code", "calls", "bytes");
	for (i = 0; i < a->ncallers; i++) {
		const struct caller_stat *c = &a->callers[i];

		if (i >= TEXT_MAX_CALLERS && c->why == WHY_KNOWN) {
			calls += c->calls;
			bytes += c->bytes;
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", c->name, why_text[c->why]);
		fprintf(f, "    %-50s %10" PRIu64 " %12s\n", fl_esc(name), c->calls,
			fmt_bytes(c->bytes, b, sizeof(b)));
	}
	if (calls)
		fprintf(f, "    %-50s %10" PRIu64 " %12s\n", "(others)", calls,
			fmt_bytes(bytes, b, sizeof(b)));
}

static void text_brk(const struct model *m, FILE *f)
{
	size_t n, i;
	const struct proc_info **v = procs_by_brk(m->alloc, &n);
	char b[32], c[32];
	int64_t rest = 0;

	if (!v || !n) {
		free(v);
		return;
	}
	fprintf(f, "\n  %-32s %11s %11s %8s %8s\n", "heap (brk), largest first", "growth", "peak",
		"calls", "refused");
	for (i = 0; i < n && i < TEXT_MAX_PROCS; i++)
		fprintf(f, "    pid %-7d %-16s %11s %11s %8" PRIu64 " %8" PRIu64 "\n", v[i]->pid,
			alloc_proc_comm(m, v[i]->pid), fmt_sbytes(brk_growth(v[i]), b, sizeof(b)),
			fmt_sbytes(v[i]->brk_peak - v[i]->brk_start, c, sizeof(c)), v[i]->brk_calls,
			v[i]->brk_failed);
	for (; i < n; i++)
		rest += brk_growth(v[i]);
	if (n > TEXT_MAX_PROCS)
		fprintf(f, "    ... and %zu more processes, %s together\n", n - TEXT_MAX_PROCS,
			fmt_sbytes(rest, b, sizeof(b)));
	fprintf(f, "  (growth: the last break minus the first seen, per program image: exec starts "
		   "a new heap)\n");
	free(v);
}

void alloc_print_text(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;
	bool probes;

	fprintf(f, "\nAllocator (--alloc=%s)\n", alloc_mode(m));
	if (!a)
		return;
	probes = alloc_mode_is(m, "full") || alloc_mode_is(m, "slow");
	if (probes)
		alloc_libs_text(m, f, true);
	if (alloc_mode_is(m, "slow"))
		fprintf(
		    f,
		    "  (--alloc=slow: only the allocator's slow paths are probed, where it grows "
		    "or returns memory; malloc and free themselves are not counted)\n");
	text_functions(a, f);
	if (probes)
		text_slow(m, f);
	text_slow_callers(a, f);
	if (!alloc_mode_is(m, "off")) {
		text_syscall_table(a, f);
		text_madvise(a, f);
		text_callers(a, f);
		text_brk(m, f);
	}
}

/* --- JSON ------------------------------------------------------------------------------------ */

/* Arrays the report has always copied from the trailer as they were there: on one line. */
static void compact_begin(struct jw *w, bool *pretty)
{
	*pretty = w->pretty;
	w->pretty = false;
}

static void compact_end(struct jw *w, bool pretty)
{
	w->pretty = pretty;
}

static void json_symbols(const struct alloc_lib *l, struct jw *w)
{
	bool pretty;

	jw_key(w, "symbols");
	compact_begin(w, &pretty);
	jw_arr_open(w);
	for (size_t i = 0; i < l->nsyms; i++) {
		const struct alloc_sym *s = &l->syms[i];

		jw_obj_open(w);
		jw_kstr(w, "name", s->name);
		jw_kstr(w, "func", s->func);
		jw_kbool(w, "probed", s->probed);
		jw_kstr(w, "status", s->status);
		jw_ku64(w, "offset", s->offset);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	compact_end(w, pretty);
}

void alloc_libs_json(const struct model *m, struct jw *w, bool alloc)
{
	const struct alloc_model *a = m->alloc;

	jw_key(w, "libraries");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->nlibs; i++) {
		const struct alloc_lib *l = &a->libs[i];

		if (!lib_is(l, alloc))
			continue;
		jw_obj_open(w);
		jw_ku64(w, "pid", l->pid);
		jw_kstr(w, "path", l->path);
		if (alloc)
			jw_kstr(w, "allocator", l->allocator);
		else
			jw_kstr(w, "kind", l->kind);
		jw_kstr(w, "detached", l->detached);
		jw_kstr(w, "error", l->error);
		json_symbols(l, w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_threads(const struct alloc_model *a, struct jw *w)
{
	bool pretty;

	jw_key(w, "threads");
	compact_begin(w, &pretty);
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->nthreads; i++) {
		const struct alloc_thread *t = &a->threads[i];

		jw_obj_open(w);
		jw_ku64(w, "tid", t->tid);
		jw_ku64(w, "pid", t->pid);
		jw_ku64(w, "calls", t->calls);
		jw_ku64(w, "total_ns", t->total_ns);
		jw_key(w, "by_func");
		jw_obj_open(w);
		for (int f = 0; f < FL_AF_MAX; f++)
			if (t->by_func[f])
				jw_ku64(w, alloc_fn_name(f), t->by_func[f]);
		jw_obj_close(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	compact_end(w, pretty);
}

static void json_calib_row(struct jw *w, const char *key, const struct alloc_calib_fig *r)
{
	jw_key(w, key);
	jw_obj_open(w);
	jw_ku64(w, "p50_ns", r->p50_ns);
	jw_ku64(w, "p25_ns", r->p25_ns);
	jw_ku64(w, "p75_ns", r->p75_ns);
	jw_ku64(w, "calls", r->calls);
	jw_obj_close(w);
}

/* alloc.probe_overhead_ns: the probes' cost per call by kind of first instruction; null when not
 * measured (alloc.probe_calibration_error says why, when known). */
static void json_calib(const struct alloc_model *a, struct jw *w)
{
	jw_key(w, "probe_overhead_ns");
	if (!a || !a->calibrated) {
		jw_null(w);
		if (a && a->calib_error)
			jw_kstr(w, "probe_calibration_error", a->calib_error);
		return;
	}
	jw_obj_open(w);
	jw_ku64(w, "emulated", a->calib_emu.p50_ns);
	jw_ku64(w, "stepped", a->calib_step.p50_ns);
	jw_obj_close(w);
	jw_key(w, "probe_calibration");
	jw_obj_open(w);
	json_calib_row(w, "emulated", &a->calib_emu);
	json_calib_row(w, "stepped", &a->calib_step);
	jw_obj_close(w);
}

static void json_functions(const struct alloc_model *a, struct jw *w)
{
	json_calib(a, w);
	jw_key(w, "functions");
	jw_obj_open(w);
	for (size_t i = 0; a && i < a->nfns; i++) {
		const struct alloc_fn_stat *fn = &a->fns[i];

		jw_key(w, fn->name ?: "?");
		jw_obj_open(w);
		jw_ku64(w, "count", fn->count);
		jw_ku64(w, "bytes", fn->bytes);
		jw_ku64(w, "total_ns", fn->total_ns);
		jw_ku64(w, "p50_ns", fn->p50_ns);
		jw_ku64(w, "p99_ns", fn->p99_ns);
		jw_ku64(w, "max_ns", fn->max_ns);
		jw_ku64(w, "raw_p50_ns", fn->raw_p50_ns);
		jw_ku64(w, "raw_p99_ns", fn->raw_p99_ns);
		jw_ku64(w, "mean_ns", fn->mean_ns);
		jw_kbool(w, "fine", fn->fine != NULL);
		if (fn->calibrated) {
			jw_kstr(w, "probe_entry", fn->probe_entry);
			jw_ku64(w, "probe_overhead_ns", fn->overhead_ns);
			jw_ku64(w, "probe_noise_ns", fn->noise_ns);
			jw_kbool(w, "p50_probe_dominated", fn->p50_probe);
			jw_kbool(w, "p99_probe_dominated", fn->p99_probe);
		}
		jw_key(w, "hist");
		log2hist_json(w, &fn->hist);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	json_threads(a, w);
}

static void json_slow(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_ku64(w, "slow_threshold_ns", a ? a->slow_ns : 0);
	jw_ku64(w, "slow_count", a ? a->slow_total : 0);
	jw_key(w, "slow_calls");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->nslow; i++) {
		const struct fl_alloc *s = &a->slow[i];

		jw_obj_open(w);
		jw_ku64(w, "ts_ns", s->h.ts_ns);
		jw_ku64(w, "pid", s->pid);
		jw_ku64(w, "tid", s->h.tid);
		jw_kstr(w, "func", alloc_fn_name(s->func));
		jw_ku64(w, "size", s->size);
		jw_ku64(w, "ptr", s->ptr);
		jw_ku64(w, "dur_ns", s->dur_ns);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_syscalls(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_key(w, "syscalls");
	jw_obj_open(w);
	for (int k = 0; a && k < SYS_MAX; k++) {
		const struct sys_stat *s = &a->sys[k];

		jw_key(w, alloc_sys_names[k]);
		jw_obj_open(w);
		jw_ku64(w, "count", s->count);
		jw_ku64(w, "bytes", s->bytes);
		jw_ku64(w, "errors", s->errors);
		jw_ku64(w, "total_ns", s->total_ns);
		jw_ku64(w, "p50_ns", s->p50_ns);
		jw_ku64(w, "p99_ns", s->p99_ns);
		jw_ku64(w, "max_ns", s->max_ns);
		jw_key(w, "hist");
		log2hist_json(w, &s->hist);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_key(w, "madvise");
	jw_obj_open(w);
	for (int i = 0; a && i < MADV_SLOTS; i++) {
		if (!a->madv_count[i])
			continue;
		jw_key(w, alloc_madv_names[i] ? alloc_madv_names[i] : "other");
		jw_obj_open(w);
		jw_ku64(w, "count", a->madv_count[i]);
		jw_ku64(w, "bytes", a->madv_bytes[i]);
		jw_obj_close(w);
	}
	jw_obj_close(w);
	jw_ku64(w, "dontneed_bytes_returned", a ? a->madv_bytes[FL_MADV_DONTNEED] : 0);
	jw_key(w, "slow_path_callers"); /* --alloc=slow; empty otherwise */
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->nslow_callers; i++) {
		jw_obj_open(w);
		jw_kstr(w, "func", a->slow_callers[i].func);
		jw_kstr(w, "caller", a->slow_callers[i].name);
		jw_ku64(w, "count", a->slow_callers[i].count);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_key(w, "by_caller");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->ncallers; i++) {
		jw_obj_open(w);
		jw_kstr(w, "library", a->callers[i].name);
		jw_kstr(w, "why", why_json[a->callers[i].why]);
		jw_ku64(w, "calls", a->callers[i].calls);
		jw_ku64(w, "bytes", a->callers[i].bytes);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static void json_brk(const struct model *m, struct jw *w)
{
	size_t n = 0;
	const struct proc_info **v = m->alloc ? procs_by_brk(m->alloc, &n) : NULL;

	jw_key(w, "brk");
	jw_arr_open(w);
	for (size_t i = 0; v && i < n; i++) {
		jw_obj_open(w);
		jw_ku64(w, "pid", v[i]->pid);
		jw_kstr(w, "comm", alloc_proc_comm(m, v[i]->pid));
		jw_ku64(w, "calls", v[i]->brk_calls);
		jw_ku64(w, "refused", v[i]->brk_failed);
		jw_ku64(w, "images", v[i]->images);
		jw_ku64(w, "start", v[i]->brk_start);
		jw_ku64(w, "end", v[i]->brk_cur);
		jw_ki64(w, "growth_bytes", brk_growth(v[i]));
		jw_ku64(w, "peak_growth_bytes", v[i]->brk_peak - v[i]->brk_start);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	free(v);
}

/* --- RSS: one section from the model's samples ------------------------------------------------ */

static int cmp_rss_max(const void *x, const void *y)
{
	const struct rss_stat *a = *(const struct rss_stat *const *)x;
	const struct rss_stat *b = *(const struct rss_stat *const *)y;

	if (a->max_pages != b->max_pages)
		return a->max_pages < b->max_pages ? 1 : -1;
	return a < b ? -1 : a > b; /* in the order first seen */
}

static int cmp_rss_peak(const void *x, const void *y)
{
	const struct rss_stat *a = *(const struct rss_stat *const *)x;
	const struct rss_stat *b = *(const struct rss_stat *const *)y;

	return a->img_peak < b->img_peak ? 1 : a->img_peak > b->img_peak ? -1 : a->pid - b->pid;
}

/* The processes' RSS samples sorted by CMP; only those whose last image rose above 0 when
 * TREND. Caller frees. */
static const struct rss_stat **rss_sorted(const struct model *m, bool trend,
					  int (*cmp)(const void *, const void *), size_t *n)
{
	const struct rss_stat **v = calloc(m->nrss ? m->nrss : 1, sizeof(*v));

	if (!v)
		fl_nomem();
	*n = 0;
	for (size_t i = 0; v && i < m->nrss; i++)
		if (!trend || m->rss[i].img_peak > 0)
			v[(*n)++] = &m->rss[i];
	if (v)
		sort_n(v, *n, sizeof(*v), cmp);
	return v;
}

static double rss_trend_s(const struct rss_stat *r)
{
	return (r->img_last_ts - r->img_first_ts) / 1e9;
}

/* "  calloc_skew: first 16.3 MiB, last 62.7 MiB, peak 62.7 MiB over 0.0 s, rate -" */
static void text_rss_trend(const struct model *m, const struct rss_stat *r, FILE *f)
{
	char a[32], b[32], c[32], rate[32] = "-";
	double s = rss_trend_s(r);

	if (s >= RATE_MIN_S)
		snprintf(rate, sizeof(rate), "%+.1f MiB/s",
			 (r->img_last - r->img_first) * (double)m->page_size / s / (1 << 20));
	fprintf(f, "    %s: first %s, last %s, peak %s over %.1f s, rate %s\n",
		fl_esc(alloc_proc_comm(m, r->pid)),
		fmt_bytes(r->img_first * (int64_t)m->page_size, a, sizeof(a)),
		fmt_bytes(r->img_last * (int64_t)m->page_size, b, sizeof(b)),
		fmt_bytes(r->img_peak * (int64_t)m->page_size, c, sizeof(c)), s, rate);
}

/* Shown: the RSS_SHOWN largest, and any of the TREND_SHOWN largest last images beyond them. */
static bool rss_shown(const struct rss_stat *r, size_t i, const struct rss_stat **peak, size_t np)
{
	if (i < RSS_SHOWN)
		return true;
	for (size_t k = 0; k < np && k < TREND_SHOWN; k++)
		if (peak[k] == r)
			return true;
	return false;
}

/* "... and 38 more processes, the programs they run last peaking at 3.1 MiB or less" */
static void text_rss_rest(const struct model *m, const struct rss_stat **v, size_t n,
			  const struct rss_stat **peak, size_t np, FILE *f)
{
	int64_t rest_peak = 0;
	size_t more = 0;
	char b[32];

	for (size_t i = 0; i < n; i++) {
		if (rss_shown(v[i], i, peak, np))
			continue;
		more++;
		if (v[i]->img_peak > rest_peak)
			rest_peak = v[i]->img_peak;
	}
	fprintf(f, "  ... and %zu more processes", more);
	if (rest_peak > 0)
		fprintf(f, ", the programs they run last peaking at %s or less",
			fmt_bytes(rest_peak * (int64_t)m->page_size, b, sizeof(b)));
	fprintf(f, " (all of them in --json)\n");
}

static bool probe_ok(const struct model *m, const char *name)
{
	const struct model_probe *p = model_probe_find(m, name);

	return p && p->status && !strcmp(p->status, "ok");
}

/* How the samples were taken (the probe plan's rss concern); files before it say nothing. */
static void text_rss_how(const struct model *m, FILE *f)
{
	const struct model_probe *p = model_probe_find(m, "rss");

	if (!p || !p->attach || strcmp(p->attach, "sampled"))
		return;
	fprintf(f, "  (sampled at faults every 10 ms at most, %s)\n",
		probe_ok(m, "alloc_syscalls")
		    ? "at memory syscalls, exec and exit"
		    : "at exec and exit; memory syscalls not traced (--alloc=off): a decrease "
		      "shows at the next sample");
}

void rss_print_text(const struct model *m, FILE *f)
{
	size_t n, np, shown = 0;
	const struct rss_stat **v = rss_sorted(m, false, cmp_rss_max, &n);
	const struct rss_stat **peak = rss_sorted(m, true, cmp_rss_peak, &np);
	char a[32], b[32], c[32];

	if (!v || !peak || !n)
		goto out;
	fprintf(f, "\nRSS (largest first)\n");
	text_rss_how(m, f);
	for (size_t i = 0; i < n; i++) {
		if (!rss_shown(v[i], i, peak, np))
			continue;
		shown++;
		fprintf(f, "  pid %-8d min %-12s max %-12s anon max %s (%" PRIu64 " samples)\n",
			v[i]->pid, fmt_bytes(v[i]->min_pages * (int64_t)m->page_size, a, sizeof(a)),
			fmt_bytes(v[i]->max_pages * (int64_t)m->page_size, b, sizeof(b)),
			fmt_bytes(v[i]->max_anon * (int64_t)m->page_size, c, sizeof(c)),
			v[i]->samples);
		if (v[i]->img_peak > 0)
			text_rss_trend(m, v[i], f);
	}
	if (n > shown)
		text_rss_rest(m, v, n, peak, np, f);
	fprintf(f,
		"  (second line: the program the process runs last, from its first sample above 0 "
		"to its last;\n   rate only over %.0f s or more)\n",
		RATE_MIN_S);
out:
	free(v);
	free(peak);
}

static void json_rss(const struct model *m, struct jw *w)
{
	size_t n = 0;
	const struct rss_stat **v = rss_sorted(m, true, cmp_rss_peak, &n);

	jw_key(w, "rss_trend");
	jw_arr_open(w);
	for (size_t i = 0; v && i < n; i++) {
		const struct rss_stat *r = v[i];
		double s = rss_trend_s(r);

		jw_obj_open(w);
		jw_ku64(w, "pid", r->pid);
		jw_kstr(w, "comm", alloc_proc_comm(m, r->pid));
		jw_ki64(w, "first_bytes", r->img_first * (int64_t)m->page_size);
		jw_ki64(w, "last_bytes", r->img_last * (int64_t)m->page_size);
		jw_ki64(w, "peak_bytes", r->img_peak * (int64_t)m->page_size);
		jw_ku64(w, "samples", r->img_samples);
		jw_kdouble(w, "seconds", s);
		jw_key(w, "bytes_per_s");
		if (s >= RATE_MIN_S)
			jw_double(w, (r->img_last - r->img_first) * (double)m->page_size / s);
		else
			jw_null(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	free(v);
}

void alloc_print_json(const struct model *m, struct jw *w)
{
	jw_obj_open(w);
	jw_kstr(w, "mode", m->alloc ? m->alloc->mode : NULL);
	alloc_libs_json(m, w, true);
	json_functions(m->alloc, w);
	json_slow(m, w);
	json_syscalls(m, w);
	json_brk(m, w);
	json_rss(m, w);
	jw_obj_close(w);
}
