// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "hist.h"
#include "jw.h"
#include "util.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void log2hist_add(struct log2hist *h, uint64_t v)
{
	h->slots[fl_log2_slot(v)]++;
}

uint64_t log2hist_total(const uint64_t *slots)
{
	uint64_t t = 0;

	for (int i = 0; i < FL_HIST_SLOTS; i++)
		t += slots[i];
	return t;
}

void log2hist_print(FILE *f, const struct log2hist *h, const char *unit, bool us)
{
	int first = -1, last = -1;
	uint64_t max = 0;

	for (int i = 0; i < FL_HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		if (h->slots[i] > max)
			max = h->slots[i];
	}
	if (first < 0)
		return;
	/* Microsecond rows start at 1 us: fold the sub-microsecond slots into the first row. */
	fprintf(f, "     %-19s : count    distribution\n", unit);
	for (int i = first; i <= last; i++) {
		uint64_t lo = i ? 1ull << i : 0, hi = (1ull << (i + 1)) - 1;
		int stars = (int)(h->slots[i] * 40 / max);
		char range[48];

		if (us) {
			lo /= 1000;
			hi /= 1000;
		}
		snprintf(range, sizeof(range), "%" PRIu64 " -> %" PRIu64, lo, hi);
		fprintf(f, "     %-19s : %-8" PRIu64 " |%-40.*s|\n", range, h->slots[i], stars,
			"****************************************");
	}
}

