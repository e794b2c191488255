/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The log2 slot of a duration, one definition for the BPF programs (in-kernel histograms) and
 * user space (histograms built from events, the percentiles of both): slot 0 holds [0, 2), slot i
 * holds [2^i, 2^(i+1)), the last slot (FL_HIST_SLOTS - 1) everything above. Shifts only: BPF has
 * no count-leading-zeros instruction.
 */
#ifndef FL_HIST_SLOT_H
#define FL_HIST_SLOT_H

#include "faultline.h"

static inline __attribute__((always_inline)) __u32 fl_log2_slot(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r < FL_HIST_SLOTS ? r : FL_HIST_SLOTS - 1;
}

/*
 * The fine slot of a duration: each log2 slot split in FL_FINE_SUB equal parts by the FL_FINE_BITS
 * bits below the leading one, so a bucket is at most 1/8 of its values wide (16 us: 16-18 us)
 * where the log2 slot is twice them. Fine slot l * FL_FINE_SUB + sub holds
 * [fl_fine_lo(s), fl_fine_hi(s)); below 8 ns some slots stay empty (there are fewer values
 * than sub-buckets) and everything from 2^FL_HIST_SLOTS up lands in the last one. Summing the
 * FL_FINE_SUB fine slots of log2 slot l gives log2 slot l: the same calls, the same count.
 */
static inline __attribute__((always_inline)) __u32 fl_fine_slot(__u64 v)
{
	__u32 l = fl_log2_slot(v), sub;

	if (v >> FL_HIST_SLOTS)
		sub = FL_FINE_SUB - 1;
	else if (l >= FL_FINE_BITS)
		sub = (v >> (l - FL_FINE_BITS)) & (FL_FINE_SUB - 1);
	else
		sub = (v << (FL_FINE_BITS - l)) & (FL_FINE_SUB - 1);
	return l * FL_FINE_SUB + sub;
}

/* The smallest duration fine slot S can hold. */
static inline __attribute__((always_inline)) __u64 fl_fine_lo(__u32 s)
{
	__u32 l = s / FL_FINE_SUB, sub = s % FL_FINE_SUB;

	if (!l) /* [0, 2): below 8 ns the sub-buckets are narrower than a nanosecond */
		return 0;
	return ((__u64)(FL_FINE_SUB + sub) << l) >> FL_FINE_BITS;
}

#ifndef __FAULTLINE_BPF__
/* The end of fine slot S (exclusive): the next larger lo; UINT64_MAX for the last slot. */
static inline __u64 fl_fine_hi(__u32 s)
{
	__u64 lo = fl_fine_lo(s);

	while (++s < FL_FINE_SLOTS)
		if (fl_fine_lo(s) > lo)
			return fl_fine_lo(s);
	return ~0ull;
}
#endif

#endif
