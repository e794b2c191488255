// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline record: attach to a running process tree (or start a command), stream every event
 * from the ring buffer into faultline.data, and stop on -d, Ctrl-C, SIGTERM, SIGHUP or when every
 * target has exited. Whatever happens, the file is left complete (or readable up to its last
 * chunk).
 */
#include "cli.h"
#include "commands.h"
#include "faultline.h"
#include "faultline.skel.h"
#include "flight.h"
#include "jw.h"
#include "mapslook.h"
#include "meta.h"
#include "procev.h"
#include "procfs.h"
#include "recfile.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"
#include "wire.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_CAPTURE_PAYLOAD = CLI_OPT_OWN,
	OPT_KEEP_CMDLINE,
	OPT_MAPS_EVERY,
	OPT_FAULT_EVENTS,
};

struct record {
	struct session_opts sopts;
	const char *output;
	char *tmp_path; /* where the recording goes until it ends: DIR/.NAME.XXXXXX */
	int tmp_fd;
	bool force; /* -f: replace OUTPUT, keep no NAME.old */
	bool capture_payload;
	bool fault_events_set; /* --fault-events given */
	struct wire *wire;     /* parses FL_EV_NET into FL_EV_REQ records (no --capture-payload) */
	uint64_t wire_events;
	uint64_t duration_ms;
	char **command;
	pid_t child;
	int child_status;  /* its wait status once reaped by us ... */
	bool child_exited; /* ... on its own, not stopped by faultline: record exits with it */
	int go_fd;	   /* the launched command waits for a byte on this pipe */
	int exec_fd;	   /* ... and sends back errno here if it cannot exec */
	struct session sess;
	struct fl_writer *w;
	struct uprobes *up;
	uint64_t events;
	int write_err;
	int ring_err; /* reading the ring buffer failed: record exits non-zero */
	bool started; /* tracing began: the file holds a recording worth keeping */
	const char *stop_reason;
	char exe0[FL_MAX_TARGETS][256]; /* each -p pid's program at the start */
	bool live_status; /* stderr is a terminal of our own: the status line is redrawn in place */
	struct flight fl;
	/* /proc/PID/maps looked at when an exec's event arrives (trailer "maps_exec"): the new
	 * image's mappings, which the kernel made without a memory syscall */
	struct exec_maps {
		int pid;
		uint64_t ts_ns;
		char *maps;
	} * exec_maps;
	size_t nexec_maps;
	uint64_t exec_maps_bytes;
	struct mapslook look; /* the periodic look at the targets' maps (--maps-every) */
};

