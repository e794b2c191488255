// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Log2 histogram slots at their edges and nearest-rank percentiles. */
#include "hist.h"
#include "unit.h"
#include <stdlib.h>
#include <string.h>

UNIT_TEST(hist_log2_slot_edges)
{
	CHECK_EQ_U64(fl_log2_slot(0), 0);
	CHECK_EQ_U64(fl_log2_slot(1), 0);
	CHECK_EQ_U64(fl_log2_slot(2), 1);
	CHECK_EQ_U64(fl_log2_slot(3), 1);
	CHECK_EQ_U64(fl_log2_slot(4), 2);
	CHECK_EQ_U64(fl_log2_slot(1023), 9);
	CHECK_EQ_U64(fl_log2_slot(1024), 10);
	CHECK_EQ_U64(fl_log2_slot((1ull << 31) - 1), 30);
	CHECK_EQ_U64(fl_log2_slot(1ull << 31), 31);
	/* everything beyond the last slot is clamped into it */
	CHECK_EQ_U64(fl_log2_slot(1ull << 32), FL_HIST_SLOTS - 1);
	CHECK_EQ_U64(fl_log2_slot(UINT64_MAX), FL_HIST_SLOTS - 1);
}

UNIT_TEST(hist_add_total)
{
	struct log2hist h = {};

	log2hist_add(&h, 0);
	log2hist_add(&h, 1);
	log2hist_add(&h, 1000);
	log2hist_add(&h, UINT64_MAX);
	CHECK_EQ_U64(h.slots[0], 2);
	CHECK_EQ_U64(h.slots[9], 1);
	CHECK_EQ_U64(h.slots[FL_HIST_SLOTS - 1], 1);
	CHECK_EQ_U64(log2hist_total(h.slots), 4);
}

UNIT_TEST(hist_print_rows)
{
	struct log2hist h = {};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	log2hist_print(f, &h, "nsecs", false); /* empty: prints nothing */
	fflush(f);
	CHECK_EQ_U64(len, 0);
	log2hist_add(&h, 5);
	log2hist_add(&h, 5);
	log2hist_add(&h, 20);
	log2hist_print(f, &h, "nsecs", false);
	fclose(f);
	CHECK(strstr(buf, "4 -> 7") != NULL);
	CHECK(strstr(buf, "16 -> 31") != NULL);
	CHECK(strstr(buf, "8 -> 15") != NULL); /* empty slots between first and last are shown */
	CHECK(strstr(buf, "|****************************************|") != NULL);
	free(buf);
}

UNIT_TEST(hist_percentile_nearest_rank)
{
	struct u64vec v = {};

	CHECK_EQ_U64(u64vec_pct(&v, 50), 0); /* empty */
	/* pushed out of order: the percentile sorts */
	for (uint64_t x = 10; x >= 1; x--)
		u64vec_push(&v, x * 10);
	CHECK_EQ_U64(u64vec_pct(&v, 0), 10);   /* rank clamps to 1 */
	CHECK_EQ_U64(u64vec_pct(&v, 10), 10);  /* ceil(0.1 * 10) = 1 */
	CHECK_EQ_U64(u64vec_pct(&v, 11), 20);  /* ceil(1.1) = 2 */
	CHECK_EQ_U64(u64vec_pct(&v, 50), 50);  /* ceil(5) = 5 */
	CHECK_EQ_U64(u64vec_pct(&v, 99), 100); /* ceil(9.9) = 10 */
	CHECK_EQ_U64(u64vec_pct(&v, 100), 100);
	CHECK_EQ_U64(u64vec_max(&v), 100);
	/* a push after a sort is seen by the next percentile */
	u64vec_push(&v, 5);
	CHECK_EQ_U64(u64vec_pct(&v, 0), 5);
	CHECK_EQ_U64(v.n, 11);
	u64vec_free(&v);
	CHECK_EQ_U64(v.n, 0);
}

UNIT_TEST(hist_percentile_single_and_dupes)
{
	struct u64vec v = {};

	u64vec_push(&v, 42);
	CHECK_EQ_U64(u64vec_pct(&v, 1), 42);
	CHECK_EQ_U64(u64vec_pct(&v, 99), 42);
	for (int i = 0; i < 99; i++)
		u64vec_push(&v, 7);
	/* 99 sevens and one 42: p99 is rank 99 (a seven), p100 the 42 */
	CHECK_EQ_U64(u64vec_pct(&v, 99), 7);
	CHECK_EQ_U64(u64vec_pct(&v, 99.5), 42);
	CHECK_EQ_U64(u64vec_pct(&v, 100), 42);
	u64vec_free(&v);
}

