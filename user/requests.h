/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Requests and their windows on CLOCK_MONOTONIC, from the wire (user/wire.c) or from a client's
 * log: a `vllm bench serve --save-result --save-detailed` JSON file or JSON lines
 * {"id","start","first_token","end"}. The report lines stalls up with them (user/reqreport.c).
 */
#ifndef FL_REQUESTS_H
#define FL_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQ_ID_LEN 128

enum req_source { REQ_SRC_WIRE = 0, REQ_SRC_BENCH, REQ_SRC_JSONL };
enum req_clock { REQ_CLOCK_MONOTONIC = 0, REQ_CLOCK_REALTIME };

struct request {
	uint64_t start_ns;	 /* first request byte received (wire) or client's start */
	uint64_t first_token_ns; /* first response body byte / first SSE data; 0: none */
	uint64_t end_ns;	 /* last response byte; never before start_ns */
	uint64_t first_byte_ns;	 /* wire: first response byte (the status line); 0: none */
	char id[REQ_ID_LEN];	 /* the response's "id" (cmpl-…), else the client's id */
	char xrid[REQ_ID_LEN];	 /* X-Request-Id, when sent */
	char method[12];
	char path[96];
	int status;	   /* HTTP status; 0 when unknown */
	uint32_t pid, tid; /* wire: the process and the thread that answered */
	int32_t fd;
	uint64_t in_bytes,
	    out_bytes;	 /* wire: bytes read for the request, written for its response */
	uint32_t index;	 /* order in its source */
	uint8_t source;	 /* enum req_source */
	bool aborted;	 /* wire: closed before the response ended */
	bool failed;	 /* client log: the request failed (errors[i], no first token) */
	bool incomplete; /* wire: still open when the recording ended */
	int wire_match;	 /* client-log request: index of the same request on the wire, -1 */
};

struct reqlist {
	struct request *v;
	size_t n, cap;
	/* JSON lines whose own "clock" member names another clock than they were read on */
	size_t clock_mismatch;
	char clock_said[16];
};

/* Appends a zeroed request and returns it (NULL when out of memory). */
struct request *reqlist_add(struct reqlist *l);
void reqlist_free(struct reqlist *l);

/* Where a client log's times are converted to CLOCK_MONOTONIC. */
struct req_clockmap {
	enum req_clock clock;
	int64_t real_minus_mono_ns; /* from the recording's clock pair */
	bool have_pair;
};

/*
 * Parses a client log held in BUF (NAME for messages): bench JSON when the text is one object
 * with request arrays, JSON lines otherwise. 0, or -EINVAL with a message naming the line or
 * field in ERR.
 */
int requests_parse(const char *name, const char *buf, size_t len, const struct req_clockmap *cm,
		   struct reqlist *out, char *err, size_t errlen);
int requests_parse_bench(const char *name, const char *buf, size_t len,
			 const struct req_clockmap *cm, struct reqlist *out, char *err,
			 size_t errlen);
int requests_parse_jsonl(const char *name, const char *buf, size_t len,
			 const struct req_clockmap *cm, struct reqlist *out, char *err,
			 size_t errlen);
/* Joins client-log requests with wire requests: by id, then by nearest start within 5 ms. */
size_t requests_match(struct reqlist *file, const struct reqlist *wire);
const char *req_source_name(int source);

#endif
