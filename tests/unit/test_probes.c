// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The probe plan's rss concern: sampled by default (no program of its own), tp_btf on demand. */
#include "probes.h"
#include "unit.h"
#include <errno.h>

UNIT_TEST(probes_rss_choices)
{
	struct probe_plan p;

	CHECK(!probe_plan_init(&p));
	CHECK(!probe_plan_override(&p, "rss=sampled"));
	CHECK(probe_plan_uses(&p, "rss", ATTACH_SAMPLED));
	CHECK(!probe_plan_uses(&p, "rss", ATTACH_TP_BTF));
	CHECK(!probe_plan_override(&p, "rss=tp_btf"));
	CHECK(probe_plan_uses(&p, "rss", ATTACH_TP_BTF));
	CHECK(!probe_plan_uses(&p, "rss", ATTACH_SAMPLED));
	CHECK(!probe_plan_override(&p, "rss=off")); /* off: probe_plan_choose leaves it out */
	/* only the rss concern has a sampled choice */
	CHECK(probe_plan_override(&p, "fault-user=sampled") == -EINVAL);
	probe_plan_destroy(&p);
}
