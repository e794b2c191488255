// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Where the stalls came from. Every timed stall of a traced thread carries its user stack
 * (FL_EV_STACK, taken by the stall's program: stalls are rare, so each keeps its own copy).
 * Here each stall finds its stack by (tid, start, cause), its frames are named with libelf
 * against the mapping that held them at the stall's time (the mapping timeline), and stalls
 * with the same chain of functions add up into one call site per cause.
 */
#include "stallstack.h"
#include "elfsym.h"
#include "jw.h"
#include "model.h"
#include "util.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITES_SHOWN 5  /* call sites per cause in the text report */
#define FRAMES_SHOWN 6 /* frames per call site in the text report */
#define SITES_MAX 4096 /* beyond: added to the cause's "other call sites" */

struct stack_rec {
	uint64_t ts_ns, sp_word;
	uint32_t tid, pid;
	uint16_t cause, nr;
	uint64_t ips[FL_STACK_DEPTH];
};

struct frame {
	char *sym;    /* function name, NULL when unknown */
	char *module; /* the mapping's path, "[anon]" or "[unknown]" */
	uint64_t off; /* file offset (or the address, for an unknown mapping) */
};

struct site {
	uint16_t cause;
	uint32_t id; /* order of creation, for site_of before the sites are sorted */
	char *key;   /* the frames' names joined: stalls with the same chain add up */
	uint64_t count, total_ns;
	struct frame frames[FL_STACK_DEPTH + 1];
	size_t nframes;
};

struct cause_sum {
	uint64_t stalls, with_stack, short_stacks, cut_stacks, other_sites, other_ns;
};

struct stallstacks {
	struct stack_rec *recs;
	size_t n, cap;
	struct site *sites;
	size_t nsites, cap_sites;
	struct cause_sum causes[FL_CAUSE_MAX];
	struct elfsym_cache syms;
	int32_t *site_of; /* per stall of m->stall_list: its site's index, or -1 */
};

static struct stallstacks *get(struct model *m)
{
	if (!m->sstacks && !(m->sstacks = calloc(1, sizeof(*m->sstacks))))
		fl_nomem();
	return m->sstacks;
}

void stallstack_add(struct model *m, const struct fl_stack *e)
{
	struct stallstacks *ss = get(m);
	struct stack_rec *r;

	if (!ss || e->cause >= FL_CAUSE_MAX)
		return;
	if (grow_array((void **)&ss->recs, &ss->cap, ss->n, sizeof(*ss->recs), 64))
		return;
	r = &ss->recs[ss->n++];
	r->ts_ns = e->h.ts_ns;
	r->tid = e->h.tid;
	r->pid = e->pid;
	r->cause = e->cause;
	r->nr = e->nr > FL_STACK_DEPTH ? FL_STACK_DEPTH : e->nr;
	r->sp_word = e->sp_word;
	memcpy(r->ips, e->ips, r->nr * sizeof(r->ips[0]));
}

static int cmp_key(uint32_t tid, uint64_t ts, uint16_t cause, const struct stack_rec *r)
{
	if (tid != r->tid)
		return tid < r->tid ? -1 : 1;
	if (ts != r->ts_ns)
		return ts < r->ts_ns ? -1 : 1;
	return cause < r->cause ? -1 : cause > r->cause;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct stack_rec *x = a;

	return cmp_key(x->tid, x->ts_ns, x->cause, b);
}

static const struct stack_rec *find_rec(const struct stallstacks *ss, const struct stall_rec *s)
{
	size_t lo = 0, hi = ss->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(s->tid, s->ts_ns, s->cause, &ss->recs[mid]);

		if (!c)
			return &ss->recs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The mapping of PID that held ADDR at TS, from the mapping timeline (user/maptl.c); *BUF
 * holds it. */
static const struct vma *find_vma(const struct model *m, uint32_t pid, uint64_t ts, uint64_t addr,
				  struct vma *buf)
{
	return maptl_vma_at(m, pid, ts, addr, buf) > 0 ? buf : NULL;
}

/* Names IP (a return address unless EXACT: the call is the byte before) in PID. */
static void name_frame(struct stallstacks *ss, const struct model *m, uint32_t pid, uint64_t ts,
		       uint64_t ip, bool exact, struct frame *fr)
{
	struct vma buf;
	const struct vma *v = find_vma(m, pid, ts, ip, &buf);
	const struct elfsym_table *t;
	uint64_t look, delta;
	const char *name, *err;

	memset(fr, 0, sizeof(*fr));
	if (!v) {
		fr->module = strdup("[unknown]");
		fr->off = ip;
		return;
	}
	fr->off = ip - v->start + v->offset;
	fr->module = strdup(v->path[0] ? v->path : "[anon]");
	if (v->path[0] != '/')
		return;
	look = exact || !fr->off ? fr->off : fr->off - 1;
	t = elfsym_cache_get(&ss->syms, v->path, v->dev, v->inode, &err);
	if (t && (name = elfsym_lookup(t, look, &delta)))
		fr->sym = strdup(name);
}

#if defined(__x86_64__)
/* Reads LEN bytes of V's file at file offset OFF (the instruction before a return address), when
 * it is still the mapped file. */
static bool read_code(const struct vma *v, uint64_t off, void *buf, size_t len)
{
	char why[64];
	int fd = open_target_file(v->path, v->dev, v->inode, why, sizeof(why));
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, len, (off_t)off) == (ssize_t)len;
	close(fd);
	return ok;
}
#endif

/*
 * A syscall wrapper (madvise) is a leaf with no frame of its own: a frame-pointer walk from it
 * goes straight to its caller's caller. When frame 0 sits right after a syscall instruction,
 * the word at the stack pointer is the return address into the caller: put it back.
 */
static bool after_syscall(const struct model *m, const struct stack_rec *r)
{
#if defined(__x86_64__)
	struct vma buf;
	const struct vma *v = find_vma(m, r->pid, r->ts_ns, r->ips[0], &buf);
	unsigned char insn[2];

	if (!v || v->path[0] != '/' || r->ips[0] - v->start + v->offset < 2)
		return false;
	return read_code(v, r->ips[0] - v->start + v->offset - 2, insn, 2) && insn[0] == 0x0f &&
	       insn[1] == 0x05;
#else
	(void)m, (void)r;
	return false; /* arm64 leaves keep the return address in x30, not on the stack */
#endif
}

static bool in_code(const struct model *m, uint32_t pid, uint64_t ts, uint64_t addr)
{
	struct vma buf;
	const struct vma *v = find_vma(m, pid, ts, addr, &buf);

	return v && v->perms[2] == 'x';
}

static bool sp_word_is_code(const struct model *m, const struct stack_rec *r)
{
	if (!r->sp_word || (r->nr > 1 && r->ips[1] == r->sp_word))
		return false;
	return in_code(m, r->pid, r->ts_ns, r->sp_word);
}

static void frames_free(struct frame *fr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(fr[i].sym);
		free(fr[i].module);
	}
}

