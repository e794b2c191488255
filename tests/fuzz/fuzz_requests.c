// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the request inputs faultline does not control:
 *   1. client logs (vllm bench JSON, JSON lines) through requests_parse(), with both clocks;
 *   2. the same bytes as a stream of captured socket events fed to the wire state machine
 *      (each event: 1 byte direction/fd, 2 bytes length, then that many payload bytes).
 * It checks the parsers' promises: 0 with sane windows, or -EINVAL with a terminated message.
 */
#include "requests.h"
#include "wire.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_list(const struct reqlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct request *r = &l->v[i];

		if (r->end_ns < r->start_ns ||
		    (r->first_token_ns && r->first_token_ns < r->start_ns))
			abort();
		if (!memchr(r->id, 0, sizeof(r->id)))
			abort();
	}
}

static void fuzz_logs(const uint8_t *data, size_t size)
{
	static const struct req_clockmap cms[] = {
	    {.clock = REQ_CLOCK_MONOTONIC},
	    {.clock = REQ_CLOCK_REALTIME,
	     .real_minus_mono_ns = 1700000000000000000ll,
	     .have_pair = true},
	};

	for (size_t k = 0; k < 2; k++) {
		struct reqlist l = {};
		char err[256];
		int rc;

		memset(err, 'x', sizeof(err));
		rc =
		    requests_parse("fuzz", (const char *)data, size, &cms[k], &l, err, sizeof(err));
		if (rc && (rc != -EINVAL || !memchr(err, 0, sizeof(err))))
			abort();
		if (!rc)
			check_list(&l);
		reqlist_free(&l);
	}
}

static void fuzz_wire(const uint8_t *data, size_t size)
{
	struct wire *w = wire_new();
	struct fl_net e;
	uint64_t ts = 1000;

	if (!w)
		return;
	while (size >= 3) {
		size_t n = (data[1] | data[2] << 8) % 600, cap;

		memset(&e, 0, sizeof(e));
		e.h.type = FL_EV_NET;
		e.h.ts_ns = ts += 1000;
		e.pid = 1;
		e.dir = 1 + (data[0] & 3);
		e.fd = data[0] >> 4;
		data += 3;
		size -= 3;
		cap = n < size ? n : size;
		cap = cap < FL_NET_CAP ? cap : FL_NET_CAP;
		memcpy(e.data, data, cap);
		e.cap_len = cap;
		e.bytes = n;
		wire_event(w, &e, sizeof(e) - FL_NET_CAP + cap);
		data += cap;
		size -= cap;
	}
	wire_finish(w);
	check_list(wire_requests(w));
	wire_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_logs(data, size);
	fuzz_wire(data, size);
	return 0;
}
