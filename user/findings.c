// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "findings.h"
#include "model.h"
#include "reqreport.h"
#include "util.h"
#include <stdio.h>
#include <string.h>

static struct finding *add(struct finding *out, int *n, int max, const char *id, const char *sev)
{
	if (*n >= max)
		return NULL;
	out[*n].id = id;
	out[*n].severity = sev;
	out[*n].text[0] = 0;
	return &out[(*n)++];
}

/* Appends how many requests' time to first token the cause overlapped, when requests are known. */
static void add_exposure(struct finding *f, const struct model *m, int cause)
{
	size_t n, hit = reqview_exposed(m, cause, &n);
	size_t used = strlen(f->text);

	if (!n || used >= sizeof(f->text))
		return;
	snprintf(f->text + used, sizeof(f->text) - used,
		 " It overlapped the time to first token of %zu of %zu requests (%.0f%%).", hit, n,
		 100.0 * hit / n);
}

int findings_build(const struct model *m, struct finding *out, int max)
{
	const char *thp = m->session.thp.enabled;
	const char *defrag = m->session.thp.defrag;
	const struct stall_stats *cmp = &m->stalls[FL_CAUSE_DIRECT_COMPACTION];
	const struct stall_stats *rec = &m->stalls[FL_CAUSE_DIRECT_RECLAIM];
	const struct stall_stats *memcg = &m->stalls[FL_CAUSE_MEMCG_RECLAIM];
	const struct stall_stats *khp = &m->stalls[FL_CAUSE_KHUGEPAGED];
	const struct stall_stats *lock = &m->stalls[FL_CAUSE_MMAP_LOCK_WAIT];
	struct finding *f;
	char a[32], b[32];
	int n = 0;

	if (m->dropped && (f = add(out, &n, max, "events-dropped", "warning")))
		snprintf(
		    f->text, sizeof(f->text),
		    "%llu events were dropped because the ring buffer was full: counts are lower "
		    "bounds. Record again with a larger --ringbuf-mb.",
		    (unsigned long long)m->dropped);
	if (cmp->count && (f = add(out, &n, max, "thp-defrag-compaction", "warning"))) {
		snprintf(
		    f->text, sizeof(f->text),
		    "THP defrag=%s: %llu direct compaction stalls, %s in total (max %s). Threads "
		    "allocating huge pages compacted memory themselves. For latency-sensitive "
		    "serving set defrag to 'defer+madvise' or 'never' and keep enabled=madvise.",
		    defrag ? defrag : "?", (unsigned long long)cmp->count,
		    fmt_ns(cmp->total_ns, a, sizeof(a)), fmt_ns(cmp->max_ns, b, sizeof(b)));
		add_exposure(f, m, FL_CAUSE_DIRECT_COMPACTION);
	}
	if (rec->count && (f = add(out, &n, max, "direct-reclaim", "warning"))) {
		snprintf(
		    f->text, sizeof(f->text),
		    "%llu direct reclaim stalls, %s in total: the node ran short of free memory "
		    "and allocating threads reclaimed pages themselves. Leave headroom (page cache "
		    "for the model files, pinned buffers) or raise vm.min_free_kbytes.",
		    (unsigned long long)rec->count, fmt_ns(rec->total_ns, a, sizeof(a)));
		add_exposure(f, m, FL_CAUSE_DIRECT_RECLAIM);
	}
	if (memcg->count && (f = add(out, &n, max, "memcg-reclaim", "warning"))) {
		snprintf(
		    f->text, sizeof(f->text),
		    "%llu memory-cgroup reclaim stalls, %s in total: the container's memory limit "
		    "is tight for its working set plus page cache.",
		    (unsigned long long)memcg->count, fmt_ns(memcg->total_ns, a, sizeof(a)));
		add_exposure(f, m, FL_CAUSE_MEMCG_RECLAIM);
	}
	if (khp->count && (f = add(out, &n, max, "khugepaged-collapse", "info"))) {
		snprintf(f->text, sizeof(f->text),
			 "%llu huge-page collapses of traced memory (%llu by the khugepaged "
			 "daemon, %llu by MADV_COLLAPSE the process asked for) held its mmap_lock "
			 "for write %s in total; every thread that faulted meanwhile waited.",
			 (unsigned long long)khp->count,
			 (unsigned long long)m->collapse_daemon.count,
			 (unsigned long long)m->collapse_asked.count,
			 fmt_ns(khp->total_ns, a, sizeof(a)));
		add_exposure(f, m, FL_CAUSE_KHUGEPAGED);
	}
	if (lock->count && lock->total_ns > 1000000 &&
	    (f = add(out, &n, max, "mmap-lock-contention", "info"))) {
		snprintf(f->text, sizeof(f->text),
			 "%llu mmap_lock waits, %s in total: threads mapping and unmapping memory "
			 "(allocator churn, munmap of large buffers) serialise the process.",
			 (unsigned long long)lock->count, fmt_ns(lock->total_ns, a, sizeof(a)));
		add_exposure(f, m, FL_CAUSE_MMAP_LOCK_WAIT);
	}
	if (thp && !strcmp(thp, "always") && (f = add(out, &n, max, "thp-always", "info")))
		snprintf(f->text, sizeof(f->text),
			 "THP enabled=always: every large anonymous mapping may be backed by huge "
			 "pages, with compaction and khugepaged work behind it. Inference servers "
			 "usually "
			 "do better with enabled=madvise and huge pages only where asked for.");
	if (m->have_fault_dur && m->faults_major && (f = add(out, &n, max, "major-faults", "info")))
		snprintf(
		    f->text, sizeof(f->text),
		    "%llu major faults: pages read from disk on first touch (mmapped weights not "
		    "in the page cache). Pre-read the model files or keep them cached.",
		    (unsigned long long)m->faults_major);
	return n;
}