/* The frames of R, named; their names joined into KEY (caller frees). */
static size_t name_stack(struct stallstacks *ss, const struct model *m, const struct stack_rec *r,
			 struct frame *fr, char **key, bool *cut)
{
	size_t n = 0, klen = 0, cap = 0;
	char *k = NULL;

	for (size_t i = 0; i < r->nr; i++) {
		/* A frame outside code ends the walk: what follows came from a frame pointer that
		 * code built without one used as a plain register. */
		if (i > 0 && !in_code(m, r->pid, r->ts_ns, r->ips[i])) {
			*cut = true;
			break;
		}
		name_frame(ss, m, r->pid, r->ts_ns, r->ips[i], i == 0, &fr[n++]);
		if (i == 0 && r->nr && sp_word_is_code(m, r) && after_syscall(m, r))
			name_frame(ss, m, r->pid, r->ts_ns, r->sp_word, false, &fr[n++]);
	}
	for (size_t i = 0; i < n; i++) {
		const char *base = fr[i].module ? strrchr(fr[i].module, '/') : NULL;
		char part[512];
		int len;

		if (fr[i].sym)
			len = snprintf(part, sizeof(part), "%s (%s);", fr[i].sym,
				       base	      ? base + 1
				       : fr[i].module ? fr[i].module
						      : "?");
		else
			len = snprintf(part, sizeof(part), "%s+0x%" PRIx64 ";",
				       fr[i].module ? fr[i].module : "?", fr[i].off);
		if (len < 0)
			continue;
		if ((size_t)len >= sizeof(part))
			len = sizeof(part) - 1;
		if (klen + len + 1 > cap) {
			char *nk = realloc(k, cap = (klen + len + 1) * 2);

			if (!nk) {
				fl_nomem();
				break;
			}
			k = nk;
		}
		memcpy(k + klen, part, len);
		klen += len;
		k[klen] = 0;
	}
	*key = k ? k : strdup("");
	return n;
}

