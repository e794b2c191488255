// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The record file: writer (producer thread + writer thread) and reader. The byte layout is
 * documented in docs/record-format.md; keep the two in step and bump FL_FORMAT_VERSION on any
 * change a version 1 reader would misread.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "faultline.h"
#include "recfile.h"

/* Events are stored in host byte order; version 1 is defined for little-endian hosts only. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "record format v1 is little-endian");
_Static_assert(sizeof(struct fl_hdr) == 16, "struct fl_hdr is 16 bytes");
_Static_assert(FL_MAX_EVENT_BYTES <= UINT16_MAX, "event lengths are stored as u16");

static const char FL_FILE_MAGIC[8] = {'F', 'L', 'T', 'L', 'I', 'N', 'E', '\0'};
#define FL_CHUNK_MAGIC 0x4b434c46u   /* "FLCK" on disk */
#define FL_TRAILER_MAGIC 0x52544c46u /* "FLTR" on disk */
#define FL_END_MAGIC 0x4e454c46u     /* "FLEN" on disk */

#define FILE_HDR_BYTES 24
#define CHUNK_HDR_BYTES 40
#define TRAILER_HDR_BYTES 16
#define END_BYTES 32
#define REC_PREFIX_BYTES 2 /* u16 event length before each event in a raw chunk */

/* Header flags: the low 16 bits may be ignored by a reader, the high 16 bits may not. */
#define FL_FLAGS_INCOMPAT_MASK 0xffff0000u

/* What a reader accepts, whatever the file says. */
#define FL_MAX_JSON_BYTES (64u << 20)
#define FL_MAX_CHUNK_RAW (64u << 20)
#define FL_MAX_INFLATE_RATIO 1040u /* deflate cannot expand more than ~1032:1 */

/* ---- little-endian fields ---- */

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

