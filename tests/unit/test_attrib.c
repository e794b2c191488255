/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Attribution arithmetic at the edges: touching intervals, zero lengths, windows of faults. */
#include "attrib.h"
#include "unit.h"
#include <math.h>

/* Sorted times T[0..n) as the model's fault times. */
static struct fault_times singles(uint64_t *t, size_t n)
{
	return (struct fault_times){.one = {.v = t, .n = n, .cap = n, .sorted = true}, .n = n};
}

UNIT_TEST(attrib_overlap_edges)
{
	CHECK_EQ_U64(overlap_ns(10, 20, 20, 30), 0); /* touching: no overlap */
	CHECK_EQ_U64(overlap_ns(20, 30, 10, 20), 0);
	CHECK_EQ_U64(overlap_ns(10, 20, 19, 30), 1);
	CHECK_EQ_U64(overlap_ns(10, 20, 0, 100), 10); /* inside */
	CHECK_EQ_U64(overlap_ns(0, 100, 10, 20), 10); /* contains */
	CHECK_EQ_U64(overlap_ns(10, 10, 0, 100), 0);  /* empty */
	CHECK_EQ_U64(overlap_ns(30, 20, 0, 100), 0);  /* reversed = empty */
}

UNIT_TEST(attrib_stall_overlaps_edges)
{
	struct stall_rec s = {.ts_ns = 100, .dur_ns = 50};
	struct stall_rec z = {.ts_ns = 100, .dur_ns = 0};

	CHECK(!stall_overlaps(&s, 150, 200)); /* window starts where the stall ends */
	CHECK(!stall_overlaps(&s, 50, 100));  /* window ends where the stall starts */
	CHECK(stall_overlaps(&s, 149, 200));
	CHECK(stall_overlaps(&s, 50, 101));
	CHECK(!stall_overlaps(&s, 120, 120)); /* empty window */
	CHECK(stall_overlaps(&z, 100, 101));  /* zero-length stall at the window start */
	CHECK(!stall_overlaps(&z, 90, 100));  /* ... at the window end: outside */
}

UNIT_TEST(attrib_faults_in_window)
{
	uint64_t t[] = {10, 20, 20, 30, 40};

	CHECK_EQ_U64(count_in_window(t, 5, 20, 30), 2); /* [20, 30): both 20s, not 30 */
	CHECK_EQ_U64(count_in_window(t, 5, 0, 100), 5);
	CHECK_EQ_U64(count_in_window(t, 5, 41, 100), 0);
	CHECK_EQ_U64(count_in_window(t, 5, 30, 30), 0);
	CHECK_EQ_U64(count_in_window(t, 0, 0, 100), 0);
}

/*
 * Runs of faults kept as (start, span, count) count in a window exactly as their faults one by
 * one: runs that overlap each other, start before the window, end after it, or lie inside it.
 */
UNIT_TEST(attrib_fault_runs_in_window)
{
	struct fault_time_run runs[] = {
	    {1000, 900, 4}, {1500, 999, 1000}, {1900, 0, 3}, {2500, 7, 65536}, {2600, 300, 5},
	};
	uint64_t one[] = {900, 1500, 2000, 2506, 3000}, all[70000], before[6] = {0};
	struct fault_times ft = singles(one, 5);
	size_t n = 0, nr = sizeof(runs) / sizeof(runs[0]);

	ft.runs = runs;
	ft.nruns = nr;
	ft.before = before;
	for (size_t i = 0; i < 5; i++)
		all[n++] = one[i];
	for (size_t i = 0; i < nr; i++) {
		before[i + 1] = before[i] + runs[i].count;
		if (runs[i].span_ns > ft.max_span)
			ft.max_span = runs[i].span_ns;
		for (uint32_t k = 0; k < runs[i].count; k++)
			all[n++] = fault_run_ts(runs[i].ts, runs[i].span_ns, runs[i].count, k);
	}
	ft.n = n;
	for (uint64_t a = 800; a < 3100; a += 37)
		for (uint64_t b = a; b < 3200; b += 53) {
			uint64_t want = 0;

			for (size_t i = 0; i < n; i++)
				want += all[i] >= a && all[i] < b;
			CHECK_EQ_U64(fault_times_count(&ft, a, b), want);
		}
	CHECK_EQ_U64(fault_times_count(&ft, 0, UINT64_MAX), n);
	CHECK_EQ_U64(fault_times_count(NULL, 0, UINT64_MAX), 0);
}

