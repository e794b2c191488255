/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The command line that the tracing commands (record, top, serve) share: the target and session
 * options parsed into struct session_opts, their usage text, the checks after parsing, and the
 * SIGINT/SIGTERM/SIGHUP flag they stop on. Each command keeps its own getopt_long loop and hands
 * every option to cli_session_opt() first.
 */
#ifndef FL_CLI_H
#define FL_CLI_H

#include "session.h"
#include <getopt.h>
#include <signal.h>

/* getopt_long values of the shared long-only options; a command's own start at CLI_OPT_OWN. */
enum cli_opt {
	CLI_OPT_CHILDREN = 256,
	CLI_OPT_RINGBUF,
	CLI_OPT_PROBES,
	CLI_OPT_WIRE,
	CLI_OPT_ALLOC,
	CLI_OPT_ALLOC_SLOW,
	CLI_OPT_CUDA,
	CLI_OPT_BPF_STATS,
	CLI_OPT_OWN = 512,
};

/* cli_session_opt(): the option is the command's own. */
#define CLI_NOT_MINE 1

/* The long options every tracing command takes (short ones: "p:vh"); end the table with {}. */
#define CLI_LONGOPTS_SESSION                                                                       \
	{"pid", required_argument, NULL, 'p'}, {"children", no_argument, NULL, CLI_OPT_CHILDREN},  \
	    {"alloc", required_argument, NULL, CLI_OPT_ALLOC},                                     \
	    {"cuda", required_argument, NULL, CLI_OPT_CUDA},                                       \
	    {"wire", required_argument, NULL, CLI_OPT_WIRE},                                       \
	    {"probes", required_argument, NULL, CLI_OPT_PROBES},                                   \
	    {"bpf-stats", required_argument, NULL, CLI_OPT_BPF_STATS},                             \
	    {"verbose", no_argument, NULL, 'v'},                                                   \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

/* Usage lines, at the left margin as in each command's usage(): --alloc and --cuda as the live
 * views (top, serve) take them ... */
#define CLI_USAGE_LIVE_ALLOC_CUDA                                                                  \
	"      --alloc MODE        full: allocator uprobes (ALLOC column, allocator p99);\n"       \
	"                          off (default); lite records syscalls, nothing to show here\n"   \
	"      --cuda MODE         auto (default): pinned-memory calls if libcudart is mapped; "   \
	"off\n"

/* ... the lines that end every tracing command's options ... */
#define CLI_USAGE_VERBOSE_HELP                                                                     \
	"      --bpf-stats on|off  time faultline's own BPF programs (the kernel's bpf_stats: "    \
	"while\n"                                                                                  \
	"                          on, every BPF program on the machine reads the clock twice a\n" \
	"                          run); default: off for record, on for top and serve\n"          \
	"  -v, --verbose           print the probe plan and libbpf's messages\n"                   \
	"  -h, --help              this text\n"

/* ... and the live views' ending, with --probes. */
#define CLI_USAGE_LIVE_TAIL                                                                        \
	"      --probes SPEC       choose attach types, as for record\n" CLI_USAGE_VERBOSE_HELP

/*
 * Option C (from getopt_long, argument ARG) if it is a shared one: -p, -a, --children,
 * --ringbuf-mb, --probes, --wire, --alloc, --alloc-slow, --cuda, --bpf-stats, -v. A command
 * receives only those its own option tables list. 0, -EINVAL (with a message), or CLI_NOT_MINE.
 */
int cli_session_opt(struct session_opts *o, int c, const char *arg);
/* An unknown option (getopt_long said why): points at CMD's --help. -EINVAL. */
int cli_try_help(const char *cmd);
/* Arguments left after the options: "CMD: unexpected argument 'X'HINT". 0 or -EINVAL. */
int cli_no_operands(const char *cmd, const char *hint, int argc, char **argv);
/* SIGINT, SIGTERM or SIGHUP, once one arrived after cli_catch_stop_signals(); 0 until then. */
extern volatile sig_atomic_t cli_stop_signal;
/* From now on SIGINT, SIGTERM and SIGHUP set cli_stop_signal: the command stops cleanly. */
void cli_catch_stop_signals(void);
/* "interrupted (SIGINT)", "terminated (SIGTERM)" or "hangup (SIGHUP)": a stop_reason. */
const char *cli_stop_reason(int sig);
/*
 * Every -p pid exists and is a user process. 0, or -ESRCH/-EINVAL with a message naming the
 * first one that is not. Warns about a pid that is a launcher whose child does the work.
 */
int cli_check_pids(const struct session_opts *o);

#endif