/* CRC-32 of a chunk: its 40-byte header with the crc32 field taken as zero, then the data. */
static uint32_t chunk_crc(const uint8_t *hdr, const uint8_t *data, uint32_t comp_len)
{
	static const uint8_t zero[4];
	uLong crc = crc32(0, Z_NULL, 0);

	crc = crc32(crc, hdr, 12);
	crc = crc32(crc, zero, 4);
	crc = crc32(crc, hdr + 16, CHUNK_HDR_BYTES - 16);
	return crc32(crc, data, comp_len);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ==== writer ==== */

struct fl_buf {
	uint8_t *data; /* FL_CHUNK_TARGET_BYTES of records: u16 length + event */
	uint32_t len;  /* bytes used */
	uint32_t n_events;
	uint64_t start_ms; /* when the producer took it (its first event follows at once) */
};

/* Flight mode: a finished chunk (header + compressed bytes) kept in memory. */
struct fl_ring_chunk {
	struct fl_ring_chunk *next;
	uint64_t lo, hi; /* its events' lowest and highest ts_ns */
	uint32_t n_events;
	size_t size;
	uint8_t data[];
};

enum { RING_BOUND_NONE, RING_BOUND_TIME, RING_BOUND_BYTES };

struct fl_writer {
	/* Producer side: the one thread that calls append, tick, flush, stats and close. */
	struct fl_buf *cur;
	uint64_t events;
	uint64_t raw_bytes;

	/* Shared, under mu. Queue and free list each hold at most FL_WRITER_MAX_BUFS. */
	pthread_mutex_t mu;
	pthread_cond_t work;  /* the writer thread waits here for a full buffer */
	pthread_cond_t space; /* the producer waits here for a free buffer */
	struct fl_buf *all[FL_WRITER_MAX_BUFS];
	struct fl_buf *free_bufs[FL_WRITER_MAX_BUFS];
	struct fl_buf *queue[FL_WRITER_MAX_BUFS];
	int n_all, n_free, q_head, q_len;
	bool closing;
	int err; /* first -errno; once set, nothing more is written */
	uint64_t waits;
	uint64_t chunks;     /* whole chunks in the file */
	uint64_t file_bytes; /* bytes of whole chunks (and header) in the file */
	bool busy;	     /* the writer thread holds a buffer */
	/* Flight mode (fd < 0): chunks go to this ring instead of a file, oldest first. */
	bool ring;
	uint64_t ring_max_bytes, ring_max_ns, ring_bytes;
	struct fl_ring_chunk *rhead, *rtail;
	int ring_bound; /* what evicted the last chunk: RING_BOUND_* */

	/* Writer thread side (and open/close, when the thread is not running). */
	int fd;
	z_stream zs;
	bool zs_init;
	uint8_t *out; /* chunk header + compressed bytes */
	size_t out_cap;
	pthread_t thread;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* Lowest and highest ts_ns of a chunk's events, for the chunk header. */
static void chunk_ts_range(const struct fl_buf *b, uint64_t *lo, uint64_t *hi)
{
	const uint8_t *p = b->data, *end = b->data + b->len;

	*lo = UINT64_MAX;
	*hi = 0;
	while (p < end) {
		uint16_t len;
		uint64_t ts;

		memcpy(&len, p, sizeof(len));
		memcpy(&ts, p + REC_PREFIX_BYTES + offsetof(struct fl_hdr, ts_ns), sizeof(ts));
		*lo = ts < *lo ? ts : *lo;
		*hi = ts > *hi ? ts : *hi;
		p += REC_PREFIX_BYTES + len;
	}
}

/* Compresses B into w->out behind a chunk header; returns the chunk's size in bytes. */
static int chunk_encode(struct fl_writer *w, const struct fl_buf *b, size_t *size)
{
	uint8_t *hdr = w->out;
	uint64_t lo, hi;
	uint32_t comp_len;

	if (deflateReset(&w->zs) != Z_OK)
		return -EIO;
	w->zs.next_in = b->data;
	w->zs.avail_in = b->len;
	w->zs.next_out = w->out + CHUNK_HDR_BYTES;
	w->zs.avail_out = w->out_cap - CHUNK_HDR_BYTES;
	if (deflate(&w->zs, Z_FINISH) != Z_STREAM_END)
		return -EIO;
	comp_len = w->zs.total_out;

	chunk_ts_range(b, &lo, &hi);
	put_le32(hdr, FL_CHUNK_MAGIC);
	put_le32(hdr + 4, b->len);
	put_le32(hdr + 8, comp_len);
	put_le32(hdr + 12, 0);
	put_le64(hdr + 16, lo);
	put_le64(hdr + 24, hi);
	put_le32(hdr + 32, b->n_events);
	put_le32(hdr + 36, 0);
	put_le32(hdr + 12, chunk_crc(hdr, hdr + CHUNK_HDR_BYTES, comp_len));
	*size = CHUNK_HDR_BYTES + comp_len;
	return 0;
}

/*
 * Remembers the first error. A short write may have left part of a chunk behind: cut the file
 * back to its last whole chunk so that it reads as cleanly truncated (best effort).
 */
static void writer_fail(struct fl_writer *w, int err)
{
	uint64_t good;

	pthread_mutex_lock(&w->mu);
	if (!w->err)
		w->err = err;
	good = w->file_bytes;
	pthread_mutex_unlock(&w->mu);
	if (ftruncate(w->fd, good))
		return; /* nothing more to do: the reader stops at the partial chunk anyway */
}

/* Flight mode: keeps the chunk, dropping the oldest past the byte cap or the time window. */
static int ring_store(struct fl_writer *w, const struct fl_buf *b, size_t size)
{
	struct fl_ring_chunk *c = malloc(sizeof(*c) + size), *gone = NULL, **tail = &gone;

	if (!c)
		return -ENOMEM;
	memcpy(c->data, w->out, size);
	c->size = size;
	c->n_events = b->n_events;
	c->lo = get_le64(w->out + 16);
	c->hi = get_le64(w->out + 24);
	c->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->rtail)
		w->rtail->next = c;
	else
		w->rhead = c;
	w->rtail = c;
	w->ring_bytes += size;
	w->chunks++;
	while (w->rhead != w->rtail) {
		struct fl_ring_chunk *h = w->rhead;

		if (w->ring_bytes > w->ring_max_bytes)
			w->ring_bound = RING_BOUND_BYTES;
		else if (c->hi > h->hi && c->hi - h->hi > w->ring_max_ns)
			w->ring_bound = RING_BOUND_TIME;
		else
			break;
		w->rhead = h->next;
		w->ring_bytes -= h->size;
		h->next = NULL;
		*tail = h;
		tail = &h->next;
	}
	w->file_bytes = w->ring_bytes;
	pthread_mutex_unlock(&w->mu);
	while (gone) { /* freed outside the lock */
		struct fl_ring_chunk *n = gone->next;

		free(gone);
		gone = n;
	}
	return 0;
}

static int writer_write_chunk(struct fl_writer *w, const struct fl_buf *b)
{
	size_t size;
	int err;

	err = chunk_encode(w, b, &size);
	if (!err && w->ring)
		return ring_store(w, b, size);
	if (!err)
		err = write_all(w->fd, w->out, size);
	if (err)
		return err;
	pthread_mutex_lock(&w->mu);
	w->chunks++;
	w->file_bytes += size;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static void *writer_thread(void *arg)
{
	struct fl_writer *w = arg;

	for (;;) {
		struct fl_buf *b;
		int err = 0;
		bool failed;

		pthread_mutex_lock(&w->mu);
		while (!w->q_len && !w->closing)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->q_len) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		b = w->queue[w->q_head];
		w->q_head = (w->q_head + 1) % FL_WRITER_MAX_BUFS;
		w->q_len--;
		w->busy = true;
		failed = w->err;
		pthread_mutex_unlock(&w->mu);

		/* After an error buffers are only recycled: the producer never waits forever. */
		if (!failed)
			err = writer_write_chunk(w, b);
		if (err)
			writer_fail(w, err);

		pthread_mutex_lock(&w->mu);
		b->len = 0;
		b->n_events = 0;
		w->free_bufs[w->n_free++] = b;
		w->busy = false;
		pthread_cond_broadcast(&w->space);
		pthread_mutex_unlock(&w->mu);
	}
}

static struct fl_buf *buf_new(void)
{
	struct fl_buf *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->data = malloc(FL_CHUNK_TARGET_BYTES);
	if (!b->data) {
		free(b);
		return NULL;
	}
	return b;
}

/* Takes a free buffer for the producer, waiting for the writer thread if all are in flight. */
static int writer_take_buf(struct fl_writer *w)
{
	struct fl_buf *b = NULL;
	bool waited = false;
	int err;

	pthread_mutex_lock(&w->mu);
	while (!w->err && !w->n_free && w->n_all == FL_WRITER_MAX_BUFS) {
		waited = true;
		pthread_cond_wait(&w->space, &w->mu);
	}
	w->waits += waited;
	err = w->err;
	if (!err && w->n_free) {
		b = w->free_bufs[--w->n_free];
	} else if (!err) {
		b = buf_new();
		if (b)
			w->all[w->n_all++] = b;
		else
			err = -ENOMEM;
	}
	pthread_mutex_unlock(&w->mu);
	if (err)
		return err;
	b->start_ms = now_ms();
	w->cur = b;
	return 0;
}

static void writer_hand_off(struct fl_writer *w)
{
	struct fl_buf *b = w->cur;

	if (!b)
		return;
	w->cur = NULL;
	pthread_mutex_lock(&w->mu);
	if (b->n_events) {
		w->queue[(w->q_head + w->q_len) % FL_WRITER_MAX_BUFS] = b;
		w->q_len++;
		pthread_cond_signal(&w->work);
	} else {
		w->free_bufs[w->n_free++] = b;
	}
	pthread_mutex_unlock(&w->mu);
}

static int writer_error(struct fl_writer *w)
{
	int err;

	pthread_mutex_lock(&w->mu);
	err = w->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

static int write_file_header(int fd, const char *meta)
{
	size_t meta_len = strlen(meta);
	uint8_t hdr[FILE_HDR_BYTES];
	int err;

	if (meta_len > FL_MAX_JSON_BYTES)
		return -E2BIG;
	memcpy(hdr, FL_FILE_MAGIC, sizeof(FL_FILE_MAGIC));
	put_le32(hdr + 8, FL_FORMAT_VERSION);
	put_le32(hdr + 12, 0);
	put_le64(hdr + 16, meta_len);
	err = write_all(fd, hdr, sizeof(hdr));
	if (!err)
		err = write_all(fd, meta, meta_len);
	return err;
}

/* Starts the writer thread with every signal blocked: signals belong to the caller's threads. */
static int writer_start_thread(struct fl_writer *w)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&w->thread, NULL, writer_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return err;
	pthread_setname_np(w->thread, "fl-writer");
	return 0;
}

static void writer_free(struct fl_writer *w)
{
	for (int i = 0; i < w->n_all; i++) {
		free(w->all[i]->data);
		free(w->all[i]);
	}
	while (w->rhead) {
		struct fl_ring_chunk *n = w->rhead->next;

		free(w->rhead);
		w->rhead = n;
	}
	if (w->zs_init)
		deflateEnd(&w->zs);
	free(w->out);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->space);
	free(w);
}

