// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Snapshots of the in-kernel aggregation for the live views, and the arithmetic between two of
 * them. Each map is read with one batch call where the kernel supports it (5.6+), else key by key.
 */
#include "live.h"
#include "faultline.skel.h"
#include "livereq.h"
#include "procfs.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Concerns that only feed the ring buffer: nothing to aggregate, so not worth their cost. */
static const char live_probes_off[] = "file_fault=off,rss=off";

static int read_percpu_array(int fd, uint32_t nkeys, int ncpus, uint64_t *sums)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	/* not zeroed: the kernel fills each entry it returns, the loop below each it does not */
	uint32_t *keys = malloc(nkeys * sizeof(*keys)), count = nkeys, out_batch = 0;
	uint64_t *vals = malloc((size_t)nkeys * ncpus * sizeof(*vals));
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto cleanup;
	}
	memset(sums, 0, nkeys * sizeof(*sums));
	if (bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, &opts) &&
	    errno != ENOENT) {
		/* No batch ops on this kernel: one lookup per key. */
		for (uint32_t k = 0; k < nkeys; k++) {
			if (bpf_map_lookup_elem(fd, &k, vals + (size_t)k * ncpus))
				memset(vals + (size_t)k * ncpus, 0, ncpus * sizeof(*vals));
			keys[k] = k;
		}
		count = nkeys;
	}
	for (uint32_t i = 0; i < count; i++)
		for (int c = 0; c < ncpus && keys[i] < nkeys; c++)
			sums[keys[i]] += vals[(size_t)i * ncpus + c];
cleanup:
	free(keys);
	free(vals);
	return err;
}

static int thread_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct live_thread *)a)->tid, y = ((const struct live_thread *)b)->tid;

	return x < y ? -1 : x > y;
}

static int snap_push(struct live_snap *snap, uint32_t tid, const struct fl_tstat *st)
{
	if (grow_array((void **)&snap->threads, &snap->cap, snap->nthreads, sizeof(*snap->threads),
		       64))
		return -ENOMEM;
	snap->threads[snap->nthreads].tid = tid;
	snap->threads[snap->nthreads++].st = *st;
	return 0;
}

/*
 * The whole map in chunks of TSTAT_CHUNK entries: a buffer for all max_entries (16384 threads,
 * 3 MiB) allocated and zeroed at every read was most of top's and serve's own CPU time.
 * The buffers are static: only the main loop reads snapshots.
 */
#define TSTAT_CHUNK 256

static int read_tstats_batch(int fd, struct live_snap *snap)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	static uint32_t keys[TSTAT_CHUNK];
	static struct fl_tstat vals[TSTAT_CHUNK];
	uint32_t in_batch, out_batch, count;
	void *in = NULL;
	int err;

	for (;;) {
		count = TSTAT_CHUNK;
		err = bpf_map_lookup_batch(fd, in, &out_batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT)
			return -errno; /* also ENOSPC: a hash bucket larger than a chunk */
		for (uint32_t i = 0; i < count; i++)
			if (snap_push(snap, keys[i], &vals[i]))
				return -ENOMEM;
		if (err || !count)
			return 0; /* ENOENT: that was the last chunk */
		in_batch = out_batch;
		in = &in_batch;
	}
}

static int read_tstats(int fd, struct live_snap *snap)
{
	uint32_t key, *prev = NULL;
	struct fl_tstat st;
	int err;

	snap->nthreads = 0;
	err = read_tstats_batch(fd, snap);
	if (err == -ENOMEM)
		return err;
	if (err) {
		snap->nthreads = 0;
		while (!bpf_map_get_next_key(fd, prev, &key)) {
			if (!bpf_map_lookup_elem(fd, &key, &st) &&
			    (err = snap_push(snap, key, &st)))
				return err;
			prev = &key;
		}
	}
	sort_n(snap->threads, snap->nthreads, sizeof(*snap->threads), thread_cmp);
	return 0;
}

static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* Total time per allocator function: alloc_stats holds a struct per CPU. */
static int read_alloc_ns(struct session *s, struct live_snap *snap)
{
	struct fl_alloc_stat *st = calloc(s->ncpus, sizeof(*st));
	int fd = bpf_map__fd(s->skel->maps.alloc_stats);

	if (!st)
		return -ENOMEM;
	for (uint32_t f = 0; f < FL_AF_MAX; f++) {
		snap->alloc_ns[f] = 0;
		if (bpf_map_lookup_elem(fd, &f, st))
			continue;
		for (int c = 0; c < s->ncpus; c++)
			snap->alloc_ns[f] += st[c].total_ns;
	}
	free(st);
	return 0;
}

