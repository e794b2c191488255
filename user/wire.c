// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The wire: per-connection HTTP/1.x state machine over captured socket reads and writes.
 *
 * Inbound, a request starts with a request line read while the connection is idle. Its header
 * block may span reads; with Content-Length the body is counted byte by byte (the syscall result
 * gives the real length even past the 256 captured bytes), so a second request in the same read
 * is found when its start was captured and remembered as "hidden" bytes when it was not. Without
 * a visible length, everything read until the response starts belongs to the request.
 *
 * Outbound, a response starts with "HTTP/1."; chunked bodies are followed chunk by chunk and
 * Content-Length bodies counted, so the end is the write that completes the body. When the
 * framing is lost (a chunk header past the captured bytes), the next status line, the next
 * request, or close ends the response.
 */
#include "wire.h"
#include "jw.h"
#include "util.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_MAX 1024 /* header bytes kept while a header block spans reads */
#define QUEUE_MAX 64  /* pipelined requests waiting for their response */
#define IDLE_NS_DEFAULT (300 * 1000000000ull) /* a connection silent this long is forgotten */

enum in_state { IN_IDLE = 0, IN_HEAD, IN_BODY, IN_UNTIL_RESPONSE };
enum out_state { OUT_IDLE = 0, OUT_HEAD, OUT_CHUNKED, OUT_LENGTH, OUT_CLOSE, OUT_LOST };

struct conn {
	uint32_t pid;
	int32_t fd;
	enum in_state in;
	uint64_t in_body_left;
	char head[HEAD_MAX];
	size_t head_len;
	int in_req;	       /* request whose header/body is being read, -1 */
	uint64_t hidden_bytes; /* inbound bytes past the capture while idle (pipelined) */
	uint64_t hidden_ts;
	int queue[QUEUE_MAX]; /* requests received and not yet answered in full, oldest first */
	int nq;
	enum out_state out;
	char ohead[HEAD_MAX];
	size_t ohead_len;
	int cur; /* request being answered, -1 */
	bool sse, no_body;
	uint64_t body_left, chunk_left; /* chunk_left counts the chunk's trailing CRLF */
	uint64_t last_out_ns;
	uint64_t last_ns; /* its last event: for the idle timeout */
};

/*
 * Connections live in a dense array (the live views walk it at each drain) indexed by an
 * open-addressing hash of (pid, fd): slot value i + 1 names conns[i], 0 is empty. Linear
 * probing with backward-shift deletion, so no tombstones pile up with connection churn.
 */
struct wire {
	struct reqlist reqs;
	struct conn *conns;
	size_t nconns, cap_conns;
	uint32_t *slots;
	size_t nslots; /* a power of two, at least twice nconns */
	uint64_t idle_ns, now_ns, next_sweep_ns;
	uint64_t conns_seen, ignored;
	uint8_t *handed; /* wire_drain: per request, already handed over */
	size_t cap_handed;
};

struct wire *wire_new(void)
{
	struct wire *w = calloc(1, sizeof(struct wire));

	if (w)
		w->idle_ns = IDLE_NS_DEFAULT;
	return w;
}

void wire_set_idle_timeout(struct wire *w, uint64_t ns)
{
	w->idle_ns = ns ? ns : IDLE_NS_DEFAULT;
	w->next_sweep_ns = 0;
}

size_t wire_conns_open(const struct wire *w)
{
	return w->nconns;
}

const struct reqlist *wire_requests(const struct wire *w)
{
	return &w->reqs;
}

void wire_stats(const struct wire *w, uint64_t *conns, uint64_t *ignored)
{
	*conns = w->conns_seen;
	*ignored = w->ignored;
}

/* --- small text helpers ---------------------------------------------------------------- */

static const char *memmem_ci(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (!strncasecmp(hay + i, needle, k))
			return hay + i;
	return NULL;
}

