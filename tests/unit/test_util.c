// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Strict number, duration and pid-list parsing; formatting helpers. */
#include "unit.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

UNIT_TEST(util_escape_terminal)
{
	char b[64];

	/* an OSC title sequence from a client: ESC and BEL come out as text */
	CHECK_STR(fl_escape(b, sizeof(b), "\x1b]0;x\a", 6), "\\x1b]0;x\\x07");
	CHECK_STR(fl_esc("a\tb\x7f"
			 "c"),
		  "a\\x09b\\x7fc");
	/* UTF-8 passes; C1 controls (U+009B is a CSI) and bytes that are not UTF-8 do not */
	CHECK_STR(fl_esc("caf\xc3\xa9 \xe2\x86\x92"), "caf\xc3\xa9 \xe2\x86\x92");
	CHECK_STR(fl_esc("\xc2\x9b"
			 "1m"),
		  "\\x9b1m");
	CHECK_STR(fl_esc("/p\xff"
			 "q\xed\xa0\x80"),
		  "/p\\xffq\\xed\\xa0\\x80");
	CHECK_STR(fl_esc(""), "");
	CHECK(fl_esc(NULL) == NULL);
	/* embedded NUL with an explicit length */
	CHECK_STR(fl_escape(b, sizeof(b), "a\0b", 3), "a\\x00b");
}

UNIT_TEST(util_escape_truncates)
{
	char b[8];

	CHECK_STR(fl_escape(b, sizeof(b), "abcdefg", 7), "abcdefg");
	CHECK_STR(fl_escape(b, sizeof(b), "abcdefgh", 8), "abcd...");
	/* an escape is never cut in half */
	CHECK_STR(fl_escape(b, sizeof(b),
			    "ab\x1b"
			    "cdefgh",
			    8),
		  "ab...");
	CHECK_STR(fl_escape(b, 3, "abc", 3), "");
	CHECK_STR(fl_escape(b, 4, "abc", 3), "abc");
	CHECK_STR(fl_escape(b, 4, "abcd", 4), "...");
}

UNIT_TEST(util_utf8_seq_len)
{
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"a", 1), 1);
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xc3\xa9", 1), 0);
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xe0\x80\x80", 3), 0);     /* overlong */
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > 10FFFF */
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	CHECK_EQ_U64(utf8_seq_len((const unsigned char *)"\xff", 1), 0);
}

UNIT_TEST(util_open_target_file)
{
	char dir[] = "/tmp/fl_unit_XXXXXX", p[64], q[64], why[160];
	struct stat st;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof(p), "%s/lib.so", dir);
	snprintf(q, sizeof(q), "%s/fifo", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && !fstat(fd, &st));
	close(fd);
	fd = open_target_file(p, st.st_dev, st.st_ino, why, sizeof(why));
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* another inode at the mapped path */
	CHECK(open_target_file(p, st.st_dev, st.st_ino + 1, why, sizeof(why)) == -ESTALE);
	CHECK(strstr(why, "not the mapped one") != NULL);
	/* a FIFO does not block the open */
	CHECK(!mkfifo(q, 0600));
	CHECK(open_target_file(q, st.st_dev, st.st_ino, why, sizeof(why)) == -EINVAL);
	CHECK_STR(why, "skipped: not a regular file (a FIFO)");
	unlink(q);
	/* a symbolic link is not followed */
	CHECK(!symlink(p, q));
	CHECK(open_target_file(q, st.st_dev, st.st_ino, why, sizeof(why)) == -ELOOP);
	CHECK(strstr(why, "symbolic link") != NULL);
	unlink(q);
	unlink(p);
	rmdir(dir);
}

/* A failure leaves the array and its capacity as they were, returns -ENOMEM and sets fl_oom. */
UNIT_TEST(util_grow_array_failure)
{
	uint64_t *v = NULL, *kept;
	size_t cap = 0, kept_cap;

	CHECK(grow_array((void **)&v, &cap, 0, sizeof(*v), 4) == 0 && cap == 4);
	v[3] = 42;
	kept = v;
	kept_cap = cap;
	fl_oom = false;

	/* Capacity times element size past PTRDIFF_MAX: refused before realloc is asked. */
	CHECK(grow_array((void **)&v, &cap, 4, SIZE_MAX / 4, 4) == -ENOMEM);
	CHECK(v == kept && cap == kept_cap && v[3] == 42 && fl_oom);
	fl_oom = false;
	/* Doubling that would wrap the capacity itself. */
	cap = SIZE_MAX / 2 + 2;
	CHECK(grow_array((void **)&v, &cap, cap, 1, 4) == -ENOMEM);
	CHECK(v == kept && cap == SIZE_MAX / 2 + 2 && fl_oom);
	cap = kept_cap;
	fl_oom = false;
	/* Zero-sized elements are a caller bug, not a zero-byte block to write into. */
	CHECK(grow_array((void **)&v, &cap, 4, 0, 4) == -ENOMEM && fl_oom);
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_UNIT_ASAN 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(FL_UNIT_ASAN)
	/* realloc itself failing (ASan would report the request instead of returning NULL): 64 TiB
	 * is more than this machine has or overcommits. */
	fl_oom = false;
	cap = 1ull << 40;
	CHECK(grow_array((void **)&v, &cap, cap, 32, 4) == -ENOMEM);
	CHECK(v == kept && cap == 1ull << 40 && fl_oom);
	cap = kept_cap;
	printf("  grow_array: realloc of 64 TiB refused, array kept\n");
#endif
	CHECK(v[3] == 42);
	fl_oom = false;
	free(v);
}

UNIT_TEST(util_parse_size)
{
	uint64_t v = 7;

	CHECK(parse_size("4096", &v) == 0);
	CHECK_EQ_U64(v, 4096);
	CHECK(parse_size("512M", &v) == 0);
	CHECK_EQ_U64(v, 512ull << 20);
	CHECK(parse_size("2G", &v) == 0);
	CHECK_EQ_U64(v, 2ull << 30);
	CHECK(parse_size("2g", &v) == 0);
	CHECK_EQ_U64(v, 2ull << 30);
	CHECK(parse_size("1.5GiB", &v) == 0);
	CHECK_EQ_U64(v, 3ull << 29);
	CHECK(parse_size("64KB", &v) == 0);
	CHECK_EQ_U64(v, 64ull << 10);
	CHECK(parse_size("1T", &v) == 0);
	CHECK_EQ_U64(v, 1ull << 40);
	v = 7;
	CHECK(parse_size("12Q", &v) == -EINVAL);
	CHECK(parse_size("-1", &v) == -EINVAL);
	CHECK(parse_size("+1", &v) == -EINVAL);
	CHECK(parse_size(" 1", &v) == -EINVAL);
	CHECK(parse_size("", &v) == -EINVAL);
	CHECK(parse_size("G", &v) == -EINVAL);
	CHECK(parse_size("1e9", &v) == -EINVAL);
	CHECK(parse_size("0x10", &v) == -EINVAL);
	CHECK(parse_size("1GG", &v) == -EINVAL);
	CHECK(parse_size("nan", &v) == -EINVAL);
	CHECK(parse_size("16E", &v) == -ERANGE);
	CHECK_EQ_U64(v, 7); /* untouched on error */
}
