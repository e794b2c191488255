// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The report's "Pinned memory" section and JSON key "pinned", formatted from the model. */
#include "alloc_model.h"
#include "alloc_report.h"
#include "cuda_errors.h"
#include "jw.h"
#include "model.h"
#include "uprobes.h"
#include "util.h"
#include <inttypes.h>

#define TEXT_MAX_CUDA 50

/* --- pinned memory --------------------------------------------------------------------------- */

/* GB/s of a register/alloc call that succeeded; < 0 for the others (no rate to speak of). */
static double gb_per_s(const struct cuda_call *c)
{
	if (c->ev.ret || !c->ev.dur_ns || !c->ev.size ||
	    !(cuda_is_register(c->ev.func) || cuda_is_alloc(c->ev.func)))
		return -1;
	return (double)c->ev.size / c->ev.dur_ns; /* bytes/ns = GB/s */
}

/* Share of a register call's range backed by huge pages; < 0 when not known or not a register. */
static double huge_share(const struct cuda_call *c)
{
	if (!cuda_is_register(c->ev.func) || !c->ev.size || c->ev.huge_bytes == FL_HUGE_UNKNOWN ||
	    c->ev.huge_bytes == FL_HUGE_BUSY)
		return -1;
	return (double)c->ev.huge_bytes / c->ev.size;
}

static void text_cuda_functions(const struct alloc_model *a, FILE *f)
{
	char b[32], c[32], d[32];

	fprintf(f, "\n  %-20s %8s %8s %12s %12s %12s\n", "function", "calls", "failed", "size",
		"total time", "max");
	for (int fn = 0; fn < FL_CF_MAX; fn++) {
		const struct cuda_fn_stat *s = &a->pinned.fn[fn];

		if (!s->calls)
			continue;
		fprintf(f, "  %-20s %8" PRIu64 " %8" PRIu64 " %12s %12s %12s\n", cuda_fn_name(fn),
			s->calls, s->failed, s->sized ? fmt_bytes(s->bytes, b, sizeof(b)) : "-",
			fmt_ns(s->total_ns, c, sizeof(c)), fmt_ns(s->max_ns, d, sizeof(d)));
	}
	fprintf(f, "  (size: summed; an unregister/free counts the size of the register/alloc it "
		   "undid)\n");
}

static void text_cuda_call(const struct model *m, const struct cuda_call *c, FILE *f)
{
	char b[32], d[32], rate[16] = "-", huge[16] = "-";
	double g = gb_per_s(c), h = huge_share(c);

	if (g >= 0)
		snprintf(rate, sizeof(rate), "%.2f", g);
	if (h >= 0)
		snprintf(huge, sizeof(huge), "%.0f%%", 100 * h);
	else if (cuda_is_register(c->ev.func) && c->ev.huge_bytes == FL_HUGE_BUSY)
		snprintf(huge, sizeof(huge), "busy");
	fprintf(f, "  %9.3fs %7u %-20s %10s %10s %8s %5s %7" PRIu64 "  %lld %s\n",
		(c->ev.h.ts_ns - m->first_ts) / 1e9, c->ev.pid, cuda_fn_name(c->ev.func),
		c->size_known ? fmt_bytes(c->size, b, sizeof(b)) : "-",
		fmt_ns(c->ev.dur_ns, d, sizeof(d)), rate, huge, (uint64_t)c->ev.faults,
		(long long)c->ev.ret, cuda_error_name(cuda_is_driver(c->ev.func), c->ev.ret));
}

void pinned_print_text(const struct model *m, FILE *f)
{
	const struct alloc_model *a = m->alloc;

	fprintf(f, "\nPinned memory (CUDA)\n");
	alloc_libs_text(m, f, false);
	if (!a || !a->pinned.ncalls)
		return;
	text_cuda_functions(a, f);
	fprintf(f, "\n  %10s %7s %-20s %10s %10s %8s %5s %7s  %s\n", "time", "pid", "function",
		"size", "duration", "GB/s", "huge", "faults", "return code");
	for (size_t i = 0; i < a->pinned.ncalls && i < TEXT_MAX_CUDA; i++)
		text_cuda_call(m, &a->pinned.calls[i], f);
	if (a->pinned.ncalls > TEXT_MAX_CUDA)
		fprintf(f, "  ... and %zu more calls (faultline report --json lists all)\n",
			a->pinned.ncalls - TEXT_MAX_CUDA);
	fprintf(
	    f, "  (GB/s: only for register/alloc calls that succeeded. huge: share of a register's "
	       "range\n   in huge pages when faultline looked at it, - if it was unmapped by then, "
	       "busy if\n"
	       "   too many register calls came at once to measure them all)\n");
}

static void json_cuda_functions(const struct alloc_model *a, struct jw *w)
{
	jw_key(w, "by_function");
	jw_obj_open(w);
	for (int fn = 0; a && fn < FL_CF_MAX; fn++) {
		const struct cuda_fn_stat *s = &a->pinned.fn[fn];

		if (!s->calls)
			continue;
		jw_key(w, cuda_fn_name(fn));
		jw_obj_open(w);
		jw_ku64(w, "calls", s->calls);
		jw_ku64(w, "failed", s->failed);
		jw_ku64(w, "bytes", s->bytes);
		jw_ku64(w, "total_ns", s->total_ns);
		jw_ku64(w, "max_ns", s->max_ns);
		jw_obj_close(w);
	}
	jw_obj_close(w);
}

static void json_cuda_call(const struct cuda_call *c, struct jw *w)
{
	double g = gb_per_s(c), h = huge_share(c);

	jw_obj_open(w);
	jw_ku64(w, "ts_ns", c->ev.h.ts_ns);
	jw_ku64(w, "pid", c->ev.pid);
	jw_ku64(w, "tid", c->ev.h.tid);
	jw_kstr(w, "func", cuda_fn_name(c->ev.func));
	jw_ku64(w, "ptr", c->ev.ptr);
	jw_key(w, "size");
	c->size_known ? jw_u64(w, c->size) : jw_null(w);
	jw_ku64(w, "flags", c->ev.flags);
	jw_ki64(w, "ret", c->ev.ret);
	jw_kstr(w, "ret_name", cuda_error_name(cuda_is_driver(c->ev.func), c->ev.ret));
	jw_ku64(w, "dur_ns", c->ev.dur_ns);
	jw_key(w, "gb_per_s");
	g >= 0 ? jw_double(w, g) : jw_null(w);
	jw_key(w, "huge_bytes");
	h >= 0 ? jw_u64(w, c->ev.huge_bytes) : jw_null(w);
	jw_key(w, "huge_share");
	h >= 0 ? jw_double(w, h) : jw_null(w);
	if (cuda_is_register(c->ev.func) && c->ev.huge_bytes == FL_HUGE_BUSY)
		jw_kstr(w, "huge_unknown", "busy");
	jw_ku64(w, "faults", c->ev.faults);
	jw_obj_close(w);
}

void pinned_print_json(const struct model *m, struct jw *w)
{
	const struct alloc_model *a = m->alloc;

	jw_obj_open(w);
	jw_kstr(w, "cuda", a ? a->cuda_mode : NULL);
	alloc_libs_json(m, w, false);
	json_cuda_functions(a, w);
	jw_key(w, "calls");
	jw_arr_open(w);
	for (size_t i = 0; a && i < a->pinned.ncalls; i++)
		json_cuda_call(&a->pinned.calls[i], w);
	jw_arr_close(w);
	jw_obj_close(w);
}
