// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline record: attach to a running process tree (or start a command), stream every event
 * from the ring buffer into faultline.data, and stop on -d, Ctrl-C, SIGTERM, SIGHUP or when every
 * target has exited. Whatever happens, the file is left complete (or readable up to its last chunk).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libgen.h>
#include <ctype.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "faultline.skel.h"
#include "cli.h"
#include "commands.h"
#include "faultline.h"
#include "jw.h"
#include "meta.h"
#include "recfile.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"
#include "wire.h"

enum {
	OPT_CAPTURE_PAYLOAD = CLI_OPT_OWN,
	OPT_KEEP_CMDLINE,
	OPT_FLIGHT,
	OPT_FLIGHT_BYTES,
	OPT_TRIGGER,
	OPT_AFTER,
	OPT_MAX_DUMPS,
	OPT_MIN_SPACING,
	OPT_DUMP_ON_EXIT,
};

/* --flight: events stay in memory; a trigger writes the window around it as one record file. */
struct flight {
	uint64_t window_ms;  /* --flight */
	uint64_t max_bytes;  /* --flight-bytes */
	uint64_t after_ms;   /* --after */
	uint64_t spacing_ms; /* --min-spacing: from the end of one dump to the next trigger */
	uint64_t ttft_ns, stall_ns; /* --trigger thresholds; 0: off */
	long max_dumps;      /* --max-dumps; 0: no limit */
	bool dump_on_exit;
	char *meta;          /* the header JSON of every dump, before its "flight" member */
	uint64_t ttft_seen;  /* newest first token already checked */
	/* the dump being collected: written once its --after has passed */
	bool pending;
	uint64_t due_ns, first_ns;   /* CLOCK_MONOTONIC: when to write it, its first trigger */
	uint64_t trig_ts;            /* event time of its first trigger */
	char kind[16];               /* "ttft", "stall", "signal", "exit" */
	char id[REQ_ID_LEN];         /* the triggering request's id ("" for stall/signal) */
	uint64_t value_ns, threshold_ns;
	unsigned triggers;           /* triggers folded into it */
	long dumps;
	uint64_t suppressed, failed;
	uint64_t last_end_ns;        /* when the last dump was written */
};

static volatile sig_atomic_t flight_usr1;

