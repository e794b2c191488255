// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The live views' arithmetic (snapshot deltas, log2 percentiles), --listen and -i parsing, and the
 * Prometheus exposition of faultline serve. */
#include "live.h"
#include "serve.h"
#include "unit.h"
#include <stdlib.h>

UNIT_TEST(live_thread_deltas)
{
	struct live_thread prev_t[2] = {{.tid = 10}, {.tid = 20}}, cur = {.tid = 20};
	struct live_snap prev = {.threads = prev_t, .nthreads = 2};
	struct fl_tstat d;

	prev_t[0].st.pid = prev_t[1].st.pid = cur.st.pid = 5;
	prev_t[1].st.faults = 100;
	prev_t[1].st.stall_ns[FL_CAUSE_MMAP_LOCK_WAIT] = 1000;
	cur.st.faults = 150;
	cur.st.stall_ns[FL_CAUSE_MMAP_LOCK_WAIT] = 4000;
	live_thread_delta(&prev, &cur, &d);
	CHECK_EQ_U64(d.faults, 50);
	CHECK_EQ_U64(d.stall_ns[FL_CAUSE_MMAP_LOCK_WAIT], 3000);
	/* evicted and re-created by the LRU map: counts from zero again */
	cur.st.faults = 7;
	live_thread_delta(&prev, &cur, &d);
	CHECK_EQ_U64(d.faults, 7);
	/* a new thread, or the tid reused by another process: everything is new */
	cur.tid = 30;
	cur.st.faults = 9;
	live_thread_delta(&prev, &cur, &d);
	CHECK_EQ_U64(d.faults, 9);
	cur.tid = 20;
	cur.st.pid = 6;
	live_thread_delta(&prev, &cur, &d);
	CHECK_EQ_U64(d.faults, 9);
}

UNIT_TEST(live_interval_parsing)
{
	uint64_t ms = 0;

	CHECK(!live_parse_interval("1", &ms) && ms == 1000);
	CHECK(!live_parse_interval("0.2", &ms) && ms == 200);
	CHECK(!live_parse_interval("1.5s", &ms) && ms == 1500);
	CHECK(!live_parse_interval("500ms", &ms) && ms == 500);
	CHECK(live_parse_interval("0", &ms));
	CHECK(live_parse_interval("-1", &ms));
	CHECK(live_parse_interval("abc", &ms));
	CHECK(live_parse_interval("1x", &ms));
	CHECK(live_parse_interval("", &ms));
}

UNIT_TEST(serve_listen_parsing)
{
	char host[64];
	uint16_t port = 0;

	CHECK(!serve_parse_listen("127.0.0.1:9464", host, sizeof(host), &port));
	CHECK(!strcmp(host, "127.0.0.1") && port == 9464);
	CHECK(!serve_parse_listen("[::1]:80", host, sizeof(host), &port));
	CHECK(!strcmp(host, "::1") && port == 80);
	CHECK(!serve_parse_listen("localhost:0", host, sizeof(host), &port) && port == 0);
	CHECK(serve_parse_listen("x", host, sizeof(host), &port));
	CHECK(serve_parse_listen(":9464", host, sizeof(host), &port));
	CHECK(serve_parse_listen("127.0.0.1:", host, sizeof(host), &port));
	CHECK(serve_parse_listen("127.0.0.1:65536", host, sizeof(host), &port));
	CHECK(serve_parse_listen("::1:9464", host, sizeof(host), &port));
	CHECK(serve_parse_listen("[::1]9464", host, sizeof(host), &port));
}

UNIT_TEST(serve_exposition)
{
	struct serve_metrics m = {.pid = 42, .up = true};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	strcpy(m.comm, "a\"b\\c");
	m.counters[FL_CNT_FAULTS_USER] = 7;
	m.hist[FL_CAUSE_DIRECT_COMPACTION][3] = 1;  /* below 1 us: in the first bucket */
	m.hist[FL_CAUSE_DIRECT_COMPACTION][12] = 2; /* [4096, 8192) ns */
	m.hist[FL_CAUSE_DIRECT_COMPACTION][FL_HIST_SLOTS - 1] = 1; /* only in +Inf */
	m.stall_ns[FL_CAUSE_DIRECT_COMPACTION] = 1500000000;
	m.bpf_stats_on = true;
	m.nprogs = 2;
	m.progs[0] = (struct session_prog_stat){"fl_pf_user_btf", 2500000000, 40000000};
	m.progs[1] = (struct session_prog_stat){"fl_rss", 0, 0};
	serve_render(f, &m);
	fclose(f);
	CHECK(strstr(buf, "faultline_up{pid=\"42\",comm=\"a\\\"b\\\\c\"} 1\n"));
	CHECK(strstr(buf, ",kind=\"user\"} 7\n"));
	CHECK(strstr(buf, "cause=\"direct_compaction\",le=\"1.024e-06\"} 1\n"));
	CHECK(strstr(buf, "cause=\"direct_compaction\",le=\"4.096e-06\"} 1\n"));
	CHECK(strstr(buf, "cause=\"direct_compaction\",le=\"8.192e-06\"} 3\n"));
	CHECK(strstr(buf, "cause=\"direct_compaction\",le=\"2.147483648\"} 3\n"));
	CHECK(strstr(buf, "cause=\"direct_compaction\",le=\"+Inf\"} 4\n"));
	CHECK(strstr(buf, "cause=\"direct_compaction\"} 1.500000000\n"));
	CHECK(strstr(buf, "# TYPE faultline_stall_seconds histogram\n"));
	/* no fault durations: no fault histogram rather than an empty one that looks like data */
	CHECK(!strstr(buf, "cause=\"fault\""));
	CHECK(strstr(buf, "faultline_bpf_stats_enabled{pid=\"42\",comm=\"a\\\"b\\\\c\"} 1\n"));
	CHECK(strstr(buf, ",prog=\"fl_pf_user_btf\"} 2.500000000\n"));
	CHECK(strstr(buf, "faultline_bpf_runs_total{pid=\"42\",comm=\"a\\\"b\\\\c\",prog=\"fl_pf_"
			  "user_btf\"} 40000000\n"));
	CHECK(strstr(
	    buf, "faultline_bpf_runs_total{pid=\"42\",comm=\"a\\\"b\\\\c\",prog=\"fl_rss\"} 0\n"));
	CHECK(strstr(buf, "# TYPE faultline_bpf_run_time_seconds_total counter\n"));
	free(buf);
}
