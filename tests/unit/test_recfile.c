// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Record file: round trip, truncation at every byte, corruption, bad headers, bounded memory,
 * write errors. Layout knowledge here comes from docs/record-format.md, not from recfile.c, so
 * these tests also check that the document and the code agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "faultline.h"
#include "recfile.h"
#include "unit.h"

#define META "{\"host\":\"unit\",\"cpus\":2}"
#define TRAILER "{\"drops\":[0,0],\"end_ns\":123}"

static void tmp_path(char *buf, size_t len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(buf, len, "%s/fl-recfile-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(buf);
	if (fd >= 0)
		close(fd);
}

/* Event I of a deterministic stream: faults, stalls, proc and net events, ts not sorted. */
static size_t gen_event(uint64_t i, void *buf)
{
	struct fl_hdr h = {
	    .type = FL_EV_FAULT,
	    .tid = 1000 + i % 8,
	    .ts_ns = 1000000000ull + i * 1000 - (i % 3) * 1500,
	};

	if (i % 97 == 5) {
		struct fl_net *e = buf;

		memset(e, 0, sizeof(*e));
		h.type = FL_EV_NET;
		e->h = h;
		e->fd = i % 64;
		e->dir = FL_NET_IN;
		e->cap_len = snprintf((char *)e->data, FL_NET_CAP, "POST /v1/chat %" PRIu64, i);
		return sizeof(*e);
	}
	if (i % 16 == 3) {
		struct fl_stall *e = buf;

		memset(e, 0, sizeof(*e));
		h.type = FL_EV_STALL;
		e->h = h;
		e->cause = i % FL_CAUSE_MAX;
		e->dur_ns = 5000 + i % 77777;
		e->arg0 = i;
		return sizeof(*e);
	}
	{
		struct fl_fault *e = buf;

		memset(e, 0, sizeof(*e));
		e->h = h;
		e->pid = 4242;
		e->error_code = 6;
		e->addr = 0x7f0000000000ull + (i * 4096) % (1ull << 32);
		e->ip = 0x555555554000ull + i % 512;
		return sizeof(*e);
	}
}

/* Writes N events to PATH, handing a chunk off every FLUSH_EVERY events when non-zero. */
static int write_events(const char *path, uint64_t n, uint64_t flush_every,
			struct fl_writer_stats *st)
{
	uint64_t ev[FL_MAX_EVENT_BYTES / 8];
	struct fl_writer *w;
	int err;

	err = fl_writer_open(&w, path, META);
	if (err)
		return err;
	for (uint64_t i = 0; i < n && !err; i++) {
		err = fl_writer_append(w, ev, gen_event(i, ev));
		if (!err && flush_every && (i + 1) % flush_every == 0)
			err = fl_writer_flush(w);
	}
	if (st)
		fl_writer_stats(w, st);
	return fl_writer_close(w, TRAILER) ?: err;
}

/* The reader keeps the bytes after an event zero (checked up to 512). */
static bool zero_after(const void *ev, size_t len)
{
	for (const uint8_t *p = (const uint8_t *)ev + len; p < (const uint8_t *)ev + 512; p++)
		if (*p)
			return false;
	return true;
}

/* Reads every event, comparing each with the generator unless MISMATCH is NULL; counts them. */
static uint64_t read_events(struct fl_reader *r, int *mismatch)
{
	uint64_t want[FL_MAX_EVENT_BYTES / 8], i = 0;
	const void *ev;
	size_t len;

	if (!mismatch) {
		while (fl_reader_next(r, &ev, &len) == 1)
			i++;
		return i;
	}
	*mismatch = 0;
	while (fl_reader_next(r, &ev, &len) == 1) {
		size_t want_len = gen_event(i, want);

		if (len != want_len || memcmp(ev, want, len) || !zero_after(ev, len)) {
			if (!*mismatch)
				fprintf(stderr, "  event %" PRIu64 ": %zu bytes, want %zu\n", i,
					len, want_len);
			*mismatch = 1;
		}
		i++;
	}
	return i;
}

static uint8_t *load(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0) {
		buf = malloc(n ? n : 1);
		rewind(f);
		if (buf && fread(buf, 1, n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = n;
	}
	fclose(f);
	return buf;
}

static void store(const char *path, const void *buf, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return;
	if (fwrite(buf, 1, size, f) != size)
		fprintf(stderr, "  short write to %s\n", path);
	fclose(f);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Where each chunk ends, parsed straight from the documented layout. */
struct layout {
	size_t data_off; /* first chunk */
	size_t chunk_end[256];
	int n_chunks;
	size_t trailer_off;
};

static int layout_parse(const uint8_t *buf, size_t size, struct layout *l)
{
	size_t off;

	memset(l, 0, sizeof(*l));
	if (size < 24)
		return -1;
	off = l->data_off = 24 + le64(buf + 16);
	while (off + 40 <= size && !memcmp(buf + off, "FLCK", 4) && l->n_chunks < 256) {
		off += 40 + le32(buf + off + 8);
		l->chunk_end[l->n_chunks++] = off;
	}
	l->trailer_off = off;
	return off + 16 <= size && !memcmp(buf + off, "FLTR", 4) ? 0 : -1;
}

/*
 * Reads a memory image (copied to exactly SIZE bytes so that ASan sees any overread), comparing
 * its events with the generator's when COMPARE is set.
 */
static int read_image_cmp(const uint8_t *img, size_t size, struct fl_reader_status *st,
			  bool *has_trailer, char *err, size_t err_len, bool compare)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct fl_reader *r;
	int mismatch = 0, rc;

	memcpy(copy, img, size);
	rc = fl_reader_open_mem(&r, copy, size, err, err_len);
	if (!rc) {
		read_events(r, compare ? &mismatch : NULL);
		fl_reader_status(r, st);
		*has_trailer = fl_reader_trailer(r) != NULL;
		fl_reader_close(r);
		rc = mismatch ? -EBADMSG : 0;
	}
	free(copy);
	return rc;
}

static int read_image(const uint8_t *img, size_t size, struct fl_reader_status *st,
		      bool *has_trailer, char *err, size_t err_len)
{
	return read_image_cmp(img, size, st, has_trailer, err, err_len, true);
}

UNIT_TEST(recfile_round_trip)
{
	const uint64_t n = 300000;
	struct fl_writer_stats ws;
	struct fl_reader_status st;
	struct fl_reader *r;
	char path[256], err[256] = "";
	uint8_t *img;
	size_t size = 0;
	int mismatch;

	tmp_path(path, sizeof(path));
	CHECK_EQ_U64(write_events(path, n, 0, &ws), 0);
	CHECK(ws.chunks >= 5 || ws.events == n); /* chunks counted by the thread: may lag */

	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
	if (!r) {
		fprintf(stderr, "  open: %s\n", err);
		return;
	}
	CHECK_STR(fl_reader_meta(r), META);
	CHECK_EQ_U64(read_events(r, &mismatch), n);
	CHECK(!mismatch);
	CHECK_STR(fl_reader_trailer(r), TRAILER);
	fl_reader_status(r, &st);
	CHECK(!st.truncated);
	CHECK_STR(st.message, "");
	CHECK_EQ_U64(st.events, n);
	CHECK(st.chunks >= 5);
	fl_reader_close(r);

	/* The same through the memory reader, and the writer's byte count matches the file. */
	img = load(path, &size);
	CHECK(img != NULL);
	if (img) {
		bool tr = false;

		CHECK_EQ_U64(read_image(img, size, &st, &tr, err, sizeof(err)), 0);
		CHECK_EQ_U64(st.events, n);
		CHECK(tr && !st.truncated);
		printf("  %" PRIu64 " events, %" PRIu64 " chunks, %" PRIu64 " raw bytes -> %zu "
		       "file bytes\n",
		       n, st.chunks, ws.raw_bytes, size);
	}
	free(img);
	unlink(path);
}

UNIT_TEST(recfile_empty_session)
{
	struct fl_reader_status st;
	struct fl_writer *w;
	struct fl_reader *r;
	char path[256], err[256] = "";
	const void *ev;
	size_t len;

	tmp_path(path, sizeof(path));
	CHECK_EQ_U64(fl_writer_open(&w, path, NULL), 0);
	CHECK_EQ_U64(fl_writer_close(w, NULL), 0);
	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
	if (!r)
		return;
	CHECK_STR(fl_reader_meta(r), "{}");
	CHECK_EQ_U64(fl_reader_next(r, &ev, &len), 0);
	CHECK_EQ_U64(fl_reader_next(r, &ev, &len), 0);
	CHECK_STR(fl_reader_trailer(r), "{}");
	fl_reader_status(r, &st);
	CHECK(!st.truncated);
	CHECK_EQ_U64(st.chunks, 0);
	fl_reader_close(r);
	unlink(path);
}

UNIT_TEST(recfile_bad_append)
{
	uint64_t ev[FL_MAX_EVENT_BYTES / 8 + 8] = {0};
	struct fl_writer_stats ws;
	struct fl_writer *w;
	char path[256];

	tmp_path(path, sizeof(path));
	CHECK_EQ_U64(fl_writer_open(&w, path, "{}"), 0);
	if (!w)
		return;
	CHECK_EQ_U64(fl_writer_append(w, ev, sizeof(struct fl_hdr) - 1), -EINVAL);
	CHECK_EQ_U64(fl_writer_append(w, ev, FL_MAX_EVENT_BYTES + 1), -EINVAL);
	fl_writer_stats(w, &ws);
	CHECK_EQ_U64(ws.events, 0);
	CHECK_EQ_U64(fl_writer_close(w, "{}"), 0);
	unlink(path);
}

/* A chunk is handed off by tick only once it is FL_CHUNK_TARGET_MS old. */
UNIT_TEST(recfile_tick)
{
	uint64_t ev[FL_MAX_EVENT_BYTES / 8];
	struct timespec wait = {(FL_CHUNK_TARGET_MS + 100) / 1000,
				(FL_CHUNK_TARGET_MS + 100) % 1000 * 1000000l};
	struct fl_reader_status st;
	struct fl_writer *w;
	struct fl_reader *r;
	char path[256], err[256];
	uint64_t i = 0;
	int mismatch;

	tmp_path(path, sizeof(path));
	CHECK_EQ_U64(fl_writer_open(&w, path, "{}"), 0);
	if (!w)
		return;
	for (; i < 10; i++)
		fl_writer_append(w, ev, gen_event(i, ev));
	CHECK_EQ_U64(fl_writer_tick(w), 0); /* young: stays */
	for (; i < 20; i++)
		fl_writer_append(w, ev, gen_event(i, ev));
	nanosleep(&wait, NULL);
	CHECK_EQ_U64(fl_writer_tick(w), 0); /* old: chunk 1 holds 20 events */
	for (; i < 25; i++)
		fl_writer_append(w, ev, gen_event(i, ev));
	CHECK_EQ_U64(fl_writer_close(w, "{}"), 0); /* chunk 2 holds 5 */

	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
	if (!r)
		return;
	CHECK_EQ_U64(read_events(r, &mismatch), 25);
	fl_reader_status(r, &st);
	CHECK_EQ_U64(st.chunks, 2);
	fl_reader_close(r);
	unlink(path);
}

/* A small file of 6 chunks of 50 events, as bytes, with its layout. */
static uint8_t *small_file(size_t *size, struct layout *l)
{
	char path[256];
	uint8_t *img;

	tmp_path(path, sizeof(path));
	if (write_events(path, 300, 50, NULL))
		return NULL;
	img = load(path, size);
	unlink(path);
	if (img && layout_parse(img, *size, l)) {
		free(img);
		return NULL;
	}
	return img;
}

static int whole_chunks_in(const struct layout *l, size_t size)
{
	int k = 0;

	while (k < l->n_chunks && l->chunk_end[k] <= size)
		k++;
	return k;
}

/* Reads IMG cut to OFF bytes; true when it reads as its first whole chunks and says so. */
static bool cut_ok(const uint8_t *img, size_t size, const struct layout *l, size_t off)
{
	struct fl_reader_status st;
	int k = whole_chunks_in(l, off);
	char err[256] = "", want[128];
	bool tr = false;
	int rc = read_image(img, off, &st, &tr, err, sizeof(err));

	if (off < l->data_off) {
		if (rc == -EINVAL && err[0])
			return true;
		fprintf(stderr, "  cut at %zu (header): rc %d, \"%s\"\n", off, rc, err);
		return false;
	}
	if (rc || st.events != 50ull * k || st.chunks != (uint64_t)k ||
	    st.truncated != (off < size) || tr != (off == size)) {
		fprintf(stderr,
			"  cut at %zu of %zu: rc %d, %" PRIu64 " events in %" PRIu64
			" chunks, want %d; truncated %d; \"%s\"\n",
			off, size, rc, st.events, st.chunks, 50 * k, st.truncated, st.message);
		return false;
	}
	snprintf(want, sizeof(want), "truncated after chunk %d (read %d whole chunks)", k, k);
	if (k && off == l->chunk_end[k - 1] && strcmp(st.message, want)) {
		fprintf(stderr, "  cut at %zu: \"%s\", want \"%s\"\n", off, st.message, want);
		return false;
	}
	return true;
}

/* Cut the file at every byte: every result is a prefix of whole chunks, and says so. */
UNIT_TEST(recfile_truncated_everywhere)
{
	struct layout l;
	size_t size;
	uint8_t *img = small_file(&size, &l);
	int bad = 0;

	CHECK(img != NULL);
	if (!img)
		return;
	CHECK_EQ_U64(l.n_chunks, 6);
	for (size_t off = 0; off <= size && bad < 5; off++)
		bad += !cut_ok(img, size, &l, off);
	CHECK(!bad);
	free(img);
}

/* The same through the file reader, for a few cuts of a real file. */
UNIT_TEST(recfile_truncated_file)
{
	struct fl_reader_status st;
	struct fl_reader *r;
	struct layout l;
	size_t size;
	uint8_t *img = small_file(&size, &l);
	char path[256], err[256];
	int mismatch;

	CHECK(img != NULL);
	if (!img)
		return;
	tmp_path(path, sizeof(path));
	for (int k = 1; k < l.n_chunks; k++) {
		store(path, img, l.chunk_end[k] - 7);
		CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
		if (!r)
			continue;
		CHECK_EQ_U64(read_events(r, &mismatch), 50ull * k);
		fl_reader_status(r, &st);
		CHECK(st.truncated);
		CHECK(fl_reader_trailer(r) == NULL);
		fl_reader_close(r);
	}
	unlink(path);
	free(img);
}

UNIT_TEST(recfile_corrupt_chunk)
{
	struct fl_reader_status st;
	struct layout l;
	size_t size;
	uint8_t *img = small_file(&size, &l);
	char err[256];
	bool tr;

	CHECK(img != NULL);
	if (!img)
		return;
	img[l.chunk_end[1] + 40 + 10] ^= 0x20; /* a compressed byte of chunk 3 */
	CHECK_EQ_U64(read_image(img, size, &st, &tr, err, sizeof(err)), 0);
	CHECK_EQ_U64(st.events, 100);
	CHECK(st.truncated && !tr);
	CHECK_STR(st.message, "chunk 3 is corrupt (crc mismatch); read 2 whole chunks");
	img[l.chunk_end[1] + 40 + 10] ^= 0x20;

	img[l.chunk_end[3] + 1] ^= 0x01; /* chunk 5's magic */
	CHECK_EQ_U64(read_image(img, size, &st, &tr, err, sizeof(err)), 0);
	CHECK_EQ_U64(st.events, 200);
	CHECK_STR(st.message, "chunk 5 is corrupt (bad magic); read 4 whole chunks");
	img[l.chunk_end[3] + 1] ^= 0x01;

	img[size - 3] ^= 0x01; /* the end marker */
	CHECK_EQ_U64(read_image(img, size, &st, &tr, err, sizeof(err)), 0);
	CHECK_EQ_U64(st.events, 300);
	CHECK(st.truncated && !tr);
	CHECK_STR(st.message, "trailer is corrupt (bad end marker); read 6 whole chunks");
	free(img);
}

/* Gives chunk K (0-based) of IMG a crc that matches its bytes again. */
static void fix_crc(uint8_t *img, const struct layout *l, int k)
{
	uint8_t *c = img + (k ? l->chunk_end[k - 1] : l->data_off);
	uint32_t crc;

	memset(c + 12, 0, 4);
	crc = crc32(crc32(0, c, 40), c + 40, le32(c + 8));
	memcpy(c + 12, &crc, 4);
}

/*
 * Damage behind a good crc, in a file of 6 chunks read with chunks inflated ahead: the deflate
 * data or the zlib header of chunk 3 is bad. The chunks before it come out whole, in order,
 * and the message is the same as reading one chunk at a time would give.
 */
UNIT_TEST(recfile_bad_deflate_good_crc)
{
	struct fl_reader_status st;
	struct layout l;
	size_t size;
	uint8_t *img = small_file(&size, &l);
	uint8_t *c, was;
	char err[256];
	bool tr;

	CHECK(img != NULL);
	if (!img)
		return;
	c = img + l.chunk_end[1];
	was = c[40 + 2];
	c[40 + 2] |= 0x06; /* the first deflate block's type (bits 1-2): 3 is reserved */
	fix_crc(img, &l, 2);
	CHECK_EQ_U64(read_image(img, size, &st, &tr, err, sizeof(err)), 0);
	CHECK_EQ_U64(st.events, 100);
	CHECK(st.truncated && !tr);
	CHECK_STR(st.message, "chunk 3 is corrupt (bad zlib data); read 2 whole chunks");
	c[40 + 2] = was;

	c[40] = 0x79; /* CM 9: not deflate */
	fix_crc(img, &l, 2);
	CHECK_EQ_U64(read_image(img, size, &st, &tr, err, sizeof(err)), 0);
	CHECK_EQ_U64(st.events, 100);
	CHECK_STR(st.message, "chunk 3 is corrupt (bad zlib data); read 2 whole chunks");
	free(img);
}

/* Reads IMG with byte OFF flipped; true when no event of a damaged chunk came out. */
static bool flip_ok(uint8_t *img, size_t size, const struct layout *l, size_t off)
{
	int k = whole_chunks_in(l, off); /* chunks wholly before the flipped byte */
	struct fl_reader_status st;
	char err[256] = "";
	bool tr = false;
	int rc;

	img[off] ^= 0x5a;
	rc = read_image(img, size, &st, &tr, err, sizeof(err));
	img[off] ^= 0x5a;
	if (off < l->data_off)
		return true; /* header or metadata: refused, or read with other JSON */
	if (rc) {
		fprintf(stderr, "  flip at %zu: rc %d \"%s\"\n", off, rc, err);
		return false;
	}
	if (off < l->trailer_off && (st.events != 50ull * k || !st.truncated || tr)) {
		fprintf(stderr, "  flip at %zu (chunk %d): %" PRIu64 " events, \"%s\"\n", off,
			k + 1, st.events, st.message);
		return false;
	}
	if (off >= l->trailer_off && (st.events != 300 || !st.truncated || tr)) {
		fprintf(stderr, "  flip at %zu (trailer): %" PRIu64 " events, \"%s\"\n", off,
			st.events, st.message);
		return false;
	}
	return true;
}

/* Flip each byte in turn: never a crash, and never an event from a damaged chunk. */
UNIT_TEST(recfile_corrupt_everywhere)
{
	struct layout l;
	size_t size;
	uint8_t *img = small_file(&size, &l);
	int bad = 0;

	CHECK(img != NULL);
	if (!img)
		return;
	for (size_t off = 0; off < size && bad < 5; off++)
		bad += !flip_ok(img, size, &l, off);
	CHECK(!bad);
	free(img);
}

/* Builds a one-chunk file around RAW, as docs/record-format.md describes it. */
static size_t build_file(uint8_t *out, const uint8_t *raw, uint32_t raw_len, uint32_t n_events,
			 uint64_t first_ts, uint64_t last_ts)
{
	uint8_t *c = out + 24 + 2;
	uLongf comp_len = compressBound(raw_len);
	uint32_t crc;

	memcpy(out, "FLTLINE\0\3\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0{}", 26);
	compress2(c + 40, &comp_len, raw, raw_len, 1);
	memset(c, 0, 40);
	memcpy(c, "FLCK", 4);
	memcpy(c + 4, &raw_len, 4);
	memcpy(c + 8, &comp_len, 4);
	memcpy(c + 16, &first_ts, 8);
	memcpy(c + 24, &last_ts, 8);
	memcpy(c + 32, &n_events, 4);
	crc = crc32(crc32(0, c, 40), c + 40, comp_len);
	memcpy(c + 12, &crc, 4);
	return 26 + 40 + comp_len;
}

static void check_bad_chunk(int *unit_failed, const uint8_t *raw, uint32_t raw_len,
			    uint32_t n_events, const char *want)
{
	static uint8_t file[1 << 16];
	size_t size = build_file(file, raw, raw_len, n_events, 100, 200);
	struct fl_reader_status st;
	char err[256];
	bool tr;

	CHECK_EQ_U64(read_image_cmp(file, size, &st, &tr, err, sizeof(err), false), 0);
	CHECK_EQ_U64(st.events, 0);
	CHECK_STR(st.message, want);
}

#define BAD(what) "chunk 1 is corrupt (" what "); read 0 whole chunks"

/* Events inside a chunk whose CRC and zlib data are good but whose records are not. */
UNIT_TEST(recfile_bad_events)
{
	uint8_t raw[8192] = {0};
	struct fl_hdr h = {.type = FL_EV_FAULT, .ts_ns = 150};
	uint16_t len = 40;

	memcpy(raw, &len, 2);
	memcpy(raw + 2, &h, sizeof(h));
	check_bad_chunk(unit_failed, raw, 42, 2, BAD("holds 1 events, header says 2"));
	check_bad_chunk(unit_failed, raw, 42, 3, BAD("more events than the raw length can hold"));
	check_bad_chunk(unit_failed, raw, 44, 1, BAD("event 2 overruns the chunk"));
	check_bad_chunk(unit_failed, raw, 30, 1, BAD("event 1 has a bad length 40"));

	h.type = 0;
	memcpy(raw + 2, &h, sizeof(h));
	check_bad_chunk(unit_failed, raw, 42, 1, BAD("event 1 has an unknown type 0"));
	h.type = FL_EV_TYPE_MAX;
	memcpy(raw + 2, &h, sizeof(h));
	check_bad_chunk(unit_failed, raw, 42, 1, BAD("event 1 has an unknown type 16"));

	h.type = FL_EV_FAULT;
	h.ts_ns = 201;
	memcpy(raw + 2, &h, sizeof(h));
	check_bad_chunk(unit_failed, raw, 42, 1, BAD("event 1 is outside the chunk's time range"));

	h.ts_ns = 150;
	memcpy(raw + 2, &h, sizeof(h));
	len = 8;
	memcpy(raw, &len, 2);
	check_bad_chunk(unit_failed, raw, 42, 1, BAD("event 1 has a bad length 8"));
	len = FL_MAX_EVENT_BYTES + 8;
	memcpy(raw, &len, 2);
	check_bad_chunk(unit_failed, raw, 2 + len, 1, BAD("event 1 has a bad length 4104"));

	/* The same chunk with a good record reads. */
	len = 40;
	memcpy(raw, &len, 2);
	{
		static uint8_t file[1 << 16];
		size_t size = build_file(file, raw, 42, 1, 150, 150);
		struct fl_reader_status st;
		char err[256];
		bool tr;

		CHECK_EQ_U64(read_image_cmp(file, size, &st, &tr, err, sizeof(err), false), 0);
		CHECK_EQ_U64(st.chunks, 1);
		CHECK_STR(st.message, "truncated after chunk 1 (read 1 whole chunks)");
	}
}

static void check_open_fails(int *unit_failed, const void *img, size_t size, int want_rc,
			     const char *want)
{
	struct fl_reader *r = NULL;
	char path[256], err[256] = "";

	CHECK_EQ_U64(fl_reader_open_mem(&r, img, size, err, sizeof(err)), want_rc);
	CHECK_STR(err, want);
	CHECK(r == NULL);

	tmp_path(path, sizeof(path));
	store(path, img, size);
	err[0] = '\0';
	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), want_rc);
	CHECK_STR(err, want);
	unlink(path);
}

