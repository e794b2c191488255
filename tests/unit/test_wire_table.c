/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The wire's connection table: a hash that shrinks on close, process exit and idle timeout. */
#include "unit.h"
#include "util.h"
#include "wire.h"
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define MS 1000000ull
#define NCONN 40000

static const char req[] = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
static const char resp[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

static void ev(struct wire *w, uint32_t pid, uint32_t dir, int fd, uint64_t ts, const char *data)
{
	struct fl_net e = {
	    .h = {.type = FL_EV_NET, .tid = 7, .ts_ns = ts}, .pid = pid, .fd = fd, .dir = dir};
	size_t n = data ? strlen(data) : 0;

	e.cap_len = n < FL_NET_CAP ? n : FL_NET_CAP;
	memcpy(e.data, data ? data : "", e.cap_len);
	e.bytes = (int64_t)n;
	wire_event(w, &e, sizeof(e));
}

/* NCONN connections of two processes, each with one request answered, all open at once. */
static void open_many(struct wire *w, uint64_t t0)
{
	for (int i = 0; i < NCONN; i++) {
		uint32_t pid = 100 + (i & 1);
		int fd = 10 + i / 2;

		ev(w, pid, FL_NET_ACCEPT, fd, t0 + i, NULL);
		ev(w, pid, FL_NET_IN, fd, t0 + i, req);
	}
	for (int i = 0; i < NCONN; i++)
		ev(w, 100 + (i & 1), FL_NET_OUT, 10 + i / 2, t0 + NCONN + i, resp);
}

UNIT_TEST(wire_table_40k_connections_close)
{
	struct wire *w = wire_new();
	uint64_t t = clock_ns(CLOCK_MONOTONIC);
	uint64_t conns, ignored;

	open_many(w, MS);
	CHECK_EQ_U64(wire_conns_open(w), NCONN);
	CHECK_EQ_U64(wire_requests(w)->n, NCONN);
	for (int i = 0; i < NCONN; i += 2) /* every other one closes: the table keeps the rest */
		ev(w, 100, FL_NET_CLOSE, 10 + i / 2, 10 * MS, NULL);
	CHECK_EQ_U64(wire_conns_open(w), NCONN / 2);
	for (int i = 1; i < NCONN; i += 2) /* the survivors are still found: a second request */
		ev(w, 101, FL_NET_IN, 10 + i / 2, 11 * MS, req);
	CHECK_EQ_U64(wire_conns_open(w), NCONN / 2);
	CHECK_EQ_U64(wire_requests(w)->n, NCONN + NCONN / 2);
	for (int i = 1; i < NCONN; i += 2)
		ev(w, 101, FL_NET_CLOSE, 10 + i / 2, 12 * MS, NULL);
	CHECK_EQ_U64(wire_conns_open(w), 0);
	wire_stats(w, &conns, &ignored);
	CHECK_EQ_U64(conns, NCONN);
	printf("  %d connections opened, answered and closed in %.3f s (compared: table size "
	       "%d -> %d -> 0)\n",
	       NCONN, (clock_ns(CLOCK_MONOTONIC) - t) / 1e9, NCONN, NCONN / 2);
	wire_finish(w);
	wire_free(w);
}

UNIT_TEST(wire_table_process_exit_drops_its_connections)
{
	struct wire *w = wire_new();
	size_t aborted = 0;

	open_many(w, MS);
	ev(w, 100, FL_NET_IN, 10, 20 * MS, req); /* open when its process exits */
	wire_proc_exit(w, 100, 30 * MS);
	CHECK_EQ_U64(wire_conns_open(w), NCONN / 2);
	wire_proc_exit(w, 101, 31 * MS);
	CHECK_EQ_U64(wire_conns_open(w), 0);
	for (size_t i = 0; i < wire_requests(w)->n; i++)
		aborted += wire_requests(w)->v[i].aborted;
	CHECK_EQ_U64(aborted, 1);
	printf("  table size %d -> %d -> 0 on exits; requests aborted by the exit: %zu\n", NCONN,
	       NCONN / 2, aborted);
	wire_free(w);
}

UNIT_TEST(wire_table_idle_connections_expire)
{
	struct wire *w = wire_new();
	const uint64_t s = 1000 * MS;

	wire_set_idle_timeout(w, 60 * s);
	for (int fd = 3; fd < 1003; fd++)
		ev(w, 100, FL_NET_IN, fd, s, req); /* 1000 connections that never close */
	ev(w, 100, FL_NET_IN, 2000, 50 * s, req);  /* a newer one */
	CHECK_EQ_U64(wire_conns_open(w), 1001);
	ev(w, 100, FL_NET_OUT, 2000, 100 * s, resp); /* time goes on: the old ones go */
	CHECK_EQ_U64(wire_conns_open(w), 1);
	CHECK(wire_requests(w)->v[0].incomplete);
	ev(w, 100, FL_NET_IN, 5, 101 * s, req); /* an expired one comes back: a fresh entry */
	CHECK_EQ_U64(wire_conns_open(w), 2);
	printf("  table size 1001 -> 1 after 60 s idle, 2 when one comes back\n");
	wire_free(w);
}

static uint32_t gone_pid;

static bool running(uint32_t pid)
{
	return pid != gone_pid;
}

UNIT_TEST(wire_table_forget_gone_processes)
{
	struct wire *w = wire_new();

	for (int fd = 3; fd < 103; fd++) {
		ev(w, 100, FL_NET_IN, fd, MS, req);
		ev(w, 101, FL_NET_IN, fd, MS, req);
	}
	gone_pid = 100;
	wire_forget_gone(w, running);
	CHECK_EQ_U64(wire_conns_open(w), 100);
	gone_pid = 101;
	wire_forget_gone(w, running);
	CHECK_EQ_U64(wire_conns_open(w), 0);
	wire_free(w);
}

/* Random churn against a plain model: every (pid, fd) the model holds is in the table. */
UNIT_TEST(wire_table_churn_matches_a_model)
{
	static bool open[4][512];
	struct wire *w = wire_new();
	size_t n = 0, bad = 0;

	srand(7);
	for (int i = 0; i < 200000; i++) {
		int p = rand() % 4, fd = rand() % 512;
		bool close = rand() % 3 == 0;

		ev(w, 100 + p, close ? FL_NET_CLOSE : FL_NET_ACCEPT, fd, MS + i, NULL);
		n += !close && !open[p][fd];
		n -= close && open[p][fd];
		open[p][fd] = !close;
		if (wire_conns_open(w) != n)
			bad++;
	}
	CHECK_EQ_U64(bad, 0);
	for (int p = 0; p < 4; p++) /* an ACCEPT of an open one would not add: all are found */
		for (int fd = 0; fd < 512; fd++)
			if (open[p][fd])
				ev(w, 100 + p, FL_NET_ACCEPT, fd, 2 * MS, NULL);
	CHECK_EQ_U64(wire_conns_open(w), n);
	printf("  200000 random opens/closes: table size always equal to the model's (%zu at "
	       "the end)\n",
	       n);
	wire_free(w);
}
