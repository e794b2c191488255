/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The flight recorder shared by record --flight and serve --flight: events stay in memory as
 * compressed chunks (recfile.c's ring writer); a trigger (a request's time to first token, one
 * memory stall, SIGUSR1, the end of the session) writes the window around it as one ordinary
 * record file in the -o directory. The caller feeds it the event stream and its wire parser.
 */
#ifndef FL_FLIGHT_H
#define FL_FLIGHT_H

#include "cli.h"
#include "faultline.h"
#include "wire.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fl_writer;

/* getopt_long values of the flight options, above any command's own */
enum {
	FLIGHT_OPT_FLIGHT = CLI_OPT_OWN + 64,
	FLIGHT_OPT_BYTES,
	FLIGHT_OPT_TRIGGER,
	FLIGHT_OPT_AFTER,
	FLIGHT_OPT_MAX_DUMPS,
	FLIGHT_OPT_MIN_SPACING,
	FLIGHT_OPT_DUMP_ON_EXIT,
};

/* clang-format off */
#define FLIGHT_LONGOPTS                                                                    \
	{ "flight", required_argument, NULL, FLIGHT_OPT_FLIGHT },                          \
	{ "flight-bytes", required_argument, NULL, FLIGHT_OPT_BYTES },                     \
	{ "trigger", required_argument, NULL, FLIGHT_OPT_TRIGGER },                        \
	{ "after", required_argument, NULL, FLIGHT_OPT_AFTER },                            \
	{ "max-dumps", required_argument, NULL, FLIGHT_OPT_MAX_DUMPS },                    \
	{ "min-spacing", required_argument, NULL, FLIGHT_OPT_MIN_SPACING },                \
	{ "dump-on-exit", no_argument, NULL, FLIGHT_OPT_DUMP_ON_EXIT }

#define FLIGHT_USAGE \
"      --flight TIME       keep the last TIME of events in memory, compressed; -o\n" \
"                          names a directory; each trigger writes DIR/faultline-\n" \
"                          YYYYMMDDTHHMMSS-REQID.data (the window before it + --after)\n" \
"      --flight-bytes SIZE at most SIZE of compressed events in memory (default 64M;\n" \
"                          the dump's header says which bound applied)\n" \
"      --trigger ttft=TIME a request's first token later than TIME after its start\n" \
"      --trigger stall=TIME  any single memory stall longer than TIME\n" \
"                          (kill -USR1 dumps the current window by hand)\n" \
"      --after TIME        keep recording TIME after a trigger (default 5s); triggers\n" \
"                          meanwhile join the same dump\n" \
"      --max-dumps N       write at most N dumps (default 10; 0: no limit)\n" \
"      --min-spacing TIME  ignore triggers within TIME of the last dump (default 10s)\n" \
"      --dump-on-exit      write the window when the session stops, too\n"
/* clang-format on */

/* Builds the dump's trailer JSON (malloc'd, or NULL): the session's, stop_reason REASON. */
typedef char *(*flight_trailer_fn)(void *ctx, const char *reason);

struct flight {
	bool on;	     /* --flight given */
	uint64_t window_ms;  /* --flight */
	uint64_t max_bytes;  /* --flight-bytes */
	uint64_t after_ms;   /* --after */
	uint64_t spacing_ms; /* --min-spacing: from the end of one dump to the next trigger */
	uint64_t ttft_ns, stall_ns; /* --trigger thresholds; 0: off */
	long max_dumps;		    /* --max-dumps; 0: no limit */
	bool dump_on_exit;
	const char *dir;     /* -o */
	char *meta;	     /* the header JSON of every dump, before its "flight" member (owned
				by the caller) */
	struct fl_writer *w; /* the ring */
	flight_trailer_fn trailer;
	void *trailer_ctx;
	uint64_t ttft_seen; /* newest first token already checked */
	/* the dump being collected: written once its --after has passed */
	bool pending;
	uint64_t due_ns, first_ns; /* CLOCK_MONOTONIC: when to write it, its first trigger */
	uint64_t trig_ts;	   /* event time of its first trigger */
	char kind[16];		   /* "ttft", "stall", "signal", "exit" */
	char id[REQ_ID_LEN];	   /* the triggering request's id ("" for stall/signal) */
	uint64_t value_ns, threshold_ns;
	unsigned triggers; /* triggers folded into it */
	long dumps;
	uint64_t suppressed, failed;
	uint64_t last_end_ns; /* when the last dump was written */
};

/* The option defaults (before parsing). */
void flight_defaults(struct flight *f);
/* One FLIGHT_OPT_* option. 0 or -EINVAL (said). */
int flight_opt(struct flight *f, int c, const char *arg);
/* After parsing: --trigger etc. without --flight is an error (CMD names the command). */
int flight_check_opts(const struct flight *f, const char *cmd);
/* -o DIR exists and is writable; nothing is created in it. 0 or -errno (said). */
int flight_check_dir(const char *dir);
/* Opens the ring, catches SIGUSR1, says what it keeps. 0 or -errno. */
int flight_start(struct flight *f);
/* The --trigger stall check on one event of the stream. */
void flight_on_event(struct flight *f, const void *data, size_t size);
/* A trigger: starts a dump, joins the pending one, or is suppressed (all logged). */
void flight_trigger(struct flight *f, const char *kind, const char *id, uint64_t value_ns,
		    uint64_t threshold_ns, uint64_t ts_ns);
/* Each turn of the loop: SIGUSR1, first tokens on WIRE (may be NULL), a dump now due. */
void flight_poll(struct flight *f, const struct wire *wire);
/* The end of the session: --dump-on-exit, and a pending dump is never lost. */
void flight_finish(struct flight *f, const char *reason);
/* Ring bytes held now, and the event time they span (ns; 0 when empty). */
void flight_ring_stat(const struct flight *f, uint64_t *bytes, uint64_t *span_ns);
void flight_close(struct flight *f);
/* A finished request as the FL_EV_REQ record written to the file (no query string). */
void flight_req_record(const struct request *q, struct fl_req *e);

#endif
