// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "session.h"
#include "faultline.h"
#include "faultline.skel.h"
#include "procfs.h"
#include "uprobes.h"
#include "util.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* libbpf's messages are kept so a failed load can be blamed on one concern. */
static char libbpf_log[16384];
static size_t libbpf_log_len;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static char line[65536];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	/* Warnings only: "prog 'X': failed to load" and the verifier's log that explains it. */
	if (level != LIBBPF_DEBUG && n > 0 && libbpf_log_len + n < sizeof(libbpf_log)) {
		memcpy(libbpf_log + libbpf_log_len, line, n);
		libbpf_log_len += n;
		libbpf_log[libbpf_log_len] = 0;
	}
	if (fl_verbose > 1 || (fl_verbose && level != LIBBPF_DEBUG))
		fputs(line, stderr);
	return 0;
}

bool pid_alive(int pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

bool pid_is_kthread(int pid)
{
	struct proc_stat st;

	/* PF_KTHREAD: no user memory to fault on */
	return !proc_stat_read(pid, &st) && (st.flags & 0x00200000);
}

static bool is_zombie(int pid)
{
	struct proc_stat st;

	return proc_stat_read(pid, &st) || st.state == 'Z' || st.state == 'X';
}

/*
 * The size of each per-CPU fault ring: half of --ringbuf-mb spread over the online CPUs (a power
 * of two, at least 64 KiB), the shared ring has the other half (see shared_ring_size), so the
 * memory locked, and mapped twice into faultline (libbpf maps a ring's data twice so records can
 * wrap, and the kernel maps all of it at once), stays what --ringbuf-mb says. 0 (none) when
 * faults are not events.
 */
static uint64_t cpu_ring_size(const struct session_opts *o)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t sz = 64 << 10;

	if (!o->emit_events)
		return 0;
	while (n > 0 && sz * 2 * n <= o->ringbuf_bytes / 2)
		sz *= 2;
	return sz;
}

static uint64_t shared_ring_size(const struct session *s)
{
	return s->cpu_ring_bytes ? s->opts.ringbuf_bytes / 2 : s->opts.ringbuf_bytes;
}

/* Whether CPU is online, from /sys/devices/system/cpu/online ("0-3,6"); all when unreadable. */
static bool cpu_online(const char *list, int cpu)
{
	const char *p = list;

	if (!*list)
		return true;
	while (*p) {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;

		if (end == p)
			return true;
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		if (cpu >= lo && cpu <= hi)
			return true;
		p = *end == ',' ? end + 1 : end + strlen(end);
	}
	return false;
}

/* One fault ring per online CPU, created before the object is loaded (see cpu_rings_insert). */
static int cpu_rings_create(struct session *s)
{
	char online[256] = "";

	if (!s->cpu_ring_bytes)
		return 0;
	s->cpu_ring_fds = malloc(sizeof(int) * s->ncpus);
	if (!s->cpu_ring_fds)
		return -ENOMEM;
	for (int cpu = 0; cpu < s->ncpus; cpu++)
		s->cpu_ring_fds[cpu] = -1;
	if (read_line("/sys/devices/system/cpu/online", online, sizeof(online)))
		online[0] = 0;
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		if (!cpu_online(online, cpu))
			continue;
		s->cpu_ring_fds[cpu] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "fl_cpu_ring", 0, 0,
						      s->cpu_ring_bytes, NULL);
		if (s->cpu_ring_fds[cpu] < 0)
			return -errno;
	}
	return 0;
}

/*
 * The outer map's inner-map template (BPF declares none): a copy of one ring's fd (libbpf owns
 * it), else a one-page ring that nothing uses.
 */
static void cpu_rings_template(struct session *s)
{
	int fd = -1;

	for (int cpu = 0; s->cpu_ring_fds && cpu < s->ncpus && fd < 0; cpu++)
		fd = s->cpu_ring_fds[cpu];
	fd = fd >= 0
		 ? dup(fd)
		 : bpf_map_create(BPF_MAP_TYPE_RINGBUF, "fl_cpu_ring", 0, 0, getpagesize(), NULL);
	if (fd >= 0 && bpf_map__set_inner_map_fd(s->skel->maps.cpu_rings, fd))
		close(fd);
}

