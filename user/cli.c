// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The options record, top and serve share, and how they stop on SIGINT/SIGTERM/SIGHUP (cli.h). */
#include "cli.h"
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

volatile sig_atomic_t cli_stop_signal;

static int parse_pids(struct session_opts *o, const char *arg)
{
	if (parse_pid_list(arg, o->pids, FL_MAX_TARGETS, &o->npids)) {
		fl_err("-p '%s': expected a pid or a comma-separated list of pids", arg);
		return -EINVAL;
	}
	return 0;
}

static int parse_ringbuf_mb(struct session_opts *o, const char *arg)
{
	uint64_t v;

	if (parse_u64(arg, 1, 4096, &v) || (v & (v - 1))) {
		fl_err("--ringbuf-mb '%s': expected a power of two from 1 to 4096", arg);
		return -EINVAL;
	}
	o->ringbuf_bytes = v << 20;
	return 0;
}

/* ARG of option NAME: on (*ON true) or off; else -EINVAL, with a message. */
static int parse_on_off(const char *name, const char *arg, bool *on)
{
	if (strcmp(arg, "on") && strcmp(arg, "off")) {
		fl_err("--%s '%s': expected on or off", name, arg);
		return -EINVAL;
	}
	*on = !strcmp(arg, "on");
	return 0;
}

static int parse_wire(struct session_opts *o, const char *arg)
{
	bool on;
	int err = parse_on_off("wire", arg, &on);

	if (!err)
		o->wire_off = !on;
	return err;
}

static int parse_alloc(struct session_opts *o, const char *arg)
{
	if (!strcmp(arg, "lite"))
		o->alloc_mode = FL_ALLOC_LITE;
	else if (!strcmp(arg, "full"))
		o->alloc_mode = FL_ALLOC_FULL;
	else if (!strcmp(arg, "slow"))
		o->alloc_mode = FL_ALLOC_SLOW;
	else if (!strcmp(arg, "off"))
		o->alloc_mode = FL_ALLOC_OFF;
	else {
		fl_err("--alloc '%s': expected lite, full, slow or off", arg);
		return -EINVAL;
	}
	return 0;
}

/* "50us", "1ms", "0.5ms", "2000ns", "1s"; a bare number is microseconds. At most an hour. */
static int parse_alloc_slow(struct session_opts *o, const char *arg)
{
	uint64_t ns;

	if (parse_duration(arg, 1000, 1, &ns) || ns > 3600000000000ull || !ns) {
		fl_err(
		    "--alloc-slow '%s': expected a duration above zero such as 50us, 1ms or 2000ns",
		    arg);
		return -EINVAL;
	}
	o->alloc_slow_ns = ns;
	return 0;
}

static int parse_cuda(struct session_opts *o, const char *arg)
{
	if (strcmp(arg, "auto") && strcmp(arg, "off")) {
		fl_err("--cuda '%s': expected auto or off", arg);
		return -EINVAL;
	}
	o->cuda_mode = strcmp(arg, "off") ? FL_CUDA_AUTO : FL_CUDA_OFF;
	return 0;
}

int cli_session_opt(struct session_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'p':
		return parse_pids(o, arg);
	case 'a':
		o->all = true;
		return 0;
	case CLI_OPT_CHILDREN:
		o->children = true;
		return 0;
	case CLI_OPT_RINGBUF:
		return parse_ringbuf_mb(o, arg);
	case CLI_OPT_PROBES:
		o->probes = arg;
		return 0;
	case CLI_OPT_WIRE:
		return parse_wire(o, arg);
	case CLI_OPT_ALLOC:
		return parse_alloc(o, arg);
	case CLI_OPT_ALLOC_SLOW:
		return parse_alloc_slow(o, arg);
	case CLI_OPT_CUDA:
		return parse_cuda(o, arg);
	case CLI_OPT_BPF_STATS:
		return parse_on_off("bpf-stats", arg, &o->bpf_stats);
	case 'v':
		fl_verbose++;
		return 0;
	default:
		return CLI_NOT_MINE;
	}
}

int cli_try_help(const char *cmd)
{
	fprintf(stderr, "Try 'faultline %s --help'.\n", cmd);
	return -EINVAL;
}

int cli_no_operands(const char *cmd, const char *hint, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	fl_err("%s: unexpected argument '%s'%s", cmd, argv[optind], hint);
	return -EINVAL;
}

/* -p of a shell or launcher whose one child does the work (a pyenv shim): most is missed. */
static void warn_launcher(const struct session_opts *o, int pid)
{
	char comm[64];
	int child = o->children ? 0 : pid_launcher_child(pid, comm, sizeof(comm));

	if (child > 0)
		fprintf(stderr,
			"faultline: warning: pid %d is a launcher (a shell or env-style "
			"wrapper) whose child pid %d (%s) does the work: give -p %d, or add "
			"--children\n",
			pid, child, fl_esc(comm), child);
}

int cli_check_pids(const struct session_opts *o)
{
	for (int i = 0; i < o->npids; i++) {
		if (!pid_alive(o->pids[i])) {
			fl_err("pid %d does not exist", o->pids[i]);
			return -ESRCH;
		}
		if (pid_is_kthread(o->pids[i])) {
			fl_err(
			    "pid %d is a kernel thread: it has no user memory of its own to trace; "
			    "give the pid of a user process",
			    o->pids[i]);
			return -EINVAL;
		}
		warn_launcher(o, o->pids[i]);
	}
	return 0;
}

static void on_stop_signal(int sig)
{
	cli_stop_signal = sig;
}

void cli_catch_stop_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A dropped ssh session or closed terminal: stop as on Ctrl-C, with the file complete. */
	sigaction(SIGHUP, &sa, NULL);
}

const char *cli_stop_reason(int sig)
{
	switch (sig) {
	case SIGINT:
		return "interrupted (SIGINT)";
	case SIGHUP:
		return "hangup (SIGHUP)";
	default:
		return "terminated (SIGTERM)";
	}
}
