/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Advice tied to evidence in a recording: what the stalls say about THP, reclaim, pinning. */
#ifndef FL_FINDINGS_H
#define FL_FINDINGS_H

struct model;

struct finding {
	const char *id;	      /* stable key, e.g. "thp-defrag-compaction" */
	const char *severity; /* "warning" or "info" */
	char text[512];
};

#define MAX_FINDINGS 16

/* Fills OUT with up to MAX findings; returns how many. */
int findings_build(const struct model *m, struct finding *out, int max);

#endif
