// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The periodic look at the targets' maps (see mapslook.h). /proc/PID/maps is a seq_file: each
 * read() returns whole lines and the next one resumes after the last mapping returned, so a
 * list read in steps is what the kernel would have given in one read, each step taking the
 * process's mmap lock only for its own lines.
 */
#include "mapslook.h"
#include "jw.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAPSLOOK_MAX 4096	     /* looks kept: beyond, the oldest stay */
#define MAPSLOOK_BYTES (32u << 20)   /* text kept, all looks together */
#define MAPSLOOK_ONE_MAX (64u << 20) /* one process's list beyond this is dropped */

void mapslook_init(struct mapslook *l, uint64_t every_ns)
{
	memset(l, 0, sizeof(*l));
	l->every_ns = every_ns;
	l->fd = -1;
}

bool mapslook_due(const struct mapslook *l, uint64_t now_ns)
{
	return l->every_ns && l->at >= l->npids && now_ns >= l->next_ns;
}

void mapslook_begin(struct mapslook *l, const int *pids, size_t n, uint64_t now_ns)
{
	int *p = n ? malloc(n * sizeof(*p)) : NULL;

	l->next_ns = now_ns + l->every_ns;
	if (!p)
		n = 0;
	if (n)
		memcpy(p, pids, n * sizeof(*p));
	free(l->pids);
	l->pids = p;
	l->npids = n;
	l->at = 0;
}

/* PID's last look kept, or NULL. */
static const char *last_of(const struct mapslook *l, int pid)
{
	for (size_t i = l->nrecs; i-- > 0;)
		if (l->recs[i].pid == pid)
			return l->recs[i].maps;
	return NULL;
}

/* The list read whole: kept unless the same as the process's previous one. */
static void keep(struct mapslook *l, int pid)
{
	const char *prev = last_of(l, pid);
	char *text;

	l->reads++;
	if (l->len > l->largest)
		l->largest = l->len;
	if (prev && strlen(prev) == l->len && !memcmp(prev, l->buf, l->len)) {
		l->skipped_same++;
		return;
	}
	if (l->nrecs >= MAPSLOOK_MAX || l->bytes_kept + l->len > MAPSLOOK_BYTES)
		return;
	if (grow_array((void **)&l->recs, &l->cap_recs, l->nrecs, sizeof(*l->recs), 16) ||
	    !(text = malloc(l->len + 1)))
		return;
	memcpy(text, l->buf, l->len);
	text[l->len] = 0;
	l->recs[l->nrecs++] = (struct mapslook_rec){pid, l->ts_ns, text};
	l->bytes_kept += l->len;
}

static void next_target(struct mapslook *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->len = 0;
	l->at++;
}

void mapslook_step(struct mapslook *l)
{
	uint64_t t0, dt;
	ssize_t got;

	if (l->at >= l->npids)
		return;
	t0 = clock_ns(CLOCK_MONOTONIC);
	if (l->fd < 0) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/%d/maps", l->pids[l->at]);
		l->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (l->fd < 0) {
			next_target(l); /* gone since the round began */
			return;
		}
		l->len = 0;
		l->ts_ns = t0;
	}
	if (l->len + MAPSLOOK_STEP + 1 > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4 * MAPSLOOK_STEP;
		char *b = cap <= MAPSLOOK_ONE_MAX ? realloc(l->buf, cap) : NULL;

		if (!b) {
			next_target(l);
			return;
		}
		l->buf = b;
		l->cap = cap;
	}
	/* a read returns at most a page of lines (the seq_file's buffer): several per step */
	for (size_t step = 0; step < MAPSLOOK_STEP;) {
		do
			got = read(l->fd, l->buf + l->len, MAPSLOOK_STEP - step);
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			if (!got)
				keep(l, l->pids[l->at]);
			next_target(l); /* read to its end, or the process went (ESRCH) */
			break;
		}
		l->len += got;
		l->bytes_read += got;
		step += got;
	}
	dt = clock_ns(CLOCK_MONOTONIC) - t0;
	l->steps++;
	l->total_ns += dt;
	if (dt > l->step_max_ns)
		l->step_max_ns = dt;
}

void mapslook_json(struct mapslook *l, struct jw *w)
{
	jw_key(w, "maps_periodic");
	jw_arr_open(w);
	for (size_t i = 0; i < l->nrecs; i++) {
		jw_obj_open(w);
		jw_ku64(w, "pid", l->recs[i].pid);
		jw_ku64(w, "ts_ns", l->recs[i].ts_ns);
		jw_kstr(w, "maps", l->recs[i].maps);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_key(w, "maps_periodic_cost");
	jw_obj_open(w);
	jw_ku64(w, "every_ns", l->every_ns);
	jw_ku64(w, "reads", l->reads);
	jw_ku64(w, "kept", l->nrecs);
	jw_ku64(w, "same_as_before", l->skipped_same);
	jw_ku64(w, "bytes_read", l->bytes_read);
	jw_ku64(w, "largest_bytes", l->largest);
	jw_ku64(w, "steps", l->steps);
	jw_ku64(w, "step_max_ns", l->step_max_ns);
	jw_ku64(w, "total_ns", l->total_ns);
	jw_obj_close(w);
}

void mapslook_free(struct mapslook *l)
{
	for (size_t i = 0; i < l->nrecs; i++)
		free(l->recs[i].maps);
	free(l->recs);
	free(l->pids);
	free(l->buf);
	if (l->fd >= 0)
		close(l->fd);
	mapslook_init(l, l->every_ns);
}
