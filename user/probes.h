/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The probe plan: per concern, the attach types faultline can use, best first. At start the
 * running kernel's features are detected once, the best available choice is picked, and a
 * concern that cannot attach is marked unavailable with the reason; it never stops the session.
 */
#ifndef FL_PROBES_H
#define FL_PROBES_H

#include "jw.h"
#include <stdbool.h>

struct faultline_bpf;
struct bpf_link;

#define PROBE_MAX_PROGS 6
#define PROBE_MAX_CHOICES 4

/* ATTACH_SAMPLED: no program of its own; read by programs that run anyway (see the rss concern) */
enum probe_attach {
	ATTACH_TP_BTF,
	ATTACH_RAW_TP,
	ATTACH_FENTRY,
	ATTACH_KPROBE,
	ATTACH_MANUAL,
	ATTACH_SAMPLED
};

struct probe_choice {
	enum probe_attach attach;
	const char *progs[PROBE_MAX_PROGS];
};

struct probe_concern {
	const char *name;
	const char *what; /* one line for -v and the report */
	struct probe_choice choices[PROBE_MAX_CHOICES];
};

struct probe_state {
	int choice;	   /* index into choices, -1 when unavailable or off */
	bool off;	   /* turned off by the user or by the options */
	bool failed;	   /* failed to load or attach: unavailable */
	char reason[256];  /* why unavailable */
	bool forced;	   /* the user named the attach type */
	int forced_choice; /* ... this one: a forced concern that cannot have it is an error */
	const char *blamed_prog; /* the program a failed load was put on this concern for */
	bool retried;		 /* ... and it was given back its chance (see probe_plan_blame) */
};

struct probe_plan {
	int n;
	const struct probe_concern *concerns;
	struct probe_state *state;
	struct bpf_link **links;
	int nlinks, cap_links;
};

const char *probe_attach_name(enum probe_attach a);
int probe_plan_init(struct probe_plan *p);
/* "fault-duration=kprobe,rss=off" (dashes or underscores). 0 or -EINVAL with a message. */
int probe_plan_override(struct probe_plan *p, const char *spec);
/* Turn a concern off by name (e.g. the options do not ask for it). */
void probe_plan_disable(struct probe_plan *p, const char *name, const char *reason);
/* Detects kernel features and picks a choice per concern; sets autoload on the skeleton. */
void probe_plan_choose(struct probe_plan *p, struct faultline_bpf *skel);
/*
 * After a failed load: the concern owning the program libbpf named in its log, or -1. A concern
 * blamed before for the same (shared) program gets its chance back, once.
 */
int probe_plan_blame(struct probe_plan *p, const char *libbpf_log);
void probe_plan_fail(struct probe_plan *p, int concern, const char *why);
/* Attaches every chosen concern that is not manual; failures mark the concern unavailable. */
void probe_plan_attach(struct probe_plan *p, struct faultline_bpf *skel);
bool probe_plan_active(const struct probe_plan *p, const char *name);
/* Whether concern NAME is active with attach type A. */
bool probe_plan_uses(const struct probe_plan *p, const char *name, enum probe_attach a);
/* A concern whose attach type the user forced (--probes) but which did not get it, or -1. */
int probe_plan_forced_failure(const struct probe_plan *p);
void probe_plan_print(const struct probe_plan *p, FILE *f);
void probe_plan_json(const struct probe_plan *p, struct jw *w);
void probe_plan_destroy(struct probe_plan *p);
/*
 * Whether this kernel allows attach type A at all, without a skeleton: tp_btf/raw_tp when kernel
 * BTF has page_fault_user, fentry by loading an empty program (needs root), kprobe by its PMU.
 * WHY says why not.
 */
bool probe_attach_works(enum probe_attach a, char *why, size_t len);
/* Index of the mmap_lock tracepoints' `write` argument in this kernel (1 or 2). */
int probe_mmap_lock_write_arg(void);
void probe_btf_release(void);

#endif
