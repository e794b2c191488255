/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The wire as the live views use it (wire_drain after every event): the same requests as the
 * whole-recording path, each handed over once, at its first token or its end, and nothing kept
 * once every connection is done. Then livereq's counts and Prometheus buckets.
 */
#include "livereq.h"
#include "unit.h"
#include "wire.h"
#include <stdlib.h>

#define MS 1000000ull

struct step {
	uint32_t dir;
	int fd;
	uint64_t ts_ms;
	const char *data;
	int64_t bytes; /* 0: strlen(data) */
};

static const char req_post[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
			       "Content-Length: 2\r\n\r\nhi";
static const char req_get[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
static const char head_sse[] = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
			       "transfer-encoding: chunked\r\n\r\n";
static const char tok[] = "e\r\ndata: {\"x\":1}\n\n\r\n";
static const char last[] = "0\r\n\r\n";
static const char ok2[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/* Three connections interleaved: keep-alive SSE on 5, pipelined plain requests on 6, and on 7 a
 * client that goes away before its first token. */
static const struct step script[] = {
    {FL_NET_ACCEPT, 5, 1, NULL, 0},
    {FL_NET_IN, 5, 10, req_post, 0},
    {FL_NET_OUT, 5, 11, head_sse, 0},
    {FL_NET_ACCEPT, 6, 12, NULL, 0},
    {FL_NET_IN, 6, 13, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 0},
    {FL_NET_ACCEPT, 7, 14, NULL, 0},
    {FL_NET_IN, 7, 15, req_post, 0},
    {FL_NET_OUT, 5, 30, tok, 0}, /* first token of fd 5's first request: 20 ms */
    {FL_NET_OUT, 6, 31, ok2, 0},
    {FL_NET_OUT, 5, 35, tok, 0},
    {FL_NET_OUT, 6, 36, ok2, 0},
    {FL_NET_OUT, 5, 40, last, 0},
    {FL_NET_IN, 5, 50, req_post, 0}, /* the second request on fd 5 */
    {FL_NET_CLOSE, 7, 55, NULL, 0},  /* fd 7 never answered */
    {FL_NET_OUT, 5, 56, head_sse, 0},
    {FL_NET_IN, 6, 57, req_get, 0},
    {FL_NET_OUT, 5, 90, tok, 0}, /* 40 ms */
    {FL_NET_OUT, 6, 91, ok2, 0},
    {FL_NET_OUT, 5, 95, last, 0},
    {FL_NET_CLOSE, 6, 100, NULL, 0},
    {FL_NET_CLOSE, 5, 101, NULL, 0},
};

#define NSTEPS (sizeof(script) / sizeof(script[0]))

static void feed(struct wire *w, const struct step *s)
{
	struct fl_net e = {.h = {.type = FL_EV_NET, .tid = 7, .ts_ns = s->ts_ms * MS},
			   .pid = 42,
			   .fd = s->fd,
			   .dir = s->dir};
	size_t n = s->data ? strlen(s->data) : 0;

	e.cap_len = n < FL_NET_CAP ? n : FL_NET_CAP;
	memcpy(e.data, s->data ? s->data : "", e.cap_len);
	e.bytes = s->bytes ? s->bytes : (int64_t)n;
	wire_event(w, &e, sizeof(e));
}

struct handed {
	struct request v[16];
	size_t n;
	size_t at_step[16]; /* the step after which it was handed over */
	size_t step;
	size_t total;
};

static void collect(void *ctx, const struct request *r)
{
	struct handed *h = ctx;

	h->total++;
	if (h->n < 16) {
		h->at_step[h->n] = h->step;
		h->v[h->n++] = *r;
	}
}

static const struct request *find(const struct handed *h, uint64_t start_ns, const char *path)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].start_ns == start_ns && !strcmp(h->v[i].path, path))
			return &h->v[i];
	return NULL;
}

/* Feeds the whole script to WHOLE (the recording's path) and to W, handing W's requests to H with
 * DRAIN after each step; returns WHOLE's requests once it is finished. */
static const struct reqlist *play(struct wire *whole, struct wire *w,
				  size_t (*drain)(struct wire *, wire_req_fn, void *),
				  struct handed *h)
{
	for (h->step = 0; h->step < NSTEPS; h->step++) {
		feed(whole, &script[h->step]);
		feed(w, &script[h->step]);
		drain(w, collect, h);
	}
	wire_finish(whole);
	return wire_requests(whole);
}

UNIT_TEST(wire_drain_hands_each_request_once_like_the_recording)
{
	struct wire *whole = wire_new(), *live = wire_new();
	struct handed h = {};
	const struct reqlist *l;

	l = play(whole, live, wire_drain, &h);
	CHECK_EQ_U64(l->n, 6);
	CHECK_EQ_U64(h.n, l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct request *r = find(&h, l->v[i].start_ns, l->v[i].path);

		CHECK(r != NULL);
		if (!r)
			continue;
		CHECK_EQ_U64(r->first_token_ns, l->v[i].first_token_ns);
		CHECK_EQ_U64(r->first_byte_ns, l->v[i].first_byte_ns);
	}
	/* at the first token, not at the end of the stream */
	CHECK_EQ_U64(h.v[0].first_token_ns - h.v[0].start_ns, 20 * MS);
	CHECK_EQ_U64(h.at_step[0], 7);
	/* the unanswered one at its close, with no first token */
	CHECK(find(&h, 15 * MS, "/v1/completions") &&
	      !find(&h, 15 * MS, "/v1/completions")->first_token_ns);
	/* fd 5's second request, after the first one was forgotten (indexes renumbered) */
	CHECK(find(&h, 50 * MS, "/v1/completions") &&
	      find(&h, 50 * MS, "/v1/completions")->first_token_ns == 90 * MS);
	CHECK_EQ_U64(wire_requests(live)->n, 0); /* nothing kept once every connection is done */
	wire_free(whole);
	wire_free(live);
}

