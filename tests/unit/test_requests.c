/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Client request logs: bench JSON and JSON lines, both clocks, and clear errors. */
#include "requests.h"
#include "unit.h"
#include <errno.h>

static const struct req_clockmap mono = {.clock = REQ_CLOCK_MONOTONIC};
static const struct req_clockmap real = {
    .clock = REQ_CLOCK_REALTIME, .real_minus_mono_ns = 1000000000000000000ll, .have_pair = true};

static int parse(const char *s, const struct req_clockmap *cm, struct reqlist *l, char *err)
{
	return requests_parse("t", s, strlen(s), cm, l, err, 256);
}

UNIT_TEST(requests_bench_json)
{
	struct reqlist l = {};
	char err[256] = "";
	int rc = parse("{\"start_times\":[100.5,101],\"ttfts\":[0.25,0],\"itls\":[[0.01,0.02],[]],"
		       "\"errors\":[\"\",\"boom\"],\"request_ids\":[\"cmpl-a\",\"cmpl-b\"]}",
		       &mono, &l, err);

	CHECK(rc == 0);
	CHECK_EQ_U64(l.n, 2);
	if (l.n == 2) {
		CHECK_EQ_U64(l.v[0].start_ns, 100500000000ull);
		CHECK_EQ_U64(l.v[0].first_token_ns, 100750000000ull);
		CHECK_EQ_U64(l.v[0].end_ns, 100780000000ull);
		CHECK_STR(l.v[0].id, "cmpl-a");
		CHECK(l.v[1].failed);
		CHECK_EQ_U64(l.v[1].first_token_ns, 0);
	}
	reqlist_free(&l);
}

UNIT_TEST(requests_bench_errors_name_the_field)
{
	struct reqlist l = {};
	char err[256] = "";

	CHECK(parse("{\"ttfts\":[0.1],\"date\":\"x\"}", &mono, &l, err) == -EINVAL);
	CHECK(strstr(err, "no 'start_times'") != NULL);
	CHECK(parse("{\"start_times\":[1,2],\"ttfts\":[0.1]}", &mono, &l, err) == -EINVAL);
	CHECK(strstr(err, "'ttfts' has 1 entries") != NULL);
	CHECK(parse("{\"start_times\":[1,\"x\"],\"ttfts\":[0.1,0.2]}", &mono, &l, err) == -EINVAL);
	CHECK(strstr(err, "start_times[1]") != NULL);
	reqlist_free(&l);
}

UNIT_TEST(requests_jsonl_both_clocks)
{
	struct reqlist l = {};
	char err[256] = "";

	CHECK(parse("{\"id\":\"a\",\"start\":10,\"first_token\":10.5,\"end\":11}\n\n"
		    "{\"id\":\"b\",\"start\":12,\"first_token\":null,\"end\":12.1}\n",
		    &mono, &l, err) == 0);
	CHECK_EQ_U64(l.n, 2);
	CHECK_EQ_U64(l.v[0].first_token_ns, 10500000000ull);
	CHECK(l.v[1].failed);
	reqlist_free(&l);
	/* realtime seconds: 1e9 s + 10 s -> monotonic 10 s */
	CHECK(parse("{\"id\":\"a\",\"start\":1000000010,\"first_token\":1000000010.5,"
		    "\"end\":1000000011}",
		    &real, &l, err) == 0);
	CHECK_EQ_U64(l.n, 1);
	if (l.n == 1)
		CHECK(l.v[0].start_ns > 9999990000ull && l.v[0].start_ns < 10000010000ull);
	reqlist_free(&l);
}

UNIT_TEST(requests_jsonl_errors_name_the_line)
{
	struct reqlist l = {};
	char err[256] = "";

	CHECK(parse("{\"id\":\"a\",\"start\":1,\"first_token\":2,\"end\":3}\n{\"id\":\"b\","
		    "\"start\":\"x\"}\n",
		    &mono, &l, err) == -EINVAL);
	CHECK(strstr(err, "t:2: field 'start'") != NULL);
	reqlist_free(&l);
	CHECK(parse("{\"id\":\"a\",\"start\":1,\"first_token\":2,\"end\":3}\n{\"id\":\"b\",\"sta",
		    &mono, &l, err) == -EINVAL);
	CHECK(strstr(err, "t:2: not JSON") != NULL);
	reqlist_free(&l);
	CHECK(parse("{\"id\":\"a\",\"start\":5,\"first_token\":2}", &mono, &l, err) == -EINVAL);
	CHECK(strstr(err, "backwards") != NULL);
	reqlist_free(&l);
	CHECK(parse("", &mono, &l, err) == -EINVAL);
	reqlist_free(&l);
}

UNIT_TEST(requests_match_by_id_then_time)
{
	struct reqlist file = {}, wire = {};
	struct request *r;

	r = reqlist_add(&wire);
	snprintf(r->id, sizeof(r->id), "cmpl-x");
	r->start_ns = 1000000000;
	r = reqlist_add(&wire);
	r->start_ns = 2000000000;
	r = reqlist_add(&file);
	snprintf(r->id, sizeof(r->id), "cmpl-x");
	r->start_ns = 5;
	r = reqlist_add(&file);
	snprintf(r->id, sizeof(r->id), "#1");
	r->start_ns = 2001000000;
	CHECK_EQ_U64(requests_match(&file, &wire), 2);
	CHECK(file.v[0].wire_match == 0);
	CHECK(file.v[1].wire_match == 1);
	reqlist_free(&file);
	reqlist_free(&wire);
}
