/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record file (faultline.data): header + JSON metadata, zlib chunks of events, JSON trailer.
 * Format in docs/record-format.md. The writer compresses and writes on its own thread so the
 * ring-buffer consumer never waits on zlib or the disk; the reader trusts nothing in the file.
 */
#ifndef FL_RECFILE_H
#define FL_RECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: FL_EV_REQ records; FL_EV_NET only with --capture-payload. 3: the kernel's meaning decided in
 * BPF (FL_F_WRITE, fl_fault_dur.outcome, fl_memsys.op and .advice). 4: FL_EV_FAULT_RUN (record
 * --fault-events), a new event only: version 3 files are read as they are. */
#define FL_FORMAT_VERSION 4
#define FL_FORMAT_MIN_VERSION 3		 /* the oldest version read */
#define FL_CHUNK_TARGET_BYTES (1u << 20) /* a chunk is handed to the writer at ~1 MiB ... */
#define FL_CHUNK_TARGET_MS 1000		 /* ... or after 1 s, whichever comes first */
#define FL_MAX_EVENT_BYTES 4096
#define FL_WRITER_MAX_BUFS 8 /* chunk buffers per writer: memory stays bounded, append waits */

struct fl_writer;
struct fl_reader;

struct fl_writer_stats {
	uint64_t events;
	uint64_t chunks;
	uint64_t raw_bytes;
	uint64_t file_bytes; /* bytes written to the file so far */
	uint64_t buffers;    /* chunk buffers allocated, at most FL_WRITER_MAX_BUFS */
	uint64_t waits;	     /* times append waited for the writer thread (back-pressure) */
};

/*
 * Creates PATH (O_TRUNC, O_NOFOLLOW, mode 0600), writes the header with META_JSON, starts the
 * writer thread. Returns 0 or -errno. Every call on one writer must come from the same thread.
 */
int fl_writer_open(struct fl_writer **w, const char *path, const char *meta_json);
/* Same, on FD (opened for writing, empty); the writer owns it from now on, even on error. */
int fl_writer_open_fd(struct fl_writer **w, int fd, const char *meta_json);
/*
 * Flight mode: no file; finished chunks stay in memory, the oldest dropped once they hold more
 * than MAX_BYTES or span more than MAX_NS of event time. fl_writer_ring_dump() writes them out
 * as one ordinary record file. fl_writer_close() frees them (its trailer is ignored).
 */
int fl_writer_open_ring(struct fl_writer **w, uint64_t max_bytes, uint64_t max_ns);
struct fl_ring_info {
	uint64_t chunks, events, bytes; /* what a dump from SINCE_NS would hold */
	uint64_t first_ns, last_ns;	/* its first and last event times */
	uint64_t ring_bytes;		/* compressed bytes in the ring now */
	const char *bound;		/* what limits the window: "time", "bytes" or "none" */
};
/* Hands the current chunk over, waits for the ring to hold it, and describes it. 0 or -errno. */
int fl_writer_ring_info(struct fl_writer *w, uint64_t since_ns, struct fl_ring_info *info);
/* Compressed bytes in the ring now and the event time they span; no hand-over (cheap). */
void fl_writer_ring_stat(struct fl_writer *w, uint64_t *bytes, uint64_t *span_ns);
/*
 * Writes a record file on FD (empty, opened for writing; the caller closes it): META_JSON, the
 * chunks with events at or after SINCE_NS, TRAILER_JSON; fsyncs. The ring is kept. 0 or -errno.
 */
int fl_writer_ring_dump(struct fl_writer *w, int fd, uint64_t since_ns, const char *meta_json,
			const char *trailer_json);
/* Copies one event (starting with struct fl_hdr) into the current chunk. 0 or -errno. */
int fl_writer_append(struct fl_writer *w, const void *ev, size_t len);
/* Hands the current chunk to the writer thread if it is older than FL_CHUNK_TARGET_MS. */
int fl_writer_tick(struct fl_writer *w);
/* Hands the current chunk to the writer thread now, whatever its age. 0 or -errno. */
int fl_writer_flush(struct fl_writer *w);
void fl_writer_stats(struct fl_writer *w, struct fl_writer_stats *st);
/* Flushes every chunk, writes TRAILER_JSON, fsyncs, closes, frees. 0 or the first -errno seen. */
int fl_writer_close(struct fl_writer *w, const char *trailer_json);

struct fl_reader_status {
	uint64_t chunks;   /* whole chunks read so far */
	uint64_t events;   /* events returned so far */
	bool truncated;	   /* the file ended (or went bad) before the trailer */
	char message[256]; /* why, e.g. "truncated after chunk 17 (read 17 whole chunks)" */
};

/* Opens and validates the header. 0 or -errno; on error ERRBUF says why (no path in it). */
int fl_reader_open(struct fl_reader **r, const char *path, char *errbuf, size_t errlen);
/* Same, over a record file already in memory; BUF must outlive the reader (nothing is copied). */
int fl_reader_open_mem(struct fl_reader **r, const void *buf, size_t len, char *errbuf,
		       size_t errlen);
const char *fl_reader_meta(const struct fl_reader *r); /* NUL-terminated JSON text */
/*
 * Next event: 1 with *ev and *len set (valid until the next call), 0 at the end of the events
 * (trailer reached, or the file was cut short: see status), -errno on I/O error.
 * Every returned event has len >= sizeof(struct fl_hdr) and a type below FL_EV_TYPE_MAX; *ev is
 * 8-byte aligned with FL_MAX_EVENT_BYTES behind it, zero after len. Check len against the
 * struct for the type before trusting its fields: the reader does not know per-type sizes.
 */
int fl_reader_next(struct fl_reader *r, const void **ev, size_t *len);
/* The trailer JSON once fl_reader_next returned 0, or NULL if the file has none. */
const char *fl_reader_trailer(const struct fl_reader *r);
/*
 * What the chunks after the reader's position declare, from their headers alone (nothing is
 * inflated or allocated): for a memory check before reading. Stops at the trailer, the end of
 * the file or the first implausible header, as reading would. Leaves the reader where it was.
 */
struct fl_census {
	uint64_t chunks, events, raw_bytes;
	uint64_t max_raw; /* the largest chunk: the reader holds one inflated */
};
int fl_reader_census(struct fl_reader *r, struct fl_census *c);
void fl_reader_status(const struct fl_reader *r, struct fl_reader_status *st);
void fl_reader_close(struct fl_reader *r);

#endif /* FL_RECFILE_H */
