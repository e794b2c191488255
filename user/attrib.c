// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attrib.h"
#include "util.h"

uint64_t overlap_ns(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	uint64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;

	return hi > lo ? hi - lo : 0;
}

bool stall_overlaps(const struct stall_rec *s, uint64_t a, uint64_t b)
{
	if (b <= a)
		return false;
	if (!s->dur_ns)
		return s->ts_ns >= a && s->ts_ns < b;
	return overlap_ns(s->ts_ns, s->ts_ns + s->dur_ns, a, b) > 0;
}

/* First index with t[i] >= x. */
static size_t lower_bound(const uint64_t *t, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t count_in_window(const uint64_t *t, size_t n, uint64_t a, uint64_t b)
{
	if (b <= a)
		return 0;
	return lower_bound(t, n, b) - lower_bound(t, n, a);
}

size_t stalls_from(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a)
{
	uint64_t from = a > max_dur_ns ? a - max_dur_ns : 0;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s[mid].ts_ns < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void attribute_window(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
		      const uint64_t *fault_ts, size_t nfaults, uint64_t a, uint64_t b,
		      struct win_attr *out)
{
	memset(out, 0, sizeof(*out));
	if (b <= a)
		return;
	for (size_t i = stalls_from(s, n, max_dur_ns, a); i < n && s[i].ts_ns < b; i++) {
		uint64_t ov;

		if (!stall_overlaps(&s[i], a, b) || s[i].cause >= FL_CAUSE_MAX)
			continue;
		ov = overlap_ns(s[i].ts_ns, s[i].ts_ns + s[i].dur_ns, a, b);
		out->stall_ns[s[i].cause] += ov;
		out->total_ns += ov;
		out->nstalls++;
	}
	out->faults = count_in_window(fault_ts, nfaults, a, b);
}

double corr_pearson(const double *x, const double *y, size_t n)
{
	double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;

	if (n < 3)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (size_t i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx <= 0 || syy <= 0)
		return NAN;
	return sxy / sqrt(sxx * syy);
}

struct ranked {
	double v;
	size_t i;
};

static int cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	return x->v < y->v ? -1 : x->v > y->v;
}

/* Ranks with ties given their average rank. */
static int ranks(const double *v, size_t n, double *out)
{
	struct ranked *r = malloc(n * sizeof(*r));

	if (!r)
		return fl_nomem();
	for (size_t i = 0; i < n; i++)
		r[i] = (struct ranked){ v[i], i };
	sort_n(r, n, sizeof(*r), cmp_ranked);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && r[j + 1].v == r[i].v)
			j++;
		for (size_t k = i; k <= j; k++)
			out[r[k].i] = (i + j) / 2.0 + 1;
		i = j + 1;
	}
	free(r);
	return 0;
}

double corr_spearman(const double *x, const double *y, size_t n)
{
	double *rx, *ry, rho = NAN;

	if (n < 3)
		return NAN;
	rx = malloc(n * sizeof(*rx));
	ry = malloc(n * sizeof(*ry));
	if (!rx || !ry)
		fl_nomem();
	else if (!ranks(x, n, rx) && !ranks(y, n, ry))
		rho = corr_pearson(rx, ry, n);
	free(rx);
	free(ry);
	return rho;
}
