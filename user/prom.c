// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Prometheus text exposition format (0.0.4) of faultline serve's metrics. The in-kernel
 * log2 histograms map onto Prometheus buckets directly: slot i holds [2^i, 2^(i+1)) ns, so its
 * upper bound is le = 2^(i+1) ns. Buckets below 1 us are folded into the first one.
 */
#include "model.h"
#include "serve.h"
#include "uprobes.h"
#include "util.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FIRST_SLOT 9 /* le = 1.024 us */

/*
 * pid="..",comm=".." with the value escaped as the format asks (\\, \", \n). The format allows
 * any UTF-8 there, but a comm is the target's to choose: other control characters and bytes that
 * are not UTF-8 become U+FFFD, so a scrape is valid UTF-8 and holds no terminal escape.
 */
static void labels(FILE *f, const struct serve_metrics *m)
{
	int pid = m->pid ? m->pid : m->last_pid;

	if (pid)
		fprintf(f, "pid=\"%d\",comm=\"", pid);
	else
		fprintf(f, "pid=\"\",comm=\"");
	for (const unsigned char *c = (const unsigned char *)m->comm; *c;) {
		int l = utf8_seq_len(c, strlen((const char *)c));

		if (*c == '\\' || *c == '"')
			fprintf(f, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", f);
		else if (!l || *c < 0x20 || *c == 0x7f || (l == 2 && *c == 0xc2 && c[1] < 0xa0))
			fputs("\xef\xbf\xbd", f); /* U+FFFD */
		else
			fwrite(c, 1, l, f);
		c += l ? l : 1;
	}
	fputc('"', f);
}

static void meta(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const struct serve_metrics *m, const char *name, const char *extra,
		   uint64_t v)
{
	fprintf(f, "%s{", name);
	labels(f, m);
	fprintf(f, "%s} %" PRIu64 "\n", extra, v);
}

static void sample_s(FILE *f, const struct serve_metrics *m, const char *name, const char *extra,
		     uint64_t ns)
{
	fprintf(f, "%s{", name);
	labels(f, m);
	fprintf(f, "%s} %.9f\n", extra, ns / 1e9);
}

/* One histogram series set: NAME_bucket{..,le}, NAME_sum, NAME_count. */
static void histogram(FILE *f, const struct serve_metrics *m, const char *name, const char *lkey,
		      const char *lval, const uint64_t *slots, uint64_t sum_ns)
{
	char extra[96], le[64];
	uint64_t cum = 0;

	for (int i = 0; i < FL_HIST_SLOTS; i++) {
		cum += slots[i];
		if (i < FIRST_SLOT || i == FL_HIST_SLOTS - 1)
			continue; /* the last slot holds everything above: that is +Inf */
		snprintf(le, sizeof(le), "%.10g", (double)(2ull << i) / 1e9);
		snprintf(extra, sizeof(extra), ",%s=\"%s\",le=\"%s\"", lkey, lval, le);
		fprintf(f, "%s_bucket{", name);
		labels(f, m);
		fprintf(f, "%s} %" PRIu64 "\n", extra, cum);
	}
	snprintf(extra, sizeof(extra), ",%s=\"%s\",le=\"+Inf\"", lkey, lval);
	fprintf(f, "%s_bucket{", name);
	labels(f, m);
	fprintf(f, "%s} %" PRIu64 "\n", extra, cum);
	snprintf(extra, sizeof(extra), ",%s=\"%s\"", lkey, lval);
	fprintf(f, "%s_sum{", name);
	labels(f, m);
	fprintf(f, "%s} %.9f\n", extra, sum_ns / 1e9);
	fprintf(f, "%s_count{", name);
	labels(f, m);
	fprintf(f, "%s} %" PRIu64 "\n", extra, cum);
}

static void stall_histograms(FILE *f, const struct serve_metrics *m)
{
	meta(f, "faultline_stall_seconds", "histogram",
	     "Time the target's threads were stalled, by cause (fault: needs fault durations).");
	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		if (c == FL_CAUSE_ALLOC || c == FL_CAUSE_PINNED)
			continue;
		if (c == FL_CAUSE_FAULT && !m->have_fault_dur)
			continue;
		histogram(f, m, "faultline_stall_seconds", "cause", fl_cause_names[c], m->hist[c],
			  m->stall_ns[c]);
	}
	if (m->have_alloc) {
		meta(f, "faultline_alloc_call_seconds", "histogram",
		     "Duration of the target's allocator calls (--alloc=full), by function.");
		for (unsigned int fn = 0; fn < FL_AF_MAX; fn++)
			histogram(f, m, "faultline_alloc_call_seconds", "func", alloc_fn_name(fn),
				  m->alloc_hist[fn], m->alloc_ns[fn]);
	}
	/* Pinned-memory calls have one in-kernel histogram for all functions. */
	meta(f, "faultline_pinned_call_seconds", "histogram",
	     "Duration of the target's pinned-memory calls (cudaHostRegister...), by function.");
	histogram(f, m, "faultline_pinned_call_seconds", "func", "all", m->hist[FL_CAUSE_PINNED],
		  m->stall_ns[FL_CAUSE_PINNED]);
}

