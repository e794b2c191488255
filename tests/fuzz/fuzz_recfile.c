// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the record reader. Each input is read four ways:
 *   1. as a record file image, from memory;
 *   2. the same through a file descriptor (a memfd), the path `faultline report` takes;
 *   3. with every chunk CRC and the end marker recomputed, so that mutations get past the CRC
 *      into the chunk lengths, zlib and trailer checks;
 *   4. as the raw (uncompressed) contents of one chunk of an otherwise valid file, so that
 *      mutations reach the per-event checks behind zlib's own checksum.
 * It checks the reader's promises: every event is well-formed, counts add up, messages are
 * terminated, and a file with a trailer was not cut short.
 *
 * Seeds live in tests/fuzz/seeds/fuzz_recfile/; regenerate them with
 *   cc -DFL_FUZZ_SEED_GEN -D_GNU_SOURCE -Ibpf -Iuser tests/fuzz/fuzz_recfile.c user/recfile.c \
 *      -lz -lpthread -o /tmp/gen && /tmp/gen tests/fuzz/seeds/fuzz_recfile
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "faultline.h"
#include "recfile.h"

#define CHUNK_HDR 40
#define TRAILER_HDR 16
#define END_BYTES 32

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* Reads everything and checks what the reader promises about it. */
static void drain(struct fl_reader *r)
{
	struct fl_reader_status st;
	uint64_t n = 0, sum = 0;
	const void *ev;
	size_t len;
	int rc;

	check(fl_reader_meta(r) != NULL);
	sum += strlen(fl_reader_meta(r));
	while ((rc = fl_reader_next(r, &ev, &len)) == 1) {
		const struct fl_hdr *h = ev;

		check(len >= sizeof(*h) && len <= FL_MAX_EVENT_BYTES);
		check(h->type >= 1 && h->type < FL_EV_TYPE_MAX);
		check(((uintptr_t)ev & 7) == 0);
		for (size_t i = len; i < FL_MAX_EVENT_BYTES && i < len + 64; i++)
			check(((const uint8_t *)ev)[i] == 0);
		sum += ((const uint8_t *)ev)[len - 1] + h->ts_ns;
		n++;
	}
	check(rc == 0 || rc < 0);
	check(fl_reader_next(r, &ev, &len) == 0);
	fl_reader_status(r, &st);
	check(st.events == n);
	check(memchr(st.message, '\0', sizeof(st.message)) != NULL);
	if (fl_reader_trailer(r)) {
		check(!st.truncated);
		sum += strlen(fl_reader_trailer(r));
	}
	/* Keeps the loads above from being optimised away. */
	__asm__ volatile("" : : "r"(sum));
}

static void read_mem(const uint8_t *data, size_t size)
{
	struct fl_reader *r;
	char err[128];

	if (fl_reader_open_mem(&r, data, size, err, sizeof(err))) {
		check(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		return;
	}
	drain(r);
	fl_reader_close(r);
}

static void read_fd(const uint8_t *data, size_t size)
{
	struct fl_reader *r;
	char path[64], err[128];
	int fd = memfd_create("fuzz_recfile", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!fl_reader_open(&r, path, err, sizeof(err))) {
			drain(r);
			fl_reader_close(r);
		}
	}
	close(fd);
}

/* Recomputes the CRC of every chunk that fits, and the end marker after them. */
static void fix_checksums(uint8_t *d, size_t size)
{
	uint64_t off, chunks = 0, events = 0;
	static const uint8_t zero[4];

	if (size < 24 || le64(d + 16) > size - 24)
		return;
	off = 24 + le64(d + 16);
	while (size - off >= CHUNK_HDR && le32(d + off) == 0x4b434c46u) {
		uint32_t comp_len = le32(d + off + 8), crc;

		if (comp_len > size - off - CHUNK_HDR)
			return;
		crc = crc32(crc32(crc32(crc32(0, d + off, 12), zero, 4), d + off + 16, 24),
			    d + off + CHUNK_HDR, comp_len);
		memcpy(d + off + 12, &crc, 4);
		events += le32(d + off + 32);
		chunks++;
		off += CHUNK_HDR + comp_len;
	}
	if (size - off >= TRAILER_HDR + END_BYTES && le32(d + off) == 0x52544c46u &&
	    le64(d + off + 8) <= size - off - TRAILER_HDR - END_BYTES) {
		uint64_t json_len = le64(d + off + 8);
		uint8_t *end = d + off + TRAILER_HDR + json_len;
		uint32_t crc = crc32(0, d + off, TRAILER_HDR + json_len);

		memcpy(end + 4, &crc, 4);
		memcpy(end + 8, &off, 8);
		memcpy(end + 16, &chunks, 8);
		memcpy(end + 24, &events, 8);
	}
}

static void read_fixed(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	fix_checksums(copy, size);
	read_mem(copy, size);
	free(copy);
}

/* Counts the records of RAW and their timestamp range, as a writer would have. */
static uint32_t raw_scan(const uint8_t *raw, size_t size, uint64_t *lo, uint64_t *hi)
{
	uint32_t n = 0;
	size_t pos = 0;

	*lo = UINT64_MAX;
	*hi = 0;
	while (size - pos >= 2) {
		uint16_t len;
		uint64_t ts;

		memcpy(&len, raw + pos, 2);
		if (len >= sizeof(struct fl_hdr) && size - pos - 2 >= sizeof(struct fl_hdr)) {
			memcpy(&ts, raw + pos + 2 + 8, 8);
			*lo = ts < *lo ? ts : *lo;
			*hi = ts > *hi ? ts : *hi;
		}
		n++;
		if (len > size - pos - 2)
			break;
		pos += 2 + len;
	}
	if (*lo > *hi)
		*lo = *hi = 0;
	return n;
}

