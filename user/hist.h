/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Log2 histograms (as in the kernel maps and bcc's print_log2_hist) and exact percentiles. */
#ifndef FL_HIST_H
#define FL_HIST_H

#include "faultline.h"
#include "hist_slot.h" /* fl_log2_slot(), shared with the BPF programs */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct log2hist {
	uint64_t slots[FL_HIST_SLOTS];
};

void log2hist_add(struct log2hist *h, uint64_t v);
/* Samples in SLOTS (FL_HIST_SLOTS of them: a struct log2hist's, or an in-kernel histogram's). */
uint64_t log2hist_total(const uint64_t *slots);
/* Prints bcc-style rows "  lo -> hi : count |****|", values in microseconds when US is set. */
void log2hist_print(FILE *f, const struct log2hist *h, const char *unit, bool us);

/*
 * The P-th percentile (0..100, nearest rank) of SLOTS as the largest value the slot that holds
 * it can hold (2^(i+1) - 1: the "hi" of its printed row), clamped to [MIN, MAX], the smallest
 * and largest values observed (0 and UINT64_MAX when not known): a bound is never printed above
 * the maximum. 0 when empty. The one percentile of log2 histograms: report, diff, top.
 */
uint64_t log2hist_pct(const uint64_t *slots, double p, uint64_t min, uint64_t max);

/*
 * The P-th percentile of fine SLOTS (FL_FINE_SLOTS of them, fl_fine_slot()), interpolated within
 * the slot that holds it (its calls taken as spread evenly over it), at most MAX (UINT64_MAX: not
 * known): an estimate within 1/8 of the value, where log2hist_pct() gives a bound up to twice it.
 * 0 when empty.
 */
uint64_t finehist_pct(const uint64_t *slots, double p, uint64_t max);

struct jw;
/* The non-empty slots as a JSON array of {lo_ns, hi_ns, count} (docs/json-schema.md). */
void log2hist_json(struct jw *w, const struct log2hist *h);

struct u64vec {
	uint64_t *v;
	size_t n, cap;
	bool sorted;
};

int u64vec_push(struct u64vec *vec, uint64_t x);
/* The P-th percentile (0..100), nearest-rank; 0 for an empty vector. Sorts in place. */
uint64_t u64vec_pct(struct u64vec *vec, double p);
uint64_t u64vec_max(struct u64vec *vec);
void u64vec_free(struct u64vec *vec);

#endif