static int cpu_rings_count(const struct session *s)
{
	int n = 0;

	for (int cpu = 0; s->cpu_ring_fds && cpu < s->ncpus; cpu++)
		n += s->cpu_ring_fds[cpu] >= 0;
	return n;
}

/*
 * Puts the rings in cpu_rings before anything is attached: on kernels before 6.8 each insert
 * waits for an RCU grace period. A CPU left without one uses the shared ring.
 */
static int cpu_rings_insert(struct session *s)
{
	int outer = bpf_map__fd(s->skel->maps.cpu_rings);

	for (__u32 cpu = 0; s->cpu_ring_fds && cpu < (__u32)s->ncpus; cpu++)
		if (s->cpu_ring_fds[cpu] >= 0 &&
		    bpf_map_update_elem(outer, &cpu, &s->cpu_ring_fds[cpu], BPF_ANY))
			return -errno;
	return 0;
}

static void configure(struct session *s)
{
	struct faultline_bpf *skel = s->skel;
	const struct session_opts *o = &s->opts;

	skel->rodata->cfg_trace_all = o->all;
	skel->rodata->cfg_follow_children = o->children;
	skel->rodata->cfg_emit_events = o->emit_events;
	skel->rodata->cfg_emit_net = o->emit_net;
	skel->rodata->cfg_fault_events = o->fault_events;
	skel->rodata->cfg_aggregate = o->aggregate;
	skel->rodata->cfg_self_pid = getpid();
	skel->rodata->cfg_wakeup_bytes = shared_ring_size(s) / 8;
	skel->rodata->cfg_mmap_lock_write_arg = probe_mmap_lock_write_arg();
	bpf_map__set_max_entries(skel->maps.events, shared_ring_size(s));
	/* The per-CPU fault rings (faults.bpf.c): only where every fault is an event. */
	skel->rodata->cfg_cpu_wakeup_bytes = s->cpu_ring_bytes / 8;
	bpf_map__set_max_entries(skel->maps.cpu_rings, s->ncpus);
	cpu_rings_template(s);
	uprobes_configure(skel, o);
}

/* Which of the syscall programs (bpf/sys.bpf.c) run the part of concern NAME: FL_SYS_* bits. */
static __u32 sys_progs(const struct probe_plan *p, const char *name)
{
	return (probe_plan_uses(p, name, ATTACH_TP_BTF) ? FL_SYS_BTF : 0) |
	       (probe_plan_uses(p, name, ATTACH_RAW_TP) ? FL_SYS_RAW : 0);
}

/* Load, and on failure drop the concern libbpf blamed and try again with a fresh object. */
static int load(struct session *s)
{
	int err = -EINVAL;

	for (int attempt = 0; attempt < 16; attempt++) {
		s->skel = faultline_bpf__open();
		if (!s->skel)
			return -errno;
		configure(s);
		probe_plan_choose(&s->plan, s->skel);
		s->skel->rodata->cfg_rss_sample = probe_plan_uses(&s->plan, "rss", ATTACH_SAMPLED);
		s->skel->rodata->cfg_sys_memsys = sys_progs(&s->plan, "alloc_syscalls");
		s->skel->rodata->cfg_sys_net = sys_progs(&s->plan, "requests");
		libbpf_log_len = 0;
		libbpf_log[0] = 0;
		err = faultline_bpf__load(s->skel);
		if (!err)
			return 0;
		int bad = probe_plan_blame(&s->plan, libbpf_log);
		char why[160];

		faultline_bpf__destroy(s->skel);
		s->skel = NULL;
		if (bad < 0)
			break;
		snprintf(why, sizeof(why), "failed to load: %s", strerror(-err));
		probe_plan_fail(&s->plan, bad, why);
		fl_info("probe %s: %s; continuing without it", s->plan.concerns[bad].name, why);
	}
	return err;
}

/* --probes CONCERN=TYPE is a demand: a kernel that refuses TYPE stops the session, with why. */
static int check_forced(struct session *s)
{
	const struct probe_plan *p = &s->plan;
	int i = probe_plan_forced_failure(p);

	if (i < 0)
		return 0;
	fl_err("--probes %s=%s: %s; choose another type or leave %s out of --probes "
	       "(faultline record -v lists the types)",
	       p->concerns[i].name,
	       probe_attach_name(p->concerns[i].choices[p->state[i].forced_choice].attach),
	       p->state[i].reason[0] ? p->state[i].reason : "unavailable", p->concerns[i].name);
	return -EOPNOTSUPP;
}