/* Wraps RAW into header + one chunk + trailer, with every checksum right. */
static void read_wrapped(const uint8_t *raw, size_t size)
{
	static const uint8_t hdr[26] = "FLTLINE\0\2\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0{}";
	uLongf comp_len = compressBound(size);
	uint8_t *f = malloc(sizeof(hdr) + CHUNK_HDR + comp_len + TRAILER_HDR + 2 + END_BYTES);
	uint8_t *c = f + sizeof(hdr), *t;
	uint32_t n, raw_len = size, crc, clen;
	uint64_t lo, hi, off, one = 1, json_len = 2;

	memcpy(f, hdr, sizeof(hdr));
	if (compress2(c + CHUNK_HDR, &comp_len, raw, size, 1) != Z_OK)
		goto out;
	n = raw_scan(raw, size, &lo, &hi);
	clen = comp_len;
	memset(c, 0, CHUNK_HDR);
	memcpy(c, "FLCK", 4);
	memcpy(c + 4, &raw_len, 4);
	memcpy(c + 8, &clen, 4);
	memcpy(c + 16, &lo, 8);
	memcpy(c + 24, &hi, 8);
	memcpy(c + 32, &n, 4);
	crc = crc32(crc32(0, c, CHUNK_HDR), c + CHUNK_HDR, clen);
	memcpy(c + 12, &crc, 4);

	t = c + CHUNK_HDR + clen;
	off = t - f;
	memcpy(t, "FLTR\0\0\0\0", 8);
	memcpy(t + 8, &json_len, 8);
	memcpy(t + 16, "{}", 2);
	crc = crc32(0, t, TRAILER_HDR + 2);
	memcpy(t + 18, "FLEN", 4);
	memcpy(t + 22, &crc, 4);
	memcpy(t + 26, &off, 8);
	memcpy(t + 34, &one, 8);
	memcpy(t + 42, &(uint64_t){n}, 8);
	read_mem(f, t + 18 + END_BYTES - f);
out:
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_mem(data, size);
	read_fd(data, size);
	read_fixed(data, size);
	if (size <= (1u << 20))
		read_wrapped(data, size);
	return 0;
}

#ifdef FL_FUZZ_SEED_GEN
/* Writes the seed corpus: small record files made by the real writer, whole and cut. */
static size_t seed_event(int i, void *buf)
{
	struct fl_hdr h = {.type = 1 + i % (FL_EV_TYPE_MAX - 1), .tid = 7, .ts_ns = 1000 + i};
	struct fl_stall *e = buf;

	memset(e, 0, sizeof(*e));
	e->h = h;
	e->pid = 7;
	e->dur_ns = 100 * i;
	return i % 2 ? sizeof(struct fl_stall) : sizeof(struct fl_hdr) + 8 * (i % 4);
}

static int seed_write(const char *path, int n_events)
{
	uint64_t ev[64];
	struct fl_writer *w;
	int err;

	err = fl_writer_open(&w, path, "{\"host\":\"seed\"}");
	if (err)
		return err;
	for (int i = 0; i < n_events && !err; i++) {
		err = fl_writer_append(w, ev, seed_event(i, ev));
		if (!err && i == 2)
			err = fl_writer_flush(w);
	}
	return fl_writer_close(w, "{\"drops\":0}") ?: err;
}

static int seed_cut(const char *from, const char *to, long cut_from_end)
{
	char buf[4096];
	FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	int err = !f || !g || (long)n <= cut_from_end ||
		  fwrite(buf, 1, n - cut_from_end, g) != n - cut_from_end;

	if (f)
		fclose(f);
	if (g)
		fclose(g);
	return err;
}

int main(int argc, char **argv)
{
	char valid[4096], path[4096];
	uint8_t raw[2 + sizeof(struct fl_stall)];
	struct fl_stall e = {.h = {.type = FL_EV_STALL, .ts_ns = 5}, .dur_ns = 77};
	uint16_t len = sizeof(e);
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEED_DIR\n", argv[0]);
		return 2;
	}
	snprintf(valid, sizeof(valid), "%s/valid", argv[1]);
	snprintf(path, sizeof(path), "%s/empty", argv[1]);
	if (seed_write(valid, 6) || seed_write(path, 0))
		return 1;
	snprintf(path, sizeof(path), "%s/truncated", argv[1]);
	if (seed_cut(valid, path, 60))
		return 1;
	snprintf(path, sizeof(path), "%s/no-trailer", argv[1]);
	if (seed_cut(valid, path, 11 + 32 + 16))
		return 1;

	/* A raw chunk body (u16 length + event), for the wrapped mode. */
	memcpy(raw, &len, 2);
	memcpy(raw + 2, &e, sizeof(e));
	snprintf(path, sizeof(path), "%s/raw-events", argv[1]);
	f = fopen(path, "wb");
	if (!f || fwrite(raw, 1, sizeof(raw), f) != sizeof(raw))
		return 1;
	fclose(f);
	return 0;
}
#endif
