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

#endif