#define EXEC_MAPS_MAX 512
#define EXEC_MAPS_BYTES (16u << 20)

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: faultline record [OPTIONS] (-p PID[,PID...] | -a | -- COMMAND [ARGS...])\n"
	    "\n"
	    "Record the memory stalls of a running process tree into a file (default "
	    "./faultline.data).\n"
	    "\n"
	    "Targets:\n"
	    "  -p, --pid PID[,PID]     trace these processes (all their threads)\n"
	    "      --children          also trace their descendants, current and future\n"
	    "  -a, --all               trace the whole system\n"
	    "  -- COMMAND [ARGS]       start COMMAND and trace it and its children\n"
	    "\n"
	    "Session:\n"
	    "  -d, --duration TIME     stop after TIME (30, 1.5, 30s, 500ms, 2m); default: until\n"
	    "                          Ctrl-C, SIGTERM, SIGHUP (the terminal or ssh session went\n"
	    "                          away), or every target has exited; the file is complete\n"
	    "                          either way (use nohup or setsid to keep recording instead)\n"
	    "  -o, --output FILE       where to write (default faultline.data); an existing FILE\n"
	    "                          is kept as FILE.old. The file is created mode 0600 as\n"
	    "                          DIR/.FILE.XXXXXX and renamed to FILE at the end\n"
	    "  -f, --force             overwrite FILE (no FILE.old)\n"
	    "      --capture-payload   store the first 256 bytes of every socket read and write\n"
	    "                          (headers, prompts, completions, keys) instead of parsed\n"
	    "                          requests (method, path without query, status, ids, times)\n"
	    "      --keep-cmdline      store the targets' command lines as they are (default:\n"
	    "                          values of --api-key, --token, *password*, *secret*, key=\n"
	    "                          are stored as <redacted>)\n"
	    "      --maps-every TIME   also read the targets' /proc/PID/maps every TIME (default\n"
	    "                          10s; off): names mappings made without a traced call\n"
	    "      --fault-events MODE how faults reach the file: runs (default: the faults a\n"
	    "                          thread takes one after the other at one instruction, in\n"
	    "                          one millisecond, at evenly spaced addresses, as one\n"
	    "                          event; the report is the same as with all), all (one\n"
	    "                          event per fault) or off (counts per thread and millisecond\n"
	    "                          only: no addresses, so no mappings or faulting code)\n"
	    "      --ringbuf-mb N      ring buffer size in MiB (default 32, power of two): half\n"
	    "                          for fault events, one ring per CPU, half for the rest\n"
	    "      --probes SPEC       choose attach types: CONCERN=TYPE[,...], e.g.\n"
	    "                          fault-duration=kprobe or rss=off (see -v for concerns)\n"
	    "      --wire on|off       see HTTP requests on the targets' TCP sockets (default on;\n"
	    "                          faultline report lines stalls up with them)\n"
	    "      --alloc MODE        allocator tracing: lite (default: mmap munmap madvise brk\n"
	    "                          mremap, timed, with the calling library), full (lite + "
	    "every\n"
	    "                          malloc-family call timed by uprobes, exact counts), slow\n"
	    "                          (lite + only the allocator's slow paths, where it grows\n"
	    "                          or returns memory: glibc's sysmalloc systrim... with\n"
	    "                          libc6-dbg installed, tcmalloc's; cheap enough to leave\n"
	    "                          on) or off\n"
	    "      --alloc-slow TIME   with --alloc=full or slow, record each call slower than "
	    "TIME\n"
	    "                          (default 50us; 1ms, 200us, 0.5ms...)\n"
	    "      --cuda auto|off     CUDA pinned-memory calls (cudaHostRegister...) in every\n"
	    "                          libcudart/libcuda a target maps, now or later (default "
	    "auto)\n" CLI_USAGE_VERBOSE_HELP "\n"
	    "Flight recorder (nothing is written until a trigger):\n" FLIGHT_USAGE "\n"
	    "Examples:\n"
	    "  sudo faultline record -p $(pgrep -f 'vllm serve') --children -d 60\n"
	    "  sudo faultline record -o run1.data -- python3 examples/server.py\n"
	    "  sudo faultline record -p PID --alloc=full --alloc-slow=100us -d 30\n"
	    "  sudo faultline record -p PID --alloc=off --cuda=off   (faults and stalls only)\n"
	    "  faultline report -i run1.data\n");
}

/* Record's own options; the shared ones went to cli_session_opt(). */
static int record_opt(struct record *r, int c, const char *arg)
{
	uint64_t ms;

	switch (c) {
	case 'd':
		if (parse_duration_ms(arg, &r->duration_ms) || !r->duration_ms) {
			fl_err("-d '%s': expected a duration such as 30, 1.5, 30s, 500ms or 2m",
			       arg);
			return -EINVAL;
		}
		return 0;
	case 'o':
		r->output = arg;
		return 0;
	case 'f':
		r->force = true;
		return 0;
	case OPT_CAPTURE_PAYLOAD:
		r->capture_payload = true;
		return 0;
	case OPT_KEEP_CMDLINE:
		meta_opts.keep_cmdline = true;
		return 0;
	case OPT_MAPS_EVERY:
		if (!strcmp(arg, "off")) {
			r->look.every_ns = 0;
			return 0;
		}
		if (parse_duration_ms(arg, &ms) || !ms) {
			fl_err(
			    "--maps-every '%s': expected a duration such as 10s, 500ms or 1m, or "
			    "off",
			    arg);
			return -EINVAL;
		}
		r->look.every_ns = ms * 1000000ull;
		return 0;
	case OPT_FAULT_EVENTS:
		r->fault_events_set = true;
		if (!strcmp(arg, "runs"))
			r->sopts.fault_events = FL_FE_RUNS;
		else if (!strcmp(arg, "all"))
			r->sopts.fault_events = FL_FE_ALL;
		else if (!strcmp(arg, "off"))
			r->sopts.fault_events = FL_FE_OFF;
		else {
			fl_err("--fault-events '%s': expected runs (the default), all or off", arg);
			return -EINVAL;
		}
		return 0;
	case FLIGHT_OPT_FLIGHT ... FLIGHT_OPT_DUMP_ON_EXIT:
		return flight_opt(&r->fl, c, arg);
	case 'h':
		usage(stdout);
		exit(0);
	default:
		return cli_try_help("record");
	}
}