UNIT_TEST(attrib_window_sums_causes)
{
	/* sorted by start; one long stall starting long before the window */
	struct stall_rec s[] = {
	    {.ts_ns = 0, .dur_ns = 1000, .cause = FL_CAUSE_DIRECT_COMPACTION},
	    {.ts_ns = 500, .dur_ns = 10, .cause = FL_CAUSE_DIRECT_RECLAIM},
	    {.ts_ns = 950, .dur_ns = 100, .cause = FL_CAUSE_DIRECT_RECLAIM},
	    {.ts_ns = 1200, .dur_ns = 5, .cause = FL_CAUSE_MMAP_LOCK_WAIT},
	};
	uint64_t faults[] = {899, 900, 901, 1099, 1100};
	struct fault_times ft = singles(faults, 5);
	struct win_attr a;

	attribute_window(s, 4, 1000, &ft, 900, 1100, &a);
	CHECK_EQ_U64(a.stall_ns[FL_CAUSE_DIRECT_COMPACTION], 100);
	CHECK_EQ_U64(a.stall_ns[FL_CAUSE_DIRECT_RECLAIM], 100);
	CHECK_EQ_U64(a.stall_ns[FL_CAUSE_MMAP_LOCK_WAIT], 0);
	CHECK_EQ_U64(a.total_ns, 200);
	CHECK_EQ_U64(a.nstalls, 2);
	CHECK_EQ_U64(a.faults, 3);
	attribute_window(s, 4, 1000, &ft, 1100, 1100, &a); /* empty window */
	CHECK_EQ_U64(a.nstalls, 0);
	CHECK_EQ_U64(stalls_from(s, 4, 1000, 900), 0); /* the long stall is still a candidate */
	CHECK_EQ_U64(stalls_from(s, 4, 10, 900), 2);
}

/* vLLM V1: the request's process (the API, pid 10) and the engine's stalls (pids 20, 30). */
UNIT_TEST(attrib_window_other_processes)
{
	struct stall_rec s[] = {
	    {.ts_ns = 900, .dur_ns = 50, .pid = 10, .cause = FL_CAUSE_FAULT},
	    {.ts_ns = 1000, .dur_ns = 300, .pid = 20, .cause = FL_CAUSE_KHUGEPAGED},
	    {.ts_ns = 1050, .dur_ns = 20, .pid = 30, .cause = FL_CAUSE_FAULT},
	    {.ts_ns = 1100, .dur_ns = 10, .pid = 20, .cause = FL_CAUSE_FAULT},
	    {.ts_ns = 2000, .dur_ns = 10, .pid = 20, .cause = FL_CAUSE_FAULT}, /* after */
	};
	struct proc_attr pa[2];
	struct win_attr a;
	bool more;

	attribute_window_thread(s, 5, 300, NULL, NULL, 0, false, 900, 1200, 10, 0, &a);
	CHECK_EQ_U64(a.total_ns, 50 + 200 + 20 + 10);
	CHECK_EQ_U64(a.nstalls, 4);
	CHECK_EQ_U64(a.other_ns, 200 + 20 + 10);
	CHECK_EQ_U64(a.other_stalls, 3);
	CHECK_EQ_U64(a.other_pid, 20);
	attribute_window_thread(s, 5, 300, NULL, NULL, 0, false, 900, 1200, 0, 0,
				&a); /* no pid: no split */
	CHECK_EQ_U64(a.other_ns, 0);
	CHECK_EQ_U64(a.other_pid, 0);
	CHECK_EQ_U64(window_by_process(s, 5, 300, 900, 1200, pa, 2, &more), 2);
	CHECK(more); /* pid 30 left out */
	CHECK_EQ_U64(pa[0].pid, 20);
	CHECK_EQ_U64(pa[0].total_ns, 210);
	CHECK_EQ_U64(pa[0].nstalls, 2);
	CHECK_EQ_U64(pa[0].stall_ns[FL_CAUSE_KHUGEPAGED], 200);
	CHECK_EQ_U64(pa[1].pid, 10);
	CHECK_EQ_U64(pa[1].total_ns, 50);
}

