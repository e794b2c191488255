/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x requests seen on the wire: a state machine per connection (pid, fd) fed with the
 * FL_EV_NET events of bpf/requests.bpf.h (the first 256 bytes of every read and write). It
 * handles keep-alive, pipelining (split on Content-Length when the bytes are visible), requests
 * whose headers and body arrive in several reads, chunked and Content-Length responses, and
 * clients that go away mid-stream. The first token is the first response *body* byte (for
 * SSE, the first chunk with "data:"), never the headers that uvicorn writes before prefill.
 */
#ifndef FL_WIRE_H
#define FL_WIRE_H

#include "faultline.h"
#include "requests.h"
#include <stdbool.h>
#include <stddef.h>

struct wire;

struct wire *wire_new(void);
/* One FL_EV_NET event of LEN bytes (its cap_len is checked against LEN). */
void wire_event(struct wire *w, const struct fl_net *e, size_t len);
/* End of the recording: requests still open are kept and marked incomplete. */
void wire_finish(struct wire *w);
const struct reqlist *wire_requests(const struct wire *w);
/* Connections seen and events that were not HTTP (for the report's notes). */
void wire_stats(const struct wire *w, uint64_t *conns, uint64_t *ignored_events);
struct jw;
/* The trailer's "wire" member (record and serve's dumps): connections, ignored and net events. */
void wire_trailer_json(const struct wire *w, struct jw *jw, uint64_t net_events);
void wire_free(struct wire *w);

/*
 * The connection table stays bounded with churn: a connection goes at its close, when its
 * process exits, and when it has been silent for the idle timeout (5 minutes of event time by
 * default; 0 restores it). Requests still open then end aborted (exit) or incomplete (idle).
 */
void wire_set_idle_timeout(struct wire *w, uint64_t ns);
/* The last thread of process PID exited at TS (FL_PROC_EXIT). */
void wire_proc_exit(struct wire *w, uint32_t pid, uint64_t ts);
/* Live views without exit events: forgets the connections of processes RUNNING says are gone. */
void wire_forget_gone(struct wire *w, bool (*running)(uint32_t pid));
/* Connections in the table now. */
size_t wire_conns_open(const struct wire *w);

/*
 * Live views (top, serve): hands each request to FN once, as soon as its first token is known or
 * it is over (answered, aborted, or pushed out of a pipeline), and forgets the requests that are
 * over, so memory stays bounded however long the view runs. Indexes of the requests kept are
 * renumbered. Returns how many were handed over.
 */
typedef void (*wire_req_fn)(void *ctx, const struct request *r);
size_t wire_drain(struct wire *w, wire_req_fn fn, void *ctx);

/*
 * record: like wire_drain, but hands each request over only once it is over (answered,
 * aborted, or open at wire_finish), with its final times and byte counts.
 */
size_t wire_drain_ended(struct wire *w, wire_req_fn fn, void *ctx);
/* report: a request read back from an FL_EV_REQ record. 0 or -ENOMEM. */
int wire_add_request(struct wire *w, const struct request *r);
/* report: the connection and ignored-event counts record kept in its trailer. */
void wire_set_stats(struct wire *w, uint64_t conns, uint64_t ignored);

#endif
