/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The wire state machine on synthetic event sequences (what bpf/requests.bpf.h would capture). */
#include "unit.h"
#include "wire.h"
#include <stdlib.h>

#define MS 1000000ull

/* Feeds one event: DATA's first 256 bytes are captured, BYTES is the syscall result (0: strlen). */
static void ev(struct wire *w, uint32_t dir, int fd, uint64_t ts, const char *data, int64_t bytes)
{
	struct fl_net e = {
	    .h = {.type = FL_EV_NET, .tid = 7, .ts_ns = ts}, .pid = 42, .fd = fd, .dir = dir};
	size_t n = data ? strlen(data) : 0;

	e.cap_len = n < FL_NET_CAP ? n : FL_NET_CAP;
	memcpy(e.data, data ? data : "", e.cap_len);
	e.bytes = bytes ? bytes : (int64_t)n;
	wire_event(w, &e, sizeof(e));
}

static const char req_a[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
			    "X-Request-Id: lg-1\r\n\r\n{\"prompt\":1}";
static const char head_sse[] = "HTTP/1.1 200 OK\r\nserver: uvicorn\r\n"
			       "content-type: text/event-stream; charset=utf-8\r\n"
			       "transfer-encoding: chunked\r\n\r\n";
static const char chunk1[] = "1a\r\ndata: {\"id\":\"cmpl-lg-1\"}\n\n\r\n";
static const char last[] = "0\r\n\r\n";

static void sse_exchange(struct wire *w, int fd, uint64_t t)
{
	ev(w, FL_NET_IN, fd, t, req_a, 0);
	ev(w, FL_NET_OUT, fd, t + 1 * MS, head_sse, 0); /* headers before prefill, as uvicorn */
	ev(w, FL_NET_OUT, fd, t + 30 * MS, chunk1, 0);	/* first token */
	ev(w, FL_NET_OUT, fd, t + 35 * MS, chunk1, 0);
	ev(w, FL_NET_OUT, fd, t + 40 * MS, last, 0);
}

UNIT_TEST(wire_keepalive_sse_first_token_is_body)
{
	struct wire *w = wire_new();
	const struct reqlist *l;

	ev(w, FL_NET_ACCEPT, 5, 1, NULL, 0);
	for (int i = 0; i < 3; i++)
		sse_exchange(w, 5, (100 + 100 * i) * MS);
	ev(w, FL_NET_CLOSE, 5, 500 * MS, NULL, 0);
	wire_finish(w);
	l = wire_requests(w);
	CHECK_EQ_U64(l->n, 3);
	for (size_t i = 0; i < l->n && i < 3; i++) {
		const struct request *r = &l->v[i];

		CHECK_EQ_U64(r->start_ns, (100 + 100 * i) * MS);
		CHECK_EQ_U64(r->first_byte_ns - r->start_ns, 1 * MS);
		CHECK_EQ_U64(r->first_token_ns - r->start_ns, 30 * MS);
		CHECK_EQ_U64(r->end_ns - r->start_ns, 40 * MS);
		CHECK_STR(r->id, "cmpl-lg-1");
		CHECK_STR(r->xrid, "lg-1");
		CHECK_STR(r->method, "POST");
		CHECK_STR(r->path, "/v1/completions");
		CHECK_EQ_U64(r->status, 200);
		CHECK(!r->aborted && !r->incomplete);
	}
	wire_free(w);
}

UNIT_TEST(wire_split_request_is_one)
{
	struct wire *w = wire_new();
	const char head[] = "POST /v1/completions HTTP/1.1\r\nContent-Length: 11\r\n\r\n";

	ev(w, FL_NET_IN, 5, 10 * MS, head, 0);
	ev(w, FL_NET_IN, 5, 30 * MS, "{\"prompt\":1}", 0); /* the body, 20 ms later */
	ev(w, FL_NET_OUT, 5, 50 * MS, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", 0);
	CHECK_EQ_U64(wire_requests(w)->n, 1);
	CHECK_EQ_U64(wire_requests(w)->v[0].start_ns, 10 * MS);
	CHECK_EQ_U64(wire_requests(w)->v[0].first_token_ns, 50 * MS);
	CHECK_EQ_U64(wire_requests(w)->v[0].end_ns, 50 * MS);
	wire_free(w);
}

UNIT_TEST(wire_split_header_block)
{
	struct wire *w = wire_new();

	ev(w, FL_NET_IN, 5, 10 * MS, "GET /health HTTP/1.1\r\nHo", 0);
	ev(w, FL_NET_IN, 5, 11 * MS, "st: x\r\n\r\n", 0);
	ev(w, FL_NET_OUT, 5, 12 * MS, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0);
	ev(w, FL_NET_IN, 5, 20 * MS, "GET /health HTTP/1.1\r\n\r\n", 0);
	ev(w, FL_NET_OUT, 5, 21 * MS, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0);
	CHECK_EQ_U64(wire_requests(w)->n, 2);
	CHECK_STR(wire_requests(w)->v[0].path, "/health");
	CHECK_EQ_U64(wire_requests(w)->v[1].start_ns, 20 * MS);
	wire_free(w);
}

UNIT_TEST(wire_pipelined_visible_and_hidden)
{
	struct wire *w = wire_new();
	const char two[] = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
			   "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nho";
	const char resp[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
	const struct reqlist *l;

	ev(w, FL_NET_IN, 5, 10 * MS, two, 0);
	ev(w, FL_NET_OUT, 5, 20 * MS, resp, 0);
	ev(w, FL_NET_OUT, 5, 30 * MS, resp, 0);
	/* three more in one read, only the first visible: 100 + 2x1000 bytes */
	ev(w, FL_NET_IN, 5, 40 * MS, "POST /c HTTP/1.1\r\nContent-Length: 61\r\n\r\n", 2100);
	for (int i = 0; i < 3; i++)
		ev(w, FL_NET_OUT, 5, (50 + 10 * i) * MS, resp, 0);
	l = wire_requests(w);
	CHECK_EQ_U64(l->n, 5);
	if (l->n == 5) {
		CHECK_STR(l->v[0].path, "/a");
		CHECK_STR(l->v[1].path, "/b");
		CHECK_EQ_U64(l->v[1].start_ns, 10 * MS);
		CHECK_EQ_U64(l->v[1].first_token_ns, 30 * MS);
		CHECK_STR(l->v[2].path, "/c");
		CHECK_EQ_U64(l->v[4].start_ns, 40 * MS);
		CHECK_EQ_U64(l->v[4].end_ns, 70 * MS);
	}
	wire_free(w);
}

UNIT_TEST(wire_client_disconnects_mid_stream)
{
	struct wire *w = wire_new();
	const struct request *r;

	ev(w, FL_NET_IN, 5, 10 * MS, req_a, 0);
	ev(w, FL_NET_OUT, 5, 11 * MS, head_sse, 0);
	ev(w, FL_NET_OUT, 5, 40 * MS, chunk1, 0);
	ev(w, FL_NET_CLOSE, 5, 90 * MS, NULL, 0); /* the next write failed with EPIPE */
	CHECK_EQ_U64(wire_requests(w)->n, 1);
	r = &wire_requests(w)->v[0];
	CHECK(r->aborted);
	CHECK_EQ_U64(r->first_token_ns, 40 * MS);
	CHECK_EQ_U64(r->end_ns, 40 * MS);
	/* the fd is reused for a new connection: a fresh state */
	ev(w, FL_NET_ACCEPT, 5, 100 * MS, NULL, 0);
	sse_exchange(w, 5, 110 * MS);
	CHECK_EQ_U64(wire_requests(w)->n, 2);
	CHECK(!wire_requests(w)->v[1].aborted);
	wire_free(w);
}

UNIT_TEST(wire_ignores_non_http_and_mid_stream_joins)
{
	struct wire *w = wire_new();

	ev(w, FL_NET_IN, 6, 10 * MS, "\x01\x02binary", 0);
	ev(w, FL_NET_OUT, 6, 11 * MS, "\x03reply", 0);
	ev(w, FL_NET_OUT, 7, 12 * MS, chunk1, 0); /* a response already under way at start */
	ev(w, FL_NET_OUT, 7, 13 * MS, last, 0);
	CHECK_EQ_U64(wire_requests(w)->n, 0);
	wire_free(w);
}

UNIT_TEST(wire_long_length_body_and_headers_with_first_token)
{
	struct wire *w = wire_new();
	char big[400];
	const struct request *r;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ev(w, FL_NET_IN, 5, 10 * MS, req_a, 0);
	/* headers and the first SSE chunk in one write (--headers with-first-token) */
	ev(w, FL_NET_OUT, 5, 20 * MS,
	   "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 1000\r\n\r\n"
	   "data: {\"id\":\"chatcmpl-9\"}",
	   0);
	ev(w, FL_NET_OUT, 5, 30 * MS, big, 500);
	ev(w, FL_NET_OUT, 5, 40 * MS, big, 475);
	r = &wire_requests(w)->v[0];
	CHECK_EQ_U64(r->first_token_ns, 20 * MS);
	CHECK_STR(r->id, "chatcmpl-9");
	CHECK_EQ_U64(r->end_ns, 40 * MS);
	wire_free(w);
}

UNIT_TEST(wire_lost_chunk_framing_recovers)
{
	struct wire *w = wire_new();
	char big[300];

	/* a write with two chunks, the second's header past the 256 captured bytes */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "f0\r\ndata: ", 10);
	ev(w, FL_NET_IN, 5, 10 * MS, req_a, 0);
	ev(w, FL_NET_OUT, 5, 11 * MS, head_sse, 0);
	ev(w, FL_NET_OUT, 5, 20 * MS, big, 600);
	ev(w, FL_NET_OUT, 5, 25 * MS, "junk", 0);
	ev(w, FL_NET_OUT, 5, 30 * MS, last, 0);
	sse_exchange(w, 5, 100 * MS);
	CHECK_EQ_U64(wire_requests(w)->n, 2);
	CHECK_EQ_U64(wire_requests(w)->v[0].first_token_ns, 20 * MS);
	CHECK_EQ_U64(wire_requests(w)->v[0].end_ns, 30 * MS);
	CHECK(!wire_requests(w)->v[0].aborted);
	wire_free(w);
}
