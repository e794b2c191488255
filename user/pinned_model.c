// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "pinned_model.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

void pinned_model_add(struct pinned_model *p, const struct fl_cuda *e)
{
	if (!grow_array((void **)&p->calls, &p->cap, p->ncalls, sizeof(*p->calls), 256))
		p->calls[p->ncalls++] = (struct cuda_call){.ev = *e};
}

bool cuda_is_driver(uint32_t fn)
{
	return fn >= FL_CF_CU_HOST_REGISTER;
}

bool cuda_is_register(uint32_t fn)
{
	return fn == FL_CF_HOST_REGISTER || fn == FL_CF_CU_HOST_REGISTER;
}

bool cuda_is_alloc(uint32_t fn)
{
	return fn == FL_CF_HOST_ALLOC || fn == FL_CF_MALLOC_HOST || fn == FL_CF_CU_HOST_ALLOC ||
	       fn == FL_CF_CU_ALLOC_HOST;
}

/* The register/alloc call an unregister/free undoes: register or alloc, same layer. */
static bool cuda_undoes(uint32_t fn, uint32_t earlier)
{
	if (cuda_is_driver(fn) != cuda_is_driver(earlier))
		return false;
	if (fn == FL_CF_HOST_UNREGISTER || fn == FL_CF_CU_HOST_UNREGISTER)
		return cuda_is_register(earlier);
	return cuda_is_alloc(earlier);
}

/* Register and alloc calls pass a size; unregister and free get the size of the latest earlier
 * successful register/alloc of the same pointer in the same process that nothing undid yet. */
static void match_sizes(struct pinned_model *p)
{
	for (size_t i = 0; i < p->ncalls; i++) {
		struct cuda_call *c = &p->calls[i];

		if (cuda_is_register(c->ev.func) || cuda_is_alloc(c->ev.func)) {
			c->size = c->ev.size;
			c->size_known = true;
			continue;
		}
		for (size_t k = i; k-- > 0 && c->ev.ptr;) {
			struct cuda_call *e = &p->calls[k];

			if (e->ev.pid != c->ev.pid || e->ev.ptr != c->ev.ptr ||
			    !cuda_undoes(c->ev.func, e->ev.func))
				continue;
			if (e->ev.ret == 0 && !e->undone) {
				c->size = e->size;
				c->size_known = true;
				e->undone = true; /* a second free of it finds nothing */
			}
			break;
		}
	}
}

static void summarize(struct pinned_model *p)
{
	for (size_t i = 0; i < p->ncalls; i++) {
		const struct cuda_call *c = &p->calls[i];
		struct cuda_fn_stat *s;

		if (c->ev.func >= FL_CF_MAX)
			continue;
		s = &p->fn[c->ev.func];
		s->calls++;
		s->failed += c->ev.ret != 0;
		s->sized += c->size_known;
		s->bytes += c->size_known ? c->size : 0;
		s->total_ns += c->ev.dur_ns;
		if (c->ev.dur_ns > s->max_ns)
			s->max_ns = c->ev.dur_ns;
	}
}

/* Events arrive as calls return: a runtime call that wraps a driver call comes after it. */
static int cmp_cuda(const void *x, const void *y)
{
	const struct cuda_call *a = x, *b = y;

	return a->ev.h.ts_ns < b->ev.h.ts_ns ? -1 : a->ev.h.ts_ns > b->ev.h.ts_ns;
}

void pinned_model_finish(struct pinned_model *p)
{
	sort_n(p->calls, p->ncalls, sizeof(*p->calls), cmp_cuda);
	match_sizes(p);
	summarize(p);
}

void pinned_model_free(struct pinned_model *p)
{
	free(p->calls);
	memset(p, 0, sizeof(*p));
}