UNIT_TEST(recfile_bad_header)
{
	uint8_t hdr[26];
	char err[256] = "";
	struct fl_reader *r;

	memcpy(hdr, "FLTLINE\0\3\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0{}", 26);
	check_open_fails(unit_failed, "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24,
			 -EINVAL, "not a faultline file (bad magic)");
	check_open_fails(unit_failed, "", 0, -EINVAL, "empty file, not a faultline record");
	check_open_fails(unit_failed, hdr, 12, -EINVAL,
			 "truncated in the file header (12 of 24 "
			 "bytes)");
	check_open_fails(unit_failed, hdr, 25, -EINVAL, "truncated in the metadata (1 of 2 bytes)");

	hdr[8] = 5;
	check_open_fails(unit_failed, hdr, 26, -ENOTSUP,
			 "format version 5 is newer than this "
			 "faultline supports (4); upgrade faultline");
	hdr[8] = 1; /* version 1: raw socket payload, no longer read */
	check_open_fails(
	    unit_failed, hdr, 26, -ENOTSUP,
	    "format version 1 was written by an older "
	    "faultline (this one reads 3 to 4); read it with the faultline that recorded "
	    "it, or re-record with this one");
	hdr[8] = 2; /* version 2: the kernel's raw fault and syscall values */
	check_open_fails(
	    unit_failed, hdr, 26, -ENOTSUP,
	    "format version 2 was written by an older "
	    "faultline (this one reads 3 to 4); read it with the faultline that recorded "
	    "it, or re-record with this one");
	hdr[8] = 0;
	check_open_fails(unit_failed, hdr, 26, -EINVAL,
			 "format version 0 is not valid (corrupt "
			 "header)");
	hdr[8] = 3;
	hdr[15] = 0x80;
	check_open_fails(unit_failed, hdr, 26, -ENOTSUP,
			 "file uses features this faultline does "
			 "not support (flags 0x80000000)");
	hdr[15] = 0;
	hdr[23] = 0x10;
	check_open_fails(unit_failed, hdr, 26, -EINVAL,
			 "metadata length 1152921504606846978 is out of range (corrupt header)");
	hdr[23] = 0;
	hdr[24] = 0;
	check_open_fails(unit_failed, hdr, 26, -EINVAL, "metadata is corrupt (holds a NUL byte)");

	CHECK_EQ_U64(fl_reader_open(&r, "/nonexistent/faultline.data", err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "cannot open: No such file or directory");
}

/* 20+ MiB through the writer: the buffers it allocates stay bounded, nothing is lost. */
UNIT_TEST(recfile_memory_bounded)
{
	const uint64_t n = 600000; /* ~27 MiB of records */
	struct fl_writer_stats ws;
	struct fl_reader_status st;
	struct fl_reader *r;
	char path[256], err[256];
	int mismatch;

	tmp_path(path, sizeof(path));
	CHECK_EQ_U64(write_events(path, n, 0, &ws), 0);
	CHECK(ws.raw_bytes > 20u << 20);
	CHECK(ws.buffers >= 1 && ws.buffers <= FL_WRITER_MAX_BUFS);
	printf("  %" PRIu64 " MiB appended with %" PRIu64 " chunk buffers, %" PRIu64 " waits\n",
	       ws.raw_bytes >> 20, ws.buffers, ws.waits);
	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_U64(read_events(r, &mismatch), n);
		CHECK(!mismatch);
		fl_reader_status(r, &st);
		CHECK(!st.truncated);
		fl_reader_close(r);
	}
	unlink(path);
}

