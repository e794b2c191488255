/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The model's typed view of a recording's header and trailer (model_meta.c), and the figures
 * its finish step derives: the target that did the work, the duration, the overhead, the stall
 * percentiles. The printers read only these.
 */
#include "model.h"
#include "unit.h"
#include <stdlib.h>
#include <string.h>

/* A launcher (pid 10, sh) with one child (pid 11), and pid 20 that exec'd during the session. */
static const char header[] =
    "{\"tool\":\"faultline\",\"clocks\":{\"monotonic_ns\":1000000000,\"realtime_ns\":"
    "1700000000000000000,\"boottime_ns\":1000000500},"
    "\"host\":{\"hostname\":\"box\",\"kernel\":\"6.8.0\",\"machine\":\"x86_64\",\"cpus\":8,"
    "\"page_size\":4096,\"boot_id\":null,\"meminfo\":{\"MemTotal\":1024,\"Hugepagesize\":2048}},"
    "\"thp\":{\"enabled\":\"madvise\",\"defrag\":null,\"khugepaged_defrag\":\"1\"},"
    "\"hugepages\":{\"nr_hugepages\":\"4\"},"
    "\"options\":{\"children\":true,\"all\":false,\"ringbuf_bytes\":33554432,"
    "\"capture_payload\":true},"
    "\"targets\":[{\"pid\":10,\"comm\":\"sh\",\"exe\":\"/bin/sh\",\"cmdline\":[\"sh\",\"-c\","
    "\"x\"],\"env\":[],\"launcher_child\":{\"pid\":11,\"comm\":\"python3\"},"
    "\"allocator\":\"glibc\"},"
    "{\"pid\":20,\"comm\":\"run\",\"exe\":\"/bin/run\",\"cmdline\":null,\"allocator\":\"glibc\"}],"
    "\"probes\":{\"fault_user\":{\"attach\":\"tp_btf\",\"status\":\"ok\",\"reason\":null},"
    "\"fault_duration\":{\"attach\":null,\"status\":\"unavailable\",\"reason\":\"no kprobes\"}}}";

static const char trailer[] =
    "{\"stop_reason\":\"duration\",\"clocks\":{\"monotonic_ns\":3500000000},"
    "\"drops_per_cpu\":[1,2,3],"
    "\"counters\":{\"faults_user\":5,\"faults_kernel\":6,\"khugepaged_scans\":7,"
    "\"kcompactd_wakes\":8,\"compaction_deferred\":9},"
    "\"overhead\":{\"bpf_run_ns\":25000000,\"bpf_run_cnt\":1000,\"bpf_stats_enabled\":true,"
    "\"user_cpu_ns\":1500000000,\"sys_cpu_ns\":500000000,\"rss_anon_end_kb\":3136,"
    "\"ringbuf_bytes\":33554432},"
    "\"targets_end\":[{\"pid\":11,\"comm\":\"python3\",\"exe\":\"/usr/bin/python3\"},"
    "{\"pid\":20,\"comm\":\"worker\",\"exe\":\"/bin/worker\"}]}";

UNIT_TEST(model_meta_session)
{
	struct model m = {.path = "t.data"};
	const struct model_session *s = &m.session;
	const struct model_process *p;

	CHECK(model_meta_decode(&m, header) == 0);
	CHECK(s->have_meta && !s->have_trailer);
	CHECK_STR(s->host.hostname, "box");
	CHECK_STR(s->host.kernel, "6.8.0");
	CHECK(s->host.have_page_size && s->host.page_size == 4096);
	CHECK(s->host.boot_id == NULL);
	CHECK(s->host.have_mi[MI_MEM_TOTAL] && s->host.meminfo[MI_MEM_TOTAL] == 1024);
	CHECK(!s->host.have_mi[MI_MEM_AVAILABLE]);
	CHECK(s->host.have_mi[MI_HUGEPAGESIZE] && s->host.meminfo[MI_HUGEPAGESIZE] == 2048);
	CHECK_STR(s->thp.enabled, "madvise");
	CHECK(s->thp.defrag == NULL);	     /* null in the file */
	CHECK(s->thp.shmem_enabled == NULL); /* missing */
	CHECK_STR(s->hugepages.nr_hugepages, "4");
	CHECK(s->clocks.have_realtime && s->clocks.realtime_ns == 1700000000000000000ull);
	CHECK(s->opts.children && s->opts.capture_payload && !s->opts.all);
	CHECK_EQ_U64(s->opts.ringbuf_bytes, 33554432);
	CHECK_EQ_U64(s->ntargets, 2);
	p = &s->targets[0].start;
	CHECK(p->have_pid && p->pid == 10);
	CHECK_STR(p->comm, "sh");
	CHECK(p->cmdline.have && p->cmdline.n == 3);
	CHECK_STR(p->cmdline.v[2], "x");
	CHECK(p->env.have && p->env.n == 0);
	CHECK(p->have_launcher_child && p->child_pid == 11);
	CHECK_STR(p->child_comm, "python3");
	CHECK(!s->targets[1].start.cmdline.have);
	CHECK_STR(model_target_comm(&m, 20), "run");
	CHECK(model_target_comm(&m, 99) == NULL);
	model_free(&m);
}

