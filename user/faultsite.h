/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Faults by code: each page fault's ip resolved to the library and function that took it, as
 * `perf report --sort sym` would, and counted per (process, library, function).
 */
#ifndef FL_FAULTSITE_H
#define FL_FAULTSITE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct model;
struct jw;
struct fl_fault;
struct proc_ev;

/* Sites kept in the model and shown in JSON; the text report shows the first FAULTSITE_TEXT. */
#define FAULTSITE_MAX 500
#define FAULTSITE_TEXT 10

struct faultsite {
	char *image; /* the process's program (its comm), "pid N" when the header has no name */
	char *lib;   /* the mapping's path, "[kernel]", "[anon]" (code without a file: a JIT),
		      * "[vdso]"..., or "unknown" (WHY says why) */
	char *sym;   /* NULL: no function covers the ip (stripped code) or the file is unreadable */
	uint64_t off; /* SYM: its most frequent ip's offset in it; else the ip's file offset */
	uint64_t count;
	char *why; /* why there is no symbol, where that is not just "stripped" */
};

/* Per-model state: faults counted per (pid, ip) while reading, sites once finished. */
struct faultsite_model {
	struct faultsite_ip {
		uint64_t ip, ts, count; /* ts: the first fault's time (for a mapping timeline) */
		uint32_t pid;
		bool kernel, used;
	} * ips;
	size_t nips, cap_ips; /* a hash table, cap_ips a power of two */
	size_t last;	      /* faults come in runs: the last slot hit */
	uint64_t total;
	/* forks and execs (sorted by pid at the finish step): a child that has not exec'd runs
	 * its parent's code at the same addresses; and the names of processes not in the header */
	struct faultsite_procev {
		uint64_t ts;
		uint32_t pid, parent, kind;
		char comm[16];
	} * procs;
	size_t nprocs, cap_procs;
	struct faultsite *sites; /* by count, at most FAULTSITE_MAX */
	size_t nsites, nsites_all;
	uint64_t kernel, unknown; /* faults in kernel code; faults at an ip in no known mapping */
};

/* N faults like E, at its instruction (while reading). */
void faultsite_add(struct model *m, const struct fl_fault *e, uint32_t n);
/* A fork, exec or exit (while reading). */
void faultsite_proc(struct model *m, const struct proc_ev *p);
/* Resolves the ips against the processes' mappings and the files' symbols (model_finish). */
void faultsite_finish(struct model *m);
void faultsite_free(struct model *m);
void faultsite_text(const struct model *m, FILE *f);
void faultsite_json(const struct model *m, struct jw *w);

#endif