int session_open(struct session *s, const struct session_opts *o)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->opts = *o;
	s->stats_fd = -1;
	s->ncpus = libbpf_num_possible_cpus();
	if (!s->opts.ringbuf_bytes)
		s->opts.ringbuf_bytes = 32 << 20;
	s->cpu_ring_bytes = cpu_ring_size(&s->opts);
	err = cpu_rings_create(s);
	if (err == -EPERM || err == -EACCES) {
		fl_err("creating BPF ring buffers: %s: needs root or "
		       "CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN",
		       strerror(-err));
		return err;
	} else if (err) {
		fl_err("creating the per-CPU ring buffers (%llu KiB each): %s; a smaller --ringbuf "
		       "needs less locked memory",
		       (unsigned long long)s->cpu_ring_bytes >> 10, strerror(-err));
		return err;
	}
	libbpf_set_print(libbpf_print);
	err = probe_plan_init(&s->plan);
	if (err)
		return err;
	if (o->probes && (err = probe_plan_override(&s->plan, o->probes)))
		return err;
	uprobes_plan(&s->plan, o);
	if (o->wire_off)
		probe_plan_disable(&s->plan, "requests", "turned off with --wire=off");
	err = load(s);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			fl_err("loading BPF programs: %s: needs root or "
			       "CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN",
			       strerror(-err));
		else
			fl_err("loading BPF programs failed: %s (run with -v for libbpf's log)",
			       strerror(-err));
		if (!fl_verbose && libbpf_log_len)
			fprintf(stderr, "%.*s",
				(int)(libbpf_log_len > 2000 ? 2000 : libbpf_log_len),
				libbpf_log + (libbpf_log_len > 2000 ? libbpf_log_len - 2000 : 0));
		return err;
	}
	err = check_forced(s);
	if (err)
		return err;
	err = cpu_rings_insert(s);
	if (err) {
		fl_err("putting the per-CPU ring buffers in place: %s", strerror(-err));
		return err;
	}
	if (o->bpf_stats) {
		s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (s->stats_fd < 0)
			fprintf(
			    stderr,
			    "faultline: warning: the kernel refused BPF run-time statistics (%s; "
			    "they need CAP_SYS_ADMIN): faultline's BPF time is not measured\n",
			    strerror(-s->stats_fd));
	}
	for (int i = 0; i < s->opts.npids; i++) {
		err = session_add_target(s, s->opts.pids[i]);
		if (err)
			return err;
	}
	probe_plan_attach(&s->plan, s->skel);
	err = check_forced(s);
	if (err)
		return err;
	probe_btf_release();
	malloc_trim(0); /* libbpf's parse of the kernel BTF during load is freed; give it back */
	if (fl_verbose)
		probe_plan_print(&s->plan, stderr);
	if (fl_verbose && s->cpu_ring_bytes)
		fl_info("fault events: one %llu KiB ring buffer per CPU, on %d CPU(s); others: "
			"%llu KiB",
			(unsigned long long)s->cpu_ring_bytes >> 10, cpu_rings_count(s),
			(unsigned long long)shared_ring_size(s) >> 10);
	return 0;
}

