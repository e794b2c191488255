/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report's requests section: TTFT percentiles, the stall exposure per cause of each TTFT
 * band in [start, first token] and [first token, end], the slowest requests with the stalls
 * that overlapped them, and how strongly stall time and TTFT move together.
 */
#ifndef FL_REQREPORT_H
#define FL_REQREPORT_H

#include "jw.h"
#include "requests.h"
#include <stdbool.h>
#include <stdio.h>

struct model;
struct win_attr;
struct req_view;

struct req_opts {
	const char *file;     /* --requests FILE, or NULL for the wire */
	enum req_clock clock; /* --clock */
	bool clock_given;
};

/* Parses "monotonic" or "realtime". 0 or -EINVAL. */
int req_clock_parse(const char *s, enum req_clock *out);
/*
 * Chooses the requests (the file's when given, matched to the wire; else the wire's) and
 * attributes stalls to them into m->reqview. 0, or -errno with a message printed.
 */
int reqview_build(struct model *m, const struct req_opts *o);
void reqview_text(const struct model *m, FILE *f);
/* The value of the report's "requests" key (null when there are no requests to show). */
void reqview_json(const struct model *m, struct jw *w);
/*
 * How many requests had a stall of CAUSE overlap their [start, first token] window; *N gets how
 * many requests have such a window. 0 and *N = 0 when no requests were built.
 */
size_t reqview_exposed(const struct model *m, int cause, size_t *n);
/* The requests' count and TTFT ([start, first token]) figures, for diff. */
struct req_ttft {
	size_t count;
	uint64_t p50_ns, p99_ns, max_ns;
};
/* False where the report's "requests" is null (no requests to show). */
bool reqview_ttft(const struct model *m, struct req_ttft *out);
/* The requests lined up with the recording (the file's or the wire's), for the other printers. */
size_t reqview_count(const struct model *m);
const struct request *reqview_request(const struct model *m, size_t i);
/* Request I's stalls and faults in [start, first token), attributed once; NULL without one. */
const struct win_attr *reqview_prefill_attr(const struct model *m, size_t i);
void reqview_free(struct req_view *v);

#endif
