/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Process events (FL_EV_PROC: fork, exec, exit) decoded in one place for every reader: the
 * model, the allocator model, record and serve (a process's connections end with it) and the
 * uprobes (libraries to probe in a new image).
 */
#ifndef FL_PROCEV_H
#define FL_PROCEV_H

#include "faultline.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct proc_ev {
	uint32_t kind;	 /* enum fl_proc_kind */
	uint32_t pid;	 /* the process it is about: for a fork, the new child */
	uint32_t parent; /* fork: the parent; else 0 */
	uint64_t ts_ns;
	char comm[FL_COMM_LEN]; /* NUL-terminated */
};

/* Decodes EV (SIZE bytes) into *OUT; false when EV is no whole process event of a known kind. */
static inline bool proc_ev_decode(const void *ev, size_t size, struct proc_ev *out)
{
	const struct fl_proc *p = ev;

	if (size < sizeof(*p) || p->h.type != FL_EV_PROC || p->kind < FL_PROC_FORK ||
	    p->kind > FL_PROC_EXIT)
		return false;
	out->kind = p->kind;
	out->pid = p->kind == FL_PROC_FORK ? p->child : p->pid;
	out->parent = p->kind == FL_PROC_FORK ? p->ppid : 0;
	out->ts_ns = p->h.ts_ns;
	memcpy(out->comm, p->comm, sizeof(out->comm));
	out->comm[sizeof(out->comm) - 1] = 0;
	return true;
}

#endif /* FL_PROCEV_H */