/* The disk fills up (RLIMIT_FSIZE stands in for ENOSPC): the error surfaces, chunks survive. */
UNIT_TEST(recfile_write_error)
{
	uint64_t ev[FL_MAX_EVENT_BYTES / 8], i;
	struct rlimit old, lim = {2u << 20, 2u << 20};
	struct fl_reader_status st;
	struct fl_writer *w;
	struct fl_reader *r;
	char path[256], err[256];
	void (*old_sig)(int);
	int rc = 0, mismatch;
	size_t size = 0;

	CHECK_EQ_U64(fl_writer_open(&w, "/dev/full", "{}"), -ENOSPC);

	tmp_path(path, sizeof(path));
	getrlimit(RLIMIT_FSIZE, &old);
	lim.rlim_max = old.rlim_max;
	old_sig = signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	CHECK_EQ_U64(fl_writer_open(&w, path, META), 0);
	for (i = 0; w && i < 2000000 && !rc; i++)
		rc = fl_writer_append(w, ev, gen_event(i, ev));
	CHECK_EQ_U64(rc, -EFBIG);
	CHECK_EQ_U64(fl_writer_close(w, TRAILER), -EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, old_sig);

	free(load(path, &size));
	CHECK(size <= 2u << 20);
	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
	if (r) {
		uint64_t got = read_events(r, &mismatch);

		fl_reader_status(r, &st);
		CHECK(!mismatch);
		CHECK(got > 0 && got < i);
		CHECK(st.truncated);
		CHECK(strstr(st.message, "truncated after chunk") != NULL);
		printf("  append failed after %" PRIu64 " events; %" PRIu64 " survive in %" PRIu64
		       " chunks (%zu bytes): %s\n",
		       i, got, st.chunks, size, st.message);
		fl_reader_close(r);
	}
	unlink(path);
}

