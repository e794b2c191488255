// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Requests in the live views: ring buffer -> wire state machine -> counts and TTFTs. */
#include "livereq.h"
#include "faultline.h"
#include "live.h"
#include "probes.h"
#include "session.h"
#include "util.h"
#include "wire.h"
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <time.h>

const double livereq_bucket_le_s[LIVEREQ_NBUCKETS] = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
    1.0,   2.5,	  5.0,	7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
};

/* The ring buffer's callback: only FL_EV_NET is emitted for the live views (but serve --flight). */
static int on_event(void *ctx, void *data, size_t size)
{
	struct livereq *lr = ctx;
	const struct fl_hdr *h = data;

	if (size < sizeof(*h))
		return 0;
	if (lr->wire && h->type == FL_EV_NET)
		wire_event(lr->wire, data, size);
	return lr->next ? lr->next(lr->next_ctx, data, size) : 0;
}

static void on_request(void *ctx, const struct request *r)
{
	livereq_count(ctx, r->start_ns, r->first_token_ns);
}

void livereq_count(struct livereq *lr, uint64_t start_ns, uint64_t first_token_ns)
{
	uint64_t ttft_ns;
	int b = 0;

	lr->total++;
	lr->interval_reqs++;
	if (!first_token_ns)
		return; /* aborted before its first token: counted, no time to first token */
	ttft_ns = first_token_ns > start_ns ? first_token_ns - start_ns : 0;
	u64vec_push(&lr->interval_ttft_ns, ttft_ns);
	while (b < LIVEREQ_NBUCKETS && ttft_ns > livereq_bucket_le_s[b] * 1e9)
		b++;
	lr->ttft_buckets[b]++;
	lr->ttft_count++;
	lr->ttft_sum_ns += ttft_ns;
}

int livereq_open(struct livereq *lr, struct session *s)
{
	int err;

	memset(lr, 0, sizeof(*lr));
	lr->on = probe_plan_active(&s->plan, "requests");
	if (!lr->on && !s->opts.emit_events)
		return 0;
	if (lr->on && !(lr->wire = wire_new()))
		return -ENOMEM;
	err = session_ring_open(s, on_event, lr);
	if (err) {
		wire_free(lr->wire);
		lr->wire = NULL;
		lr->on = false;
		return err;
	}
	return 0;
}

int livereq_fd(const struct livereq *lr, struct session *s)
{
	return s->rb ? ring_buffer__epoll_fd(s->rb) : -1;
}

static bool pid_running(uint32_t pid)
{
	return live_pid_running((int)pid);
}

int livereq_poll(struct livereq *lr, struct session *s, int timeout_ms)
{
	uint64_t now;
	int err;

	if (!s->rb)
		return 0;
	err = session_poll(s, timeout_ms);
	if (!lr->on)
		return err;
	/* the live views get no exit events: once a second, forget the exited processes' sockets */
	now = clock_ns(CLOCK_MONOTONIC);
	if (now >= lr->next_prune_ns) {
		wire_forget_gone(lr->wire, pid_running);
		lr->next_prune_ns = now + 1000000000ull;
	}
	wire_drain(lr->wire, on_request, lr);
	return err;
}

void livereq_interval_reset(struct livereq *lr)
{
	lr->interval_reqs = 0;
	lr->interval_ttft_ns.n = 0;
	lr->interval_ttft_ns.sorted = false;
}

void livereq_close(struct livereq *lr)
{
	wire_free(lr->wire);
	u64vec_free(&lr->interval_ttft_ns);
	memset(lr, 0, sizeof(*lr));
}
