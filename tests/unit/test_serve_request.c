/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* serve's request-head parser: what it takes, what it waits for, what it refuses. */
#include "serve.h"
#include "unit.h"
#include <errno.h>

static int parse(const char *s, size_t len, char *method, char *path)
{
	return serve_parse_request(s, len, method, 16, path, 1024);
}

#define PARSE(s) parse(s, sizeof(s) - 1, method, path)

UNIT_TEST(serve_request_parsing)
{
	static char big[SERVE_REQ_MAX + 10];
	char method[16], path[1024];

	CHECK_EQ_U64(PARSE("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 1);
	CHECK_STR(method, "GET");
	CHECK_STR(path, "/metrics");
	CHECK_EQ_U64(PARSE("HEAD /?x=1 HTTP/1.0\n\n"), 1); /* bare LF, query string cut */
	CHECK_STR(method, "HEAD");
	CHECK_STR(path, "/");
	CHECK_EQ_U64(PARSE("GET /metrics HTTP/1.1\r\nHost: x\r\n"), 0); /* more to come */
	CHECK_EQ_U64(PARSE("GET /met"), 0);
	CHECK_EQ_U64(PARSE(""), 0);
	CHECK_EQ_U64(PARSE("GET\r\n\r\n"), (uint64_t)-EINVAL);
	CHECK_EQ_U64(PARSE("get /metrics HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	CHECK_EQ_U64(PARSE("GET  HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	CHECK_EQ_U64(PARSE("HEAD ?x HTTP/1.0\n\n"), (uint64_t)-EINVAL); /* found by the fuzzer */
	CHECK_EQ_U64(PARSE("GET http://x/metrics HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	CHECK_EQ_U64(PARSE("GET /m\x1b]0;x\a HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	CHECK_EQ_U64(PARSE("GET /m\0x HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	CHECK_EQ_U64(PARSE("AVERYLONGMETHODNAME / HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	memset(big, 'a', sizeof(big));
	CHECK_EQ_U64(parse(big, SERVE_REQ_MAX - 1, method, path), 0);
	CHECK_EQ_U64(parse(big, SERVE_REQ_MAX, method, path), (uint64_t)-E2BIG);
	memcpy(big, "GET /", 5);
	memcpy(big + 2000, " HTTP/1.1\r\n\r\n", 13); /* a path longer than the 1 KiB serve keeps */
	CHECK_EQ_U64(parse(big, 2013, method, path), (uint64_t)-EINVAL);
}