static int add_one(struct session *s, int pid)
{
	struct fl_target t = {};
	__u32 key = pid;

	if (bpf_map__update_elem(s->skel->maps.targets, &key, sizeof(key), &t, sizeof(t), BPF_ANY))
		return -errno;
	/* a pid added again has its mm to learn again: BPF's per-CPU memo must not skip that */
	__atomic_fetch_add(&s->skel->bss->fl_tgt_gen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int pid_launcher_child(int pid, char *comm, size_t len)
{
	static const char *const launchers[] = {
	    "sh",     "bash",	"dash",	   "zsh",    "ksh",	"fish",	   "env",  "sudo",
	    "su",     "nohup",	"timeout", "setsid", "taskset", "numactl", "chrt", "nice",
	    "ionice", "stdbuf", "uv",	   "pyenv",  "conda",	"poetry"};
	char path[64], buf[64];
	int child = 0, n = 0;
	bool launcher = false;
	struct dirent *de;
	DIR *d;

	char exe[PATH_MAX], *base;
	ssize_t l;

	/* by comm, and by the executable: a script's comm is its own name, its exe the shell */
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	l = readlink(path, exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = 0;
	base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_line(path, buf, sizeof(buf)))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(launchers); i++)
		launcher |= !strcmp(buf, launchers[i]) || !strcmp(base, launchers[i]);
	if (!launcher || !(d = opendir("/proc")))
		return 0;
	while ((de = readdir(d)) && n < 2) {
		int p = atoi(de->d_name);

		if (p > 0 && proc_ppid(p) == pid) {
			child = p;
			n++;
		}
	}
	closedir(d);
	if (n != 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", child);
	if (read_line(path, comm, len))
		snprintf(comm, len, "?");
	return child;
}

#define DESCENDANTS_MAX 4096 /* processes of one tree looked at when attaching */

/* Adds every current descendant of ROOT (the kernel keeps the set current from here on). */
static int add_descendants(struct session *s, int root)
{
	int added = 1, n = 0, *set = malloc(sizeof(int) * DESCENDANTS_MAX);
	DIR *d;

	if (!set)
		return -ENOMEM;
	set[n++] = root;
	while (added) {
		struct dirent *de;

		added = 0;
		d = opendir("/proc");
		if (!d)
			break;
		while ((de = readdir(d)) && n < DESCENDANTS_MAX) {
			int pid = atoi(de->d_name), pp, known = 0;

			if (pid <= 0)
				continue;
			pp = proc_ppid(pid);
			for (int i = 0; i < n; i++)
				known |= set[i] == pid;
			if (known)
				continue;
			for (int i = 0; i < n; i++) {
				if (set[i] == pp) {
					set[n++] = pid;
					add_one(s, pid);
					added = 1;
					break;
				}
			}
		}
		closedir(d);
	}
	free(set);
	return 0;
}

int session_add_target(struct session *s, int pid)
{
	int err;

	if (s->opts.all)
		return 0;
	err = add_one(s, pid);
	if (err) {
		fl_err("pid %d: cannot add to the target map: %s", pid, strerror(-err));
		return err;
	}
	return s->opts.children ? add_descendants(s, pid) : 0;
}

int session_ring_open(struct session *s, session_event_fn fn, void *ctx)
{
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), (ring_buffer_sample_fn)fn, ctx,
				 NULL);
	if (!s->rb)
		return -errno;
	/* one consumer for all: the per-CPU fault rings join the shared ring's epoll */
	for (int cpu = 0; s->cpu_ring_fds && cpu < s->ncpus; cpu++) {
		if (s->cpu_ring_fds[cpu] >= 0 &&
		    ring_buffer__add(s->rb, s->cpu_ring_fds[cpu], (ring_buffer_sample_fn)fn, ctx))
			return -errno;
	}
	return 0;
}