/* A slot's upper bound is clamped to the observed max (and min): p99 is never above the max. */
UNIT_TEST(hist_log2_percentile_clamped_to_max)
{
	struct log2hist h = {};

	for (int i = 0; i < 900; i++)
		log2hist_add(&h, 100); /* slot [64, 127] */
	for (int i = 0; i < 100; i++)
		log2hist_add(&h, 4200); /* slot [4096, 8191] */
	CHECK_EQ_U64(log2hist_pct(h.slots, 99, 0, UINT64_MAX),
		     8191); /* unclamped: the slot's bound */
	CHECK_EQ_U64(log2hist_pct(h.slots, 99, 0, 4200), 4200);
	CHECK_EQ_U64(log2hist_pct(h.slots, 100, 0, 4200), 4200);
	CHECK_EQ_U64(log2hist_pct(h.slots, 50, 0, 4200),
		     127); /* below the max: the bound as before */
	CHECK_EQ_U64(log2hist_pct(h.slots, 50, 100, 4200), 127);
	CHECK_EQ_U64(log2hist_pct(h.slots, 50, 200, 4200), 200); /* and never below the min */
	memset(&h, 0, sizeof(h));
	CHECK_EQ_U64(log2hist_pct(h.slots, 99, 0, 4200), 0); /* empty */
}

/*
 * The one percentile of log2 histograms at its edges. Slot i holds [2^i, 2^(i+1) - 1]: its bound
 * is 2^(i+1) - 1, the largest value it can hold (top printed 2^(i+1), one past it, before).
 */
UNIT_TEST(hist_log2_percentile_edges)
{
	uint64_t s[FL_HIST_SLOTS] = {};

	CHECK_EQ_U64(log2hist_pct(s, 50, 0, UINT64_MAX), 0); /* empty */
	s[0] = 1;					     /* one sample of 0 or 1 ns */
	CHECK_EQ_U64(log2hist_pct(s, 0, 0, UINT64_MAX), 1);
	CHECK_EQ_U64(log2hist_pct(s, 100, 0, UINT64_MAX), 1);
	s[0] = 0;
	s[10] = 98; /* [1024, 2047] */
	s[20] = 2;  /* [1 Mi, 2 Mi - 1] */
	CHECK_EQ_U64(log2hist_total(s), 100);
	CHECK_EQ_U64(log2hist_pct(s, 0, 0, UINT64_MAX), 2047); /* rank 1 at least */
	CHECK_EQ_U64(log2hist_pct(s, 50, 0, UINT64_MAX), 2047);
	CHECK_EQ_U64(log2hist_pct(s, 98, 0, UINT64_MAX), 2047); /* rank 98: the last in slot 10 */
	CHECK_EQ_U64(log2hist_pct(s, 98.5, 0, UINT64_MAX), (2ull << 20) - 1); /* rank 99 */
	CHECK_EQ_U64(log2hist_pct(s, 99, 0, UINT64_MAX), (2ull << 20) - 1);
	CHECK_EQ_U64(log2hist_pct(s, 100, 0, UINT64_MAX), (2ull << 20) - 1);
	CHECK_EQ_U64(log2hist_pct(s, 150, 0, UINT64_MAX), (2ull << 20) - 1); /* past 100: the max */
	/* rank 7 of 100 is the 7th sample: 0.07 * 100 = 7.000000000000001 made it the 8th */
	memset(s, 0, sizeof(s));
	s[3] = 7;  /* [8, 15] */
	s[4] = 93; /* [16, 31] */
	CHECK_EQ_U64(log2hist_pct(s, 7, 0, UINT64_MAX), 15);
	CHECK_EQ_U64(log2hist_pct(s, 8, 0, UINT64_MAX), 31);
	/* the last slot holds everything from 2^31 up: only the max bounds it, when known */
	memset(s, 0, sizeof(s));
	s[FL_HIST_SLOTS - 1] = 1;
	CHECK_EQ_U64(log2hist_pct(s, 50, 0, 5000000000ull), 5000000000ull);
	CHECK_EQ_U64(log2hist_pct(s, 50, 0, 3000000000ull), 3000000000ull);
	CHECK_EQ_U64(log2hist_pct(s, 50, 0, UINT64_MAX), (1ull << 32) - 1);
}

