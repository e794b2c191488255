/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The verdict: how much of the TTFT tail memory stalls explain, split by cause and by the call
 * behind them, with the change that would remove them. Built once from the model (after the
 * requests are attributed) and printed first by the text, JSON and HTML reports.
 */
#ifndef FL_VERDICT_H
#define FL_VERDICT_H

#include "findings.h"
#include "requests.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct model;
struct jw;

/* Stall kinds the verdict tells apart: the causes, with khugepaged split by who collapsed. */
enum verdict_class {
	VC_FAULT = 0,
	VC_DIRECT_RECLAIM,
	VC_MEMCG_RECLAIM,
	VC_DIRECT_COMPACTION,
	VC_KHUGEPAGED,	  /* khugepaged's background collapse held the target's mmap_lock */
	VC_MADV_COLLAPSE, /* a target thread collapsed memory itself: madvise(MADV_COLLAPSE) */
	VC_MMAP_LOCK_WAIT,
	VC_MIGRATION,
	VC_MAX
};

enum verdict_kind {
	VERDICT_NO_REQUESTS = 0, /* nothing to explain: no request with a first token */
	VERDICT_MEMORY,		 /* memory stalls explain a large share of the tail */
	VERDICT_SOME,		 /* a small share of the tail, but they made some requests slow */
	VERDICT_NOT_MEMORY,	 /* they explain little: look elsewhere */
};

#define VERDICT_IDS 3
#define VERDICT_SIGNIFICANT                                                                        \
	0.10 /* share of the tail's TTFT below which memory is not the cause                       \
	      */

struct verdict_item {
	int cls;		   /* enum verdict_class */
	double explained_ns;	   /* tail TTFT it explains (overlap, capped at each TTFT) */
	double share;		   /* explained_ns / the tail's TTFT */
	size_t requests;	   /* tail requests it overlapped */
	uint64_t stalls, total_ns; /* all its stalls in the recording, whatever they overlapped */
	uint32_t pid, tid;	   /* the thread with most of the explained time */
	char ids[VERDICT_IDS][REQ_ID_LEN]; /* tail requests it explained most of, most first */
	size_t nids;
};

struct verdict {
	int kind;	       /* enum verdict_kind */
	size_t requests;       /* requests with a first token */
	size_t tail;	       /* of them, those with TTFT >= the tail threshold */
	const char *tail_name; /* "p90" (or "p99" once there are enough requests) */
	uint64_t tail_ttft_ns; /* the threshold */
	double tail_sum_ns;    /* TTFT of the tail requests, summed */
	double explained_ns;   /* of which memory stalls, capped per request at its TTFT */
	double share;
	double all_share; /* the same over every request */
	/* tail requests that waited on memory for >= VERDICT_SIGNIFICANT of their own TTFT */
	size_t stalled;
	double stalled_min_share, stalled_max_share;
	char stalled_ids[VERDICT_IDS][REQ_ID_LEN]; /* the slowest of them, slowest first */
	uint64_t stalled_ttft[VERDICT_IDS];
	size_t nstalled_ids;
	uint64_t stalled_faults;   /* faults in their TTFT windows, summed */
	uint64_t tail_faults;	   /* faults in the TTFT windows of every tail request, summed */
	uint64_t other_faults_p50; /* median faults in the TTFT window of the other requests */
	struct verdict_item items[VC_MAX]; /* ranked by explained_ns, largest first */
	size_t nitems;			   /* items with explained_ns > 0 */
	uint64_t stalls, stall_ns; /* every stall in the recording (no requests: what is there) */
	int top_cls;		   /* class with most stall time overall, -1 when none */
	uint64_t top_ns;	   /* its stall time */
	bool truncated, dropped;
	char lines[6][640]; /* the text, built once for text, JSON and HTML */
	int nlines;
	/* the report's findings, built and ranked once (by the tail TTFT they explain) */
	struct finding findings[MAX_FINDINGS];
	int nfindings;
};

extern const char *const verdict_class_names[VC_MAX];

/* Builds m->verdict from the model and its requests. 0 or -ENOMEM. */
int verdict_build(struct model *m);
void verdict_free(struct verdict *v);
int verdict_class_of(uint16_t cause, uint16_t flags);
void verdict_text(const struct model *m, FILE *f);
/* The value of the report's "verdict" key. */
void verdict_json(const struct model *m, struct jw *w);

/* Orders findings by the tail TTFT their stalls explain (stable; dropped events first). */
void verdict_rank_findings(const struct model *m, struct finding *f, int n);

#endif