UNIT_TEST(wire_drain_keeps_open_requests_until_their_first_token)
{
	struct wire *w = wire_new();
	struct handed h = {};

	for (h.step = 0; h.step < 3; h.step++) { /* request and headers only */
		feed(w, &script[h.step]);
		CHECK_EQ_U64(wire_drain(w, collect, &h), 0);
	}
	CHECK_EQ_U64(wire_requests(w)->n, 1);
	for (int i = 0; i < 1000; i++) { /* many keep-alive exchanges: memory stays bounded */
		struct step s[] = {{FL_NET_OUT, 5, 30 + 100 * i, tok, 0},
				   {FL_NET_OUT, 5, 40 + 100 * i, last, 0},
				   {FL_NET_IN, 5, 100 + 100 * i, req_post, 0},
				   {FL_NET_OUT, 5, 101 + 100 * i, head_sse, 0}};

		for (size_t k = 0; k < 4; k++) {
			feed(w, &s[k]);
			wire_drain(w, collect, &h);
		}
		CHECK(wire_requests(w)->n <= 1);
	}
	CHECK_EQ_U64(h.total, 1000); /* the last one has no first token yet */
	wire_free(w);
}

/* record's path: each request handed over once it is over, with its final end and byte counts. */
UNIT_TEST(wire_drain_ended_hands_requests_over_when_over)
{
	struct wire *whole = wire_new(), *rec = wire_new();
	struct handed h = {};
	const struct reqlist *l;

	l = play(whole, rec, wire_drain_ended, &h);
	wire_finish(rec);
	wire_drain_ended(rec, collect, &h);
	CHECK_EQ_U64(h.total, l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct request *r = find(&h, l->v[i].start_ns, l->v[i].path);

		CHECK(r != NULL);
		if (!r)
			continue;
		CHECK_EQ_U64(r->first_token_ns, l->v[i].first_token_ns);
		CHECK_EQ_U64(r->end_ns, l->v[i].end_ns);
		CHECK_EQ_U64(r->aborted, l->v[i].aborted);
		CHECK_EQ_U64(r->in_bytes, l->v[i].in_bytes);
		CHECK_EQ_U64(r->out_bytes, l->v[i].out_bytes);
	}
	/* fd 5's first request: at its last chunk (step 11), not at its first token (step 7) */
	for (size_t i = 0; i < h.n; i++) {
		if (h.v[i].start_ns != 10 * MS)
			continue;
		CHECK_EQ_U64(h.v[i].end_ns, 40 * MS);
		CHECK_EQ_U64(h.at_step[i], 11);
		CHECK_EQ_U64(h.v[i].in_bytes, strlen(req_post));
		CHECK_EQ_U64(h.v[i].out_bytes, strlen(head_sse) + 2 * strlen(tok) + strlen(last));
	}
	CHECK(find(&h, 10 * MS, "/v1/completions") != NULL);
	CHECK_EQ_U64(wire_requests(rec)->n, 0);
	wire_free(whole);
	wire_free(rec);
}

UNIT_TEST(livereq_counts_and_prometheus_buckets)
{
	struct livereq lr = {};

	livereq_count(&lr, 0, 500000);	      /* 0.5 ms: le 0.001 */
	livereq_count(&lr, 10 * MS, 15 * MS); /* exactly 5 ms: le 0.005 */
	livereq_count(&lr, 0, 3000000 * MS);  /* 3000 s: +Inf */
	livereq_count(&lr, 7 * MS, 0);	      /* no first token: counted, no TTFB */
	CHECK_EQ_U64(lr.total, 4);
	CHECK_EQ_U64(lr.interval_reqs, 4);
	CHECK_EQ_U64(lr.ttft_count, 3);
	CHECK_EQ_U64(lr.ttft_buckets[0], 1);
	CHECK_EQ_U64(lr.ttft_buckets[1], 1);
	CHECK_EQ_U64(lr.ttft_buckets[LIVEREQ_NBUCKETS], 1);
	CHECK_EQ_U64(lr.ttft_sum_ns, 500000 + 5 * MS + 3000000 * MS);
	CHECK_EQ_U64(u64vec_pct(&lr.interval_ttft_ns, 50), 5 * MS);
	livereq_interval_reset(&lr);
	CHECK_EQ_U64(lr.interval_reqs, 0);
	CHECK_EQ_U64(u64vec_pct(&lr.interval_ttft_ns, 50), 0);
	CHECK_EQ_U64(lr.total, 4);
	livereq_close(&lr);
}