int fl_writer_open(struct fl_writer **wp, const char *path, const char *meta_json)
{
	/* 0600: the file may hold command lines and, with --capture-payload, socket bytes */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	*wp = NULL;
	if (fd < 0)
		return -errno;
	return fl_writer_open_fd(wp, fd, meta_json);
}

static int writer_open(struct fl_writer **wp, int fd, const char *meta_json, uint64_t ring_bytes,
		       uint64_t ring_ns)
{
	struct fl_writer *w;
	int err;

	*wp = NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	w->ring = fd < 0;
	w->ring_max_bytes = ring_bytes;
	w->ring_max_ns = ring_ns;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->space, NULL);
	w->fd = fd;
	/* Level 1: the writer must keep up with >1M events/s (it does ~3.5M); files shrink ~3x. */
	if (deflateInit(&w->zs, 1) != Z_OK) {
		err = -ENOMEM;
		goto cleanup;
	}
	w->zs_init = true;
	w->out_cap = CHUNK_HDR_BYTES + deflateBound(&w->zs, FL_CHUNK_TARGET_BYTES);
	w->out = malloc(w->out_cap);
	if (!w->out) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (!w->ring) {
		err = write_file_header(w->fd, meta_json ? meta_json : "{}");
		if (err)
			goto cleanup;
		w->file_bytes = FILE_HDR_BYTES + strlen(meta_json ? meta_json : "{}");
	}
	err = writer_start_thread(w);
	if (err)
		goto cleanup;
	*wp = w;
	return 0;

cleanup:
	if (w->fd >= 0)
		close(w->fd);
	writer_free(w);
	return err;
}

int fl_writer_open_fd(struct fl_writer **wp, int fd, const char *meta_json)
{
	return writer_open(wp, fd, meta_json, 0, 0);
}

int fl_writer_open_ring(struct fl_writer **wp, uint64_t max_bytes, uint64_t max_ns)
{
	return writer_open(wp, -1, NULL, max_bytes, max_ns);
}

/* The slow path of append: the chunk is full (or there is none yet). */
static int writer_next_buf(struct fl_writer *w)
{
	writer_hand_off(w);
	return writer_take_buf(w);
}

/* On the ring-buffer consumer's hot path: a bounds check and a copy. */
int fl_writer_append(struct fl_writer *w, const void *ev, size_t len)
{
	struct fl_buf *b = w->cur;
	uint16_t len16 = len;
	int err;

	if (len < sizeof(struct fl_hdr) || len > FL_MAX_EVENT_BYTES)
		return -EINVAL;
	if (!b || b->len + REC_PREFIX_BYTES + len > FL_CHUNK_TARGET_BYTES) {
		err = writer_next_buf(w);
		if (err)
			return err;
		b = w->cur;
	}
	memcpy(b->data + b->len, &len16, REC_PREFIX_BYTES);
	memcpy(b->data + b->len + REC_PREFIX_BYTES, ev, len);
	b->len += REC_PREFIX_BYTES + len;
	b->n_events++;
	w->events++;
	w->raw_bytes += len;
	return 0;
}

int fl_writer_flush(struct fl_writer *w)
{
	writer_hand_off(w);
	return writer_error(w);
}

int fl_writer_tick(struct fl_writer *w)
{
	if (w->cur && w->cur->n_events && now_ms() - w->cur->start_ms >= FL_CHUNK_TARGET_MS)
		writer_hand_off(w);
	return writer_error(w);
}

void fl_writer_stats(struct fl_writer *w, struct fl_writer_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->events = w->events;
	st->raw_bytes = w->raw_bytes;
	pthread_mutex_lock(&w->mu);
	st->chunks = w->chunks;
	st->file_bytes = w->file_bytes;
	st->buffers = w->n_all;
	st->waits = w->waits;
	pthread_mutex_unlock(&w->mu);
}

/* Trailer record, trailer JSON and end marker, in one write. */
static int write_trailer_fd(int fd, const char *json, uint64_t file_bytes, uint64_t chunks,
			    uint64_t events, uint64_t *size_out)
{
	size_t json_len = strlen(json), size = TRAILER_HDR_BYTES + json_len + END_BYTES;
	uint8_t *buf, *end;
	int err;

	if (json_len > FL_MAX_JSON_BYTES)
		return -E2BIG;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	put_le32(buf, FL_TRAILER_MAGIC);
	put_le32(buf + 4, 0);
	put_le64(buf + 8, json_len);
	memcpy(buf + TRAILER_HDR_BYTES, json, json_len);
	end = buf + TRAILER_HDR_BYTES + json_len;
	put_le32(end, FL_END_MAGIC);
	put_le32(end + 4, crc32(crc32(0, Z_NULL, 0), buf, TRAILER_HDR_BYTES + json_len));
	put_le64(end + 8, file_bytes);
	put_le64(end + 16, chunks);
	put_le64(end + 24, events);
	err = write_all(fd, buf, size);
	if (!err)
		*size_out = size;
	free(buf);
	return err;
}

static int write_trailer(struct fl_writer *w, const char *json)
{
	uint64_t size = 0;
	int err = write_trailer_fd(w->fd, json, w->file_bytes, w->chunks, w->events, &size);

	w->file_bytes += size;
	return err;
}

