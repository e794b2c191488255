// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Strict number, duration and pid-list parsing; formatting helpers. */
#include <errno.h>
#include <stdlib.h>
#include "unit.h"
#include "util.h"

UNIT_TEST(util_parse_u64_strict)
{
	uint64_t v = 7;

	CHECK(parse_u64("", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64(NULL, 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("-1", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("+1", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64(" 1", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("1 ", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("12x", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("0x10", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("abc", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64("18446744073709551616", 0, UINT64_MAX, &v) == -ERANGE);
	CHECK(parse_u64("99999999999999999999999", 0, UINT64_MAX, &v) == -ERANGE);
	CHECK_EQ_U64(v, 7); /* untouched on error */
	CHECK(parse_u64("18446744073709551615", 0, UINT64_MAX, &v) == 0);
	CHECK_EQ_U64(v, UINT64_MAX);
	CHECK(parse_u64("0", 0, 10, &v) == 0);
	CHECK_EQ_U64(v, 0);
	CHECK(parse_u64("010", 0, 10, &v) == 0); /* base 10, not octal */
	CHECK_EQ_U64(v, 10);
	CHECK(parse_u64("11", 0, 10, &v) == -ERANGE);
	CHECK(parse_u64("0", 1, 10, &v) == -ERANGE);
}

UNIT_TEST(util_parse_duration_ms)
{
	uint64_t ms = 0;

	CHECK(parse_duration_ms("30", &ms) == 0);
	CHECK_EQ_U64(ms, 30000);
	CHECK(parse_duration_ms("30s", &ms) == 0);
	CHECK_EQ_U64(ms, 30000);
	CHECK(parse_duration_ms("500ms", &ms) == 0);
	CHECK_EQ_U64(ms, 500);
	CHECK(parse_duration_ms("2m", &ms) == 0);
	CHECK_EQ_U64(ms, 120000);
	CHECK(parse_duration_ms("1h", &ms) == 0);
	CHECK_EQ_U64(ms, 3600000);
	CHECK(parse_duration_ms("0", &ms) == 0);
	CHECK_EQ_U64(ms, 0);
	ms = 99;
	CHECK(parse_duration_ms("", &ms) != 0);
	CHECK(parse_duration_ms("s", &ms) != 0);
	CHECK(parse_duration_ms("ms", &ms) != 0);
	CHECK(parse_duration_ms("-1s", &ms) != 0);
	CHECK(parse_duration_ms("10x", &ms) != 0);
	CHECK(parse_duration_ms("5 s", &ms) != 0);
	CHECK(parse_duration_ms("1d", &ms) != 0);
	/* overflow after the unit multiplication is refused, not wrapped */
	CHECK(parse_duration_ms("18446744073709551615h", &ms) != 0);
	CHECK(parse_duration_ms("18446744073709551615s", &ms) != 0);
	CHECK_EQ_U64(ms, 99);
	CHECK(parse_duration_ms("18446744073709551615ms", &ms) == 0);
	CHECK_EQ_U64(ms, UINT64_MAX);
}

/* One syntax for -d, top/serve -i, --alloc-slow, doctor --window: fractions and every unit. */
UNIT_TEST(util_parse_duration_fractions_units)
{
	uint64_t v = 0;

	CHECK(parse_duration_ms("1.5", &v) == 0);
	CHECK_EQ_U64(v, 1500);
	CHECK(parse_duration_ms("0.5s", &v) == 0);
	CHECK_EQ_U64(v, 500);
	CHECK(parse_duration_ms(".25", &v) == 0);
	CHECK_EQ_U64(v, 250);
	CHECK(parse_duration_ms("1.5m", &v) == 0);
	CHECK_EQ_U64(v, 90000);
	CHECK(parse_duration_ms("2.5ms", &v) == 0); /* to the nearest millisecond */
	CHECK_EQ_U64(v, 3);
	CHECK(parse_duration_ms("1500us", &v) == 0);
	CHECK_EQ_U64(v, 2);
	CHECK(parse_duration_ms("250000000ns", &v) == 0);
	CHECK_EQ_U64(v, 250);
	CHECK(parse_duration_ms("0.0001", &v) == 0);
	CHECK_EQ_U64(v, 0);
	v = 77;
	CHECK(parse_duration_ms(".", &v) == -EINVAL);
	CHECK(parse_duration_ms("1.5.5", &v) == -EINVAL);
	CHECK(parse_duration_ms("1e3", &v) == -EINVAL);
	CHECK(parse_duration_ms("inf", &v) == -EINVAL);
	CHECK(parse_duration_ms("0x10", &v) == -EINVAL);
	CHECK(parse_duration_ms("1,5", &v) == -EINVAL);
	CHECK(parse_duration_ms(" 1", &v) == -EINVAL);
	CHECK(parse_duration_ms("1.5sec", &v) == -EINVAL);
	CHECK(parse_duration_ms(NULL, &v) == -EINVAL);
	CHECK_EQ_U64(v, 77);
	/* nanoseconds, bare numbers in microseconds (as --alloc-slow takes them) */
	CHECK(parse_duration("50", 1000, 1, &v) == 0);
	CHECK_EQ_U64(v, 50000);
	CHECK(parse_duration("0.5ms", 1000, 1, &v) == 0);
	CHECK_EQ_U64(v, 500000);
	CHECK(parse_duration("2000ns", 1000, 1, &v) == 0);
	CHECK_EQ_U64(v, 2000);
	CHECK(parse_duration("1.000000001s", 1000, 1, &v) == 0);
	CHECK_EQ_U64(v, 1000000001);
	CHECK(parse_duration("18446744073709551615ns", 1000, 1, &v) == 0);
	CHECK_EQ_U64(v, UINT64_MAX);
	CHECK(parse_duration("18446744073709551616ns", 1000, 1, &v) == -ERANGE);
	CHECK(parse_duration("18446744073.8s", 1000, 1, &v) == -ERANGE);
	CHECK(parse_duration("6000000h", 1000, 1, &v) == -ERANGE);
}

UNIT_TEST(util_parse_pid_list)
{
	int pids[4] = {}, n = -1;

	CHECK(parse_pid_list("42", pids, 4, &n) == 0);
	CHECK_EQ_U64(n, 1);
	CHECK_EQ_U64(pids[0], 42);
	CHECK(parse_pid_list("1,2,3", pids, 4, &n) == 0);
	CHECK_EQ_U64(n, 3);
	CHECK_EQ_U64(pids[2], 3);
	CHECK(parse_pid_list("4194304", pids, 4, &n) == 0);
	CHECK(parse_pid_list("4194305", pids, 4, &n) != 0);
	CHECK(parse_pid_list("", pids, 4, &n) != 0);
	CHECK(parse_pid_list(",", pids, 4, &n) != 0);
	CHECK(parse_pid_list("abc", pids, 4, &n) != 0);
	CHECK(parse_pid_list("0", pids, 4, &n) != 0);
	CHECK(parse_pid_list("-5", pids, 4, &n) != 0);
	CHECK(parse_pid_list("12x", pids, 4, &n) != 0);
	CHECK(parse_pid_list("1,abc", pids, 4, &n) != 0);
	CHECK(parse_pid_list("1, 2", pids, 4, &n) != 0);
	CHECK(parse_pid_list("1,2,3,4,5", pids, 4, &n) == -E2BIG);
}

UNIT_TEST(util_fmt)
{
	char b[32];

	CHECK_STR(fmt_ns(999, b, sizeof(b)), "999 ns");
	CHECK_STR(fmt_ns(1500, b, sizeof(b)), "1.5 us");
	CHECK_STR(fmt_ns(2500000, b, sizeof(b)), "2.50 ms");
	CHECK_STR(fmt_ns(3000000000ull, b, sizeof(b)), "3.00 s");
	CHECK_STR(fmt_bytes(512, b, sizeof(b)), "512 B");
	CHECK_STR(fmt_bytes(1536, b, sizeof(b)), "1.5 KiB");
	CHECK_STR(fmt_bytes(3ull << 30, b, sizeof(b)), "3.0 GiB");
	thp_selected("always [madvise] never", b, sizeof(b));
	CHECK_STR(b, "madvise");
	thp_selected("no brackets", b, sizeof(b));
	CHECK_STR(b, "no brackets");
}

UNIT_TEST(util_grow_array)
{
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;

	for (uint32_t i = 0; i < 100; i++) {
		CHECK(grow_array((void **)&v, &cap, n, sizeof(*v), 8) == 0);
		CHECK(n < cap);
		v[n++] = i;
	}
	CHECK(cap == 128); /* 8, doubled four times */
	CHECK(v[0] == 0 && v[99] == 99);
	CHECK(grow_array((void **)&v, &cap, 50, sizeof(*v), 8) == 0 && cap == 128);
	free(v);
}