struct record {
	struct session_opts sopts;
	const char *output;
	char *tmp_path;   /* where the recording goes until it ends: DIR/.NAME.XXXXXX */
	int tmp_fd;
	bool force;       /* -f: replace OUTPUT, keep no NAME.old */
	bool capture_payload;
	struct wire *wire; /* parses FL_EV_NET into FL_EV_REQ records (no --capture-payload) */
	uint64_t wire_events;
	uint64_t duration_ms;
	char **command;
	pid_t child;
	int child_status; /* its wait status once reaped by us ... */
	bool child_exited; /* ... on its own, not stopped by faultline: record exits with it */
	int go_fd; /* the launched command waits for a byte on this pipe */
	int exec_fd; /* ... and sends back errno here if it cannot exec */
	struct session sess;
	struct fl_writer *w;
	struct uprobes *up;
	uint64_t events;
	int write_err;
	int ring_err;     /* reading the ring buffer failed: record exits non-zero */
	bool started;     /* tracing began: the file holds a recording worth keeping */
	const char *stop_reason;
	char exe0[FL_MAX_TARGETS][256]; /* each -p pid's program at the start */
	bool live_status; /* stderr is a terminal of our own: the status line is redrawn in place */
	bool flight_on;
	struct flight fl;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: faultline record [OPTIONS] (-p PID[,PID...] | -a | -- COMMAND [ARGS...])\n"
"\n"
"Record the memory stalls of a running process tree into a file (default ./faultline.data).\n"
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
"      --ringbuf-mb N      ring buffer size in MiB (default 32, power of two)\n"
"      --probes SPEC       choose attach types: CONCERN=TYPE[,...], e.g.\n"
"                          fault-duration=kprobe or rss=off (see -v for concerns)\n"
"      --wire on|off       see HTTP requests on the targets' TCP sockets (default on;\n"
"                          faultline report lines stalls up with them)\n"
"      --alloc MODE        allocator tracing: lite (default: mmap munmap madvise brk\n"
"                          mremap, timed, with the calling library), full (lite + every\n"
"                          malloc-family call timed by uprobes, exact counts) or off\n"
"      --alloc-slow TIME   with --alloc=full, record each call slower than TIME\n"
"                          (default 50us; 1ms, 200us, 0.5ms...)\n"
"      --cuda auto|off     CUDA pinned-memory calls (cudaHostRegister...) in every\n"
"                          libcudart/libcuda a target maps, now or later (default auto)\n"
CLI_USAGE_VERBOSE_HELP
"\n"
"Flight recorder (nothing is written until a trigger):\n"
"      --flight TIME       keep the last TIME of events in memory, compressed; -o\n"
"                          names a directory; each trigger writes DIR/faultline-\n"
"                          YYYYMMDDTHHMMSS-REQID.data (the window before it + --after)\n"
"      --flight-bytes SIZE at most SIZE of compressed events in memory (default 64M;\n"
"                          the dump's header says which bound applied)\n"
"      --trigger ttft=TIME a request's first token later than TIME after its start\n"
"      --trigger stall=TIME  any single memory stall longer than TIME\n"
"                          (kill -USR1 dumps the current window by hand)\n"
"      --after TIME        keep recording TIME after a trigger (default 5s); triggers\n"
"                          meanwhile join the same dump\n"
"      --max-dumps N       write at most N dumps (default 10; 0: no limit)\n"
"      --min-spacing TIME  ignore triggers within TIME of the last dump (default 10s)\n"
"      --dump-on-exit      write the window when record stops, too\n"
"\n"
"Examples:\n"
"  sudo faultline record -p $(pgrep -f 'vllm serve') --children -d 60\n"
"  sudo faultline record -o run1.data -- python3 examples/server.py\n"
"  sudo faultline record -p PID --alloc=full --alloc-slow=100us -d 30\n"
"  sudo faultline record -p PID --alloc=off --cuda=off   (faults and stalls only)\n"
"  faultline report -i run1.data\n");
}

static int flight_time(const char *opt, const char *arg, uint64_t *ms)
{
	if (parse_duration_ms(arg, ms) || !*ms) {
		fl_err("%s '%s': expected a duration such as 30s, 500ms or 2m", opt, arg);
		return -EINVAL;
	}
	return 0;
}

