// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "attrib.h"
#include "util.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
	return lower_bound_u64(t, n, sizeof(*t), 0, x);
}

size_t count_in_window(const uint64_t *t, size_t n, uint64_t a, uint64_t b)
{
	if (b <= a)
		return 0;
	return lower_bound(t, n, b) - lower_bound(t, n, a);
}

/* How many faults of run R happened before X: its fault times grow with their index. */
static uint32_t run_below(const struct fault_time_run *r, uint64_t x)
{
	uint32_t lo = 0, hi = r->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (fault_run_ts(r->ts, r->span_ns, r->count, mid) < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t runs_from(const struct fault_time_run *r, size_t n, uint64_t x)
{
	return lower_bound_u64(r, n, sizeof(*r), offsetof(struct fault_time_run, ts), x);
}

/*
 * The runs that start in [a, b) count whole (prefix sums), less their faults at b or later;
 * those that start before a and reach into the window (at most max_span before it) count their
 * faults in it. Exactly the count of the faults one by one.
 */
uint64_t fault_times_count(const struct fault_times *ft, uint64_t a, uint64_t b)
{
	size_t ia, ib, j;
	uint64_t c, reach_a, reach_b;

	if (!ft || b <= a)
		return 0;
	c = count_in_window(ft->one.v, ft->one.n, a, b);
	if (!ft->nruns || !ft->before)
		return c;
	ia = runs_from(ft->runs, ft->nruns, a);
	ib = runs_from(ft->runs, ft->nruns, b);
	reach_a = a > ft->max_span ? a - ft->max_span : 0;
	reach_b = b > ft->max_span ? b - ft->max_span : 0;
	c += ft->before[ib] - ft->before[ia];
	for (j = ib; j-- > ia && ft->runs[j].ts >= reach_b;)
		c -= ft->runs[j].count - run_below(&ft->runs[j], b);
	for (j = ia; j-- > 0 && ft->runs[j].ts >= reach_a;)
		c += run_below(&ft->runs[j], b) - run_below(&ft->runs[j], a);
	return c;
}

size_t stalls_from(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a)
{
	uint64_t from = a > max_dur_ns ? a - max_dur_ns : 0;

	return lower_bound_u64(s, n, sizeof(*s), offsetof(struct stall_rec, ts_ns), from);
}

const char *const who_names[WHO_MAX] = {"own_thread", "other_threads", "other_processes"};

static enum who who_of(uint32_t pid, uint32_t tid, uint32_t own_pid, uint32_t own_tid)
{
	if (pid != own_pid)
		return WHO_OTHER_PROCESSES;
	return tid == own_tid ? WHO_OWN_THREAD : WHO_OTHER_THREADS;
}

static int cmp_bucket_ms(const void *a, const void *b)
{
	const struct fault_bucket *x = a, *y = b;

	return x->ms < y->ms ? -1 : x->ms > y->ms;
}

void fault_buckets_sort(struct fault_bucket *fb, size_t n)
{
	sort_n(fb, n, sizeof(*fb), cmp_bucket_ms);
}

/* First bucket with ms >= MS. */
static size_t buckets_from(const struct fault_bucket *fb, size_t n, uint64_t ms)
{
	return lower_bound_u64(fb, n, sizeof(*fb), offsetof(struct fault_bucket, ms), ms);
}

/*
 * Splits out->faults (exact) in proportion to the buckets' counts weighted by how much of
 * their millisecond lies in [a, b): largest remainders, so the parts add up to the total.
 */
static void split_faults(const struct fault_bucket *fb, size_t nfb, uint64_t a, uint64_t b,
			 uint32_t pid, uint32_t tid, struct win_attr *out)
{
	double w[WHO_MAX] = {}, sum = 0, frac[WHO_MAX];
	uint64_t given = 0;

	for (size_t i = buckets_from(fb, nfb, a / 1000000); i < nfb && fb[i].ms * 1000000 < b;
	     i++) {
		uint64_t t0 = fb[i].ms * 1000000;
		double part = overlap_ns(t0, t0 + 1000000, a, b) / 1e6;

		w[who_of(fb[i].pid, fb[i].tid, pid, tid)] += part * fb[i].count;
	}
	for (int k = 0; k < WHO_MAX; k++)
		sum += w[k];
	if (sum <= 0) {
		out->faults_split = !out->faults; /* faults not in any bucket: cannot say whose */
		return;
	}
	for (int k = 0; k < WHO_MAX; k++) {
		double x = out->faults * w[k] / sum;

		out->who_faults[k] = (uint64_t)x;
		frac[k] = x - out->who_faults[k];
		given += out->who_faults[k];
	}
	while (given < out->faults) {
		int best = 0;

		for (int k = 1; k < WHO_MAX; k++)
			if (frac[k] > frac[best])
				best = k;
		out->who_faults[best]++;
		frac[best] = -1;
		given++;
	}
	out->faults_split = true;
}

/*
 * The one walk over the stalls overlapping [a, b): per cause, per other process than PID (when
 * given) and, with TID given too, per who.
 */
void attribute_window_thread(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
			     const struct fault_times *ft, const struct fault_bucket *fb,
			     size_t nfb, bool capped, uint64_t a, uint64_t b, uint32_t pid,
			     uint32_t tid, struct win_attr *out)
{
	/* per other process: few in practice (the engine, its workers); one lookup per stall */
	struct {
		uint32_t pid;
		uint64_t ns;
	} other[8] = {};
	uint64_t best = 0;

	memset(out, 0, sizeof(*out));
	if (b <= a)
		return;
	out->by_thread = pid && tid;
	for (size_t i = stalls_from(s, n, max_dur_ns, a); i < n && s[i].ts_ns < b; i++) {
		uint64_t ov;
		size_t k;

		if (!stall_overlaps(&s[i], a, b) || s[i].cause >= FL_CAUSE_MAX)
			continue;
		ov = overlap_ns(s[i].ts_ns, s[i].ts_ns + s[i].dur_ns, a, b);
		out->stall_ns[s[i].cause] += ov;
		out->total_ns += ov;
		out->nstalls++;
		if (out->by_thread) {
			enum who w = who_of(s[i].pid, s[i].tid, pid, tid);

			out->who_ns[w] += ov;
			out->who_stalls[w]++;
		}
		if (!pid || s[i].pid == pid)
			continue;
		out->other_ns += ov;
		out->other_stalls++;
		for (k = 0; k < ARRAY_SIZE(other) && other[k].pid && other[k].pid != s[i].pid; k++)
			;
		if (k == ARRAY_SIZE(other))
			continue; /* more than 8 other processes: other_pid among the first 8 */
		other[k].pid = s[i].pid;
		other[k].ns += ov;
		if (other[k].ns > best || !out->other_pid) {
			best = other[k].ns;
			out->other_pid = s[i].pid;
		}
	}
	out->faults = fault_times_count(ft, a, b);
	if (out->by_thread && !capped)
		split_faults(fb, nfb, a, b, pid, tid, out);
}

void attribute_window(const struct stall_rec *s, size_t n, uint64_t max_dur_ns,
		      const struct fault_times *ft, uint64_t a, uint64_t b, struct win_attr *out)
{
	attribute_window_thread(s, n, max_dur_ns, ft, NULL, 0, false, a, b, 0, 0, out);
}

static int cmp_proc_attr(const void *a, const void *b)
{
	const struct proc_attr *x = a, *y = b;

	if (x->total_ns != y->total_ns)
		return x->total_ns < y->total_ns ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

size_t window_by_process(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, uint64_t a,
			 uint64_t b, struct proc_attr *out, size_t max, bool *dropped)
{
	size_t np = 0;

	if (dropped)
		*dropped = false;
	if (b <= a || !max)
		return 0;
	for (size_t i = stalls_from(s, n, max_dur_ns, a); i < n && s[i].ts_ns < b; i++) {
		uint64_t ov;
		size_t k;

		if (!stall_overlaps(&s[i], a, b) || s[i].cause >= FL_CAUSE_MAX)
			continue;
		ov = overlap_ns(s[i].ts_ns, s[i].ts_ns + s[i].dur_ns, a, b);
		for (k = 0; k < np && out[k].pid != s[i].pid; k++)
			;
		if (k == np) {
			if (np == max) {
				if (dropped)
					*dropped = true;
				continue;
			}
			memset(&out[np++], 0, sizeof(*out));
			out[k].pid = s[i].pid;
		}
		out[k].nstalls++;
		out[k].total_ns += ov;
		out[k].stall_ns[s[i].cause] += ov;
	}
	sort_n(out, np, sizeof(*out), cmp_proc_attr);
	return np;
}

static int cmp_site_attr(const void *a, const void *b)
{
	const struct site_attr *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? 1 : -1;
	if (x->who != y->who)
		return x->who < y->who ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

int window_by_site(const struct stall_rec *s, size_t n, uint64_t max_dur_ns, const int32_t *site_of,
		   uint64_t a, uint64_t b, uint32_t pid, uint32_t tid, struct site_attr **out)
{
	struct site_attr *v = NULL;
	size_t nv = 0, cap = 0;

	*out = NULL;
	if (!site_of || b <= a)
		return 0;
	for (size_t i = stalls_from(s, n, max_dur_ns, a); i < n && s[i].ts_ns < b; i++) {
		enum who w;
		size_t k;

		if (site_of[i] < 0 || !stall_overlaps(&s[i], a, b) || s[i].cause >= FL_CAUSE_MAX)
			continue;
		w = pid && tid ? who_of(s[i].pid, s[i].tid, pid, tid) : WHO_MAX;
		for (k = 0; k < nv && (v[k].site != (uint32_t)site_of[i] || v[k].who != w); k++)
			;
		if (k == nv) {
			if (grow_array((void **)&v, &cap, nv, sizeof(*v), 4)) {
				free(v);
				return -ENOMEM;
			}
			v[nv++] =
			    (struct site_attr){.site = site_of[i], .cause = s[i].cause, .who = w};
		}
		v[k].count++;
		v[k].ns += overlap_ns(s[i].ts_ns, s[i].ts_ns + s[i].dur_ns, a, b);
	}
	sort_n(v, nv, sizeof(*v), cmp_site_attr);
	*out = v;
	return nv;
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
		r[i] = (struct ranked){v[i], i};
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