/* Adds stall S (stack R) to its call site; returns the site's id, or -1 when it has none. */
static int32_t add_site(struct stallstacks *ss, const struct model *m, const struct stall_rec *s,
			const struct stack_rec *r)
{
	struct frame fr[FL_STACK_DEPTH + 1];
	struct site *site = NULL;
	char *key = NULL;
	bool cut = false;
	size_t n = name_stack(ss, m, r, fr, &key, &cut);

	ss->causes[s->cause].cut_stacks += cut;
	ss->causes[s->cause].short_stacks += n <= 2;
	for (size_t i = 0; key && i < ss->nsites && !site; i++)
		if (ss->sites[i].cause == s->cause && !strcmp(ss->sites[i].key, key))
			site = &ss->sites[i];
	if (!site && key && ss->nsites < SITES_MAX &&
	    !grow_array((void **)&ss->sites, &ss->cap_sites, ss->nsites, sizeof(*ss->sites), 16)) {
		site = &ss->sites[ss->nsites++];
		memset(site, 0, sizeof(*site));
		site->cause = s->cause;
		site->id = ss->nsites - 1;
		site->key = key;
		key = NULL;
		memcpy(site->frames, fr, n * sizeof(fr[0]));
		site->nframes = n;
		n = 0; /* the site owns them */
	}
	if (site) {
		site->count++;
		site->total_ns += s->dur_ns;
	} else {
		ss->causes[s->cause].other_sites++;
		ss->causes[s->cause].other_ns += s->dur_ns;
	}
	frames_free(fr, n);
	free(key);
	return site ? (int32_t)site->id : -1;
}

static int cmp_site(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->cause != y->cause)
		return x->cause < y->cause ? -1 : 1;
	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->count > y->count ? -1 : x->count < y->count;
}

/* site_of held the sites' ids (their order of creation): make them indexes of the sorted sites. */
static void renumber_sites(struct stallstacks *ss, size_t nstalls)
{
	int32_t *idx;

	if (!ss->site_of)
		return;
	idx = malloc((ss->nsites ? ss->nsites : 1) * sizeof(*idx));
	if (!idx) {
		fl_nomem();
		free(ss->site_of);
		ss->site_of = NULL;
		return;
	}
	for (size_t k = 0; k < ss->nsites; k++)
		idx[ss->sites[k].id] = k;
	for (size_t i = 0; i < nstalls; i++)
		if (ss->site_of[i] >= 0)
			ss->site_of[i] = idx[ss->site_of[i]];
	free(idx);
}

void stallstack_finish(struct model *m)
{
	struct stallstacks *ss = m->sstacks;

	if (!ss)
		return;
	sort_n(ss->recs, ss->n, sizeof(*ss->recs), cmp_rec);
	ss->site_of = m->nstalls ? malloc(m->nstalls * sizeof(*ss->site_of)) : NULL;
	if (m->nstalls && !ss->site_of)
		fl_nomem(); /* the session's sites are still made; requests show none */
	for (size_t i = 0; i < m->nstalls; i++) {
		const struct stall_rec *s = &m->stall_list[i];
		const struct stack_rec *r;
		int32_t id;

		if (ss->site_of)
			ss->site_of[i] = -1;
		if (s->cause == FL_CAUSE_FAULT || s->cause >= FL_CAUSE_MAX)
			continue;
		ss->causes[s->cause].stalls++;
		r = find_rec(ss, s);
		if (!r)
			continue;
		ss->causes[s->cause].with_stack++;
		id = add_site(ss, m, s, r);
		if (ss->site_of)
			ss->site_of[i] = id;
	}
	sort_n(ss->sites, ss->nsites, sizeof(*ss->sites), cmp_site);
	renumber_sites(ss, m->nstalls);
	elfsym_cache_free(&ss->syms); /* the names were copied into the sites */
}

void stallstack_free(struct model *m)
{
	struct stallstacks *ss = m->sstacks;

	if (!ss)
		return;
	for (size_t i = 0; i < ss->nsites; i++) {
		frames_free(ss->sites[i].frames, ss->sites[i].nframes);
		free(ss->sites[i].key);
	}
	free(ss->sites);
	free(ss->recs);
	free(ss->site_of);
	elfsym_cache_free(&ss->syms);
	free(ss);
	m->sstacks = NULL;
}

static const char *basename_of(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;

	return b ? b + 1 : path ? path : "?";
}

static void text_frame(const struct frame *fr, FILE *f)
{
	if (fr->sym)
		fprintf(f, "%s (%s)", fr->sym, basename_of(fr->module));
	else
		fprintf(f, "%s+0x%" PRIx64, basename_of(fr->module), fr->off);
}