int live_snap_read(struct session *s, struct live_snap *snap)
{
	struct faultline_bpf *skel = s->skel;
	int err;

	snap->ts_ns = clock_ns(CLOCK_MONOTONIC);
	err = read_percpu_array(bpf_map__fd(skel->maps.hists), FL_CAUSE_MAX * FL_HIST_SLOTS,
				s->ncpus, &snap->hist[0][0]);
	if (!err)
		err = read_percpu_array(bpf_map__fd(skel->maps.counters), FL_CNT_MAX, s->ncpus,
					snap->counters);
	if (!err) {
		uint64_t faults[2];

		/* the fault program counts faults in its own per-CPU value (fault_cpu) */
		err = session_fault_counts(s, faults);
		snap->counters[FL_CNT_FAULTS_USER] += faults[0];
		snap->counters[FL_CNT_FAULTS_KERNEL] += faults[1];
	}
	if (!err)
		err =
		    read_percpu_array(bpf_map__fd(skel->maps.alloc_hist), FL_AF_MAX * FL_HIST_SLOTS,
				      s->ncpus, &snap->alloc_hist[0][0]);
	if (!err)
		err = read_alloc_ns(s, snap);
	if (!err)
		err = read_tstats(bpf_map__fd(skel->maps.tstats), snap);
	if (err)
		return err;
	snap->nprogs = session_prog_stats_each(s, snap->progs, SESSION_MAX_PROGS);
	snap->bpf_run_ns = snap->bpf_run_cnt = 0;
	for (int i = 0; i < snap->nprogs; i++) {
		snap->bpf_run_ns += snap->progs[i].run_ns;
		snap->bpf_run_cnt += snap->progs[i].run_cnt;
	}
	snap->bpf_stats_on = session_bpf_stats_on(s);
	snap->self_cpu_ns = self_cpu_ns();
	return 0;
}

void live_snap_free(struct live_snap *snap)
{
	free(snap->threads);
	memset(snap, 0, sizeof(*snap));
}