/* Flight mode: N events into a ring, a chunk every 10 events; the dump read back. */
static void ring_case(int *unit_failed, uint64_t max_bytes, uint64_t max_ns, const char *bound,
		      uint64_t lo, uint64_t hi)
{
	uint64_t ev[FL_MAX_EVENT_BYTES / 8];
	struct fl_ring_info info;
	struct fl_reader_status st;
	struct fl_writer *w;
	struct fl_reader *r;
	char path[256], err[256] = "";
	int fd;

	CHECK_EQ_U64(fl_writer_open_ring(&w, max_bytes, max_ns), 0);
	if (!w)
		return;
	for (uint64_t i = 0; i < 100; i++) {
		CHECK_EQ_U64(fl_writer_append(w, ev, gen_event(i, ev)), 0);
		if ((i + 1) % 10 == 0)
			CHECK_EQ_U64(fl_writer_flush(w), 0);
	}
	CHECK_EQ_U64(fl_writer_ring_info(w, 0, &info), 0);
	CHECK_STR(info.bound, bound);
	CHECK(info.events >= lo && info.events <= hi);
	tmp_path(path, sizeof(path));
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_EQ_U64(fl_writer_ring_dump(w, fd, 0, META, TRAILER), 0);
	close(fd);
	fl_writer_close(w, NULL);
	CHECK_EQ_U64(fl_reader_open(&r, path, err, sizeof(err)), 0);
	if (r) {
		CHECK_STR(fl_reader_meta(r), META);
		CHECK_EQ_U64(read_events(r, NULL), info.events);
		CHECK_STR(fl_reader_trailer(r), TRAILER);
		fl_reader_status(r, &st);
		CHECK(!st.truncated);
		fl_reader_close(r);
	}
	unlink(path);
}

UNIT_TEST(recfile_ring_bounds)
{
	ring_case(unit_failed, 1ull << 30, UINT64_MAX, "none", 100, 100); /* everything kept */
	ring_case(unit_failed, 1, UINT64_MAX, "bytes", 10, 10); /* the byte cap: only the newest */
	ring_case(unit_failed, 1ull << 30, 30000, "time", 30, 50); /* 30 us of events at 1 per us */
}