static int parse_args(struct record *r, int argc, char **argv)
{
	static const struct option longopts[] = {
	    /* first: getopt_long names the options an ambiguous prefix fits in table order */
	    {"all", no_argument, NULL, 'a'},
	    CLI_LONGOPTS_SESSION,
	    {"duration", required_argument, NULL, 'd'},
	    {"output", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"capture-payload", no_argument, NULL, OPT_CAPTURE_PAYLOAD},
	    {"keep-cmdline", no_argument, NULL, OPT_KEEP_CMDLINE},
	    {"maps-every", required_argument, NULL, OPT_MAPS_EVERY},
	    {"fault-events", required_argument, NULL, OPT_FAULT_EVENTS},
	    {"ringbuf-mb", required_argument, NULL, CLI_OPT_RINGBUF},
	    {"alloc-slow", required_argument, NULL, CLI_OPT_ALLOC_SLOW},
	    FLIGHT_LONGOPTS,
	    {}};
	int c, err;

	r->output = NULL;
	flight_defaults(&r->fl);
	mapslook_init(&r->look, MAPSLOOK_DEFAULT_NS);
	r->sopts.emit_events = true;
	r->sopts.fault_events = FL_FE_RUNS;
	r->sopts.ringbuf_bytes = 32 << 20;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:ad:o:fvh", longopts, NULL)) != -1) {
		err = cli_session_opt(&r->sopts, c, optarg);
		if (err == CLI_NOT_MINE)
			err = record_opt(r, c, optarg);
		if (err)
			return err;
	}
	if (optind < argc)
		r->command = argv + optind;
	if (flight_check_opts(&r->fl, "record"))
		return -EINVAL;
	/* A dump is cut from the events in memory: the runs still open in the kernel at that
	 * moment would be missing from it. */
	if (r->fl.on && r->fault_events_set && r->sopts.fault_events != FL_FE_ALL) {
		fl_err("record --flight keeps one event per fault (--fault-events=all): the runs "
		       "still open in the kernel at a dump would be missing from it; leave "
		       "--fault-events out");
		return -EINVAL;
	}
	if (r->fl.on)
		r->sopts.fault_events = FL_FE_ALL;
	if (!r->output)
		r->output = r->fl.on ? "." : "faultline.data";
	if (!r->sopts.npids && !r->sopts.all && !r->command) {
		fl_err("record: nothing to trace: give -p PID, -a, or -- COMMAND");
		return -EINVAL;
	}
	if (r->command && (r->sopts.npids || r->sopts.all)) {
		fl_err("record: give either -p/-a or a command, not both");
		return -EINVAL;
	}
	/* -a traces everything: with -p the header would name a target that was not the scope */
	if (r->sopts.npids && r->sopts.all) {
		fl_err("record: -p and -a exclude each other: -p PID traces that process (add "
		       "--children for its descendants), -a the whole system");
		return -EINVAL;
	}
	return cli_check_pids(&r->sopts);
}

/* Forks COMMAND stopped on a pipe, so no event is missed before tracing starts. */
static int launch(struct record *r)
{
	int fds[2], efds[2];

	/* efds: a failed exec sends its errno back; a successful one closes it (O_CLOEXEC). */
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	if (pipe2(efds, O_CLOEXEC)) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	r->child = fork();
	if (r->child < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		close(efds[0]);
		close(efds[1]);
		return err;
	}
	if (r->child == 0) {
		char b;
		int e;

		close(fds[1]);
		close(efds[0]);
		if (read(fds[0], &b, 1) != 1)
			_exit(127);
		execvp(r->command[0], r->command);
		e = errno;
		if (write(efds[1], &e, sizeof(e)) != sizeof(e))
			_exit(126);
		_exit(127);
	}
	close(fds[0]);
	close(efds[1]);
	r->go_fd = fds[1];
	r->exec_fd = efds[0];
	r->sopts.pids[r->sopts.npids++] = r->child;
	r->sopts.children = true;
	return 0;
}

/*
 * Lets the command exec, and waits until it has (the exec closes exec_fd), so the metadata
 * describes the command rather than the forked faultline. Its events wait in the ring buffer
 * meanwhile. 0, or -errno when the command could not be run.
 */