/* DST takes SRC's contents (DST's are freed); SRC is left empty. */
void live_snap_move(struct live_snap *dst, struct live_snap *src)
{
	live_snap_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

const struct live_thread *live_snap_find(const struct live_snap *snap, uint32_t tid)
{
	size_t lo = 0, hi = snap ? snap->nthreads : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (snap->threads[mid].tid == tid)
			return &snap->threads[mid];
		if (snap->threads[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint64_t diff(uint64_t cur, uint64_t prev)
{
	return cur >= prev ? cur - prev : cur;
}

void live_thread_delta(const struct live_snap *prev, const struct live_thread *cur,
		       struct fl_tstat *out)
{
	const struct live_thread *p = live_snap_find(prev, cur->tid);
	static const struct fl_tstat zero;
	const struct fl_tstat *ps = p && p->st.pid == cur->st.pid ? &p->st : &zero;

	*out = cur->st;
	out->faults = diff(cur->st.faults, ps->faults);
	out->faults_major = diff(cur->st.faults_major, ps->faults_major);
	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		out->stall_count[c] = diff(cur->st.stall_count[c], ps->stall_count[c]);
		out->stall_ns[c] = diff(cur->st.stall_ns[c], ps->stall_ns[c]);
	}
}

void live_threads_delta_sum(const struct live_snap *prev, const struct live_snap *cur,
			    struct fl_tstat *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < cur->nthreads; i++) {
		struct fl_tstat d;

		live_thread_delta(prev, &cur->threads[i], &d);
		out->faults += d.faults;
		out->faults_major += d.faults_major;
		for (int c = 0; c < FL_CAUSE_MAX; c++) {
			out->stall_count[c] += d.stall_count[c];
			out->stall_ns[c] += d.stall_ns[c];
		}
	}
}

void live_hist_delta(const struct live_snap *prev, const struct live_snap *cur, int cause,
		     uint64_t *out)
{
	for (int i = 0; i < FL_HIST_SLOTS; i++)
		out[i] = diff(cur->hist[cause][i], prev ? prev->hist[cause][i] : 0);
}

/* "VmRSS:   1234 kB" -> 1234 */
static uint64_t kb_field(const char *text, const char *name)
{
	const char *p = text ? strstr(text, name) : NULL;

	return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

static uint64_t proc_uptime_s(int pid)
{
	struct proc_stat st;
	long hz = sysconf(_SC_CLK_TCK);
	double up = 0;
	FILE *f;

	if (proc_stat_read(pid, &st))
		return 0;
	f = fopen("/proc/uptime", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lf", &up) != 1)
		up = 0;
	fclose(f);
	return hz > 0 && up > (double)st.starttime / hz ? (uint64_t)(up - (double)st.starttime / hz)
							: 0;
}

int live_proc_read(int pid, struct live_proc *p, bool with_maps)
{
	char path[64], *text;

	p->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_line(path, p->comm, sizeof(p->comm)))
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	text = read_file(path, NULL);
	p->rss_kb = kb_field(text, "VmRSS:");
	free(text);
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	text = read_file(path, NULL);
	p->anon_huge_kb = kb_field(text, "AnonHugePages:");
	free(text);
	p->uptime_s = proc_uptime_s(pid);
	if (with_maps) {
		text = maps_read(pid);
		snprintf(p->allocator, sizeof(p->allocator), "%s",
			 text ? maps_allocator(text, NULL, 0) : "-");
		free(text);
	}
	return 0;
}

void live_thp_modes(char *enabled, size_t elen, char *defrag, size_t dlen)
{
	char buf[256];

	if (read_line("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)))
		snprintf(enabled, elen, "-");
	else
		thp_selected(buf, enabled, elen);
	if (read_line("/sys/kernel/mm/transparent_hugepage/defrag", buf, sizeof(buf)))
		snprintf(defrag, dlen, "-");
	else
		thp_selected(buf, defrag, dlen);
}

int live_cmdline(int pid, char *buf, size_t len)
{
	char path[64];
	size_t n = 0;
	char *text;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	text = read_file(path, &n);
	if (!text)
		return -errno;
	while (n && !text[n - 1])
		n--; /* the final NUL */
	for (size_t i = 0; i < n; i++)
		if (!text[i])
			text[i] = ' ';
	snprintf(buf, len, "%.*s", (int)n, text);
	free(text);
	return 0;
}

static bool is_self_or_ancestor(int pid)
{
	for (int p = getpid(), depth = 0; p > 0 && depth < 64; p = proc_ppid(p), depth++)
		if (p == pid)
			return true;
	return false;
}

static unsigned long long start_time(int pid)
{
	struct proc_stat st;

	if (proc_stat_read(pid, &st))
		return ~0ull;
	if (st.state == 'Z' || st.state == 'X')
		return ~0ull; /* exited, not yet reaped: not a process to attach to */
	return st.starttime;
}

bool live_pid_running(int pid)
{
	return start_time(pid) != ~0ull;
}

int live_match(const char *pattern)
{
	unsigned long long best_start = ~0ull;
	char cmd[4096], comm[64];
	struct dirent *de;
	int best = 0, child;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int pid = atoi(de->d_name);
		unsigned long long st;

		if (pid <= 0 || !isdigit((unsigned char)de->d_name[0]))
			continue;
		if (live_cmdline(pid, cmd, sizeof(cmd)) || !strstr(cmd, pattern))
			continue;
		if (is_self_or_ancestor(pid))
			continue;
		st = start_time(pid);
		if (st == ~0ull)
			continue;
		if (st < best_start || (st == best_start && pid < best)) {
			best_start = st;
			best = pid;
		}
	}
	closedir(d);
	/* a shim (bash running python3 without exec) matches too, and is older: take its child */
	if (best && (child = pid_launcher_child(best, comm, sizeof(comm))) > 0 &&
	    !live_cmdline(child, cmd, sizeof(cmd)) && strstr(cmd, pattern))
		best = child;
	return best;
}

int live_parse_interval(const char *s, uint64_t *out_ms)
{
	uint64_t ms;

	if (parse_duration_ms(s, &ms))
		return -EINVAL;
	if (ms < 10 || ms > 3600000)
		return -ERANGE;
	*out_ms = ms;
	return 0;
}

int live_session_open(struct session *s, struct session_opts *o, struct uprobes **up,
		      struct livereq *req)
{
	const char *user_probes = o->probes;
	bool full = o->emit_events; /* serve --flight: every event too, with record's probes */
	char probes[512];
	int err;

	snprintf(probes, sizeof(probes), "%s%s%s", full ? "" : live_probes_off,
		 user_probes && !full ? "," : "", user_probes ? user_probes : "");
	o->probes = probes[0] ? probes : NULL;
	o->aggregate = true;
	/* requests need user space's HTTP parser: only their socket traffic is emitted */
	o->emit_net = !o->wire_off;
	if (full)
		o->ringbuf_bytes = o->ringbuf_bytes ? o->ringbuf_bytes : 32 << 20;
	else /* without requests nothing is emitted: the smallest ring buffer, one page */
		o->ringbuf_bytes = o->emit_net ? LIVEREQ_RINGBUF_BYTES : sysconf(_SC_PAGESIZE);
	err = session_open(s, o);
	o->probes = user_probes;
	if (err)
		return err;
	err = uprobes_open(up, s);
	if (err) {
		fl_err("allocator and CUDA uprobes: %s", strerror(-err));
		return err;
	}
	err = livereq_open(req, s);
	if (err)
		fl_err("requests: cannot read the ring buffer: %s", strerror(-err));
	return err;
}

void live_session_added(struct uprobes *up, int pid)
{
	struct proc_ev e = {.pid = pid, .kind = FL_PROC_EXEC};

	uprobes_on_proc(up, &e);
}

void live_session_close(struct session *s, struct uprobes *up, struct livereq *req)
{
	livereq_close(req);
	if (up) {
		uprobes_detach(up);
		uprobes_free(up);
	}
	session_close(s);
}