void stallstack_text(const struct model *m, FILE *f)
{
	const struct stallstacks *ss = m->sstacks;
	char a[32];

	if (!ss || !ss->n)
		return;
	fprintf(f, "\nWhere the stalls came from (user stacks of stalls in traced threads)\n");
	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		const struct cause_sum *cs = &ss->causes[c];
		size_t shown = 0;

		if (!cs->with_stack)
			continue;
		fprintf(f, "  %s: %" PRIu64 " of %" PRIu64 " stalls with a stack",
			fl_cause_names[c], cs->with_stack, cs->stalls);
		if (cs->with_stack < cs->stalls)
			fprintf(f, " (the others ran outside the traced threads%s)",
				c == FL_CAUSE_KHUGEPAGED ? ": the khugepaged daemon" : "");
		fprintf(f, "\n");
		for (size_t i = 0; i < ss->nsites; i++) {
			const struct site *s = &ss->sites[i];

			if (s->cause != c)
				continue;
			if (shown++ == SITES_SHOWN) {
				fprintf(f, "    ... more call sites in --json\n");
				break;
			}
			fprintf(f, "    %" PRIu64 " stalls, %s:\n", s->count,
				fmt_ns(s->total_ns, a, sizeof(a)));
			for (size_t k = 0; k < s->nframes && k < FRAMES_SHOWN; k++) {
				fprintf(f, "      %s", k ? "<- " : "");
				text_frame(&s->frames[k], f);
				fprintf(f, "\n");
			}
			if (s->nframes > FRAMES_SHOWN)
				fprintf(f, "      <- ... %zu more frames\n",
					s->nframes - FRAMES_SHOWN);
		}
		if (cs->other_sites)
			fprintf(f, "    %" PRIu64 " stalls at other call sites (%s)\n",
				cs->other_sites, fmt_ns(cs->other_ns, a, sizeof(a)));
		if (cs->short_stacks)
			fprintf(f,
				"    %" PRIu64 " of these stacks are 1-2 frames deep: code built "
				"without frame pointers stops the walk (rebuild with "
				"-fno-omit-frame-pointer to see its callers)\n",
				cs->short_stacks);
		if (cs->cut_stacks)
			fprintf(f,
				"    %" PRIu64
				" of these stacks ran into an address outside code and "
				"are cut there: code without frame pointers on the way (the frame "
				"before the cut may be a wrong guess too)\n",
				cs->cut_stacks);
	}
}

static void json_site(const struct site *s, struct jw *w)
{
	jw_obj_open(w);
	jw_ku64(w, "count", s->count);
	jw_ku64(w, "total_ns", s->total_ns);
	jw_key(w, "frames");
	jw_arr_open(w);
	for (size_t k = 0; k < s->nframes; k++) {
		const struct frame *fr = &s->frames[k];

		jw_inline_begin(w);
		jw_obj_open(w);
		if (fr->sym)
			jw_kstr(w, "symbol", fr->sym);
		else
			jw_key(w, "symbol"), jw_null(w);
		jw_kstr(w, "module", fr->module ? fr->module : "[unknown]");
		jw_ku64(w, "offset", fr->off);
		jw_obj_close(w);
		jw_inline_end(w);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

void stallstack_json(const struct model *m, struct jw *w)
{
	const struct stallstacks *ss = m->sstacks;

	if (!ss || !ss->n) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	for (int c = 0; c < FL_CAUSE_MAX; c++) {
		const struct cause_sum *cs = &ss->causes[c];

		if (c == FL_CAUSE_FAULT || c == FL_CAUSE_ALLOC || c == FL_CAUSE_PINNED)
			continue;
		jw_key(w, fl_cause_names[c]);
		jw_obj_open(w);
		jw_ku64(w, "stalls", cs->stalls);
		jw_ku64(w, "with_stack", cs->with_stack);
		jw_ku64(w, "short_stacks", cs->short_stacks);
		jw_ku64(w, "cut_stacks", cs->cut_stacks);
		jw_ku64(w, "other_sites_count", cs->other_sites);
		jw_key(w, "sites");
		jw_arr_open(w);
		for (size_t i = 0; i < ss->nsites; i++)
			if (ss->sites[i].cause == c)
				json_site(&ss->sites[i], w);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	jw_obj_close(w);
}

const int32_t *stallstack_sites_of(const struct model *m)
{
	return m->sstacks ? m->sstacks->site_of : NULL;
}

bool stallstack_site(const struct model *m, size_t k, struct stall_site_ref *out)
{
	const struct stallstacks *ss = m->sstacks;

	if (!ss || k >= ss->nsites)
		return false;
	out->cause = ss->sites[k].cause;
	out->index = 0;
	for (size_t i = 0; i < k; i++)
		out->index += ss->sites[i].cause == ss->sites[k].cause;
	out->nframes = ss->sites[k].nframes;
	return true;
}

void stallstack_frame_name(const struct model *m, size_t k, size_t frame, char *buf, size_t len)
{
	const struct frame *fr = &m->sstacks->sites[k].frames[frame];

	if (fr->sym)
		snprintf(buf, len, "%s (%s)", fr->sym, basename_of(fr->module));
	else
		snprintf(buf, len, "%s+0x%" PRIx64, basename_of(fr->module), fr->off);
}