UNIT_TEST(model_meta_probe_plan)
{
	struct model m = {.path = "t.data"};
	const struct model_probe *p;

	CHECK(model_meta_decode(&m, header) == 0);
	CHECK(m.probes.have);
	CHECK_EQ_U64(m.probes.n, 2);
	CHECK_STR(m.probes.probes[0].name, "fault_user"); /* the header's order */
	CHECK_STR(m.probes.probes[0].attach, "tp_btf");
	CHECK_STR(m.probes.probes[0].status, "ok");
	CHECK(m.probes.probes[0].reason == NULL);
	p = model_probe_find(&m, "fault_duration");
	CHECK(p && p->attach == NULL);
	CHECK_STR(p ? p->status : NULL, "unavailable");
	CHECK_STR(p ? p->reason : NULL, "no kprobes");
	CHECK(model_probe_find(&m, "requests") == NULL);
	model_free(&m);
}

/* The trailer, and what the finish step derives from both: workers, duration, overhead. */
UNIT_TEST(model_meta_trailer_and_overhead)
{
	struct model m = {.path = "t.data"};
	const struct model_session *s = &m.session;
	const struct model_overhead *oh = &m.overhead;

	CHECK(model_meta_decode(&m, header) == 0);
	CHECK(model_trailer_decode(&m, trailer) == 0);
	model_finish(&m);
	CHECK(s->have_trailer);
	CHECK_STR(s->stop_reason, "duration");
	CHECK_EQ_U64(m.dropped, 6);
	CHECK(m.counters.have && m.counters.khugepaged_scans == 7);
	CHECK_EQ_U64(m.counters.compaction_deferred, 9);
	/* the launcher's child did the work (traced with --children) */
	CHECK(s->targets[0].kind == WORKER_CHILD);
	CHECK(s->targets[0].worker && s->targets[0].worker->pid == 11);
	/* pid 20 exec'd another program: described as it was at the end */
	CHECK(s->targets[1].kind == WORKER_EXECD);
	CHECK_STR(s->targets[1].worker->comm, "worker");
	CHECK(s->duration_s == 2.5);
	CHECK(model_duration_s(&m) == 2.5);
	CHECK(oh->have && oh->bpf_stats_enabled);
	CHECK_EQ_U64(oh->bpf_run_cnt, 1000);
	CHECK(oh->bpf_ns_per_run == 25000.0);
	CHECK(oh->bpf_cpu_pct == 1.0); /* 25 ms of BPF in 2.5 s */
	CHECK(oh->user_cpu_s == 2.0);
	CHECK_EQ_U64(oh->max_rss_kb, 0); /* missing: 0 */
	model_free(&m);
}

/* A file cut short: no trailer, so no overhead, a duration from the events, the pid given. */
UNIT_TEST(model_meta_no_trailer)
{
	struct model m = {.path = "t.data", .first_ts = 1000000000, .last_ts = 1500000000};

	CHECK(model_meta_decode(&m, header) == 0);
	CHECK(model_trailer_decode(&m, NULL) == 0);
	model_finish(&m);
	CHECK(!m.session.have_trailer && !m.overhead.have && !m.counters.have);
	CHECK(m.session.stop_reason == NULL);
	CHECK(m.session.duration_s == 0.5);
	CHECK(m.session.targets[0].kind == WORKER_SELF);
	CHECK(m.session.targets[0].worker == &m.session.targets[0].start);
	model_free(&m);
}

/* Not JSON, or JSON of the wrong shape: decoded as missing, never a crash. */
UNIT_TEST(model_meta_malformed)
{
	struct model m = {.path = "t.data"};

	CHECK(model_meta_decode(&m, "{\"host\":\"x\",\"targets\":{},\"probes\":[1]}") == 0);
	CHECK(model_trailer_decode(&m, "[1,2]") == 0);
	model_finish(&m);
	CHECK(m.session.have_meta && !m.session.host.have && m.session.ntargets == 0);
	CHECK(!m.probes.have && m.probes.n == 0);
	CHECK(m.session.have_trailer && m.dropped == 0);
	model_free(&m);
	m = (struct model){.path = "t.data"};
	CHECK(model_meta_decode(&m, "{not json") == 0); /* said on stderr */
	CHECK(!m.session.have_meta && m.meta == NULL);
	model_free(&m);
}

/* Stall percentiles are computed once, where the model is finished: the printers read them. */
UNIT_TEST(model_stall_percentiles)
{
	struct model m = {.path = "t.data"};
	const struct stall_stats *st = &m.stalls[FL_CAUSE_DIRECT_RECLAIM];

	m.nstalls = m.cap_stalls = 100;
	m.stall_list = calloc(m.nstalls, sizeof(*m.stall_list));
	CHECK(m.stall_list != NULL);
	if (!m.stall_list)
		return;
	for (size_t i = 0; i < m.nstalls; i++) /* 100..1 us, out of order */
		m.stall_list[i] = (struct stall_rec){
		    .ts_ns = i, .dur_ns = (100 - i) * 1000, .cause = FL_CAUSE_DIRECT_RECLAIM};
	model_finish(&m);
	CHECK_EQ_U64(st->count, 100);
	CHECK_EQ_U64(st->p50_ns, 50000);
	CHECK_EQ_U64(st->p99_ns, 99000);
	CHECK_EQ_U64(st->max_ns, 100000);
	CHECK_EQ_U64(m.stalls[FL_CAUSE_FAULT].max_ns, 0); /* none */
	model_free(&m);
}
