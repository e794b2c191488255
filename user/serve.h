/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* faultline serve: what /metrics shows, and the Prometheus text exposition (format 0.0.4). */
#ifndef FL_SERVE_H
#define FL_SERVE_H

#include "faultline.h"
#include "livereq.h"
#include "session.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Cumulative since the current target was attached; a new target (--match) starts at 0. */
struct serve_metrics {
	int pid;       /* the target now, 0 while there is none */
	char comm[32]; /* the last target's comm */
	bool up;
	bool have_fault_dur;
	bool have_alloc; /* --alloc=full: per-function allocator histograms */
	uint64_t alloc_hist[FL_AF_MAX][FL_HIST_SLOTS];
	uint64_t alloc_ns[FL_AF_MAX];
	uint64_t hist[FL_CAUSE_MAX][FL_HIST_SLOTS];
	uint64_t counters[FL_CNT_MAX];
	uint64_t stall_ns[FL_CAUSE_MAX];
	uint64_t faults_major;
	uint64_t bpf_run_ns, self_cpu_ns;
	struct session_prog_stat progs[SESSION_MAX_PROGS]; /* per BPF program of faultline's */
	int nprogs;
	bool bpf_stats_on;  /* the kernel counts BPF run time (else those stay 0) */
	bool have_requests; /* request capture on the wire is active */
	uint64_t requests_total;
	uint64_t ttfb_buckets[LIVEREQ_NBUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
	uint64_t ttfb_count, ttfb_sum_ns;
	int last_pid; /* labels keep naming the last target while there is none */
	/* serve's own clients closed before their answer: dropped for a newer one, refused, late */
	uint64_t clients_dropped, clients_refused, clients_timed_out;
	/* serve --flight */
	bool have_flight;
	uint64_t flight_dumps, flight_suppressed, flight_failed;
	uint64_t flight_ring_bytes,
	    flight_window_ns; /* held in memory now, and the time it spans */
};

void serve_render(FILE *f, const struct serve_metrics *m);
/* "127.0.0.1:9464", "[::1]:9464" -> HOST and PORT. 0 or -EINVAL. */
int serve_parse_listen(const char *spec, char *host, size_t hlen, uint16_t *port);

#define SERVE_REQ_MAX 4096 /* a request head longer than this is refused */
/*
 * The request head in BUF (LEN bytes, any bytes): 1 when complete, METHOD and PATH (its query
 * string cut) filled in; 0 while more is needed; -EINVAL when it is not a request line serve
 * takes; -E2BIG when no head ends within SERVE_REQ_MAX bytes.
 */
int serve_parse_request(const char *buf, size_t len, char *method, size_t mlen, char *path,
			size_t plen);

#endif