/* Flight mode: every handed-off chunk is in the ring once this returns. */
static int ring_settle(struct fl_writer *w)
{
	int err;

	writer_hand_off(w);
	pthread_mutex_lock(&w->mu);
	while (w->q_len || w->busy)
		pthread_cond_wait(&w->space, &w->mu);
	err = w->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

int fl_writer_ring_info(struct fl_writer *w, uint64_t since_ns, struct fl_ring_info *info)
{
	bool skipped = false;
	int err;

	memset(info, 0, sizeof(*info));
	if (!w->ring)
		return -EINVAL;
	err = ring_settle(w);
	if (err)
		return err;
	pthread_mutex_lock(&w->mu);
	for (struct fl_ring_chunk *c = w->rhead; c; c = c->next) {
		if (c->hi < since_ns) {
			skipped = true;
			continue;
		}
		if (!info->chunks)
			info->first_ns = c->lo;
		info->chunks++;
		info->events += c->n_events;
		info->bytes += c->size;
		info->last_ns = c->hi > info->last_ns ? c->hi : info->last_ns;
	}
	info->ring_bytes = w->ring_bytes;
	info->bound = skipped || w->ring_bound == RING_BOUND_TIME ? "time"
		      : w->ring_bound == RING_BOUND_BYTES	  ? "bytes"
								  : "none";
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void fl_writer_ring_stat(struct fl_writer *w, uint64_t *bytes, uint64_t *span_ns)
{
	*bytes = *span_ns = 0;
	if (!w || !w->ring)
		return;
	pthread_mutex_lock(&w->mu);
	*bytes = w->ring_bytes;
	if (w->rhead && w->rtail->hi > w->rhead->lo)
		*span_ns = w->rtail->hi - w->rhead->lo;
	pthread_mutex_unlock(&w->mu);
}

int fl_writer_ring_dump(struct fl_writer *w, int fd, uint64_t since_ns, const char *meta_json,
			const char *trailer_json)
{
	uint64_t bytes, chunks = 0, events = 0, size;
	int err;

	if (!w->ring)
		return -EINVAL;
	err = ring_settle(w);
	if (!err)
		err = write_file_header(fd, meta_json ? meta_json : "{}");
	if (err)
		return err;
	bytes = FILE_HDR_BYTES + strlen(meta_json ? meta_json : "{}");
	/* The writer thread is idle until the next hand-off, which only this thread makes. */
	pthread_mutex_lock(&w->mu);
	for (struct fl_ring_chunk *c = w->rhead; c && !err; c = c->next) {
		if (c->hi < since_ns)
			continue;
		err = write_all(fd, c->data, c->size);
		bytes += c->size;
		chunks++;
		events += c->n_events;
	}
	pthread_mutex_unlock(&w->mu);
	if (!err)
		err = write_trailer_fd(fd, trailer_json ? trailer_json : "{}", bytes, chunks,
				       events, &size);
	if (!err && fsync(fd))
		err = -errno;
	return err;
}

int fl_writer_close(struct fl_writer *w, const char *trailer_json)
{
	int err;

	if (!w)
		return 0;
	writer_hand_off(w);
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);

	/* The thread is gone: its fields are ours now. */
	err = w->err;
	if (w->ring) {
		writer_free(w);
		return err;
	}
	if (!err)
		err = write_trailer(w, trailer_json ? trailer_json : "{}");
	if (!err && fsync(w->fd))
		err = -errno;
	if (close(w->fd) && !err)
		err = -errno;
	writer_free(w);
	return err;
}

/* ==== reader ==== */

struct read_pool;

struct fl_reader {
	int fd;		    /* -1 when reading a memory image */
	const uint8_t *mem; /* the memory image */
	uint64_t size;	    /* bytes in the image, or the file's size when last looked at */
	uint8_t *io;	    /* file mode: bytes fetched from the file */
	size_t io_cap;

	uint64_t off; /* file offset of the next chunk (or trailer) */
	uint8_t *raw; /* the current chunk, inflated and validated */
	size_t raw_cap;
	size_t pos;			    /* offset of the next record in raw */
	uint32_t left;			    /* events of the current chunk not yet returned */
	struct libdeflate_decompressor *dd; /* chunks are inflated whole */
	bool done;

	char *meta;
	char *trailer;
	struct fl_reader_status st;
	struct read_pool *pool; /* chunks inflated ahead by worker threads; NULL: none */
	size_t ev_len;		/* bytes of ev in use; the rest is zero */
	uint64_t ev[FL_MAX_EVENT_BYTES / 8]; /* the returned event, 8-byte aligned */
};

static void msg(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int reader_refresh_size(struct fl_reader *r)
{
	struct stat sb;

	if (r->fd < 0)
		return 0;
	if (fstat(r->fd, &sb))
		return -errno;
	r->size = sb.st_size;
	return 0;
}

/*
 * Points *P at LEN bytes from offset OFF. Returns how many are there (fewer at the end of the
 * file) or -errno. Sizes are checked against the file before anything is allocated.
 */
static ssize_t fetch(struct fl_reader *r, uint64_t off, size_t len, const uint8_t **p)
{
	size_t n, got = 0;
	int err;

	if (off + len > r->size) {
		err = reader_refresh_size(r);
		if (err)
			return err;
	}
	n = off >= r->size ? 0 : (r->size - off < len ? r->size - off : len);
	if (r->fd < 0) {
		*p = n ? r->mem + off : r->mem; /* no arithmetic on a NULL image */
		return n;
	}
	if (n > r->io_cap) {
		uint8_t *io = realloc(r->io, n);

		if (!io)
			return -ENOMEM;
		r->io = io;
		r->io_cap = n;
	}
	while (got < n) {
		ssize_t k = pread(r->fd, r->io + got, n - got, off + got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break; /* the file shrank under us */
		got += k;
	}
	*p = r->io;
	return got;
}

/* Copies LEN bytes of JSON into a fresh NUL-terminated string; JSON text holds no NUL. */
static int json_dup(const uint8_t *p, size_t len, char **out)
{
	char *s;

	if (memchr(p, '\0', len))
		return -EINVAL;
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, p, len);
	s[len] = '\0';
	*out = s;
	return 0;
}

static int check_file_header(const uint8_t *p, ssize_t n, char *errbuf, size_t errlen)
{
	uint32_t version, flags;

	if (n == 0) {
		msg(errbuf, errlen, "empty file, not a faultline record");
		return -EINVAL;
	}
	if (memcmp(p, FL_FILE_MAGIC, n < 8 ? n : 8)) {
		msg(errbuf, errlen, "not a faultline file (bad magic)");
		return -EINVAL;
	}
	if (n < FILE_HDR_BYTES) {
		msg(errbuf, errlen, "truncated in the file header (%zd of %d bytes)", n,
		    FILE_HDR_BYTES);
		return -EINVAL;
	}
	version = get_le32(p + 8);
	flags = get_le32(p + 12);
	if (version > FL_FORMAT_VERSION) {
		msg(errbuf, errlen,
		    "format version %u is newer than this faultline supports (%d); %s", version,
		    FL_FORMAT_VERSION, "upgrade faultline");
		return -ENOTSUP;
	}
	if (version == 0) {
		msg(errbuf, errlen, "format version 0 is not valid (corrupt header)");
		return -EINVAL;
	}
	if (version < FL_FORMAT_MIN_VERSION) {
		/* version 1 held raw socket payload, version 2 the kernel's raw fault and syscall
		 * values (docs/record-format.md, Versions): neither is read any more */
		msg(errbuf, errlen,
		    "format version %u was written by an older faultline (this one reads %d to "
		    "%d); read it with the faultline that recorded it, or re-record with this one",
		    version, FL_FORMAT_MIN_VERSION, FL_FORMAT_VERSION);
		return -ENOTSUP;
	}
	if (flags & FL_FLAGS_INCOMPAT_MASK) {
		msg(errbuf, errlen,
		    "file uses features this faultline does not support (flags 0x%x)", flags);
		return -ENOTSUP;
	}
	return 0;
}

static int read_file_header(struct fl_reader *r, char *errbuf, size_t errlen)
{
	const uint8_t *p;
	uint64_t meta_len;
	ssize_t n;
	int err;

	n = fetch(r, 0, FILE_HDR_BYTES, &p);
	if (n < 0) {
		msg(errbuf, errlen, "cannot read the file header: %s", strerror(-n));
		return n;
	}
	err = check_file_header(p, n, errbuf, errlen);
	if (err)
		return err;
	meta_len = get_le64(p + 16);
	if (meta_len > FL_MAX_JSON_BYTES) {
		msg(errbuf, errlen, "metadata length %" PRIu64 " is out of range (corrupt header)",
		    meta_len);
		return -EINVAL;
	}
	n = fetch(r, FILE_HDR_BYTES, meta_len, &p);
	if (n < 0) {
		msg(errbuf, errlen, "cannot read the metadata: %s", strerror(-n));
		return n;
	}
	if ((uint64_t)n < meta_len) {
		msg(errbuf, errlen, "truncated in the metadata (%zd of %" PRIu64 " bytes)", n,
		    meta_len);
		return -EINVAL;
	}
	err = json_dup(p, meta_len, &r->meta);
	if (err)
		msg(errbuf, errlen, "metadata is corrupt (%s)",
		    err == -EINVAL ? "holds a NUL byte" : strerror(-err));
	r->off = FILE_HDR_BYTES + meta_len;
	return err;
}

static int reader_new(struct fl_reader **rp, char *errbuf, size_t errlen)
{
	struct fl_reader *r = calloc(1, sizeof(*r));

	if (r && !(r->dd = libdeflate_alloc_decompressor())) {
		free(r);
		r = NULL;
	}
	if (!r) {
		msg(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	r->fd = -1;
	*rp = r;
	return 0;
}

int fl_reader_open_mem(struct fl_reader **rp, const void *buf, size_t len, char *errbuf,
		       size_t errlen)
{
	struct fl_reader *r;
	int err;

	*rp = NULL;
	err = reader_new(&r, errbuf, errlen);
	if (err)
		return err;
	r->mem = buf;
	r->size = len;
	err = read_file_header(r, errbuf, errlen);
	if (err) {
		fl_reader_close(r);
		return err;
	}
	*rp = r;
	return 0;
}

int fl_reader_open(struct fl_reader **rp, const char *path, char *errbuf, size_t errlen)
{
	struct fl_reader *r;
	int err;

	*rp = NULL;
	err = reader_new(&r, errbuf, errlen);
	if (err)
		return err;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err = -errno;
		msg(errbuf, errlen, "cannot open: %s", strerror(-err));
		goto cleanup;
	}
	err = reader_refresh_size(r);
	if (err) {
		msg(errbuf, errlen, "cannot stat: %s", strerror(-err));
		goto cleanup;
	}
	err = read_file_header(r, errbuf, errlen);
	if (err)
		goto cleanup;
	*rp = r;
	return 0;

cleanup:
	fl_reader_close(r);
	return err;
}

/* Stops reading: the file ended or went bad after the chunks read so far. Returns 0. */
static int reader_stop(struct fl_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int reader_stop(struct fl_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->st.message, sizeof(r->st.message), fmt, ap);
	va_end(ap);
	r->st.truncated = true;
	r->done = true;
	return 0;
}

static int reader_truncated(struct fl_reader *r)
{
	if (!r->st.chunks)
		return reader_stop(r, "truncated after the header (read 0 whole chunks)");
	return reader_stop(r, "truncated after chunk %" PRIu64 " (read %" PRIu64 " whole chunks)",
			   r->st.chunks, r->st.chunks);
}

/* Names the chunk being read and what is wrong with it. Returns 0. */
static int reader_corrupt(struct fl_reader *r, const char *why)
{
	return reader_stop(r, "chunk %" PRIu64 " is corrupt (%s); read %" PRIu64 " whole chunks",
			   r->st.chunks + 1, why, r->st.chunks);
}

static int reader_io_error(struct fl_reader *r, int err)
{
	snprintf(r->st.message, sizeof(r->st.message), "read error after chunk %" PRIu64 ": %s",
		 r->st.chunks, strerror(-err));
	r->done = true;
	return err;
}

struct chunk_hdr {
	uint32_t raw_len, comp_len, crc, n_events;
	uint64_t first_ts, last_ts;
};

/* Returns NULL when the header's lengths are plausible, or what is wrong with them. */
static const char *chunk_hdr_check(const struct chunk_hdr *h)
{
	if (h->raw_len > FL_MAX_CHUNK_RAW)
		return "raw length out of range";
	if (h->comp_len > compressBound(h->raw_len))
		return "compressed length larger than the data could need";
	if (h->raw_len > (uint64_t)h->comp_len * FL_MAX_INFLATE_RATIO + 64)
		return "raw length larger than the compressed data can hold";
	if (h->n_events > h->raw_len / (REC_PREFIX_BYTES + sizeof(struct fl_hdr)))
		return "more events than the raw length can hold";
	if (h->first_ts > h->last_ts)
		return "first_ts after last_ts";
	return NULL;
}

static void chunk_hdr_parse(const uint8_t *p, struct chunk_hdr *h)
{
	h->raw_len = get_le32(p + 4);
	h->comp_len = get_le32(p + 8);
	h->crc = get_le32(p + 12);
	h->first_ts = get_le64(p + 16);
	h->last_ts = get_le64(p + 24);
	h->n_events = get_le32(p + 32);
}

/*
 * Inflates the zlib stream COMP into RAW (raw_len bytes): 0, or 1 for bad data. A chunk is
 * inflated whole, so libdeflate does it, at about twice zlib's speed: the 2-byte zlib header
 * is checked here, and the 4-byte adler32 at the end is not summed again (with zlib it was a
 * fifth of the time): the chunk's crc32 already covered every compressed byte, adler32 included.
 */
static int inflate_into(struct libdeflate_decompressor *dd, const uint8_t *comp,
			const struct chunk_hdr *h, uint8_t *raw)
{
	size_t in = 0, out = 0;

	if (h->comp_len < 6 || (comp[0] & 0x0f) != Z_DEFLATED || (comp[0] >> 4) > 7 ||
	    (comp[1] & 0x20) || ((comp[0] << 8) | comp[1]) % 31)
		return 1; /* not a zlib header, or one that needs a preset dictionary */
	/* Exactly raw_len bytes out, every compressed byte up to the adler32 used. */
	if (libdeflate_deflate_decompress_ex(dd, comp + 2, h->comp_len - 6, raw, h->raw_len, &in,
					     &out) != LIBDEFLATE_SUCCESS ||
	    in != h->comp_len - 6 || out != h->raw_len)
		return 1;
	return 0;
}

static int chunk_inflate(struct fl_reader *r, const uint8_t *comp, const struct chunk_hdr *h)
{
	if (h->raw_len > r->raw_cap) {
		uint8_t *raw = realloc(r->raw, h->raw_len);

		if (!raw)
			return -ENOMEM;
		r->raw = raw;
		r->raw_cap = h->raw_len;
	}
	return inflate_into(r->dd, comp, h, r->raw);
}

static const char *raw_validate(const uint8_t *raw, const struct chunk_hdr *h, char *why,
				size_t why_len);

/* Checks every record of the inflated chunk; NULL when all are good, else what is wrong. */
static const char *chunk_validate(const struct fl_reader *r, const struct chunk_hdr *h, char *why,
				  size_t why_len)
{
	return raw_validate(r->raw, h, why, why_len);
}

static const char *raw_validate(const uint8_t *raw, const struct chunk_hdr *h, char *why,
				size_t why_len)
{
	size_t pos = 0;
	uint32_t i;

	for (i = 0; pos < h->raw_len; i++) {
		struct fl_hdr eh;
		uint16_t len;

		if (h->raw_len - pos < REC_PREFIX_BYTES + sizeof(eh)) {
			snprintf(why, why_len, "event %u overruns the chunk", i + 1);
			return why;
		}
		memcpy(&len, raw + pos, sizeof(len));
		if (len < sizeof(eh) || len > FL_MAX_EVENT_BYTES ||
		    len > h->raw_len - pos - REC_PREFIX_BYTES) {
			snprintf(why, why_len, "event %u has a bad length %u", i + 1, len);
			return why;
		}
		memcpy(&eh, raw + pos + REC_PREFIX_BYTES, sizeof(eh));
		if (eh.type < 1 || eh.type >= FL_EV_TYPE_MAX) {
			snprintf(why, why_len, "event %u has an unknown type %u", i + 1, eh.type);
			return why;
		}
		if (eh.ts_ns < h->first_ts || eh.ts_ns > h->last_ts) {
			snprintf(why, why_len, "event %u is outside the chunk's time range", i + 1);
			return why;
		}
		pos += REC_PREFIX_BYTES + len;
	}
	if (i != h->n_events) {
		snprintf(why, why_len, "holds %u events, header says %u", i, h->n_events);
		return why;
	}
	return NULL;
}

static bool trailer_end_ok(const struct fl_reader *r, const uint8_t *p, uint64_t json_len)
{
	const uint8_t *end = p + TRAILER_HDR_BYTES + json_len;
	uint32_t crc = crc32(crc32(0, Z_NULL, 0), p, TRAILER_HDR_BYTES + json_len);

	return get_le32(end) == FL_END_MAGIC && get_le32(end + 4) == crc &&
	       get_le64(end + 8) == r->off && get_le64(end + 16) == r->st.chunks &&
	       get_le64(end + 24) == r->st.events;
}

/* At a trailer record: read it and the end marker. The file ended cleanly if both are good. */
static int read_trailer(struct fl_reader *r, const uint8_t *p)
{
	uint64_t json_len = get_le64(p + 8), size;
	ssize_t n;
	int err;

	r->done = true;
	if (json_len > FL_MAX_JSON_BYTES)
		return reader_stop(
		    r, "trailer is corrupt (length out of range); read %" PRIu64 " whole chunks",
		    r->st.chunks);
	size = TRAILER_HDR_BYTES + json_len + END_BYTES;
	n = fetch(r, r->off, size, &p);
	if (n < 0)
		return reader_io_error(r, n);
	if ((uint64_t)n < size)
		return reader_stop(r, "truncated in the trailer (read %" PRIu64 " whole chunks)",
				   r->st.chunks);
	if (!trailer_end_ok(r, p, json_len))
		return reader_stop(
		    r, "trailer is corrupt (bad end marker); read %" PRIu64 " whole chunks",
		    r->st.chunks);
	err = json_dup(p + TRAILER_HDR_BYTES, json_len, &r->trailer);
	if (err == -ENOMEM)
		return reader_io_error(r, err);
	if (err)
		return reader_stop(
		    r, "trailer is corrupt (holds a NUL byte); read %" PRIu64 " whole chunks",
		    r->st.chunks);
	if (r->off + size < r->size)
		snprintf(r->st.message, sizeof(r->st.message),
			 "%" PRIu64 " bytes after the end marker ignored", r->size - r->off - size);
	return 0;
}

int fl_reader_census(struct fl_reader *r, struct fl_census *c)
{
	uint64_t off = r->off;
	struct chunk_hdr h;
	const uint8_t *p;
	ssize_t n;

	memset(c, 0, sizeof(*c));
	if (r->done || r->left)
		return -EINVAL; /* only before the first event */
	for (;;) {
		n = fetch(r, off, CHUNK_HDR_BYTES, &p);
		if (n < 0)
			return n;
		if (n < CHUNK_HDR_BYTES || get_le32(p) != FL_CHUNK_MAGIC)
			return 0;
		chunk_hdr_parse(p, &h);
		if (chunk_hdr_check(&h) || h.comp_len > r->size - off - CHUNK_HDR_BYTES)
			return 0;
		c->chunks++;
		c->events += h.n_events;
		c->raw_bytes += h.raw_len;
		if (h.raw_len > c->max_raw)
			c->max_raw = h.raw_len;
		off += CHUNK_HDR_BYTES + h.comp_len;
	}
}

/* Loads the chunk at r->off: 1 when it is ready, 0 at the end (see status), -errno. */
static int chunk_load(struct fl_reader *r)
{
	struct chunk_hdr h;
	const uint8_t *p;
	const char *why;
	char why_buf[64];
	ssize_t n;
	int err;

	n = fetch(r, r->off, CHUNK_HDR_BYTES, &p);
	if (n < 0)
		return reader_io_error(r, n);
	if (n < 4)
		return reader_truncated(r);
	if (get_le32(p) == FL_TRAILER_MAGIC && n >= TRAILER_HDR_BYTES)
		return read_trailer(r, p);
	if (get_le32(p) == FL_TRAILER_MAGIC)
		return reader_stop(r, "truncated in the trailer (read %" PRIu64 " whole chunks)",
				   r->st.chunks);
	if (get_le32(p) != FL_CHUNK_MAGIC)
		return reader_corrupt(r, "bad magic");
	if (n < CHUNK_HDR_BYTES)
		return reader_truncated(r);
	chunk_hdr_parse(p, &h);
	why = chunk_hdr_check(&h);
	if (why)
		return reader_corrupt(r, why);

	n = fetch(r, r->off, CHUNK_HDR_BYTES + (size_t)h.comp_len, &p);
	if (n < 0)
		return reader_io_error(r, n);
	if (n < CHUNK_HDR_BYTES + (ssize_t)h.comp_len)
		return reader_truncated(r);
	if (chunk_crc(p, p + CHUNK_HDR_BYTES, h.comp_len) != h.crc)
		return reader_corrupt(r, "crc mismatch");
	err = chunk_inflate(r, p + CHUNK_HDR_BYTES, &h);
	if (err < 0)
		return reader_io_error(r, err);
	if (err)
		return reader_corrupt(r, "bad zlib data");
	why = chunk_validate(r, &h, why_buf, sizeof(why_buf));
	if (why)
		return reader_corrupt(r, why);

	r->off += CHUNK_HDR_BYTES + h.comp_len;
	r->st.chunks++;
	r->pos = 0;
	r->left = h.n_events;
	return 1;
}

/*
 * Inflating ahead. Chunks are independent: a few worker threads check and inflate the next
 * ones while the caller consumes the current one, and chunks are still handed out in file
 * order. Only whole chunks that pass every check take this path; anything else (the trailer,
 * the end of the file, a bad chunk) is left to chunk_load(), which reads it again and says
 * what it says without the pool, so the result is the same with and without threads.
 */
#define POOL_MAX_WORKERS 4
#define POOL_SLOTS 8
#define POOL_AHEAD_BYTES (32u << 20) /* raw bytes in flight, beyond the first chunk */

enum { SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

struct pool_slot {
	uint64_t off; /* file offset of the chunk */
	struct chunk_hdr h;
	uint8_t *comp, *raw;
	size_t comp_cap, raw_cap;
	int state;
	bool ok; /* crc, inflate and every record good */
};

struct read_pool {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pthread_t th[POOL_MAX_WORKERS];
	struct libdeflate_decompressor *dd[POOL_MAX_WORKERS];
	int nth;
	bool stop;
	struct pool_slot slot[POOL_SLOTS];
	unsigned head, count; /* ring of chunks in file order, head first */
	unsigned next_job;    /* slots from head handed to a worker so far */
	uint64_t scan_off;    /* file offset after the last chunk queued */
	uint64_t raw_queued;  /* raw bytes of the queued chunks */
};

struct pool_worker {
	struct read_pool *p;
	int id;
};

static void pool_work(struct pool_slot *s, struct libdeflate_decompressor *dd)
{
	char why[64];

	s->ok = chunk_crc(s->comp, s->comp + CHUNK_HDR_BYTES, s->h.comp_len) == s->h.crc &&
		inflate_into(dd, s->comp + CHUNK_HDR_BYTES, &s->h, s->raw) == 0 &&
		!raw_validate(s->raw, &s->h, why, sizeof(why));
}

static void *pool_thread(void *arg)
{
	struct read_pool *p = ((struct pool_worker *)arg)->p;
	int id = ((struct pool_worker *)arg)->id;

	free(arg);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pool_slot *s;

		while (!p->stop && p->next_job >= p->count)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		s = &p->slot[(p->head + p->next_job++) % POOL_SLOTS];
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&p->mu);
		pool_work(s, p->dd[id]);
		pthread_mutex_lock(&p->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void pool_free(struct read_pool *p)
{
	int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	for (i = 0; i < POOL_MAX_WORKERS; i++)
		if (p->dd[i])
			libdeflate_free_decompressor(p->dd[i]);
	for (i = 0; i < POOL_SLOTS; i++) {
		free(p->slot[i].comp);
		free(p->slot[i].raw);
	}
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* Starts the workers: one per online CPU, at most POOL_MAX_WORKERS. NULL: read without. */
static struct read_pool *pool_new(uint64_t off)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus < 1 ? 1 : cpus > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : (int)cpus;
	struct read_pool *p = calloc(1, sizeof(*p));
	sigset_t all, old;

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->scan_off = off;
	for (int i = 0; i < POOL_MAX_WORKERS; i++)
		if (!(p->dd[i] = libdeflate_alloc_decompressor())) {
			pool_free(p);
			return NULL;
		}
	/* signals stay with the caller's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (p->nth < want) {
		struct pool_worker *w = malloc(sizeof(*w));

		if (!w)
			break;
		*w = (struct pool_worker){p, p->nth};
		if (pthread_create(&p->th[p->nth], NULL, pool_thread, w)) {
			free(w);
			break;
		}
		pthread_setname_np(p->th[p->nth], "fl-inflate");
		p->nth++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!p->nth) {
		pool_free(p);
		return NULL;
	}
	return p;
}

static bool grow_buf(uint8_t **b, size_t *cap, size_t len)
{
	uint8_t *n;

	if (len <= *cap)
		return true;
	n = realloc(*b, len);
	if (!n)
		return false;
	*b = n;
	*cap = len;
	return true;
}

/* Queues whole chunks after the last one queued, while slots and the byte budget allow. */
static void pool_fill(struct fl_reader *r, struct read_pool *p)
{
	while (p->count < POOL_SLOTS && (!p->count || p->raw_queued < POOL_AHEAD_BYTES)) {
		struct pool_slot *s = &p->slot[(p->head + p->count) % POOL_SLOTS];
		const uint8_t *q;
		struct chunk_hdr h;
		ssize_t n;

		n = fetch(r, p->scan_off, CHUNK_HDR_BYTES, &q);
		if (n < CHUNK_HDR_BYTES || get_le32(q) != FL_CHUNK_MAGIC)
			return;
		chunk_hdr_parse(q, &h);
		if (chunk_hdr_check(&h))
			return;
		n = fetch(r, p->scan_off, CHUNK_HDR_BYTES + (size_t)h.comp_len, &q);
		if (n < CHUNK_HDR_BYTES + (ssize_t)h.comp_len)
			return;
		if (!grow_buf(&s->comp, &s->comp_cap, n) ||
		    !grow_buf(&s->raw, &s->raw_cap, h.raw_len))
			return;
		memcpy(s->comp, q, n);
		s->off = p->scan_off;
		s->h = h;
		s->state = SLOT_QUEUED;
		pthread_mutex_lock(&p->mu);
		p->count++;
		pthread_cond_signal(&p->work);
		pthread_mutex_unlock(&p->mu);
		p->scan_off += n;
		p->raw_queued += h.raw_len;
	}
}

/* Waits for every queued chunk and forgets them: chunk_load() reads on from r->off. */
static void pool_drop(struct fl_reader *r, struct read_pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->count && p->next_job < p->count)
		p->count--; /* not yet taken by a worker */
	while (p->count) {
		struct pool_slot *s = &p->slot[p->head];

		while (s->state != SLOT_DONE)
			pthread_cond_wait(&p->done, &p->mu);
		p->head = (p->head + 1) % POOL_SLOTS;
		p->count--;
		p->next_job--;
	}
	pthread_mutex_unlock(&p->mu);
	p->raw_queued = 0;
	p->scan_off = r->off;
}

/* Like chunk_load(), from the pool where it can. */
static int chunk_next(struct fl_reader *r)
{
	struct read_pool *p = r->pool;
	struct pool_slot *s;
	uint8_t *raw;
	size_t cap;
	int err;

	if (!p)
		p = r->pool = pool_new(r->off);
	if (p)
		pool_fill(r, p);
	if (!p || !p->count || p->slot[p->head].off != r->off) {
		if (p)
			pool_drop(r, p);
		err = chunk_load(r);
		if (p)
			p->scan_off = r->off;
		return err;
	}
	s = &p->slot[p->head];
	pthread_mutex_lock(&p->mu);
	while (s->state != SLOT_DONE)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (!s->ok) {
		pool_drop(r, p);
		err = chunk_load(r); /* says what is wrong with it */
		p->scan_off = r->off;
		return err;
	}
	raw = r->raw, cap = r->raw_cap;
	r->raw = s->raw, r->raw_cap = s->raw_cap;
	s->raw = raw, s->raw_cap = cap;
	r->off += CHUNK_HDR_BYTES + s->h.comp_len;
	r->st.chunks++;
	r->pos = 0;
	r->left = s->h.n_events;
	p->raw_queued -= s->h.raw_len;
	pthread_mutex_lock(&p->mu);
	p->head = (p->head + 1) % POOL_SLOTS;
	p->count--;
	p->next_job--;
	pthread_mutex_unlock(&p->mu);
	pool_fill(r, p);
	return 1;
}

int fl_reader_next(struct fl_reader *r, const void **ev, size_t *len)
{
	uint16_t n;
	int err;

	while (!r->left) {
		if (r->done)
			return 0;
		err = chunk_next(r);
		if (err <= 0)
			return err;
	}
	/*
	 * chunk_validate checked every length. Copy so that callers may cast to the struct, and
	 * keep the bytes after the event zero: a short event reads as one with zeroed fields.
	 */
	memcpy(&n, r->raw + r->pos, sizeof(n));
	memcpy(r->ev, r->raw + r->pos + REC_PREFIX_BYTES, n);
	if (n < r->ev_len)
		memset((uint8_t *)r->ev + n, 0, r->ev_len - n);
	r->ev_len = n;
	r->pos += REC_PREFIX_BYTES + n;
	r->left--;
	r->st.events++;
	*ev = r->ev;
	*len = n;
	return 1;
}

const char *fl_reader_meta(const struct fl_reader *r)
{
	return r->meta;
}

const char *fl_reader_trailer(const struct fl_reader *r)
{
	return r->trailer;
}

void fl_reader_status(const struct fl_reader *r, struct fl_reader_status *st)
{
	*st = r->st;
}

void fl_reader_close(struct fl_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	pool_free(r->pool);
	if (r->dd)
		libdeflate_free_decompressor(r->dd);
	free(r->io);
	free(r->raw);
	free(r->meta);
	free(r->trailer);
	free(r);
}
