/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The verdict's classes, its answer without requests, and findings ranked by what they explain. */
#include "findings.h"
#include "model.h"
#include "unit.h"
#include "verdict.h"
#include <stdlib.h>

UNIT_TEST(verdict_classes)
{
	CHECK(verdict_class_of(FL_CAUSE_KHUGEPAGED, FL_F_OTHER) == VC_KHUGEPAGED);
	CHECK(verdict_class_of(FL_CAUSE_KHUGEPAGED, 0) == VC_MADV_COLLAPSE); /* in the target */
	CHECK(verdict_class_of(FL_CAUSE_FAULT, 0) == VC_FAULT);
	CHECK(verdict_class_of(FL_CAUSE_ALLOC, 0) < 0);
	CHECK(verdict_class_of(FL_CAUSE_MAX, 0) < 0);
}

UNIT_TEST(verdict_no_requests)
{
	struct stall_rec s[] = {
	    {.ts_ns = 100, .dur_ns = 5000, .cause = FL_CAUSE_MMAP_LOCK_WAIT},
	    {.ts_ns = 200, .dur_ns = 9000, .cause = FL_CAUSE_KHUGEPAGED, .flags = FL_F_OTHER},
	};
	struct model m = {.stall_list = s, .nstalls = 2};

	CHECK(verdict_build(&m) == 0);
	CHECK(m.verdict && m.verdict->kind == VERDICT_NO_REQUESTS);
	CHECK_EQ_U64(m.verdict->stalls, 2);
	CHECK_EQ_U64(m.verdict->stall_ns, 14000);
	CHECK(m.verdict->top_cls == VC_KHUGEPAGED);
	CHECK_EQ_U64(m.verdict->nitems, 0); /* nothing explained: no TTFT */
	CHECK(m.verdict->nlines == 2 && strstr(m.verdict->lines[1], "khugepaged"));
	verdict_free(m.verdict);
}

UNIT_TEST(verdict_findings_by_ttft)
{
	struct verdict v = {.nitems = 2};
	struct model m = {.verdict = &v};
	struct finding f[] = {{.id = "thp-always"},
			      {.id = "mmap-lock-contention"},
			      {.id = "khugepaged-collapse"},
			      {.id = "events-dropped"}};

	v.items[0] = (struct verdict_item){.cls = VC_MADV_COLLAPSE, .explained_ns = 9e6};
	v.items[1] = (struct verdict_item){.cls = VC_MMAP_LOCK_WAIT, .explained_ns = 1e6};
	verdict_rank_findings(&m, f, 4);
	CHECK(!strcmp(f[0].id, "events-dropped"));
	CHECK(!strcmp(f[1].id, "khugepaged-collapse"));
	CHECK(!strcmp(f[2].id, "mmap-lock-contention"));
	CHECK(!strcmp(f[3].id, "thp-always"));
}
