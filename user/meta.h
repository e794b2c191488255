/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the record file's header and trailer say about the host, the targets and the session. */
#ifndef FL_META_H
#define FL_META_H

#include "jw.h"
#include <stdbool.h>

struct session;
struct uprobes;

#define FL_VERSION "0.1.0"

/* "clocks": CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME read together (ns). */
void meta_clocks(struct jw *w);
/* "host", "thp", "hugepages" objects. */
void meta_host(struct jw *w);
/* record's choices that shape the metadata (set before meta_build / meta_target). */
struct meta_opts {
	bool keep_cmdline;    /* store command lines as they are: no <redacted> */
	bool capture_payload; /* the file holds raw socket bytes (options.capture_payload) */
};
extern struct meta_opts meta_opts;

/* One object per pid: pid, comm, cmdline, exe, allocator, env hints, maps. */
void meta_target(struct jw *w, int pid);
/* The header's metadata JSON for a record session (caller frees). */
char *meta_build(const struct session *s, int argc, char **argv, const char *command);
/* Trailer key "alloc": mode, per-function counts and histograms, threads, probed libraries and
 * (--alloc=lite) each process's executable mappings; null without UP (the uprobes' state). */
void meta_alloc(struct jw *w, const struct session *s, const struct uprobes *up);

#endif