UNIT_TEST(attrib_correlation)
{
	double x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 6, 8, 100}, c[] = {3, 3, 3, 3, 3};
	double r[] = {5, 4, 3, 2, 1};

	CHECK(fabs(corr_spearman(x, y, 5) - 1.0) < 1e-9); /* monotonic, not linear */
	CHECK(corr_pearson(x, y, 5) < 0.99);
	CHECK(fabs(corr_spearman(x, r, 5) + 1.0) < 1e-9);
	CHECK(isnan(corr_pearson(x, c, 5)));  /* a constant series */
	CHECK(isnan(corr_spearman(x, y, 2))); /* too few points */
}

/*
 * A request answered by thread 11 of pid 10: its own stalls and faults, those of thread 12 of
 * the same process and those of pid 20. Faults come from 1 ms buckets: wholly inside the window
 * exactly, the edge milliseconds prorated, the parts adding up to the exact count.
 */
UNIT_TEST(attrib_window_by_thread)
{
	const uint64_t MS = 1000000;
	struct stall_rec s[] = {
	    {.ts_ns = 10 * MS, .dur_ns = 2 * MS, .pid = 10, .tid = 11, .cause = FL_CAUSE_FAULT},
	    {.ts_ns = 11 * MS, .dur_ns = 3 * MS, .pid = 10, .tid = 12, .cause = FL_CAUSE_FAULT},
	    {.ts_ns = 12 * MS,
	     .dur_ns = 1 * MS,
	     .pid = 20,
	     .tid = 21,
	     .cause = FL_CAUSE_KHUGEPAGED},
	};
	/* unsorted, as the model keeps them; 9 ms: half inside the window [9.5 ms, 20 ms) */
	struct fault_bucket fb[] = {
	    {.ms = 15, .pid = 10, .tid = 12, .count = 30},
	    {.ms = 9, .pid = 10, .tid = 11, .count = 10},
	    {.ms = 12, .pid = 10, .tid = 11, .count = 5},
	    {.ms = 13, .pid = 20, .tid = 21, .count = 7},
	    {.ms = 20, .pid = 10, .tid = 11, .count = 100}, /* after the window */
	};
	uint64_t ts[10 + 5 + 7 + 30]; /* the exact fault times: 5 of the 10 at 9 ms are inside */
	struct fault_times ft;
	struct win_attr a;
	size_t n = 0;

	for (int i = 0; i < 10; i++)
		ts[n++] = 9 * MS + i * 100000;
	for (int i = 0; i < 5; i++)
		ts[n++] = 12 * MS;
	for (int i = 0; i < 7; i++)
		ts[n++] = 13 * MS;
	for (int i = 0; i < 30; i++)
		ts[n++] = 15 * MS;
	ft = singles(ts, n);
	fault_buckets_sort(fb, 5);
	CHECK_EQ_U64(fb[0].ms, 9);
	CHECK_EQ_U64(fb[4].ms, 20);
	attribute_window_thread(s, 3, 3 * MS, &ft, fb, 5, false, 9 * MS + MS / 2, 20 * MS, 10, 11,
				&a);
	CHECK(a.by_thread && a.faults_split);
	CHECK_EQ_U64(a.faults, 5 + 5 + 7 + 30);
	CHECK_EQ_U64(a.who_faults[WHO_OWN_THREAD], 5 + 5);
	CHECK_EQ_U64(a.who_faults[WHO_OTHER_THREADS], 30);
	CHECK_EQ_U64(a.who_faults[WHO_OTHER_PROCESSES], 7);
	CHECK_EQ_U64(a.who_ns[WHO_OWN_THREAD], 2 * MS);
	CHECK_EQ_U64(a.who_ns[WHO_OTHER_THREADS], 3 * MS);
	CHECK_EQ_U64(a.who_ns[WHO_OTHER_PROCESSES], 1 * MS);
	CHECK_EQ_U64(a.who_stalls[WHO_OTHER_THREADS], 1);
	CHECK_EQ_U64(a.other_ns, 1 * MS); /* the split by process unchanged */
	/* from thread 12's point of view: 11's are another thread's */
	attribute_window_thread(s, 3, 3 * MS, &ft, fb, 5, false, 9 * MS + MS / 2, 20 * MS, 10, 12,
				&a);
	CHECK_EQ_U64(a.who_faults[WHO_OWN_THREAD], 30);
	CHECK_EQ_U64(a.who_faults[WHO_OTHER_THREADS], 10);
	CHECK_EQ_U64(a.who_ns[WHO_OWN_THREAD], 3 * MS);
	/* no thread known: no split; buckets capped: stalls split, faults not */
	attribute_window_thread(s, 3, 3 * MS, &ft, fb, 5, false, 9 * MS, 20 * MS, 10, 0, &a);
	CHECK(!a.by_thread);
	attribute_window_thread(s, 3, 3 * MS, &ft, fb, 5, true, 9 * MS, 20 * MS, 10, 11, &a);
	CHECK(a.by_thread && !a.faults_split);
	CHECK_EQ_U64(a.who_ns[WHO_OWN_THREAD], 2 * MS);
}