/* The NAME (..._bucket) series over livereq's fixed buckets (seconds), cumulative. */
static void fixed_histogram(FILE *f, const struct serve_metrics *m, const char *name,
			    const uint64_t *buckets, uint64_t count)
{
	char extra[64];
	uint64_t cum = 0;

	for (int b = 0; b < LIVEREQ_NBUCKETS; b++) {
		cum += buckets[b];
		snprintf(extra, sizeof(extra), ",le=\"%.10g\"", livereq_bucket_le_s[b]);
		sample(f, m, name, extra, cum);
	}
	sample(f, m, name, ",le=\"+Inf\"", count);
}

static void requests(FILE *f, const struct serve_metrics *m)
{
	meta(f, "faultline_requests_total", "counter",
	     "HTTP requests the target answered, seen on its TCP sockets (counted at the first "
	     "response body byte, or at the end when there was none).");
	sample(f, m, "faultline_requests_total", "", m->requests_total);
	meta(f, "faultline_request_ttfb_seconds", "histogram",
	     "From a request's first byte in to its response's first body byte out (for SSE "
	     "streaming: the time to first token), seen on the target's TCP sockets.");
	fixed_histogram(f, m, "faultline_request_ttfb_seconds_bucket", m->ttfb_buckets,
			m->ttfb_count);
	sample_s(f, m, "faultline_request_ttfb_seconds_sum", "", m->ttfb_sum_ns);
	sample(f, m, "faultline_request_ttfb_seconds_count", "", m->ttfb_count);
}

static void counters(FILE *f, const struct serve_metrics *m)
{
	meta(f, "faultline_page_faults_total", "counter",
	     "Page faults of the target, by kind: user (taken in user mode), kernel (taken in "
	     "kernel mode on user memory, e.g. copy_to_user).");
	sample(f, m, "faultline_page_faults_total", ",kind=\"user\"",
	       m->counters[FL_CNT_FAULTS_USER]);
	sample(f, m, "faultline_page_faults_total", ",kind=\"kernel\"",
	       m->counters[FL_CNT_FAULTS_KERNEL]);
	if (m->have_fault_dur) {
		meta(f, "faultline_major_page_faults_total", "counter",
		     "Page faults of the target that needed I/O (major), a subset of the above.");
		sample(f, m, "faultline_major_page_faults_total", "", m->faults_major);
	}
	meta(f, "faultline_khugepaged_scans_total", "counter",
	     "khugepaged scans of the target's memory.");
	sample(f, m, "faultline_khugepaged_scans_total", "", m->counters[FL_CNT_KHUGEPAGED_SCAN]);
	meta(f, "faultline_compaction_deferred_total", "counter",
	     "Direct compactions the kernel deferred in the target's threads.");
	sample(f, m, "faultline_compaction_deferred_total", "",
	       m->counters[FL_CNT_COMPACTION_DEFERRED]);
	meta(f, "faultline_kcompactd_wakeups_total", "counter",
	     "Background compaction (kcompactd) wake-ups, system-wide.");
	sample(f, m, "faultline_kcompactd_wakeups_total", "", m->counters[FL_CNT_KCOMPACTD_WAKE]);
	meta(f, "faultline_events_dropped_total", "counter",
	     "Events lost because the ring buffer was full.");
	sample(f, m, "faultline_events_dropped_total", "", m->counters[FL_CNT_DROPS]);
}