/* Nearly in order (the insertion sort) and far from it (the qsort fallback) sort alike. */
UNIT_TEST(hist_percentile_sorts_near_and_far_from_order)
{
	const size_t n = 100000;
	struct u64vec near = {}, far = {};
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		/* near: neighbours swapped in pairs; far: a descending run (n^2/2 moves) */
		u64vec_push(&near, (i ^ 1) * 3);
		u64vec_push(&far, (n - i) * 3);
	}
	CHECK_EQ_U64(u64vec_pct(&near, 50), (n / 2 - 1) * 3);
	CHECK_EQ_U64(u64vec_pct(&far, 50), (n / 2) * 3);
	for (size_t i = 1; i < n; i++)
		bad += near.v[i - 1] > near.v[i] || far.v[i - 1] > far.v[i];
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(near.v[0], 0);
	CHECK_EQ_U64(far.v[n - 1], n * 3);
	u64vec_free(&near);
	u64vec_free(&far);
}

/* Fine slots: 8 per log2 slot, each value between its slot's lo and the next slot's. */
UNIT_TEST(hist_fine_slot_bounds)
{
	static const uint64_t vs[] = {
	    0,	1,   2,	  3,   4,    5,	   7,	  8,	 9,	15,    16,
	    17, 100, 799, 800, 1023, 1024, 16383, 16384, 18431, 18432, (1ull << 32) - 1};

	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		uint32_t s = fl_fine_slot(vs[i]);

		CHECK_EQ_U64(s / FL_FINE_SUB, fl_log2_slot(vs[i]));
		CHECK(fl_fine_lo(s) <= vs[i]);
		CHECK(vs[i] < fl_fine_hi(s));
	}
	CHECK_EQ_U64(fl_fine_slot(16384), 14 * FL_FINE_SUB);	 /* [16384, 18432) */
	CHECK_EQ_U64(fl_fine_slot(18432), 14 * FL_FINE_SUB + 1); /* 1/8 of 16384 up */
	CHECK_EQ_U64(fl_fine_lo(14 * FL_FINE_SUB + 1), 18432);
	CHECK_EQ_U64(fl_fine_slot(UINT64_MAX), FL_FINE_SLOTS - 1);
	/* the fine slots of a log2 slot cover it exactly */
	for (uint64_t v = 0; v < 70000; v++) {
		uint32_t s = fl_fine_slot(v);

		if (fl_fine_lo(s) > v || v >= fl_fine_hi(s) || s / FL_FINE_SUB != fl_log2_slot(v)) {
			CHECK(!"fine slot bounds");
			break;
		}
	}
}

/* Interpolated within the slot: 1000 calls in [768, 832) have their median near 800. */
UNIT_TEST(hist_fine_pct)
{
	uint64_t fine[FL_FINE_SLOTS] = {};
	uint32_t s = fl_fine_slot(800);

	CHECK_EQ_U64(finehist_pct(fine, 50, UINT64_MAX), 0);
	fine[s] = 1000;
	CHECK_EQ_U64(fl_fine_lo(s), 768);
	CHECK_EQ_U64(finehist_pct(fine, 50, UINT64_MAX), 799);
	CHECK_EQ_U64(finehist_pct(fine, 50, 790), 790); /* never above the max */
	fine[fl_fine_slot(5000)] = 1000;
	CHECK(finehist_pct(fine, 99, UINT64_MAX) >= 4608 &&
	      finehist_pct(fine, 99, UINT64_MAX) < 5120);
}

static int cmp_u64_test(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* V sorted by u64vec_pct equals the same values sorted by qsort. */
static void check_sorted_like_qsort(struct u64vec *v, int *unit_failed)
{
	uint64_t *want = malloc(v->n * sizeof(*want));

	CHECK(want != NULL);
	if (!want)
		return;
	memcpy(want, v->v, v->n * sizeof(*want));
	qsort(want, v->n, sizeof(*want), cmp_u64_test);
	u64vec_pct(v, 50);
	CHECK(memcmp(want, v->v, v->n * sizeof(*want)) == 0);
	free(want);
	u64vec_free(v);
}

/* Far from order, the percentiles' sort merges runs: sorted chunks of several rings interleaved
 * (how per-CPU fault rings arrive), pseudo-random values with duplicates, a descending list. */
UNIT_TEST(hist_sort_far_from_order)
{
	struct u64vec v = {};
	uint64_t x = 12345;

	for (int chunk = 0; chunk < 40; chunk++) /* two "rings", chunks of 997 and 1499 times */
		for (int i = 0; i < (chunk % 2 ? 1499 : 997); i++)
			u64vec_push(&v, (uint64_t)chunk / 2 * 1000 + i * (chunk % 2 ? 2 : 3));
	check_sorted_like_qsort(&v, unit_failed);
	for (int i = 0; i < 50001; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		u64vec_push(&v, (x >> 33) % 5000);
	}
	check_sorted_like_qsort(&v, unit_failed);
	for (int i = 30000; i > 0; i--)
		u64vec_push(&v, (uint64_t)i / 3);
	check_sorted_like_qsort(&v, unit_failed);
}
