// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the wire as the live views use it: the same captured socket events (each:
 * 1 byte direction/fd, 2 bytes length, then that many payload bytes, as in fuzz_requests) go to
 * a wire drained after every event and to one read at the end. Every request must be handed over
 * at most once, with a sane window, and the two must agree on how many requests there were.
 */
#include "requests.h"
#include "wire.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void on_request(void *ctx, const struct request *r)
{
	size_t *n = ctx;

	if (r->first_token_ns && r->first_token_ns < r->start_ns)
		abort();
	(*n)++;
}

/* Decodes one event from DATA; returns the bytes it took (0: no more). */
static size_t next_event(const uint8_t *data, size_t size, uint64_t ts, struct fl_net *e)
{
	size_t n, cap;

	if (size < 3)
		return 0;
	n = (data[1] | data[2] << 8) % 600;
	memset(e, 0, sizeof(*e));
	e->h.type = FL_EV_NET;
	e->h.ts_ns = ts;
	e->pid = 1;
	e->dir = 1 + (data[0] & 3);
	e->fd = data[0] >> 4;
	cap = n < size - 3 ? n : size - 3;
	cap = cap < FL_NET_CAP ? cap : FL_NET_CAP;
	memcpy(e->data, data + 3, cap);
	e->cap_len = cap;
	e->bytes = n;
	return 3 + cap;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire *whole = wire_new(), *live = wire_new();
	const struct reqlist *rest;
	size_t handed = 0, open_no_token = 0, k;
	uint64_t ts = 1000;
	struct fl_net e;

	if (!whole || !live)
		goto out;
	/* 64 events of silence forget a connection: the table's idle sweep runs too */
	wire_set_idle_timeout(whole, 64000);
	wire_set_idle_timeout(live, 64000);
	while ((k = next_event(data, size, ts += 1000, &e))) {
		wire_event(whole, &e, sizeof(e) - FL_NET_CAP + e.cap_len);
		wire_event(live, &e, sizeof(e) - FL_NET_CAP + e.cap_len);
		wire_drain(live, on_request, &handed);
		data += k;
		size -= k;
	}
	rest = wire_requests(live);
	for (size_t i = 0; i < rest->n; i++)
		open_no_token += !rest->v[i].first_token_ns;
	if (handed + open_no_token != wire_requests(whole)->n)
		abort();
out:
	wire_free(whole);
	wire_free(live);
	return 0;
}