/* serve --flight: what the recorder wrote and what it holds. */
static void flight(FILE *f, const struct serve_metrics *m)
{
	meta(f, "faultline_flight_dumps_total", "counter",
	     "Flight recorder dumps written (--flight; a trigger's window, one file each).");
	sample(f, m, "faultline_flight_dumps_total", "", m->flight_dumps);
	meta(f, "faultline_flight_triggers_suppressed_total", "counter",
	     "Triggers that wrote nothing: past --max-dumps, within --min-spacing, or past what "
	     "the pending dump could be extended by.");
	sample(f, m, "faultline_flight_triggers_suppressed_total", "", m->flight_suppressed);
	meta(f, "faultline_flight_dumps_failed_total", "counter",
	     "Flight recorder dumps that could not be written (disk full, -o gone).");
	sample(f, m, "faultline_flight_dumps_failed_total", "", m->flight_failed);
	meta(f, "faultline_flight_ring_bytes", "gauge",
	     "Compressed events held in memory by the flight recorder.");
	sample(f, m, "faultline_flight_ring_bytes", "", m->flight_ring_bytes);
	meta(f, "faultline_flight_window_seconds", "gauge",
	     "Event time the flight recorder's memory spans now.");
	sample_s(f, m, "faultline_flight_window_seconds", "", m->flight_window_ns);
}

/* Per program: the names are faultline's own (fl_...), nothing to escape. */
static void bpf_progs(FILE *f, const struct serve_metrics *m)
{
	char extra[64];

	meta(
	    f, "faultline_bpf_stats_enabled", "gauge",
	    "1 while the kernel counts BPF run time (faultline turns it on with BPF_ENABLE_STATS, "
	    "which needs CAP_SYS_ADMIN, unless --bpf-stats off; or kernel.bpf_stats_enabled=1); at "
	    "0 the per-program BPF times stay 0.");
	sample(f, m, "faultline_bpf_stats_enabled", "", m->bpf_stats_on);
	if (!m->nprogs)
		return;
	meta(f, "faultline_bpf_run_time_seconds_total", "counter",
	     "CPU time each of faultline's BPF programs ran (bpf_stats run_time_ns).");
	for (int i = 0; i < m->nprogs; i++) {
		snprintf(extra, sizeof(extra), ",prog=\"%s\"", m->progs[i].name);
		sample_s(f, m, "faultline_bpf_run_time_seconds_total", extra, m->progs[i].run_ns);
	}
	meta(f, "faultline_bpf_runs_total", "counter",
	     "Runs of each of faultline's BPF programs (bpf_stats run_cnt).");
	for (int i = 0; i < m->nprogs; i++) {
		snprintf(extra, sizeof(extra), ",prog=\"%s\"", m->progs[i].name);
		sample(f, m, "faultline_bpf_runs_total", extra, m->progs[i].run_cnt);
	}
}

void serve_render(FILE *f, const struct serve_metrics *m)
{
	meta(f, "faultline_up", "gauge",
	     "1 while faultline traces a live target, 0 while it waits for one (--match).");
	sample(f, m, "faultline_up", "", m->up);
	counters(f, m);
	stall_histograms(f, m);
	if (m->have_requests)
		requests(f, m);
	meta(f, "faultline_bpf_run_seconds_total", "counter",
	     "CPU time faultline's BPF programs ran (BPF run-time stats).");
	sample_s(f, m, "faultline_bpf_run_seconds_total", "", m->bpf_run_ns);
	bpf_progs(f, m);
	meta(f, "faultline_cpu_seconds_total", "counter",
	     "CPU time (user+system) of faultline serve itself.");
	sample_s(f, m, "faultline_cpu_seconds_total", "", m->self_cpu_ns);
	meta(f, "faultline_serve_clients_closed_total", "counter",
	     "Clients of this endpoint closed unanswered: dropped for a newer one at the cap, "
	     "refused (503) with every slot answering, or past their deadline.");
	sample(f, m, "faultline_serve_clients_closed_total", ",reason=\"dropped\"",
	       m->clients_dropped);
	sample(f, m, "faultline_serve_clients_closed_total", ",reason=\"refused\"",
	       m->clients_refused);
	sample(f, m, "faultline_serve_clients_closed_total", ",reason=\"timeout\"",
	       m->clients_timed_out);
	if (m->have_flight)
		flight(f, m);
}
