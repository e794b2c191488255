/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Requests in the live views (top, serve). The BPF side emits only FL_EV_NET events for them
 * (cfg_emit_net; no fault or stall events), into a small ring buffer read on a short timer. They
 * go through the wire state machine (user/wire.c) as they come, and each request is counted once:
 * at its first token (first response body byte), or at its end when none came. top takes the
 * exact times to first token of each interval; serve keeps cumulative Prometheus buckets, the
 * ones vLLM uses for vllm:time_to_first_token_seconds, so the two line up on a dashboard.
 */
#ifndef FL_LIVEREQ_H
#define FL_LIVEREQ_H

#include "hist.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIVEREQ_RINGBUF_BYTES (4u << 20)
#define LIVEREQ_NBUCKETS 22

struct session;
struct wire;

/* Upper bounds (le, seconds) of the TTFB buckets; a last, implicit one is +Inf. */
extern const double livereq_bucket_le_s[LIVEREQ_NBUCKETS];

struct livereq {
	struct wire *wire;
	bool on; /* request capture is in the probe plan */
	/* since livereq_interval_reset (top) */
	uint64_t interval_reqs;
	struct u64vec interval_ttft_ns; /* exact */
	/* since the view started (serve) */
	uint64_t total;				     /* requests counted */
	uint64_t ttft_buckets[LIVEREQ_NBUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t ttft_count, ttft_sum_ns;
	uint64_t next_prune_ns; /* CLOCK_MONOTONIC: next look for exited processes' sockets */
	/* serve --flight: every event of the full stream (emit_events) goes on to this too */
	int (*next)(void *ctx, void *data, size_t size);
	void *next_ctx;
};

/*
 * Opens the ring buffer when the session captures requests (else LR stays off), or emits every
 * event (serve --flight: LR->next takes them). 0 or -errno.
 */
int livereq_open(struct livereq *lr, struct session *s);
/* The ring buffer's epoll fd, readable when a batch is waiting; -1 when off. */
int livereq_fd(const struct livereq *lr, struct session *s);
/* Consumes what the ring buffer holds (waiting up to TIMEOUT_MS) and counts finished requests. */
int livereq_poll(struct livereq *lr, struct session *s, int timeout_ms);
/* Counts one request (the wire's hand-over; exposed for the unit tests). */
void livereq_count(struct livereq *lr, uint64_t start_ns, uint64_t first_token_ns);
void livereq_interval_reset(struct livereq *lr);
void livereq_close(struct livereq *lr);

#endif
