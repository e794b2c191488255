// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for what the model makes of a recording's contents: the metadata and
 * trailer JSON (targets and their maps, targets_end, drops, the allocator's trailer: processes,
 * code_maps, functions, threads; probes, clocks, overhead) and the events (model_build's
 * add_event, alloc_model.c's decoders, the wire parser), then the request view and both printers.
 * fuzz_recfile covers the record layer; here every input becomes a *valid* file, so mutations
 * reach the decoders behind it.
 *
 * Input: u16 meta_len, meta JSON, u16 trailer_len, trailer JSON, then raw chunk records
 * (u16 len + event, as in docs/record-format.md), little-endian. Lengths past the end are cut.
 * A last byte with bit 0 set also runs `faultline diff` of the file against itself.
 *
 * Seeds live in tests/fuzz/seeds/fuzz_model/; scripts/fuzz-model-seed.py makes one from a real
 * recording.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "commands.h"
#include "faultline.h"
#include "model.h"
#include "recfile.h"
#include "util.h"

#define CHUNK_HDR 40
#define TRAILER_HDR 16
#define END_BYTES 32
#define MAX_RAW (1u << 20)

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}
static void put64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}

/* Takes a u16-prefixed piece of the input; a length past the end takes what is left. */
static const uint8_t *take(const uint8_t **d, size_t *size, size_t *len)
{
	const uint8_t *p;
	uint16_t n = 0;

	if (*size >= 2)
		memcpy(&n, *d, 2);
	*d += *size >= 2 ? 2 : *size;
	*size -= *size >= 2 ? 2 : *size;
	*len = n < *size ? n : *size;
	p = *d;
	*d += *len;
	*size -= *len;
	return p;
}

/*
 * The records of RAW the reader would accept (length, type), up to the first that it would not:
 * counted, with their time range. Returns the bytes they fill.
 */
static size_t raw_scan(const uint8_t *raw, size_t size, uint32_t *n, uint64_t *lo, uint64_t *hi)
{
	size_t pos = 0;

	*n = 0;
	*lo = UINT64_MAX;
	*hi = 0;
	while (size - pos >= 2 + sizeof(struct fl_hdr)) {
		struct fl_hdr h;
		uint16_t len;

		memcpy(&len, raw + pos, 2);
		memcpy(&h, raw + pos + 2, sizeof(h));
		if (len < sizeof(h) || len > FL_MAX_EVENT_BYTES || len > size - pos - 2 ||
		    h.type < 1 || h.type >= FL_EV_TYPE_MAX)
			break;
		*lo = h.ts_ns < *lo ? h.ts_ns : *lo;
		*hi = h.ts_ns > *hi ? h.ts_ns : *hi;
		(*n)++;
		pos += 2 + len;
	}
	if (!*n)
		*lo = *hi = 0;
	return pos;
}

/* A valid record file: header + META, the records of RAW in one chunk, TRAILER. */
static void build_file(struct buf *f, const uint8_t *meta, size_t meta_len, const uint8_t *trl,
		       size_t trl_len, const uint8_t *raw, size_t raw_len)
{
	uLongf comp_len = compressBound(raw_len);
	uint8_t *comp = malloc(comp_len), hdr[CHUNK_HDR] = {};
	uint64_t lo, hi, trailer_off, chunks = 0;
	uint32_t n = 0, crc, clen;
	size_t start;

	put(f, "FLTLINE\0", 8);
	put32(f, FL_FORMAT_VERSION);
	put32(f, 0);
	put64(f, meta_len);
	put(f, meta, meta_len);
	raw_len = raw_scan(raw, raw_len, &n, &lo, &hi);
	if (n && compress2(comp, &comp_len, raw, raw_len, 1) == Z_OK) {
		clen = comp_len;
		memcpy(hdr, "FLCK", 4);
		memcpy(hdr + 4, &(uint32_t){raw_len}, 4);
		memcpy(hdr + 8, &clen, 4);
		memcpy(hdr + 16, &lo, 8);
		memcpy(hdr + 24, &hi, 8);
		memcpy(hdr + 32, &n, 4);
		crc = crc32(crc32(0, hdr, CHUNK_HDR), comp, clen);
		memcpy(hdr + 12, &crc, 4);
		put(f, hdr, CHUNK_HDR);
		put(f, comp, clen);
		chunks = 1;
	} else {
		n = 0;
	}
	free(comp);
	trailer_off = f->n;
	start = f->n;
	put(f, "FLTR\0\0\0\0", 8);
	put64(f, trl_len);
	put(f, trl, trl_len);
	crc = crc32(0, f->p + start, f->n - start);
	put(f, "FLEN", 4);
	put32(f, crc);
	put64(f, trailer_off);
	put64(f, chunks);
	put64(f, n);
}

static int run(int (*cmd)(int, char **), const char *a0, const char *a1, const char *a2,
	       const char *a3, const char *a4, const char *a5)
{
	char *argv[] = {(char *)a0, (char *)a1, (char *)a2, (char *)a3,
			(char *)a4, (char *)a5, NULL};
	int argc = 0;

	while (argv[argc])
		argc++;
	return cmd(argc, argv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The reports and their warnings go nowhere; libFuzzer keeps its own stderr. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	stderr = fopen("/dev/null", "w");
	if (!stderr)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *meta, *trl, *d = data;
	size_t left = size, meta_len, trl_len;
	struct buf f = {};
	char path[64];
	int fd, rc;

	if (size > MAX_RAW)
		return -1;
	meta = take(&d, &left, &meta_len);
	trl = take(&d, &left, &trl_len);
	/* JSON text holds no NUL: such a file is refused before the model sees it. */
	if (memchr(meta, 0, meta_len) || memchr(trl, 0, trl_len))
		return -1;
	build_file(&f, meta, meta_len, trl, trl_len, d, left);

	fd = memfd_create("fuzz_model", MFD_CLOEXEC);
	if (fd < 0 || write(fd, f.p, f.n) != (ssize_t)f.n)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fl_oom = false;
	model_budget.refused = false;
	/* A budget below libFuzzer's -rss_limit_mb (2 GiB in scripts/fuzz.sh). */
	rc = run(cmd_report, "report", "-i", path, "--max-memory", "512M", NULL);
	if (rc == 0)
		rc = run(cmd_report, "report", "-i", path, "--json", "--max-memory", "512M");
	/* report exits 1 only over the budget or out of memory. 1 MiB of events can be over it
	 * only through fault runs (FL_EV_FAULT_RUN: up to 65536 faults in 56 bytes): a refusal
	 * that says so is right, anything else is a bug. */
	if ((rc != 0 && !model_budget.refused) || fl_oom)
		__builtin_trap();
	if (size && (data[size - 1] & 1)) {
		rc = run(cmd_diff, "diff", "--max-memory", "512M", path, path, NULL);
		if (rc != 0 && !model_budget.refused)
			__builtin_trap();
	}
	close(fd);
	free(f.p);
	return 0;
}
