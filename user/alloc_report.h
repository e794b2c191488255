/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report's "Allocator" and "Pinned memory" sections and the JSON keys "alloc" and "pinned"
 * (docs/json-schema.md), formatted from the model (user/alloc_model.h: alloc_report.c and
 * pinned_report.c), and the one RSS section.
 */
#ifndef FL_ALLOC_REPORT_H
#define FL_ALLOC_REPORT_H

#include <stdbool.h>
#include <stdio.h>

struct model;
struct jw;

void alloc_print_text(const struct model *m, FILE *f);
void pinned_print_text(const struct model *m, FILE *f);
void alloc_print_json(const struct model *m, struct jw *w);
void pinned_print_json(const struct model *m, struct jw *w);
/*
 * The report's one "RSS" section: per process the smallest and largest RSS and the largest anon
 * part over the session, and the trend of the program it runs last (first, last, peak, rate).
 */
void rss_print_text(const struct model *m, FILE *f);

/* The allocator (ALLOC) or CUDA libraries probed, and their symbols: text, and the value of the
 * JSON key "libraries". For pinned_report.c too. */
void alloc_libs_text(const struct model *m, FILE *f, bool alloc);
void alloc_libs_json(const struct model *m, struct jw *w, bool alloc);

#endif