void log2hist_json(struct jw *w, const struct log2hist *h)
{
	jw_arr_open(w);
	for (int i = 0; i < FL_HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		jw_obj_open(w);
		jw_ku64(w, "lo_ns", i ? 1ull << i : 0);
		jw_ku64(w, "hi_ns", (1ull << (i + 1)) - 1);
		jw_ku64(w, "count", h->slots[i]);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

uint64_t log2hist_pct(const uint64_t *slots, double p, uint64_t min, uint64_t max)
{
	/* total * p first: exact for a whole P, so rank 7 of 100 at p7 is 7, not 8 as from
	 * p / 100 * total (0.07 * 100 = 7.000000000000001) */
	uint64_t total = log2hist_total(slots), seen = 0,
		 rank = (uint64_t)(total * p / 100.0 + 0.999999);
	uint64_t v = 0;

	if (!total)
		return 0;
	if (!rank)
		rank = 1;
	if (rank > total)
		rank = total;
	for (int i = 0; i < FL_HIST_SLOTS; i++) {
		seen += slots[i];
		if (seen >= rank) {
			v = (1ull << (i + 1)) - 1;
			/* the last slot has no upper bound but the max, when known */
			if (i == FL_HIST_SLOTS - 1 && max != UINT64_MAX)
				v = max;
			break;
		}
	}
	/* the slot's bound may lie past what was seen: calloc p99 8.2 us next to a max of 4.2 us */
	if (v > max)
		v = max;
	return v < min ? min : v;
}

uint64_t finehist_pct(const uint64_t *slots, double p, uint64_t max)
{
	uint64_t total = 0, seen = 0, rank, lo, hi, v = 0;

	for (int i = 0; i < FL_FINE_SLOTS; i++)
		total += slots[i];
	if (!total)
		return 0;
	rank = (uint64_t)(total * p / 100.0 + 0.999999);
	rank = rank < 1 ? 1 : rank > total ? total : rank;
	for (int i = 0; i < FL_FINE_SLOTS; i++) {
		if (seen + slots[i] < rank) {
			seen += slots[i];
			continue;
		}
		lo = fl_fine_lo(i);
		hi = fl_fine_hi(i);
		if (hi == UINT64_MAX) /* the last slot: up to the max, when known */
			hi = max != UINT64_MAX ? max : lo;
		if (hi < lo)
			hi = lo;
		/* the rank-th of the slot's calls, each in the middle of its share of [lo, hi) */
		v = lo + (uint64_t)((hi - lo) * ((rank - seen) - 0.5) / slots[i]);
		break;
	}
	return v > max ? max : v;
}

int u64vec_push(struct u64vec *vec, uint64_t x)
{
	if (grow_array((void **)&vec->v, &vec->cap, vec->n, sizeof(*vec->v), 256))
		return -ENOMEM;
	vec->v[vec->n++] = x;
	vec->sorted = false;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Merges V[I..A) and V[A..B), both ascending, in place, the shorter one copied to TMP first. */
static void merge_adjacent(uint64_t *v, size_t i, size_t a, size_t b, uint64_t *tmp)
{
	size_t nl = a - i, nr = b - a, p, q, k;

	if (nl <= nr) { /* forward: the right run's rest is in place */
		memcpy(tmp, v + i, nl * sizeof(*v));
		for (p = 0, q = a, k = i; p < nl && q < b;)
			v[k++] = v[q] < tmp[p] ? v[q++] : tmp[p++];
		memcpy(v + k, tmp + p, (nl - p) * sizeof(*v));
	} else { /* backward: the left run's rest is in place */
		memcpy(tmp, v + a, nr * sizeof(*v));
		for (p = a, q = nr, k = b; p > i && q > 0;)
			v[--k] = tmp[q - 1] < v[p - 1] ? v[--p] : tmp[--q];
		memcpy(v + i, tmp, q * sizeof(*v));
	}
}

/* The end of the ascending run of V that starts at I (< N). */
static size_t run_end(const uint64_t *v, size_t i, size_t n)
{
	while (++i < n && v[i - 1] <= v[i])
		;
	return i;
}

/*
 * Sorts V by merging its ascending runs pairwise in place, pass after pass: n log(runs), where
 * the fault times of several per-CPU rings come as a few hundred sorted chunks interleaved. The
 * buffer holds the shorter run of a merge: at most half of V. False, V unchanged, without it.
 */
static bool merge_runs_u64(uint64_t *v, size_t n)
{
	uint64_t *tmp = malloc((n / 2 + 1) * sizeof(*v));
	size_t runs, i, a, b;

	if (!tmp)
		return false;
	do {
		for (runs = 0, i = 0; i < n; runs++, i = b) {
			a = run_end(v, i, n);
			b = a < n ? run_end(v, a, n) : a;
			if (b > a)
				merge_adjacent(v, i, a, b, tmp);
		}
	} while (runs > 1);
	free(tmp);
	return true;
}

/*
 * Sorts V ascending. Fault times from one ring buffer come nearly in order: an insertion sort
 * finishes them in one pass with a few short moves. Times that need many moves (per-CPU rings:
 * sorted chunks interleaved) are merged run by run instead, and qsort is the last resort.
 */
static void sort_u64(uint64_t *v, size_t n)
{
	size_t moves = 0, i, j;

	for (i = 1; i < n; i++) {
		uint64_t x = v[i];

		if (v[i - 1] <= x)
			continue;
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
		moves += i - j;
		if (moves > n + 1024) {
			if (!merge_runs_u64(v, n))
				sort_n(v, n, sizeof(*v), cmp_u64);
			return;
		}
	}
}

uint64_t u64vec_pct(struct u64vec *vec, double p)
{
	size_t rank;

	if (!vec->n)
		return 0;
	if (!vec->sorted) {
		sort_u64(vec->v, vec->n);
		vec->sorted = true;
	}
	rank = (size_t)ceil(p / 100.0 * vec->n);
	if (rank < 1)
		rank = 1;
	if (rank > vec->n)
		rank = vec->n;
	return vec->v[rank - 1];
}

uint64_t u64vec_max(struct u64vec *vec)
{
	return u64vec_pct(vec, 100);
}

void u64vec_free(struct u64vec *vec)
{
	free(vec->v);
	memset(vec, 0, sizeof(*vec));
}