int session_poll(struct session *s, int timeout_ms)
{
	int n = ring_buffer__poll(s->rb, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	/* Programs wake us only past a byte threshold: drain what is below it too. */
	n = ring_buffer__consume(s->rb);
	return n < 0 && n != -EINTR ? n : 0;
}

void session_prune_dead(struct session *s)
{
	struct bpf_map *map = s->skel->maps.targets;
	__u32 key, next, *prev = NULL;

	while (!bpf_map__get_next_key(map, prev, &next, sizeof(next))) {
		key = next;
		if (!pid_alive(key) || is_zombie(key)) {
			bpf_map__delete_elem(map, &key, sizeof(key), 0);
			/* after the delete: the per-CPU memo of the last target must not keep it */
			__atomic_fetch_add(&s->skel->bss->fl_tgt_gen, 1, __ATOMIC_SEQ_CST);
			/* the deleted key cannot anchor the walk: start over */
			prev = NULL;
			continue;
		}
		prev = &key;
	}
}

/* The fault program's per-CPU value (fault_cpu) of every CPU, in one read: *CPUS, to free. */
static int fault_cpu_read(struct session *s, struct fl_fault_cpu **cpus)
{
	__u32 key = 0;
	int err;

	*cpus = calloc(s->ncpus, sizeof(**cpus));
	if (!*cpus)
		return -ENOMEM;
	if (!bpf_map__lookup_elem(s->skel->maps.fault_cpu, &key, sizeof(key), *cpus,
				  sizeof(**cpus) * s->ncpus, 0))
		return 0;
	err = -errno;
	free(*cpus);
	*cpus = NULL;
	return err;
}

/* The fault counts of every CPU, which the fault program keeps in its per-CPU value (fault_cpu)
 * rather than in counters: [0] user-mode, [1] kernel-mode. */
int session_fault_counts(struct session *s, uint64_t out[2])
{
	struct fl_fault_cpu *cpus;
	int err = fault_cpu_read(s, &cpus);

	out[0] = out[1] = 0;
	for (int i = 0; !err && i < s->ncpus; i++) {
		out[0] += cpus[i].faults[0];
		out[1] += cpus[i].faults[1];
	}
	free(cpus);
	return err;
}

/* Counter IDX summed over the CPUs (the counters map alone). */
static uint64_t counters_sum(struct session *s, int idx)
{
	uint64_t *vals = calloc(s->ncpus, sizeof(uint64_t)), sum = 0;
	__u32 key = idx;

	if (!vals)
		return 0;
	if (!bpf_map__lookup_elem(s->skel->maps.counters, &key, sizeof(key), vals,
				  sizeof(uint64_t) * s->ncpus, 0))
		for (int i = 0; i < s->ncpus; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

void session_fault_totals(struct session *s, uint64_t out[2])
{
	uint64_t faults[2];

	out[0] = counters_sum(s, FL_CNT_FAULTS_USER);
	out[1] = counters_sum(s, FL_CNT_FAULTS_KERNEL);
	if (!session_fault_counts(s, faults)) {
		out[0] += faults[0];
		out[1] += faults[1];
	}
}

uint64_t session_counter(struct session *s, int idx)
{
	uint64_t faults[2];

	if (idx != FL_CNT_FAULTS_USER && idx != FL_CNT_FAULTS_KERNEL)
		return counters_sum(s, idx);
	session_fault_totals(s, faults);
	return faults[idx == FL_CNT_FAULTS_KERNEL];
}

int session_fault_runs(struct session *s, void (*fn)(void *ctx, void *data, size_t size), void *ctx)
{
	struct fl_fault_cpu *cpus;
	__u32 key = 0;
	int n = fault_cpu_read(s, &cpus);

	if (n)
		return n;
	for (int i = 0; i < s->ncpus; i++) {
		struct fl_fault_run *e = &cpus[i].run.ev;

		if (!e->count)
			continue;
		e->span_ns = cpus[i].run.last_ts - e->h.ts_ns;
		fn(ctx, e, sizeof(*e));
		n++;
	}
	/* emptied: a second call (flight's end after a dump) does not write them again; the
	 * counts and memos are written back as they were (the programs are detached by now) */
	for (int i = 0; i < s->ncpus; i++)
		memset(&cpus[i].run, 0, sizeof(cpus[i].run));
	bpf_map__update_elem(s->skel->maps.fault_cpu, &key, sizeof(key), cpus,
			     sizeof(*cpus) * s->ncpus, 0);
	free(cpus);
	return n;
}

void session_prog_stats(struct session *s, uint64_t *run_ns, uint64_t *run_cnt)
{
	struct bpf_program *prog;

	*run_ns = *run_cnt = 0;
	bpf_object__for_each_program(prog, s->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		*run_ns += info.run_time_ns;
		*run_cnt += info.run_cnt;
	}
}

int session_prog_stats_each(struct session *s, struct session_prog_stat *out, int max)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, s->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (n >= max)
			break;
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue; /* not loaded: the same at every call */
		snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(prog));
		out[n].run_ns = info.run_time_ns;
		out[n++].run_cnt = info.run_cnt;
	}
	return n;
}

bool session_bpf_stats_on(const struct session *s)
{
	char v[16];

	return s->stats_fd >= 0 ||
	       (!read_line("/proc/sys/kernel/bpf_stats_enabled", v, sizeof(v)) && v[0] == '1');
}

void session_close(struct session *s)
{
	if (s->rb)
		ring_buffer__free(s->rb);
	for (int cpu = 0; s->cpu_ring_fds && cpu < s->ncpus; cpu++)
		if (s->cpu_ring_fds[cpu] >= 0)
			close(s->cpu_ring_fds[cpu]);
	free(s->cpu_ring_fds);
	probe_plan_destroy(&s->plan);
	if (s->skel)
		faultline_bpf__destroy(s->skel);
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	memset(s, 0, sizeof(*s));
	s->stats_fd = -1;
}