/*
 * Call sites per request: thread 11's two collapse stalls at site 0 add up into one entry of its
 * own; the same site in thread 12 is another thread's; a stall without a stack (-1) and one
 * outside the window are left out.
 */
UNIT_TEST(attrib_window_by_site)
{
	struct stall_rec s[] = {
	    {.ts_ns = 100, .dur_ns = 50, .pid = 10, .tid = 11, .cause = FL_CAUSE_KHUGEPAGED},
	    {.ts_ns = 120, .dur_ns = 500, .pid = 10, .tid = 12, .cause = FL_CAUSE_KHUGEPAGED},
	    {.ts_ns = 200, .dur_ns = 30, .pid = 10, .tid = 11, .cause = FL_CAUSE_KHUGEPAGED},
	    {.ts_ns = 210, .dur_ns = 10, .pid = 10, .tid = 11, .cause = FL_CAUSE_DIRECT_COMPACTION},
	    {.ts_ns = 250, .dur_ns = 10, .pid = 10, .tid = 11, .cause = FL_CAUSE_DIRECT_COMPACTION},
	    {.ts_ns = 900, .dur_ns = 10, .pid = 10, .tid = 11, .cause = FL_CAUSE_KHUGEPAGED},
	};
	int32_t site_of[] = {0, 0, 0, 1, -1, 0};
	struct site_attr *v;
	int n = window_by_site(s, 6, 500, site_of, 100, 400, 10, 11, &v);

	CHECK_EQ_U64(n, 3);
	/* thread 12's 500 ns stall overlaps [100, 400) for 280 ns: the most, first */
	CHECK_EQ_U64(v[0].site, 0);
	CHECK_EQ_U64(v[0].who, WHO_OTHER_THREADS);
	CHECK_EQ_U64(v[0].ns, 280);
	CHECK_EQ_U64(v[1].site, 0);
	CHECK_EQ_U64(v[1].who, WHO_OWN_THREAD);
	CHECK_EQ_U64(v[1].count, 2);
	CHECK_EQ_U64(v[1].ns, 80);
	CHECK_EQ_U64(v[1].cause, FL_CAUSE_KHUGEPAGED);
	CHECK_EQ_U64(v[2].site, 1);
	CHECK_EQ_U64(v[2].cause, FL_CAUSE_DIRECT_COMPACTION);
	free(v);
	/* no thread known: who is WHO_MAX, the two threads' stalls of site 0 in one entry */
	n = window_by_site(s, 6, 500, site_of, 100, 400, 10, 0, &v);
	CHECK_EQ_U64(n, 2);
	CHECK_EQ_U64(v[0].who, WHO_MAX);
	CHECK_EQ_U64(v[0].count, 3);
	free(v);
	CHECK_EQ_U64(window_by_site(s, 6, 500, NULL, 100, 400, 10, 11, &v), 0);
	CHECK(!v);
}