static int release_command(struct record *r)
{
	int e = 0;
	ssize_t n;

	if (write(r->go_fd, "g", 1) != 1)
		e = errno;
	close(r->go_fd);
	r->go_fd = -1;
	do {
		n = read(r->exec_fd, &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	close(r->exec_fd);
	r->exec_fd = -1;
	return n == sizeof(e) ? -e : 0;
}

static void write_event(void *ctx, void *data, size_t size)
{
	struct record *r = ctx;
	int err;

	r->events++;
	err = fl_writer_append(r->w, data, size);
	if (err && !r->write_err)
		r->write_err = err;
}

static char *build_trailer(struct record *r);

/* An exec's new image: its maps, while the process still runs (bounded in count and bytes). */
static void look_at_exec(struct record *r, const struct proc_ev *pe)
{
	struct exec_maps *n;
	char *maps;

	if (r->nexec_maps >= EXEC_MAPS_MAX || r->exec_maps_bytes >= EXEC_MAPS_BYTES)
		return;
	maps = maps_read(pe->pid);
	if (!maps)
		return; /* gone already: the report says its image's faults are unknown */
	n = realloc(r->exec_maps, (r->nexec_maps + 1) * sizeof(*n));
	if (!n) {
		free(maps);
		return;
	}
	r->exec_maps = n;
	n[r->nexec_maps++] = (struct exec_maps){pe->pid, pe->ts_ns, maps};
	r->exec_maps_bytes += strlen(maps);
}

static void trailer_exec_maps(struct jw *w, struct record *r)
{
	jw_key(w, "maps_exec");
	jw_arr_open(w);
	for (size_t i = 0; i < r->nexec_maps; i++) {
		jw_obj_open(w);
		jw_ku64(w, "pid", r->exec_maps[i].pid);
		jw_ku64(w, "ts_ns", r->exec_maps[i].ts_ns);
		jw_kstr(w, "maps", r->exec_maps[i].maps);
		jw_obj_close(w);
		free(r->exec_maps[i].maps);
	}
	jw_arr_close(w);
	free(r->exec_maps);
	r->exec_maps = NULL;
	r->nexec_maps = 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct record *r = ctx;
	const struct fl_hdr *h = data;
	struct fl_cuda cuda;
	struct proc_ev pe;

	if (h->type == FL_EV_NET && r->wire) {
		/* parsed here, written as FL_EV_REQ by drain_requests: no payload reaches the file
		 */
		wire_event(r->wire, data, size);
		r->wire_events++;
		return 0;
	}
	if (r->wire && proc_ev_decode(data, size, &pe) && pe.kind == FL_PROC_EXIT)
		wire_proc_exit(r->wire, pe.pid, pe.ts_ns); /* its connections go with it */
	if (r->fl.on)
		flight_on_event(&r->fl, data, size);
	if (!r->fl.on && proc_ev_decode(data, size, &pe) && pe.kind == FL_PROC_EXEC)
		look_at_exec(r, &pe);
	if (h->type == FL_EV_PROC || h->type == FL_EV_CUDA)
		data = uprobes_on_event(r->up, data, size, &cuda);
	if (data) /* NULL: a register call being measured, written by uprobes_huge_emit() */
		write_event(r, data, size);
	return 0;
}

/* docs/record-format.md gives the layout: keep the two in step */
_Static_assert(sizeof(struct fl_req) == 440, "struct fl_req changed: update the format doc");

/* wire_drain_ended's hand-over: one request, over, becomes one FL_EV_REQ record. */
static void write_request(void *ctx, const struct request *q)
{
	struct record *r = ctx;
	struct fl_req e;
	int err;

	flight_req_record(q, &e);
	r->events++;
	err = fl_writer_append(r->w, &e, sizeof(e));
	if (err && !r->write_err)
		r->write_err = err;
}

static void drain_requests(struct record *r)
{
	if (r->wire)
		wire_drain_ended(r->wire, write_request, r);
}

static bool targets_left(struct record *r)
{
	__u32 key;

	if (r->sopts.all)
		return true;
	if (r->child > 0 && waitpid(r->child, &r->child_status, WNOHANG) == r->child) {
		r->child = 0; /* reaped: its exit is in the ring buffer already */
		r->child_exited = true;
	}
	/* The kernel drops targets as they exit; this also covers a kernel without process_tree. */
	session_prune_dead(&r->sess);
	return bpf_map_get_next_key(bpf_map__fd(r->sess.skel->maps.targets), NULL, &key) == 0;
}

static void status_line(struct record *r, uint64_t elapsed_ms, bool final)
{
	struct fl_writer_stats st;
	char b[32];

	fl_writer_stats(r->w, &st);
	fprintf(stderr, "\r  recording %5.1fs  events %-10llu drops %-6llu file %-10s%s",
		elapsed_ms / 1000.0, (unsigned long long)r->events,
		(unsigned long long)session_counter(&r->sess, FL_CNT_DROPS),
		fmt_bytes(st.file_bytes, b, sizeof(b)), final ? "\n" : "");
}

/* VmRSS now: unlike the peak, this shows whether memory grows with the session. */
static uint64_t self_status_kb(const char *field)
{
	char *status = read_file("/proc/self/status", NULL), *p;
	unsigned long long kb = 0;

	if (status && (p = strstr(status, field)))
		sscanf(p + strlen(field), "%llu", &kb);
	free(status);
	return kb;
}

static char *build_trailer(struct record *r)
{
	struct bpf_map *targets = r->sess.skel->maps.targets;
	uint64_t run_ns, run_cnt, *drops, faults[2];
	struct rusage ru;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;
	__u32 key, *prev = NULL;
	__u32 idx = FL_CNT_DROPS;
	int ncpu = r->sess.ncpus;

	if (!f)
		return NULL;
	drops = calloc(ncpu, sizeof(*drops));
	jw_init(&w, f, false);
	jw_obj_open(&w);
	jw_kstr(&w, "stop_reason", r->stop_reason);
	jw_key(&w, "clocks");
	meta_clocks(&w);
	jw_ku64(&w, "events", r->events);
	jw_key(&w, "drops_per_cpu");
	jw_arr_open(&w);
	if (drops && !bpf_map__lookup_elem(r->sess.skel->maps.counters, &idx, sizeof(idx), drops,
					   sizeof(*drops) * ncpu, 0))
		for (int i = 0; i < ncpu; i++)
			jw_u64(&w, drops[i]);
	jw_arr_close(&w);
	jw_key(&w, "counters");
	jw_obj_open(&w);
	session_fault_totals(&r->sess, faults);
	jw_ku64(&w, "faults_user", faults[0]);
	jw_ku64(&w, "faults_kernel", faults[1]);
	jw_ku64(&w, "khugepaged_scans", session_counter(&r->sess, FL_CNT_KHUGEPAGED_SCAN));
	jw_ku64(&w, "kcompactd_wakes", session_counter(&r->sess, FL_CNT_KCOMPACTD_WAKE));
	jw_ku64(&w, "compaction_deferred", session_counter(&r->sess, FL_CNT_COMPACTION_DEFERRED));
	jw_obj_close(&w);
	session_prog_stats(&r->sess, &run_ns, &run_cnt);
	getrusage(RUSAGE_SELF, &ru);
	jw_key(&w, "overhead");
	jw_obj_open(&w);
	jw_ku64(&w, "bpf_run_ns", run_ns);
	jw_ku64(&w, "bpf_run_cnt", run_cnt);
	jw_kbool(&w, "bpf_stats_enabled", session_bpf_stats_on(&r->sess));
	jw_ku64(&w, "user_cpu_ns",
		(uint64_t)ru.ru_utime.tv_sec * 1000000000ull + ru.ru_utime.tv_usec * 1000ull);
	jw_ku64(&w, "sys_cpu_ns",
		(uint64_t)ru.ru_stime.tv_sec * 1000000000ull + ru.ru_stime.tv_usec * 1000ull);
	jw_ku64(&w, "max_rss_kb", ru.ru_maxrss);
	jw_ku64(&w, "rss_end_kb", self_status_kb("\nVmRSS:"));
	/* The ring buffer's pages are mapped twice (for wrap-around) and count as file RSS;
	 * RssAnon is faultline's own heap and stacks. */
	jw_ku64(&w, "rss_anon_end_kb", self_status_kb("\nRssAnon:"));
	jw_ku64(&w, "ringbuf_bytes", r->sopts.ringbuf_bytes);
	jw_obj_close(&w);
	jw_key(&w, "alloc");
	meta_alloc(&w, &r->sess, r->up);
	if (r->wire)
		wire_trailer_json(r->wire, &w, r->wire_events);
	/* Mappings at the end too: regions mapped during the session resolve against these. */
	jw_key(&w, "targets_end");
	jw_arr_open(&w);
	if (!r->sopts.all) {
		while (!bpf_map__get_next_key(targets, prev, &key, sizeof(key))) {
			meta_target(&w, key);
			prev = &key;
		}
	}
	jw_arr_close(&w);
	trailer_exec_maps(&w, r);
	if (r->look.every_ns && !r->sopts.all)
		mapslook_json(&r->look, &w);
	jw_obj_close(&w);
	fclose(f);
	free(drops);
	return buf;
}

/* A dump's trailer: the session's so far, stop_reason "flight trigger: KIND". */
static char *flight_trailer(void *ctx, const char *reason)
{
	struct record *r = ctx;
	const char *saved = r->stop_reason;
	char *t;

	r->stop_reason = reason;
	t = build_trailer(r);
	r->stop_reason = saved;
	return t;
}

/*
 * The live status line is redrawn in place with \r, which runs into anything else written to the
 * terminal: drawn only when stderr is a terminal that no target (the started command included,
 * which inherited it) has open as its stdin, stdout or stderr.
 */
static bool stderr_tty_private(const struct record *r)
{
	struct stat self, st;
	char path[64];

	if (!isatty(STDERR_FILENO) || fstat(STDERR_FILENO, &self))
		return false;
	for (int i = 0; i < r->sopts.npids; i++) {
		for (int fd = 0; fd <= 2; fd++) {
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", r->sopts.pids[i], fd);
			if (!stat(path, &st) && S_ISCHR(st.st_mode) && st.st_rdev == self.st_rdev)
				return false;
		}
	}
	return true;
}

/*
 * The periodic look at the targets' maps: a round every --maps-every, one small step of it per
 * turn of the loop (mapslook.h). Not with -a (every process of the machine) nor in flight mode
 * (a dump's trailer is built more than once).
 */
static void look_step(struct record *r)
{
	struct bpf_map *targets = r->sess.skel->maps.targets;
	__u32 key, *prev = NULL;
	int pids[FL_MAX_TARGETS * 8];
	uint64_t now;
	size_t n = 0;

	if (r->sopts.all || r->fl.on || !r->look.every_ns)
		return;
	now = clock_ns(CLOCK_MONOTONIC);
	if (mapslook_due(&r->look, now)) {
		while (n < sizeof(pids) / sizeof(pids[0]) &&
		       !bpf_map__get_next_key(targets, prev, &key, sizeof(key))) {
			pids[n++] = key;
			prev = &key;
		}
		mapslook_begin(&r->look, pids, n, now);
	}
	mapslook_step(&r->look);
}

static void run_loop(struct record *r)
{
	uint64_t start = clock_ns(CLOCK_MONOTONIC), last_status = 0, last_check = 0;
	bool tty = r->live_status;

	r->look.next_ns = start + r->look.every_ns; /* the start's look is in the header */

	while (!cli_stop_signal) {
		uint64_t now, elapsed_ms;
		int err = session_poll(&r->sess, 20);

		if (err) {
			fl_err("reading the ring buffer: %s", strerror(-err));
			r->stop_reason = "ring buffer error";
			r->ring_err = err;
			break;
		}
		uprobes_huge_emit(r->up, false, write_event, r);
		look_step(r);
		if (r->fl.on)
			flight_poll(&r->fl, r->wire);
		drain_requests(r);
		err = fl_writer_tick(r->w);
		if (!err)
			err = r->write_err;
		if (err) {
			/* a full disk or an I/O error: stop now rather than trace into the void */
			fl_err("%s: writing failed: %s; recording stopped", r->tmp_path,
			       strerror(-err));
			r->stop_reason = "write error";
			r->write_err = err;
			break;
		}
		now = clock_ns(CLOCK_MONOTONIC);
		elapsed_ms = (now - start) / 1000000;
		if (r->duration_ms && elapsed_ms >= r->duration_ms) {
			r->stop_reason = "duration";
			break;
		}
		if (now - last_check > 200000000ull) {
			last_check = now;
			uprobes_poll(r->up);
			if (!targets_left(r)) {
				r->stop_reason = "targets exited";
				break;
			}
		}
		if (tty && now - last_status > 500000000ull) {
			last_status = now;
			status_line(r, elapsed_ms, false);
		}
	}
	if (cli_stop_signal && !r->write_err)
		r->stop_reason = cli_stop_reason(cli_stop_signal);
	if (tty)
		status_line(r, (clock_ns(CLOCK_MONOTONIC) - start) / 1000000, true);
}

static void stop_child(struct record *r)
{
	if (r->child <= 0)
		return;
	if (waitpid(r->child, &r->child_status, WNOHANG) == r->child) {
		r->child_exited = true;
		r->child = 0;
		return;
	}
	kill(r->child, SIGTERM);
	for (int i = 0; i < 40; i++) {
		if (waitpid(r->child, NULL, WNOHANG) == r->child)
			goto reaped;
		usleep(50000);
	}
	kill(r->child, SIGKILL);
	waitpid(r->child, NULL, 0);
reaped:
	r->child = 0;
}

/* Like time(1) and perf record: the command's own status once it ended by itself. */
static int exit_status(const struct record *r, int err)
{
	if (err)
		return 1;
	if (!r->command || !r->child_exited)
		return 0;
	if (WIFEXITED(r->child_status))
		return WEXITSTATUS(r->child_status);
	if (WIFSIGNALED(r->child_status))
		return 128 + WTERMSIG(r->child_status);
	return 0;
}

static void read_exe(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
}

/* Each -p pid's program at the start, to say at the end which exec'd another. */
static void note_exes(struct record *r)
{
	for (int i = 0; !r->command && i < r->sopts.npids; i++)
		read_exe(r->sopts.pids[i], r->exe0[i], sizeof(r->exe0[i]));
}

/* A -p pid that exec'd during the session: the report describes the new program. */
static void say_execs(struct record *r)
{
	char exe[256];

	for (int i = 0; !r->command && i < r->sopts.npids; i++) {
		read_exe(r->sopts.pids[i], exe, sizeof(exe));
		if (exe[0] && r->exe0[i][0] && strcmp(exe, r->exe0[i]))
			fprintf(stderr,
				"faultline: pid %d exec'd %s during the recording (it was %s); "
				"the report describes %s\n",
				r->sopts.pids[i], fl_esc(exe), fl_esc(r->exe0[i]), fl_esc(exe));
	}
}

/*
 * Checks -o before anything is attached, and creates the file the recording goes to until it
 * ends: DIR/.NAME.XXXXXX, O_EXCL (mkostemp), mode 0600. A kill -9 leaves it there, readable.
 */
static int prepare_output(struct record *r)
{
	char *d = strdup(r->output), *b = strdup(r->output), *dir;
	struct stat st;
	int err = 0;

	if (!d || !b) {
		err = -ENOMEM;
		goto out;
	}
	if (!lstat(r->output, &st)) {
		if (S_ISLNK(st.st_mode))
			err = -ELOOP,
			fl_err("%s: is a symbolic link; record does not write through one "
			       "(give the path it points to)",
			       r->output);
		else if (S_ISDIR(st.st_mode))
			err = -EISDIR, fl_err("%s: is a directory; give a file name (-o %s/%s)",
					      r->output, r->output, "faultline.data");
		else if (!S_ISREG(st.st_mode))
			err = -EINVAL,
			fl_err("%s: not a regular file; record will not replace it", r->output);
		if (err)
			goto out;
	} else if (errno != ENOENT) {
		err = -errno;
		fl_err("%s: %s", r->output, strerror(errno));
		goto out;
	}
	dir = dirname(d);
	if (asprintf(&r->tmp_path, "%s/.%s.XXXXXX", dir, basename(b)) < 0) {
		r->tmp_path = NULL;
		err = -ENOMEM;
		goto out;
	}
	r->tmp_fd = mkostemp(r->tmp_path, O_CLOEXEC);
	if (r->tmp_fd < 0) {
		err = -errno;
		fl_err("%s: cannot create a file in %s: %s", r->output, dir, strerror(errno));
		free(r->tmp_path);
		r->tmp_path = NULL;
	}
out:
	free(d);
	free(b);
	return err;
}

/* Renames the finished recording into place; an existing OUTPUT becomes OUTPUT.old (not -f). */
static int finish_output(struct record *r)
{
	struct stat st;
	char *old;

	if (!r->force && !lstat(r->output, &st) && S_ISREG(st.st_mode) &&
	    asprintf(&old, "%s.old", r->output) >= 0) {
		if (rename(r->output, old))
			fl_err("%s: cannot keep it as %s: %s; overwriting it", r->output, old,
			       strerror(errno));
		else
			fprintf(stderr, "faultline: the previous %s is now %s\n", r->output, old);
		free(old);
	}
	if (rename(r->tmp_path, r->output)) {
		int err = -errno;

		fl_err("cannot rename %s to %s: %s; the recording stays in %s", r->tmp_path,
		       r->output, strerror(-err), r->tmp_path);
		return err;
	}
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct record r = {.go_fd = -1, .exec_fd = -1, .tmp_fd = -1};
	char *meta = NULL, *trailer = NULL;
	int err;

	err = parse_args(&r, argc, argv);
	if (err)
		return 2;
	/* before anything is started or attached: a bad -o costs nothing */
	if (r.fl.on ? flight_check_dir(r.output) : prepare_output(&r))
		return 1;
	meta_opts.capture_payload = r.capture_payload;
	if (!r.capture_payload && !(r.wire = wire_new())) {
		err = -ENOMEM;
		fl_err("out of memory");
		goto out;
	}
	if (r.command && (err = launch(&r))) {
		fl_err("cannot start '%s': %s", r.command[0], strerror(-err));
		goto out;
	}
	cli_catch_stop_signals();
	err = session_open(&r.sess, &r.sopts);
	if (err)
		goto out;
	/* Before the command execs: uprobes on the libc it was forked with follow it into its
	 * image. */
	err = uprobes_open(&r.up, &r.sess);
	if (err)
		goto out;
	if (r.go_fd >= 0 && (err = release_command(&r))) {
		fl_err("cannot run '%s': %s", r.command[0], strerror(-err));
		goto out;
	}
	note_exes(&r);
	meta = meta_build(&r.sess, argc, argv, r.command ? r.command[0] : NULL);
	if (r.fl.on) {
		r.fl.meta = meta;
		r.fl.dir = r.output;
		r.fl.trailer = flight_trailer;
		r.fl.trailer_ctx = &r;
		err = flight_start(&r.fl);
		r.w = r.fl.w;
		if (err) {
			fl_err("flight recorder: %s", strerror(-err));
			goto out;
		}
		goto ring;
	}
	err = fl_writer_open_fd(&r.w, r.tmp_fd, meta ? meta : "{}");
	r.tmp_fd = -1; /* the writer's now, even on error */
	if (err) {
		fl_err("%s: cannot write: %s", r.tmp_path, strerror(-err));
		goto out;
	}
ring:
	err = session_ring_open(&r.sess, on_event, &r);
	if (err) {
		fl_err("cannot open the ring buffer: %s", strerror(-err));
		goto out;
	}
	r.live_status = !r.fl.on && stderr_tty_private(&r);
	if (!r.fl.on && (!r.live_status || fl_verbose))
		fprintf(stderr,
			"faultline: recording to %s (as %s until the end; a killed record "
			"leaves it there, readable)%s\n",
			r.output, r.tmp_path,
			r.capture_payload ? "; capturing socket payload" : "");
	r.started = true;
	run_loop(&r);
	if (!r.write_err) {
		stop_child(&r); /* while still tracing, so its exit is recorded */
		/* Detach, then drain: nothing arrives after the last read. */
		session_poll(&r.sess, 0);
	}
	probe_plan_destroy(&r.sess.plan);
	uprobes_detach(r.up);
	if (!r.write_err) {
		session_poll(&r.sess, 0);
		/* the runs still open in the kernel: nothing adds to them any more */
		int nruns = session_fault_runs(&r.sess, write_event, &r);

		if (nruns < 0)
			fl_err("cannot read the fault runs still open in the kernel: %s; the "
			       "report's counts miss their faults",
			       strerror(-nruns));
		if (r.wire) {
			wire_finish(
			    r.wire); /* requests still open are written, marked incomplete */
			drain_requests(&r);
		}
	}
	say_execs(&r);
	uprobes_huge_emit(r.up, true, write_event, &r);
	if (r.fl.on) {
		flight_finish(&r.fl, r.stop_reason);
		if (!err)
			err = r.ring_err;
		goto out;
	}
	uprobes_calibrate_again(r.up); /* the probes' cost at the end too: the machine may differ */
	trailer = build_trailer(&r);
	if (!err)
		err = r.ring_err;
out:
	if (r.go_fd >= 0)
		close(r.go_fd); /* the command sees EOF and exits 127 without running */
	if (r.fl.on) {
		flight_close(&r.fl);
	} else if (r.w && !r.started) {
		/* failed before tracing: keep OUTPUT and OUTPUT.old as they were */
		fl_writer_close(r.w, "{}");
		unlink(r.tmp_path);
	} else if (r.w) {
		int cerr = fl_writer_close(r.w, trailer ? trailer : "{}");

		if (!err)
			err = r.write_err ? r.write_err : cerr;
		if (finish_output(&r) && !err)
			err = -EIO;
		if (r.write_err || cerr)
			fl_err("%s: writing failed: %s (what was written is still readable, up to "
			       "its last whole chunk)",
			       r.output, strerror(-(r.write_err ? r.write_err : cerr)));
		else if (!err || err == r.ring_err) /* what was read is in the file */
			fprintf(stderr, "faultline: wrote %llu events to %s (%s)\n",
				(unsigned long long)r.events, r.output, r.stop_reason);
		if (!err && exit_status(&r, 0) > 128)
			fprintf(stderr,
				"faultline: '%s' was killed by signal %d; record exits %d\n",
				r.command[0], exit_status(&r, 0) - 128, exit_status(&r, 0));
		else if (!err && exit_status(&r, 0))
			fprintf(stderr, "faultline: '%s' exited with status %d; so does record\n",
				r.command[0], exit_status(&r, 0));
	} else if (r.tmp_path) {
		if (r.tmp_fd >= 0)
			close(r.tmp_fd);
		unlink(r.tmp_path); /* nothing was recorded */
	}
	if (r.child > 0 && err)
		stop_child(&r);
	uprobes_free(r.up);
	session_close(&r.sess);
	wire_free(r.wire);
	free(r.tmp_path);
	free(meta);
	free(trailer);
	mapslook_free(&r.look);
	return exit_status(&r, err);
}