static int flight_opt(struct record *r, int c, const char *arg)
{
	struct flight *f = &r->fl;
	uint64_t ms;
	char *end;

	r->flight_on |= c == OPT_FLIGHT;
	switch (c) {
	case OPT_FLIGHT:
		return flight_time("--flight", arg, &f->window_ms);
	case OPT_FLIGHT_BYTES:
		if (parse_size(arg, &f->max_bytes) || f->max_bytes < (1u << 20)) {
			fl_err("--flight-bytes '%s': expected a size of at least 1M (64M, 1G)", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_TRIGGER: /* thresholds to the microsecond: stall=500us */
		if (!strncmp(arg, "ttft=", 5) && !parse_duration(arg + 5, 1000000000, 1, &ms) && ms) {
			f->ttft_ns = ms;
			return 0;
		}
		if (!strncmp(arg, "stall=", 6) && !parse_duration(arg + 6, 1000000000, 1, &ms) && ms) {
			f->stall_ns = ms;
			return 0;
		}
		fl_err("--trigger '%s': expected ttft=TIME or stall=TIME, e.g. ttft=500ms", arg);
		return -EINVAL;
	case OPT_AFTER:
		if (parse_duration_ms(arg, &f->after_ms)) {
			fl_err("--after '%s': expected a duration such as 5s or 500ms", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_MAX_DUMPS:
		errno = 0;
		f->max_dumps = strtol(arg, &end, 10);
		if (errno || end == arg || *end || f->max_dumps < 0) {
			fl_err("--max-dumps '%s': expected a number (0: no limit)", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_MIN_SPACING:
		if (parse_duration_ms(arg, &f->spacing_ms)) {
			fl_err("--min-spacing '%s': expected a duration such as 10s", arg);
			return -EINVAL;
		}
		return 0;
	default: /* OPT_DUMP_ON_EXIT */
		f->dump_on_exit = true;
		return 0;
	}
}

/* Record's own options; the shared ones went to cli_session_opt(). */
static int record_opt(struct record *r, int c, const char *arg)
{
	switch (c) {
	case 'd':
		if (parse_duration_ms(arg, &r->duration_ms) || !r->duration_ms) {
			fl_err("-d '%s': expected a duration such as 30, 1.5, 30s, 500ms or 2m", arg);
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
	case OPT_FLIGHT:
	case OPT_FLIGHT_BYTES:
	case OPT_TRIGGER:
	case OPT_AFTER:
	case OPT_MAX_DUMPS:
	case OPT_MIN_SPACING:
	case OPT_DUMP_ON_EXIT:
		return flight_opt(r, c, arg);
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
		{ "all", no_argument, NULL, 'a' },
		CLI_LONGOPTS_SESSION,
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "capture-payload", no_argument, NULL, OPT_CAPTURE_PAYLOAD },
		{ "keep-cmdline", no_argument, NULL, OPT_KEEP_CMDLINE },
		{ "ringbuf-mb", required_argument, NULL, CLI_OPT_RINGBUF },
		{ "alloc-slow", required_argument, NULL, CLI_OPT_ALLOC_SLOW },
		{ "flight", required_argument, NULL, OPT_FLIGHT },
		{ "flight-bytes", required_argument, NULL, OPT_FLIGHT_BYTES },
		{ "trigger", required_argument, NULL, OPT_TRIGGER },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "max-dumps", required_argument, NULL, OPT_MAX_DUMPS },
		{ "min-spacing", required_argument, NULL, OPT_MIN_SPACING },
		{ "dump-on-exit", no_argument, NULL, OPT_DUMP_ON_EXIT },
		{}
	};
	int c, err;

	r->output = NULL;
	r->fl.max_bytes = 64 << 20;
	r->fl.after_ms = 5000;
	r->fl.spacing_ms = 10000;
	r->fl.max_dumps = 10;
	r->sopts.emit_events = true;
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
	if (!r->flight_on && (r->fl.ttft_ns || r->fl.stall_ns || r->fl.dump_on_exit)) {
		fl_err("record: --trigger and --dump-on-exit need --flight TIME");
		return -EINVAL;
	}
	if (!r->output)
		r->output = r->flight_on ? "." : "faultline.data";
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

static void flight_trigger(struct record *r, const char *kind, const char *id, uint64_t value_ns,
			   uint64_t threshold_ns, uint64_t ts_ns);
static char *build_trailer(struct record *r);

static int on_event(void *ctx, void *data, size_t size)
{
	struct record *r = ctx;
	const struct fl_hdr *h = data;
	struct fl_cuda cuda;

	if (h->type == FL_EV_NET && r->wire) {
		/* parsed here, written as FL_EV_REQ by drain_requests: no payload reaches the file */
		wire_event(r->wire, data, size);
		r->wire_events++;
		return 0;
	}
	if (h->type == FL_EV_PROC && r->wire && size >= sizeof(struct fl_proc) &&
	    ((const struct fl_proc *)data)->kind == FL_PROC_EXIT) /* its connections go with it */
		wire_proc_exit(r->wire, ((const struct fl_proc *)data)->pid, h->ts_ns);
	if (r->fl.stall_ns && h->type == FL_EV_STALL && size >= sizeof(struct fl_stall) &&
	    ((const struct fl_stall *)data)->dur_ns > r->fl.stall_ns)
		flight_trigger(r, "stall", "", ((const struct fl_stall *)data)->dur_ns, r->fl.stall_ns,
			       h->ts_ns);
	if (h->type == FL_EV_PROC || h->type == FL_EV_CUDA)
		data = uprobes_on_event(r->up, data, size, &cuda);
	if (data) /* NULL: a register call being measured, written by uprobes_huge_emit() */
		write_event(r, data, size);
	return 0;
}

static void copy_str(char *dst, size_t len, const char *src, size_t srclen)
{
	size_t n = strnlen(src, len - 1 < srclen ? len - 1 : srclen);

	memcpy(dst, src, n); /* DST was zeroed: nothing of the stack reaches the file */
	dst[n] = 0;
}

/* docs/record-format.md gives the layout: keep the two in step */
_Static_assert(sizeof(struct fl_req) == 440, "struct fl_req changed: update the format doc");

/* wire_drain_ended's hand-over: one request, over, becomes one FL_EV_REQ record. */
static void write_request(void *ctx, const struct request *q)
{
	struct record *r = ctx;
	struct fl_req e;
	char *query;
	int err;

	memset(&e, 0, sizeof(e));
	e.h.type = FL_EV_REQ;
	e.h.tid = q->tid;
	e.h.ts_ns = q->start_ns;
	e.first_byte_ns = q->first_byte_ns;
	e.first_token_ns = q->first_token_ns;
	e.end_ns = q->end_ns;
	e.in_bytes = q->in_bytes;
	e.out_bytes = q->out_bytes;
	e.pid = q->pid;
	e.fd = q->fd;
	e.status = q->status;
	e.flags = (q->aborted ? FL_REQ_ABORTED : 0) | (q->incomplete ? FL_REQ_INCOMPLETE : 0);
	copy_str(e.method, sizeof(e.method), q->method, sizeof(q->method));
	copy_str(e.path, sizeof(e.path), q->path, sizeof(q->path));
	query = strchr(e.path, '?'); /* query strings carry tokens and prompts */
	if (query)
		memset(query, 0, e.path + sizeof(e.path) - query);
	copy_str(e.xrid, sizeof(e.xrid), q->xrid, sizeof(q->xrid));
	copy_str(e.id, sizeof(e.id), q->id, sizeof(q->id));
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

static void flight_on_usr1(int sig)
{
	(void)sig;
	flight_usr1 = 1;
}

static void log_trigger(const char *kind, const char *id, uint64_t value_ns, uint64_t thr_ns,
			const char *what)
{
	char v[32], t[32];

	if (thr_ns)
		fprintf(stderr, "faultline: flight: trigger %s%s%s (%s > %s): %s\n", kind,
			*id ? " " : "", fl_esc(id), fmt_ns(value_ns, v, sizeof(v)),
			fmt_ns(thr_ns, t, sizeof(t)), what);
	else
		fprintf(stderr, "faultline: flight: trigger %s: %s\n", kind, what);
}

/*
 * A trigger starts a dump, due --after from now, or joins the one being collected (which it
 * extends by up to another --after: the ring holds --flight + 2 x --after). Past --max-dumps or
 * within --min-spacing of the last dump, it is only logged and counted.
 */
static void flight_trigger(struct record *r, const char *kind, const char *id, uint64_t value_ns,
			   uint64_t threshold_ns, uint64_t ts_ns)
{
	struct flight *f = &r->fl;
	uint64_t now = clock_ns(CLOCK_MONOTONIC), after = f->after_ms * 1000000;
	bool by_hand = !strcmp(kind, "signal") || !strcmp(kind, "exit");
	char what[128];

	if (f->pending) {
		if (by_hand) {
			f->due_ns = now;
		} else if (now + after > f->first_ns + 2 * after) {
			f->suppressed++;
			log_trigger(kind, id, value_ns, threshold_ns,
				    "suppressed (the pending dump cannot be extended further)");
			return;
		} else if (now + after > f->due_ns) {
			f->due_ns = now + after;
		}
		f->triggers++;
		log_trigger(kind, id, value_ns, threshold_ns, "joins the pending dump");
		return;
	}
	if (!by_hand && f->max_dumps && f->dumps >= f->max_dumps) {
		f->suppressed++;
		snprintf(what, sizeof(what), "suppressed (--max-dumps %ld reached)", f->max_dumps);
		log_trigger(kind, id, value_ns, threshold_ns, what);
		return;
	}
	if (!by_hand && f->last_end_ns && now - f->last_end_ns < f->spacing_ms * 1000000) {
		f->suppressed++;
		log_trigger(kind, id, value_ns, threshold_ns,
			    "suppressed (within --min-spacing of the last dump)");
		return;
	}
	f->pending = true;
	f->first_ns = now;
	f->due_ns = by_hand ? now : now + after;
	f->trig_ts = ts_ns;
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->value_ns = value_ns;
	f->threshold_ns = threshold_ns;
	f->triggers = 1;
	snprintf(what, sizeof(what), "dump in %.1f s", by_hand ? 0 : f->after_ms / 1000.0);
	log_trigger(kind, id, value_ns, threshold_ns, what);
}

/* --trigger ttft: each request once, as soon as its first token is on the wire. */
static void flight_check_ttft(struct record *r)
{
	const struct reqlist *l;
	uint64_t seen = r->fl.ttft_seen;

	if (!r->fl.ttft_ns || !r->wire)
		return;
	l = wire_requests(r->wire);
	for (size_t i = 0; i < l->n; i++) {
		const struct request *q = &l->v[i];
		uint64_t ft = q->first_token_ns;

		if (!ft || ft <= r->fl.ttft_seen || ft < q->start_ns)
			continue;
		seen = ft > seen ? ft : seen;
		if (ft - q->start_ns > r->fl.ttft_ns)
			flight_trigger(r, "ttft", q->id[0] ? q->id : q->xrid, ft - q->start_ns,
				       r->fl.ttft_ns, q->start_ns);
	}
	r->fl.ttft_seen = seen;
}

/* The recording's header JSON with a "flight" member: the window, its bound, the trigger. */
static char *flight_meta(struct record *r, const struct fl_ring_info *info, uint64_t since)
{
	struct flight *f = &r->fl;
	json_t *m = json_loads(f->meta ? f->meta : "{}", 0, NULL), *o, *t;
	char *out;

	if (!m || !json_is_object(m)) {
		json_decref(m);
		m = json_object();
	}
	o = json_object();
	t = json_object();
	json_object_set_new(o, "window_ms", json_integer(f->window_ms));
	json_object_set_new(o, "after_ms", json_integer(f->after_ms));
	json_object_set_new(o, "max_bytes", json_integer(f->max_bytes));
	json_object_set_new(o, "bound", json_string(info->bound));
	json_object_set_new(o, "from_ns", json_integer(since));
	json_object_set_new(o, "first_event_ns", json_integer(info->first_ns));
	json_object_set_new(o, "last_event_ns", json_integer(info->last_ns));
	json_object_set_new(o, "ring_bytes", json_integer(info->ring_bytes));
	json_object_set_new(t, "kind", json_string(f->kind));
	json_object_set_new(t, "request_id", json_string(f->id));
	json_object_set_new(t, "ts_ns", json_integer(f->trig_ts));
	json_object_set_new(t, "value_ns", json_integer(f->value_ns));
	json_object_set_new(t, "threshold_ns", json_integer(f->threshold_ns));
	json_object_set_new(t, "triggers", json_integer(f->triggers));
	if (!strcmp(f->kind, "ttft")) {
		json_object_set_new(t, "ttft_ms", json_real(f->value_ns / 1e6));
		json_object_set_new(t, "threshold_ms", json_real(f->threshold_ns / 1e6));
	}
	json_object_set_new(o, "trigger", t);
	json_object_set_new(m, "flight", o);
	out = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return out;
}

/* DIR/faultline-YYYYMMDDTHHMMSS-ID.data; ID keeps [A-Za-z0-9._-], the rest becomes '_'. */
static char *flight_name(struct record *r, int n)
{
	const char *id = r->fl.id[0] ? r->fl.id : r->fl.kind;
	char stamp[32], clean[65], *path;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (i = 0; id[i] && i < sizeof(clean) - 1; i++)
		clean[i] = (isalnum((unsigned char)id[i]) || strchr("._-", id[i])) && !(i == 0 && id[i] == '.') ?
				   id[i] : '_';
	clean[i] = 0;
	if (n ? asprintf(&path, "%s/faultline-%s-%s-%d.data", r->output, stamp, clean, n) :
		asprintf(&path, "%s/faultline-%s-%s.data", r->output, stamp, clean) < 0)
		return NULL;
	return path;
}

/* Writes the pending dump: DIR/.faultline-dump.XXXXXX (0600), renamed without replacing. */
static void flight_dump(struct record *r)
{
	struct flight *f = &r->fl;
	uint64_t since = f->trig_ts > f->window_ms * 1000000 ? f->trig_ts - f->window_ms * 1000000 : 0;
	const char *reason = r->stop_reason;
	char *meta = NULL, *trailer = NULL, *tmp = NULL, *path = NULL, why[64];
	struct fl_ring_info info;
	int fd = -1, err;

	f->pending = false;
	err = fl_writer_ring_info(r->w, since, &info);
	if (err)
		goto fail;
	meta = flight_meta(r, &info, since);
	snprintf(why, sizeof(why), "flight trigger: %s", f->kind);
	r->stop_reason = why;
	trailer = build_trailer(r);
	r->stop_reason = reason;
	if (trailer) { /* the dump's own count, not the session's */
		json_t *t = json_loads(trailer, 0, NULL);

		free(trailer);
		trailer = NULL;
		if (t) {
			json_object_set_new(t, "events", json_integer(info.events));
			trailer = json_dumps(t, JSON_COMPACT);
			json_decref(t);
		}
	}
	err = -ENOMEM;
	if (!meta || !trailer || asprintf(&tmp, "%s/.faultline-dump.XXXXXX", r->output) < 0)
		goto fail;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	err = fl_writer_ring_dump(r->w, fd, since, meta, trailer);
	if (close(fd) && !err)
		err = -errno;
	if (err)
		goto fail;
	for (int n = 0; n < 100; n++) {
		free(path);
		path = flight_name(r, n);
		err = -ENOMEM;
		if (!path)
			goto fail;
		err = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) ? -errno : 0;
		if (err != -EEXIST)
			break;
	}
	if (err)
		goto fail;
	f->dumps++;
	f->last_end_ns = clock_ns(CLOCK_MONOTONIC);
	fprintf(stderr, "faultline: flight: wrote %s (%llu events, %.1f s of events, window bound: "
			"%s; dump %ld)\n", path, (unsigned long long)info.events,
		info.last_ns > info.first_ns ? (info.last_ns - info.first_ns) / 1e9 : 0.0, info.bound,
		f->dumps);
	goto out;
fail:
	f->failed++;
	fl_err("flight: cannot write the dump in %s: %s; recording continues, the next trigger "
	       "tries again", r->output, strerror(-err));
	if (tmp)
		unlink(tmp);
out:
	free(tmp);
	free(path);
	free(meta);
	free(trailer);
}

/* Each turn of the loop: SIGUSR1, first tokens, and a dump whose --after has passed. */
static void flight_poll(struct record *r)
{
	if (!r->flight_on)
		return;
	if (flight_usr1) {
		flight_usr1 = 0;
		flight_trigger(r, "signal", "", 0, 0, clock_ns(CLOCK_MONOTONIC));
	}
	flight_check_ttft(r);
	if (r->fl.pending && clock_ns(CLOCK_MONOTONIC) >= r->fl.due_ns)
		flight_dump(r);
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
	uint64_t run_ns, run_cnt, *drops;
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
	jw_ku64(&w, "faults_user", session_counter(&r->sess, FL_CNT_FAULTS_USER));
	jw_ku64(&w, "faults_kernel", session_counter(&r->sess, FL_CNT_FAULTS_KERNEL));
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
	jw_kbool(&w, "bpf_stats_enabled", r->sess.stats_fd >= 0);
	jw_ku64(&w, "user_cpu_ns", (uint64_t)ru.ru_utime.tv_sec * 1000000000ull + ru.ru_utime.tv_usec * 1000ull);
	jw_ku64(&w, "sys_cpu_ns", (uint64_t)ru.ru_stime.tv_sec * 1000000000ull + ru.ru_stime.tv_usec * 1000ull);
	jw_ku64(&w, "max_rss_kb", ru.ru_maxrss);
	jw_ku64(&w, "rss_end_kb", self_status_kb("\nVmRSS:"));
	/* The ring buffer's pages are mapped twice (for wrap-around) and count as file RSS;
	 * RssAnon is faultline's own heap and stacks. */
	jw_ku64(&w, "rss_anon_end_kb", self_status_kb("\nRssAnon:"));
	jw_ku64(&w, "ringbuf_bytes", r->sopts.ringbuf_bytes);
	jw_obj_close(&w);
	jw_key(&w, "alloc");
	uprobes_trailer(r->up, &w);
	if (r->wire) {
		uint64_t conns, ignored;

		wire_stats(r->wire, &conns, &ignored);
		jw_key(&w, "wire");
		jw_obj_open(&w);
		jw_ku64(&w, "connections", conns);
		jw_ku64(&w, "ignored_events", ignored);
		jw_ku64(&w, "net_events", r->wire_events);
		jw_obj_close(&w);
	}
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
	jw_obj_close(&w);
	fclose(f);
	free(drops);
	return buf;
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

static void run_loop(struct record *r)
{
	uint64_t start = clock_ns(CLOCK_MONOTONIC), last_status = 0, last_check = 0;
	bool tty = r->live_status;

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
		flight_poll(r);
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
			fprintf(stderr, "faultline: pid %d exec'd %s during the recording (it was %s); "
				"the report describes %s\n", r->sopts.pids[i], fl_esc(exe), fl_esc(r->exe0[i]),
				fl_esc(exe));
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
			err = -ELOOP, fl_err("%s: is a symbolic link; record does not write through one "
					     "(give the path it points to)", r->output);
		else if (S_ISDIR(st.st_mode))
			err = -EISDIR, fl_err("%s: is a directory; give a file name (-o %s/%s)",
					      r->output, r->output, "faultline.data");
		else if (!S_ISREG(st.st_mode))
			err = -EINVAL, fl_err("%s: not a regular file; record will not replace it",
					      r->output);
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

/* --flight: -o names an existing directory; nothing is created in it before a trigger. */
static int check_flight_dir(struct record *r)
{
	struct stat st;

	int err = stat(r->output, &st) ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;

	if (err) {
		fl_err("%s: %s; with --flight, -o names the directory the dumps go to (create it "
		       "first)", r->output, strerror(err));
		return -err;
	}
	if (access(r->output, W_OK | X_OK)) {
		fl_err("%s: cannot write in it: %s", r->output, strerror(errno));
		return -errno;
	}
	return 0;
}

static int flight_start(struct record *r)
{
	struct sigaction sa = { .sa_handler = flight_on_usr1 };
	uint64_t ns = (r->fl.window_ms + 2 * r->fl.after_ms) * 1000000;
	char b[32];
	int err;

	err = fl_writer_open_ring(&r->w, r->fl.max_bytes, ns);
	if (err)
		return err;
	sigaction(SIGUSR1, &sa, NULL);
	fprintf(stderr, "faultline: flight recording: the last %.1f s (at most %s compressed) kept in "
			"memory; dumps go to %s/ on a trigger", r->fl.window_ms / 1000.0,
		fmt_bytes(r->fl.max_bytes, b, sizeof(b)), r->output);
	if (r->fl.ttft_ns)
		fprintf(stderr, ", ttft > %s", fmt_ns(r->fl.ttft_ns, b, sizeof(b)));
	if (r->fl.stall_ns)
		fprintf(stderr, ", stall > %s", fmt_ns(r->fl.stall_ns, b, sizeof(b)));
	fprintf(stderr, ", kill -USR1 %d\n", getpid());
	return 0;
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
	struct record r = { .go_fd = -1, .exec_fd = -1, .tmp_fd = -1 };
	char *meta = NULL, *trailer = NULL;
	int err;

	err = parse_args(&r, argc, argv);
	if (err)
		return 2;
	/* before anything is started or attached: a bad -o costs nothing */
	if (r.flight_on ? check_flight_dir(&r) : prepare_output(&r))
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
	/* Before the command execs: uprobes on the libc it was forked with follow it into its image. */
	err = uprobes_open(&r.up, &r.sess);
	if (err)
		goto out;
	if (r.go_fd >= 0 && (err = release_command(&r))) {
		fl_err("cannot run '%s': %s", r.command[0], strerror(-err));
		goto out;
	}
	note_exes(&r);
	meta = meta_build(&r.sess, argc, argv, r.command ? r.command[0] : NULL);
	if (r.flight_on) {
		r.fl.meta = meta;
		err = flight_start(&r);
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
	r.live_status = !r.flight_on && stderr_tty_private(&r);
	if (!r.flight_on && (!r.live_status || fl_verbose))
		fprintf(stderr, "faultline: recording to %s (as %s until the end; a killed record "
				"leaves it there, readable)%s\n", r.output, r.tmp_path,
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
		if (r.wire) {
			wire_finish(r.wire); /* requests still open are written, marked incomplete */
			drain_requests(&r);
		}
	}
	say_execs(&r);
	uprobes_huge_emit(r.up, true, write_event, &r);
	if (r.flight_on) {
		/* a trigger's dump is never lost to the end of the session */
		if (!r.fl.pending && r.fl.dump_on_exit)
			flight_trigger(&r, "exit", "", 0, 0, clock_ns(CLOCK_MONOTONIC));
		if (r.fl.pending)
			flight_dump(&r);
		fprintf(stderr, "faultline: flight recorder stopped (%s): %ld dumps, %llu triggers "
				"suppressed, %llu dumps failed\n", r.stop_reason, r.fl.dumps,
			(unsigned long long)r.fl.suppressed, (unsigned long long)r.fl.failed);
		if (!err)
			err = r.ring_err;
		goto out;
	}
	trailer = build_trailer(&r);
	if (!err)
		err = r.ring_err;
out:
	if (r.go_fd >= 0)
		close(r.go_fd); /* the command sees EOF and exits 127 without running */
	if (r.flight_on) {
		fl_writer_close(r.w, NULL);
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
			       "its last whole chunk)", r.output, strerror(-(r.write_err ? r.write_err : cerr)));
		else if (!err || err == r.ring_err) /* what was read is in the file */
			fprintf(stderr, "faultline: wrote %llu events to %s (%s)\n",
				(unsigned long long)r.events, r.output, r.stop_reason);
		if (!err && exit_status(&r, 0) > 128)
			fprintf(stderr, "faultline: '%s' was killed by signal %d; record exits %d\n",
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
	return exit_status(&r, err);
}