/* The value of header NAME ("content-length") in a header block, copied into OUT. */
static bool header_value(const char *h, size_t n, const char *name, char *out, size_t outlen)
{
	size_t k = strlen(name);

	for (const char *p = h; p && p < h + n;) {
		const char *eol = memchr(p, '\n', h + n - p);
		size_t linelen = eol ? (size_t)(eol - p) : (size_t)(h + n - p);

		if (linelen > k && !strncasecmp(p, name, k) && p[k] == ':') {
			const char *v = p + k + 1, *e = p + linelen;
			size_t m;

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' '))
				e--;
			m = (size_t)(e - v) < outlen - 1 ? (size_t)(e - v) : outlen - 1;
			memcpy(out, v, m);
			out[m] = 0;
			return true;
		}
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

static bool parse_len(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return false;
	v = strtoull(s, &end, 10);
	*out = v;
	return *end == 0;
}

static bool is_request_line(const char *d, size_t n)
{
	static const char *const methods[] = {"GET ",	  "POST ",  "PUT ",	"DELETE ", "HEAD ",
					      "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t k = strlen(methods[i]);

		if (n >= k && !memcmp(d, methods[i], k))
			return true;
	}
	return false;
}

static bool is_status_line(const char *d, size_t n)
{
	return n >= 7 && !memcmp(d, "HTTP/1.", 7);
}

/* Finds "\r\n\r\n" in BUF, searching from FROM; returns the offset just past it, or 0. */
static size_t head_end(const char *buf, size_t len, size_t from)
{
	for (size_t i = from; i + 4 <= len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return i + 4;
	return 0;
}

/* --- connections and requests ---------------------------------------------------------- */

static size_t conn_hash(uint32_t pid, int32_t fd)
{
	uint64_t k = ((uint64_t)pid << 32 | (uint32_t)fd) * 0x9e3779b97f4a7c15ull;

	return (size_t)(k >> 17);
}

/* The slot that holds (PID, FD), or the empty slot where it would go. */
static size_t slot_find(const struct wire *w, uint32_t pid, int32_t fd)
{
	size_t mask = w->nslots - 1, s = conn_hash(pid, fd) & mask;

	while (w->slots[s]) {
		const struct conn *c = &w->conns[w->slots[s] - 1];

		if (c->pid == pid && c->fd == fd)
			break;
		s = (s + 1) & mask;
	}
	return s;
}

static int slots_grow(struct wire *w)
{
	size_t n = w->nslots ? w->nslots * 2 : 128;
	uint32_t *old = w->slots;
	size_t oldn = w->nslots;

	w->slots = calloc(n, sizeof(*w->slots));
	if (!w->slots) {
		w->slots = old;
		return -1;
	}
	w->nslots = n;
	for (size_t i = 0; i < oldn; i++)
		if (old[i]) {
			const struct conn *c = &w->conns[old[i] - 1];

			w->slots[slot_find(w, c->pid, c->fd)] = old[i];
		}
	free(old);
	return 0;
}

/* Empties slot S, moving later entries of its probe run back so lookups still find them. */
static void slot_delete(struct wire *w, size_t s)
{
	size_t mask = w->nslots - 1, j = s;

	w->slots[s] = 0;
	for (;;) {
		const struct conn *c;
		size_t home;

		j = (j + 1) & mask;
		if (!w->slots[j])
			return;
		c = &w->conns[w->slots[j] - 1];
		home = conn_hash(c->pid, c->fd) & mask;
		/* the entry at J may move to S only when S lies on its probe path (home..J) */
		if ((j > s && (home <= s || home > j)) || (j < s && home <= s && home > j)) {
			w->slots[s] = w->slots[j];
			w->slots[j] = 0;
			s = j;
		}
	}
}

static struct conn *conn_get(struct wire *w, uint32_t pid, int32_t fd, bool create)
{
	struct conn *c;
	size_t s;

	if (w->nslots) {
		s = slot_find(w, pid, fd);
		if (w->slots[s])
			return &w->conns[w->slots[s] - 1];
	}
	if (!create)
		return NULL;
	if ((w->nconns + 1) * 2 > w->nslots && slots_grow(w))
		return NULL;
	if (w->nconns >= UINT32_MAX - 1 ||
	    grow_array((void **)&w->conns, &w->cap_conns, w->nconns, sizeof(*w->conns), 64))
		return NULL;
	c = &w->conns[w->nconns++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->fd = fd;
	c->in_req = c->cur = -1;
	c->last_ns = w->now_ns;
	w->slots[slot_find(w, pid, fd)] = (uint32_t)w->nconns;
	w->conns_seen++;
	return c;
}

static struct request *req(struct wire *w, int i)
{
	return i >= 0 && (size_t)i < w->reqs.n ? &w->reqs.v[i] : NULL;
}

static int req_new(struct wire *w, struct conn *c, uint64_t ts, uint32_t tid)
{
	struct request *r = reqlist_add(&w->reqs);

	if (!r)
		return -1;
	r->source = REQ_SRC_WIRE;
	r->start_ns = r->end_ns = ts;
	r->pid = c->pid;
	r->tid = tid;
	r->fd = c->fd;
	if (c->nq == QUEUE_MAX) { /* a pipeline deeper than anyone uses: forget the oldest */
		memmove(c->queue, c->queue + 1, (QUEUE_MAX - 1) * sizeof(int));
		c->nq--;
	}
	c->queue[c->nq++] = r->index;
	return r->index;
}

static void queue_pop(struct conn *c, int idx)
{
	for (int i = 0; i < c->nq; i++) {
		if (c->queue[i] == idx) {
			memmove(c->queue + i, c->queue + i + 1, (c->nq - i - 1) * sizeof(int));
			c->nq--;
			return;
		}
	}
}

/* The response to CUR is over (END_NS is its last byte). */
static void response_done(struct wire *w, struct conn *c, uint64_t end_ns)
{
	struct request *r = req(w, c->cur);

	if (r) {
		r->end_ns = end_ns > r->start_ns ? end_ns : r->start_ns;
		queue_pop(c, c->cur);
	}
	c->cur = -1;
	c->out = OUT_IDLE;
}

/* --- inbound --------------------------------------------------------------------------- */

static void request_line(struct request *r, const char *h, size_t n)
{
	const char *sp = memchr(h, ' ', n), *sp2;
	size_t m;

	if (!sp)
		return;
	m = (size_t)(sp - h) < sizeof(r->method) - 1 ? (size_t)(sp - h) : sizeof(r->method) - 1;
	memcpy(r->method, h, m);
	r->method[m] = 0;
	sp++;
	for (sp2 = sp; sp2 < h + n && *sp2 != ' ' && *sp2 != '\r' && *sp2 != '\n'; sp2++)
		;
	m = (size_t)(sp2 - sp) < sizeof(r->path) - 1 ? (size_t)(sp2 - sp) : sizeof(r->path) - 1;
	memcpy(r->path, sp, m);
	r->path[m] = 0;
}

/* Parses the request's (possibly partial) header block; sets how its body is framed. */
static void request_head(struct wire *w, struct conn *c, bool complete)
{
	struct request *r = req(w, c->in_req);
	char v[64];
	uint64_t len;

	if (!r)
		return;
	request_line(r, c->head, c->head_len);
	if (header_value(c->head, c->head_len, "x-request-id", v, sizeof(v)) && !r->xrid[0])
		snprintf(r->xrid, sizeof(r->xrid), "%s", v);
	if (!complete) {
		c->in = IN_UNTIL_RESPONSE;
		return;
	}
	if (header_value(c->head, c->head_len, "content-length", v, sizeof(v)) &&
	    parse_len(v, &len)) {
		c->in_body_left = len;
		c->in = len ? IN_BODY : IN_IDLE;
	} else if (header_value(c->head, c->head_len, "transfer-encoding", v, sizeof(v))) {
		c->in = IN_UNTIL_RESPONSE; /* chunked request body: rare, not followed */
	} else {
		c->in = IN_IDLE;
	}
	if (c->in == IN_IDLE)
		c->in_req = -1;
}

/* Feeds the header block; returns bytes of this read consumed (the rest is body). */
static uint64_t in_head(struct wire *w, struct conn *c, const char *d, size_t avail, uint64_t bytes)
{
	size_t old = c->head_len, take = avail < HEAD_MAX - old ? avail : HEAD_MAX - old, end;

	memcpy(c->head + old, d, take);
	c->head_len += take;
	end = head_end(c->head, c->head_len, old > 3 ? old - 3 : 0);
	if (end) {
		c->head_len = end;
		request_head(w, c, true);
		return end - old;
	}
	/* the header block goes on past what was captured, or in the next read */
	if (avail < bytes || c->head_len == HEAD_MAX)
		request_head(w, c, false);
	return bytes;
}

static void in_data(struct wire *w, struct conn *c, const struct fl_net *e)
{
	const char *d = (const char *)e->data;
	uint64_t bytes = (uint64_t)e->bytes, pos = 0;

	/* a request while a response with lost framing is going on: that response is over */
	if (c->in == IN_IDLE && c->out == OUT_LOST && c->nq == 1)
		response_done(w, c, c->last_out_ns);
	while (pos < bytes) {
		size_t avail = pos < e->cap_len ? e->cap_len - pos : 0;

		switch (c->in) {
		case IN_IDLE:
			if (!avail) {
				c->hidden_bytes += bytes - pos;
				c->hidden_ts = e->h.ts_ns;
				return;
			}
			if (!is_request_line(d + pos, avail)) {
				w->ignored++;
				return; /* not HTTP, or we joined in the middle of something */
			}
			c->hidden_bytes = 0;
			c->in_req = req_new(w, c, e->h.ts_ns, e->h.tid);
			c->head_len = 0;
			c->in = IN_HEAD;
			break;
		case IN_HEAD:
			pos += in_head(w, c, d + pos, avail, bytes - pos);
			break;
		case IN_BODY: {
			uint64_t take =
			    bytes - pos < c->in_body_left ? bytes - pos : c->in_body_left;

			c->in_body_left -= take;
			pos += take;
			if (!c->in_body_left) {
				c->in = IN_IDLE;
				c->in_req = -1;
			}
			break;
		}
		case IN_UNTIL_RESPONSE:
			return;
		}
	}
}

/* --- outbound -------------------------------------------------------------------------- */

/* A response body segment of N bytes at time TS (CAP of them captured at D). */
static void body_bytes(struct wire *w, struct conn *c, uint64_t ts, const char *d, size_t cap)
{
	struct request *r = req(w, c->cur);
	const char *id;

	if (!r)
		return;
	if (!r->first_token_ns && (!c->sse || !cap || memmem_ci(d, cap, "data:")))
		r->first_token_ns = ts;
	if (!r->id[0] && cap && (id = memmem_ci(d, cap, "\"id\":"))) {
		const char *s = id + 5, *end = d + cap, *q;

		while (s < end && *s == ' ')
			s++;
		if (s < end && *s == '"' && (q = memchr(s + 1, '"', end - s - 1))) {
			size_t m =
			    q - s - 1 < REQ_ID_LEN - 1 ? (size_t)(q - s - 1) : REQ_ID_LEN - 1;

			memcpy(r->id, s + 1, m);
			r->id[m] = 0;
		}
	}
}

static int pick_request(struct wire *w, struct conn *c, const struct fl_net *e)
{
	if (c->nq)
		return c->queue[0];
	if (c->hidden_bytes) /* a pipelined request whose start was past the capture */
		return req_new(w, c, c->hidden_ts, e->h.tid);
	return -1;
}

static void response_head(struct wire *w, struct conn *c, uint64_t ts)
{
	struct request *r = req(w, c->cur);
	char v[128];
	uint64_t len;
	int status = 0;

	if (c->ohead_len > 12)
		status = atoi(c->ohead + 9);
	if (status >= 100 && status < 200) { /* 100 Continue: the real response follows */
		c->out = OUT_IDLE;
		return;
	}
	if (r) {
		r->status = status;
		if (!r->xrid[0] &&
		    header_value(c->ohead, c->ohead_len, "x-request-id", v, sizeof(v)))
			snprintf(r->xrid, sizeof(r->xrid), "%s", v);
	}
	c->sse = header_value(c->ohead, c->ohead_len, "content-type", v, sizeof(v)) &&
		 memmem_ci(v, strlen(v), "event-stream");
	c->chunk_left = 0;
	if (status == 204 || status == 304 || (r && !strcmp(r->method, "HEAD"))) {
		if (r && !r->first_token_ns)
			r->first_token_ns = ts;
		response_done(w, c, ts);
	} else if (header_value(c->ohead, c->ohead_len, "transfer-encoding", v, sizeof(v)) &&
		   memmem_ci(v, strlen(v), "chunked")) {
		c->out = OUT_CHUNKED;
	} else if (header_value(c->ohead, c->ohead_len, "content-length", v, sizeof(v)) &&
		   parse_len(v, &len)) {
		c->body_left = len;
		c->out = OUT_LENGTH;
		if (!len) {
			if (r && !r->first_token_ns)
				r->first_token_ns = ts;
			response_done(w, c, ts);
		}
	} else {
		c->out = OUT_CLOSE;
	}
}

static uint64_t out_head(struct wire *w, struct conn *c, const struct fl_net *e, uint64_t pos)
{
	size_t avail = pos < e->cap_len ? e->cap_len - (size_t)pos : 0;
	size_t old = c->ohead_len, take = avail < HEAD_MAX - old ? avail : HEAD_MAX - old, end;

	memcpy(c->ohead + old, e->data + pos, take);
	c->ohead_len += take;
	end = head_end(c->ohead, c->ohead_len, old > 3 ? old - 3 : 0);
	if (end) {
		c->ohead_len = end;
		response_head(w, c, e->h.ts_ns);
		return end - old;
	}
	if (avail < (uint64_t)e->bytes - pos || c->ohead_len == HEAD_MAX)
		c->out = OUT_LOST;
	return e->bytes - pos;
}

/* One chunk header (or a chunk's data) at POS; returns bytes consumed. */
static uint64_t out_chunk(struct wire *w, struct conn *c, const struct fl_net *e, uint64_t pos)
{
	uint64_t left = e->bytes - pos, size = 0;
	size_t avail = pos < e->cap_len ? e->cap_len - (size_t)pos : 0, i = 0;
	const char *d = (const char *)e->data + pos;

	if (c->chunk_left) {
		uint64_t take = left < c->chunk_left ? left : c->chunk_left;

		c->chunk_left -= take;
		return take;
	}
	while (i < avail && isxdigit((unsigned char)d[i]) && i < 16)
		size = size * 16 +
		       (isdigit((unsigned char)d[i]) ? d[i] - '0' : (d[i] | 0x20) - 'a' + 10),
		i++;
	while (i < avail && d[i] != '\n')
		i++; /* chunk extensions, then CRLF */
	if (!i || i >= avail) {
		c->out = OUT_LOST; /* the chunk header is past the captured bytes */
		return left;
	}
	i++;
	if (!size) { /* last chunk: "0\r\n", optional trailers, "\r\n" */
		response_done(w, c, e->h.ts_ns);
		return left; /* a next response in the same write is not looked for */
	}
	body_bytes(w, c, e->h.ts_ns, d + i, avail - i);
	c->chunk_left = size + 2;
	return i;
}

static void out_lost(struct wire *w, struct conn *c, const struct fl_net *e)
{
	const char *d = (const char *)e->data;

	if (e->cap_len >= 5 && !memcmp(d, "0\r\n\r\n", 5)) {
		response_done(w, c, e->h.ts_ns);
		return;
	}
	body_bytes(w, c, e->h.ts_ns, d, e->cap_len);
}

static void out_data(struct wire *w, struct conn *c, const struct fl_net *e)
{
	uint64_t bytes = (uint64_t)e->bytes, pos = 0;

	if (c->out == OUT_LOST && is_status_line((const char *)e->data, e->cap_len))
		response_done(w, c, c->last_out_ns);
	while (pos < bytes) {
		size_t avail = pos < e->cap_len ? e->cap_len - (size_t)pos : 0;
		uint64_t take;

		switch (c->out) {
		case OUT_IDLE:
			if (!is_status_line((const char *)e->data + pos, avail)) {
				w->ignored++;
				return;
			}
			c->cur = pick_request(w, c, e);
			if (req(w, c->cur)) {
				struct request *r = req(w, c->cur);

				if (!r->first_byte_ns)
					r->first_byte_ns = e->h.ts_ns;
				r->tid = e->h.tid;
			}
			/* the request being answered was read in full, whatever we could see */
			if (c->nq <= 1 && c->in != IN_HEAD) {
				c->in = IN_IDLE;
				c->in_req = -1;
			}
			c->ohead_len = 0;
			c->out = OUT_HEAD;
			break;
		case OUT_HEAD:
			pos += out_head(w, c, e, pos);
			break;
		case OUT_CHUNKED:
			pos += out_chunk(w, c, e, pos);
			break;
		case OUT_LENGTH:
			take = bytes - pos < c->body_left ? bytes - pos : c->body_left;
			body_bytes(w, c, e->h.ts_ns, (const char *)e->data + pos, avail);
			c->body_left -= take;
			pos += take;
			if (!c->body_left)
				response_done(w, c, e->h.ts_ns);
			break;
		case OUT_CLOSE:
			body_bytes(w, c, e->h.ts_ns, (const char *)e->data + pos, avail);
			pos = bytes;
			break;
		case OUT_LOST:
			out_lost(w, c, e);
			pos = bytes;
			break;
		}
	}
}

/* --- connection end -------------------------------------------------------------------- */

/* Requests still open when the connection closed (or the recording ended). */
static void conn_end(struct wire *w, struct conn *c, uint64_t ts, bool recording_end)
{
	for (int i = 0; i < c->nq; i++) {
		struct request *r = req(w, c->queue[i]);
		bool answered = c->queue[i] == c->cur;

		if (!r)
			continue;
		if (recording_end) {
			r->incomplete = true;
			r->end_ns =
			    answered && c->last_out_ns > r->start_ns ? c->last_out_ns : r->start_ns;
			continue;
		}
		/* a close-delimited body ends at close; a lost framing cannot tell: not aborted */
		r->aborted = !(answered && (c->out == OUT_CLOSE || c->out == OUT_LOST));
		r->end_ns = answered && c->last_out_ns > r->start_ns ? c->last_out_ns : ts;
		if (r->end_ns < r->start_ns)
			r->end_ns = r->start_ns;
	}
	c->nq = 0;
}

/* Forgets C: the last connection takes its place in the array, and its slot is updated. */
static void conn_drop(struct wire *w, struct conn *c)
{
	size_t i = c - w->conns, last = w->nconns - 1;

	slot_delete(w, slot_find(w, c->pid, c->fd));
	if (i != last) {
		w->conns[i] = w->conns[last];
		w->slots[slot_find(w, w->conns[i].pid, w->conns[i].fd)] = (uint32_t)i + 1;
	}
	w->nconns--;
}

/* Byte counts for record's request records (the bytes themselves are not kept). */
static void count_bytes(struct wire *w, int idx, int64_t bytes, bool in)
{
	struct request *r = req(w, idx);

	if (!r)
		return;
	if (in)
		r->in_bytes += bytes;
	else
		r->out_bytes += bytes;
}

/* Connections silent for the idle timeout: their open requests end as incomplete. */
static void sweep_idle(struct wire *w)
{
	for (size_t i = w->nconns; i-- > 0;) {
		struct conn *c = &w->conns[i];

		if (c->last_ns + w->idle_ns > w->now_ns)
			continue;
		conn_end(w, c, 0, true);
		conn_drop(w, c); /* moves the last one to I: already looked at */
	}
	w->next_sweep_ns = w->now_ns + w->idle_ns / 4;
}

void wire_proc_exit(struct wire *w, uint32_t pid, uint64_t ts)
{
	for (size_t i = w->nconns; i-- > 0;) {
		struct conn *c = &w->conns[i];

		if (c->pid != pid)
			continue;
		conn_end(w, c, ts, false); /* like a close: what was open is aborted */
		conn_drop(w, c);
	}
}

/* RUNNING(PID), asked once per pid of the few a table usually holds. */
static bool pid_cached(bool (*running)(uint32_t pid), uint32_t pid, uint32_t *pids, bool *alive,
		       size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if (pids[i] == pid)
			return alive[i];
	if (*n == 64)
		return running(pid);
	pids[*n] = pid;
	alive[*n] = running(pid);
	return alive[(*n)++];
}

void wire_forget_gone(struct wire *w, bool (*running)(uint32_t pid))
{
	uint32_t pids[64];
	bool alive[64];
	size_t n = 0;

	for (size_t i = w->nconns; i-- > 0;) {
		struct conn *c = &w->conns[i];

		if (pid_cached(running, c->pid, pids, alive, &n))
			continue;
		conn_end(w, c, c->last_ns, false);
		conn_drop(w, c);
	}
}

void wire_event(struct wire *w, const struct fl_net *e, size_t len)
{
	struct conn *c;

	if (len < sizeof(*e) - FL_NET_CAP || e->cap_len > FL_NET_CAP ||
	    len < sizeof(*e) - FL_NET_CAP + e->cap_len)
		return; /* malformed */
	if (e->h.ts_ns > w->now_ns)
		w->now_ns = e->h.ts_ns;
	if (w->now_ns >= w->next_sweep_ns)
		sweep_idle(w);
	switch (e->dir) {
	case FL_NET_ACCEPT:
	case FL_NET_CLOSE:
		c = conn_get(w, e->pid, e->fd, false);
		if (c) {
			conn_end(w, c, e->h.ts_ns, false);
			conn_drop(w, c);
		}
		if (e->dir == FL_NET_ACCEPT)
			conn_get(w, e->pid, e->fd, true);
		break;
	case FL_NET_IN:
		c = conn_get(w, e->pid, e->fd, true);
		if (c)
			c->last_ns = w->now_ns;
		if (c && e->bytes > 0) {
			in_data(w, c, e);
			count_bytes(w,
				    c->in_req >= 0 ? c->in_req
				    : c->nq	   ? c->queue[c->nq - 1]
						   : -1,
				    e->bytes, true);
		}
		break;
	case FL_NET_OUT:
		c = conn_get(w, e->pid, e->fd, true);
		if (c)
			c->last_ns = w->now_ns;
		if (c && e->bytes > 0) {
			int cur = c->cur;

			out_data(w, c, e);
			count_bytes(w, cur >= 0 ? cur : c->cur, e->bytes, false);
			c->last_out_ns = e->h.ts_ns;
		}
		break;
	}
}

void wire_finish(struct wire *w)
{
	for (size_t i = 0; i < w->nconns; i++)
		conn_end(w, &w->conns[i], 0, true);
	w->nconns = 0;
	if (w->slots)
		memset(w->slots, 0, w->nslots * sizeof(*w->slots));
}

void wire_free(struct wire *w)
{
	if (!w)
		return;
	reqlist_free(&w->reqs);
	free(w->conns);
	free(w->slots);
	free(w->handed);
	free(w);
}

/* --- live views ------------------------------------------------------------------------ */

static void remap(int *idx, const int *newidx)
{
	if (*idx >= 0)
		*idx = newidx[*idx];
}

/* Marks in KEEP (0/1 per request) the requests a connection still refers to. */
static void mark_open(const struct wire *w, uint8_t *keep)
{
	for (size_t i = 0; i < w->nconns; i++) {
		const struct conn *c = &w->conns[i];

		for (int q = 0; q < c->nq; q++)
			keep[c->queue[q]] = 1;
		if (c->cur >= 0)
			keep[c->cur] = 1;
		if (c->in_req >= 0)
			keep[c->in_req] = 1;
	}
}

/* Drops the requests not in KEEP; NEWIDX (scratch, one per request) maps old to new indexes. */
static void compact(struct wire *w, const uint8_t *keep, int *newidx)
{
	size_t n = 0;

	for (size_t i = 0; i < w->reqs.n; i++) {
		newidx[i] = keep[i] ? (int)n : -1;
		if (!keep[i])
			continue;
		w->reqs.v[n] = w->reqs.v[i];
		w->reqs.v[n].index = n;
		w->handed[n++] = w->handed[i];
	}
	if (w->reqs.n > n) /* the slots new requests will take (HANDED is NULL with no request) */
		memset(w->handed + n, 0, w->reqs.n - n);
	w->reqs.n = n;
	for (size_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		for (int q = 0; q < c->nq; q++)
			remap(&c->queue[q], newidx);
		remap(&c->cur, newidx);
		remap(&c->in_req, newidx);
	}
}

static size_t drain(struct wire *w, wire_req_fn fn, void *ctx, bool ended_only);

size_t wire_drain(struct wire *w, wire_req_fn fn, void *ctx)
{
	return drain(w, fn, ctx, false);
}

size_t wire_drain_ended(struct wire *w, wire_req_fn fn, void *ctx)
{
	return drain(w, fn, ctx, true);
}

int wire_add_request(struct wire *w, const struct request *src)
{
	struct request *r = reqlist_add(&w->reqs);
	uint32_t index;

	if (!r)
		return -ENOMEM;
	index = r->index;
	*r = *src;
	r->index = index;
	r->source = REQ_SRC_WIRE;
	return 0;
}

void wire_set_stats(struct wire *w, uint64_t conns, uint64_t ignored)
{
	w->conns_seen = conns;
	w->ignored = ignored;
}

static size_t drain(struct wire *w, wire_req_fn fn, void *ctx, bool ended_only)
{
	size_t n = w->reqs.n, handed = 0;
	uint8_t *keep;
	int *newidx;

	if (!n)
		return 0; /* nothing to hand over (and no handed[] yet: no memset on NULL) */
	if (n > w->cap_handed) {
		uint8_t *h = realloc(w->handed, w->reqs.cap);

		if (!h)
			return 0; /* tried again at the next drain */
		memset(h + w->cap_handed, 0, w->reqs.cap - w->cap_handed);
		w->handed = h;
		w->cap_handed = w->reqs.cap;
	}
	keep = calloc(n ? n : 1, 1);
	newidx = malloc((n ? n : 1) * sizeof(*newidx));
	if (!keep || !newidx)
		goto cleanup;
	mark_open(w, keep);
	for (size_t i = 0; i < n; i++) {
		if (w->handed[i] || (keep[i] && (ended_only || !w->reqs.v[i].first_token_ns)))
			continue;
		fn(ctx, &w->reqs.v[i]);
		w->handed[i] = 1;
		handed++;
	}
	compact(w, keep, newidx);
cleanup:
	free(keep);
	free(newidx);
	return handed;
}

void wire_trailer_json(const struct wire *w, struct jw *jw, uint64_t net_events)
{
	uint64_t conns, ignored;

	wire_stats(w, &conns, &ignored);
	jw_key(jw, "wire");
	jw_obj_open(jw);
	jw_ku64(jw, "connections", conns);
	jw_ku64(jw, "ignored_events", ignored);
	jw_ku64(jw, "net_events", net_events);
	jw_obj_close(jw);
}
