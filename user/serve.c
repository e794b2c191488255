// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline serve: the in-kernel aggregates as Prometheus metrics on a small HTTP/1.1 endpoint
 * (one request per connection, Connection: close). Single-threaded: poll() on the listening
 * socket, and once a second a look at the target (with --match, re-attach to a restarted one).
 * Counters are per target: cumulative since its attach and never going backwards while it is
 * traced; a new target (--match after a restart) is a new series (its pid label) from 0.
 */
#include "serve.h"
#include "cli.h"
#include "commands.h"
#include "faultline.skel.h"
#include "flight.h"
#include "jw.h"
#include "live.h"
#include "livereq.h"
#include "meta.h"
#include "model.h"
#include "recfile.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"
#include "wire.h"
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 1000
#define FLIGHT_TICK_MS 100	  /* --flight: first tokens checked, chunks handed over */
#define CLIENTS_MAX 128		  /* clients at once; past that the oldest idle one goes */
#define REQUEST_TIMEOUT_MS 5000	  /* from accept to the end of the request head */
#define RESPONSE_TIMEOUT_MS 10000 /* to take the whole answer */

enum { OPT_MATCH = CLI_OPT_OWN };

struct client {
	int fd; /* -1: a free slot */
	uint64_t since_ns, deadline_ns;
	char in[SERVE_REQ_MAX];
	size_t in_len;
	char *out; /* the answer, once the request is read */
	size_t out_len, out_off;
};

struct serve {
	struct session_opts sopts;
	const char *listen;
	const char *match;
	int lfd;
	char where[80]; /* the bound address, for messages */
	struct session sess;
	struct uprobes *up;
	struct livereq req;
	struct live_snap prev, cur;
	struct serve_metrics m;
	struct serve_metrics base; /* the in-kernel totals when the current target was attached */
	const char *stop_error;
	struct client *clients; /* CLIENTS_MAX */
	int nclients;
	/* --flight: the full event stream into an in-memory ring, as record --flight keeps it */
	struct flight fl;
	const char *output; /* -o: where dumps go */
	struct wire *fwire; /* the ring's requests, written whole as FL_EV_REQ */
	uint64_t fl_events, fl_net_events;
	int fl_write_err;
	char *meta; /* the dumps' header, rebuilt on each attach */
	int argc;
	char **argv;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: faultline serve (-p PID[,PID...] | --match PATTERN) [--children] [--listen "
		"HOST:PORT]\n"
		"\n"
		"Serve a process tree's memory stalls as Prometheus metrics (GET /metrics, text "
		"format 0.0.4).\n"
		"In-kernel aggregates are read at each scrape; the only events are the targets' "
		"HTTP traffic\n"
		"(first bytes each way), parsed for the request count and time to first byte.\n"
		"\n"
		"  -p, --pid PID[,PID]     watch these processes; serve exits when they have all "
		"exited\n"
		"      --match PATTERN     watch the oldest process whose command line contains "
		"PATTERN\n"
		"                          (like pgrep -f); when it exits, report faultline_up 0 "
		"and attach\n"
		"                          to the next one that appears (a restarted server)\n"
		"      --children          also their descendants, current and future\n"
		"  -l, --listen HOST:PORT  where to listen (default 127.0.0.1:9464; [::1]:9464; "
		"port 0 picks one)\n" CLI_USAGE_LIVE_ALLOC_CUDA
		"      --wire on|off       requests and their time to first byte from the targets' "
		"TCP\n"
		"                          sockets (default on)\n" CLI_USAGE_LIVE_TAIL "\n"
		"Flight recorder (serve --flight): every event of the targets is kept in memory "
		"too, and a\n"
		"trigger writes the window around it into -o DIR, as record --flight does:\n"
		"  -o, --output DIR        where dumps go (an existing directory; default "
		".)\n" FLIGHT_USAGE "\n"
		"Metrics: faultline_up, faultline_page_faults_total{kind}, "
		"faultline_stall_seconds{cause}\n"
		"(histogram), faultline_alloc_call_seconds, faultline_pinned_call_seconds,\n"
		"faultline_requests_total, faultline_request_ttfb_seconds (histogram),\n"
		"faultline_events_dropped_total, faultline_bpf_run_seconds_total,\n"
		"faultline_bpf_run_time_seconds_total{prog} and faultline_bpf_runs_total{prog} "
		"(per BPF\n"
		"program; counted while faultline_bpf_stats_enabled is 1), "
		"faultline_cpu_seconds_total,\n"
		"faultline_serve_clients_closed_total{reason} (clients closed unanswered); with "
		"--flight,\n"
		"faultline_flight_dumps_total, faultline_flight_triggers_suppressed_total,\n"
		"faultline_flight_dumps_failed_total, faultline_flight_ring_bytes and\n"
		"faultline_flight_window_seconds (gauges); labels pid and comm.\n"
		"At most 128 clients at once (the oldest still sending its request makes room); "
		"each has 5 s\n"
		"to send its request and 10 s to take the answer.\n"
		"Stops on Ctrl-C, SIGTERM or SIGHUP (run it under systemd, or setsid, to outlive a "
		"terminal).\n"
		"\n"
		"Examples:\n"
		"  sudo faultline serve --match 'vllm serve' --children --listen 127.0.0.1:9464\n"
		"  curl -s http://127.0.0.1:9464/metrics | grep faultline_stall_seconds_count\n"
		"  sudo faultline serve --match 'vllm serve' --children --flight 60s --trigger "
		"ttft=500ms \\\n"
		"       -o /var/lib/faultline/\n");
}

/* Serve's own options; the shared ones went to cli_session_opt(). */
static int serve_opt(struct serve *sv, int c, const char *arg)
{
	switch (c) {
	case OPT_MATCH:
		if (!*arg) {
			fl_err("--match: the pattern is empty");
			return -EINVAL;
		}
		sv->match = arg;
		return 0;
	case 'l':
		sv->listen = arg;
		return 0;
	case 'o':
		sv->output = arg;
		return 0;
	case FLIGHT_OPT_FLIGHT ... FLIGHT_OPT_DUMP_ON_EXIT:
		return flight_opt(&sv->fl, c, arg);
	case 'h':
		usage(stdout);
		exit(0);
	default:
		return cli_try_help("serve");
	}
}

static int parse_args(struct serve *sv, int argc, char **argv)
{
	static const struct option longopts[] = {CLI_LONGOPTS_SESSION,
						 {"match", required_argument, NULL, OPT_MATCH},
						 {"listen", required_argument, NULL, 'l'},
						 {"output", required_argument, NULL, 'o'},
						 FLIGHT_LONGOPTS,
						 {}};
	int c, err;

	sv->listen = "127.0.0.1:9464";
	sv->sopts.alloc_mode = FL_ALLOC_OFF;
	sv->sopts.bpf_stats = true; /* faultline_bpf_run_seconds_total */
	flight_defaults(&sv->fl);
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:l:o:vh", longopts, NULL)) != -1) {
		err = cli_session_opt(&sv->sopts, c, optarg);
		if (err == CLI_NOT_MINE)
			err = serve_opt(sv, c, optarg);
		if (err)
			return err;
	}
	if (cli_no_operands("serve", "", argc, argv))
		return -EINVAL;
	if (!sv->sopts.npids == !sv->match) {
		fl_err("serve: give either -p PID or --match PATTERN");
		return -EINVAL;
	}
	if (flight_check_opts(&sv->fl, "serve"))
		return -EINVAL;
	if (sv->output && !sv->fl.on) {
		fl_err("serve: -o names where --flight dumps go; give --flight TIME too");
		return -EINVAL;
	}
	if (sv->fl.ttft_ns && sv->sopts.wire_off) {
		fl_err("serve: --trigger ttft needs the requests on the wire: drop --wire off");
		return -EINVAL;
	}
	sv->fl.dir = sv->output ? sv->output : ".";
	sv->argc = argc;
	sv->argv = argv;
	return cli_check_pids(&sv->sopts);
}

/* --- the listening socket ------------------------------------------------------------- */

/* "127.0.0.1:9464", "localhost:9464", "[::1]:9464" -> host and port. */
int serve_parse_listen(const char *spec, char *host, size_t hlen, uint16_t *port)
{
	const char *colon;
	uint64_t v;
	size_t n;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		n = end - spec - 1;
		colon = end + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', colon - spec))
			return -EINVAL;
		n = colon - spec;
	}
	if (!n || n >= hlen || parse_u64(colon + 1, 0, 65535, &v))
		return -EINVAL;
	memcpy(host, spec, n);
	host[n] = 0;
	*port = (uint16_t)v;
	return 0;
}

static void describe_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	}
}

static int bind_one(struct serve *sv, const struct addrinfo *ai)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, fd, err;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	describe_addr(ai->ai_addr, sv->where, sizeof(sv->where));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
		describe_addr((struct sockaddr *)&ss, sv->where, sizeof(sv->where));
	sv->lfd = fd;
	return 0;
}

static int open_listener(struct serve *sv)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[256], port_s[8];
	uint16_t port;
	int err;

	if (serve_parse_listen(sv->listen, host, sizeof(host), &port)) {
		fl_err("--listen '%s': expected HOST:PORT (127.0.0.1:9464, [::1]:9464)",
		       sv->listen);
		return -EINVAL;
	}
	snprintf(port_s, sizeof(port_s), "%u", port);
	err = getaddrinfo(host, port_s, &hints, &res);
	if (err) {
		fl_err("--listen '%s': cannot resolve '%s': %s", sv->listen, host,
		       gai_strerror(err));
		return -EINVAL;
	}
	err = bind_one(sv, res);
	freeaddrinfo(res);
	if (err == -EADDRINUSE)
		fl_err(
		    "address %s is in use (another faultline serve or exporter?): choose another "
		    "port with --listen",
		    sv->where);
	else if (err == -EADDRNOTAVAIL)
		fl_err("address %s is not an address of this machine (--listen)", sv->where);
	else if (err)
		fl_err("cannot listen on %s: %s", sv->where, strerror(-err));
	return err;
}

/* --- HTTP ------------------------------------------------------------------------------ */

/*
 * Clients are non-blocking and never waited on: the loop polls them with the listening socket
 * and the ring buffer, a client has REQUEST_TIMEOUT_MS from its accept to send the request
 * head and RESPONSE_TIMEOUT_MS to take the answer, then it is closed. At CLIENTS_MAX the
 * oldest client still sending its request is dropped for the new one (a scraper sends its
 * request at once; what waits is idle); when every slot is answering, the new one gets a 503.
 */
static void client_close(struct serve *sv, struct client *c);

static struct client *client_slot(struct serve *sv)
{
	struct client *oldest = NULL;

	for (int i = 0; i < CLIENTS_MAX; i++) {
		struct client *c = &sv->clients[i];

		if (c->fd < 0)
			return c;
		if (!c->out && (!oldest || c->since_ns < oldest->since_ns))
			oldest = c;
	}
	if (oldest) {
		client_close(sv, oldest);
		sv->m.clients_dropped++;
	}
	return oldest;
}

static void client_close(struct serve *sv, struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	sv->nclients--;
}

/* Queues the whole answer; client_write() sends what the socket takes. */
static void respond(struct client *c, int code, const char *reason, const char *type,
		    const char *body, size_t blen, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, type, blen);
	size_t len = n + (head ? 0 : blen);

	free(c->out);
	c->out = malloc(len);
	c->out_len = c->out_off = 0;
	if (!c->out)
		return; /* closed by client_write: nothing else to say without memory */
	memcpy(c->out, hdr, n);
	if (!head)
		memcpy(c->out + n, body, blen);
	c->out_len = len;
}

/* 1 when C is done (all sent, or it cannot be), 0 while the socket is full. */
static int client_write(struct client *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return 1; /* the client went away: nothing to do */
		c->out_off += n;
	}
	return 1;
}

/* See serve.h. Any bytes may come: the request line is checked before anything is copied. */
int serve_parse_request(const char *buf, size_t len, char *method, size_t mlen, char *path,
			size_t plen)
{
	const char *eol = memchr(buf, '\n', len), *sp, *end;
	size_t m, n;

	if (!memmem(buf, len, "\r\n\r\n", 4) && !memmem(buf, len, "\n\n", 2))
		return len >= SERVE_REQ_MAX ? -E2BIG : 0;
	sp = memchr(buf, ' ', eol - buf);
	if (!sp)
		return -EINVAL;
	m = sp - buf;
	if (!m || m >= mlen)
		return -EINVAL;
	for (size_t i = 0; i < m; i++)
		if (buf[i] < 'A' || buf[i] > 'Z')
			return -EINVAL;
	end = eol > sp + 1 && eol[-1] == '\r' ? eol - 1 : eol;
	for (n = 0; sp + 1 + n < end && sp[1 + n] != ' '; n++)
		if ((unsigned char)sp[1 + n] <= 0x20 || sp[1 + n] == 0x7f)
			return -EINVAL; /* no control bytes reach a message or a lookup */
	if (!n || n >= plen || sp[1] != '/')
		return -EINVAL; /* origin-form only: the query cut leaves at least "/" */
	memcpy(method, buf, m);
	method[m] = 0;
	memcpy(path, sp + 1, n);
	path[n] = 0;
	path[strcspn(path, "?")] = 0;
	return 1;
}

static int refresh(struct serve *sv);
static void flight_meta_update(struct serve *sv);

static void serve_metrics(struct serve *sv, struct client *c, bool head)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	refresh(sv);
	f = open_memstream(&body, &len);
	if (!f) {
		respond(c, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, head);
		return;
	}
	serve_render(f, &sv->m);
	fclose(f);
	respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
	free(body);
}

static void answer(struct serve *sv, struct client *c, int parsed, const char *method,
		   const char *path)
{
	static const char help[] =
	    "faultline serve: memory stalls of a process tree as Prometheus metrics.\n"
	    "GET /metrics for the text exposition format (0.0.4).\n";
	bool head = !strcmp(method, "HEAD");

	if (parsed == -E2BIG)
		respond(c, 431, "Request Header Fields Too Large", "text/plain",
			"request head too large\n", 23, false);
	else if (parsed < 0)
		respond(c, 400, "Bad Request", "text/plain", "bad request\n", 12, false);
	else if (strcmp(method, "GET") && !head)
		respond(c, 405, "Method Not Allowed", "text/plain", "GET only\n", 9, false);
	else if (!strcmp(path, "/metrics"))
		serve_metrics(sv, c, head);
	else if (!strcmp(path, "/"))
		respond(c, 200, "OK", "text/plain; charset=utf-8", help, sizeof(help) - 1, head);
	else
		respond(c, 404, "Not Found", "text/plain", "not found: try /metrics\n", 24, head);
}

/* Reads what C sent; answers once the head is complete. 1 when C is done with. */
static int client_read(struct serve *sv, struct client *c)
{
	char method[16] = "", path[1024] = "";
	int parsed;

	for (;;) {
		ssize_t r = recv(c->fd, c->in + c->in_len, SERVE_REQ_MAX - c->in_len, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return 1; /* gone before a whole request */
		c->in_len += r;
		parsed = serve_parse_request(c->in, c->in_len, method, sizeof(method), path,
					     sizeof(path));
		if (parsed)
			break;
	}
	answer(sv, c, parsed, method, path);
	c->deadline_ns = clock_ns(CLOCK_MONOTONIC) + RESPONSE_TIMEOUT_MS * 1000000ull;
	return client_write(c);
}

static void refuse(int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n"
				   "Connection: close\r\nRetry-After: 1\r\n\r\nbusy\n";

	send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT); /* best effort */
	close(fd);
}

static void accept_clients(struct serve *sv)
{
	struct client *c;
	int fd;

	/* a batch at most: a flood of connections must not keep the ring buffer waiting */
	for (int n = 0; n < CLIENTS_MAX; n++) {
		fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			break;
		c = client_slot(sv);
		if (!c) {
			refuse(fd);
			sv->m.clients_refused++;
			continue;
		}
		c->fd = fd;
		c->since_ns = clock_ns(CLOCK_MONOTONIC);
		c->deadline_ns = c->since_ns + REQUEST_TIMEOUT_MS * 1000000ull;
		sv->nclients++;
		if (client_read(sv, c)) /* a scraper's request is usually there already */
			client_close(sv, c);
	}
}

/* Polls results for the clients (PFD[i] for clients[i]); closes those that are done or late. */
static void serve_clients(struct serve *sv, const struct pollfd *pfd)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	for (int i = 0; i < CLIENTS_MAX; i++) {
		struct client *c = &sv->clients[i];
		int done = 0;

		if (c->fd < 0)
			continue;
		if (pfd && pfd[i].fd == c->fd && pfd[i].revents)
			done = c->out ? client_write(c) : client_read(sv, c);
		if (!done && c->deadline_ns <= now) {
			if (!c->out)
				sv->m.clients_timed_out++;
			done = 1;
		}
		if (done)
			client_close(sv, c);
	}
}

/* The earliest client deadline, or ~0. */
static int serve_pending(struct serve *sv)
{
	uint64_t first = ~0ull, now = clock_ns(CLOCK_MONOTONIC);

	for (int i = 0; i < CLIENTS_MAX; i++)
		if (sv->clients[i].fd >= 0 && sv->clients[i].deadline_ns < first)
			first = sv->clients[i].deadline_ns;
	if (first == ~0ull)
		return TICK_MS;
	return first <= now ? 0 : (int)((first - now) / 1000000) + 1;
}

/* --- the target and the aggregates --------------------------------------------------- */

static void set_target(struct serve *sv, int pid)
{
	struct live_proc p = {};

	sv->m.pid = pid;
	sv->m.up = pid > 0;
	if (pid > 0)
		sv->m.last_pid = pid;
	if (pid > 0 && !live_proc_read(pid, &p, false))
		snprintf(sv->m.comm, sizeof(sv->m.comm), "%s", p.comm);
}

/* DST = CUR - BASE over N totals. */
static void since(uint64_t *dst, const uint64_t *cur, const uint64_t *base, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = cur[i] - base[i];
}

#define SINCE(field, cur)                                                                          \
	since((uint64_t *)&sv->m.field, (const uint64_t *)(cur),                                   \
	      (const uint64_t *)&sv->base.field, sizeof(sv->m.field) / sizeof(uint64_t))

/* Requests counted since the target was attached (at their first token, or their end). */
static void refresh_requests(struct serve *sv)
{
	struct livereq *lr = &sv->req;

	livereq_poll(lr, &sv->sess, 0);
	livereq_interval_reset(lr); /* top's exact per-interval TTFTs: not used here */
	SINCE(requests_total, &lr->total);
	SINCE(ttfb_buckets, lr->ttft_buckets);
	SINCE(ttfb_count, &lr->ttft_count);
	SINCE(ttfb_sum_ns, &lr->ttft_sum_ns);
}

/* Accumulates what threads did since the last read: counters survive LRU evictions. */
static int refresh(struct serve *sv)
{
	struct fl_tstat d;
	int err = live_snap_read(&sv->sess, &sv->cur);

	refresh_requests(sv);
	if (err)
		return err;
	live_threads_delta_sum(&sv->prev, &sv->cur, &d);
	for (int c = 0; c < FL_CAUSE_MAX; c++)
		sv->m.stall_ns[c] += d.stall_ns[c];
	sv->m.faults_major += d.faults_major;
	SINCE(hist, sv->cur.hist);
	SINCE(counters, sv->cur.counters);
	SINCE(alloc_hist, sv->cur.alloc_hist);
	SINCE(alloc_ns, sv->cur.alloc_ns);
	sv->m.bpf_run_ns = sv->cur.bpf_run_ns;
	memcpy(sv->m.progs, sv->cur.progs, sizeof(sv->m.progs));
	sv->m.nprogs = sv->cur.nprogs;
	sv->m.bpf_stats_on = sv->cur.bpf_stats_on;
	if (sv->fl.w) {
		sv->m.have_flight = true;
		sv->m.flight_dumps = sv->fl.dumps;
		sv->m.flight_suppressed = sv->fl.suppressed;
		sv->m.flight_failed = sv->fl.failed;
		flight_ring_stat(&sv->fl, &sv->m.flight_ring_bytes, &sv->m.flight_window_ns);
	}
	sv->m.self_cpu_ns = sv->cur.self_cpu_ns;
	live_snap_move(&sv->prev, &sv->cur);
	return 0;
}

static bool any_target(struct serve *sv)
{
	__u32 key;

	session_prune_dead(&sv->sess);
	return bpf_map_get_next_key(bpf_map__fd(sv->sess.skel->maps.targets), NULL, &key) == 0;
}

/*
 * A new target's series (a new pid label) start at 0: what the in-kernel totals hold so far
 * belongs to the one before. Totals read from the kernel move into the base; the sums serve
 * accumulates itself start over.
 */
static void new_series(struct serve *sv)
{
	struct serve_metrics *b = &sv->base, *m = &sv->m;

	refresh(sv);
#define ADD(field)                                                                                 \
	for (size_t i = 0; i < sizeof(m->field) / sizeof(uint64_t); i++)                           \
	((uint64_t *)&b->field)[i] += ((const uint64_t *)&m->field)[i]
	ADD(hist);
	ADD(counters);
	ADD(alloc_hist);
	ADD(alloc_ns);
	ADD(requests_total);
	ADD(ttfb_buckets);
	ADD(ttfb_count);
	ADD(ttfb_sum_ns);
#undef ADD
	memset(m->stall_ns, 0, sizeof(m->stall_ns));
	m->faults_major = 0;
	refresh(sv); /* every series at 0 now */
}

static void attach_match(struct serve *sv)
{
	char cmd[256];
	int pid = live_match(sv->match);

	if (!pid)
		return;
	if (sv->m.last_pid && pid != sv->m.last_pid)
		new_series(sv); /* before the new one is traced: all it does is its own */
	if (session_add_target(&sv->sess, pid))
		return;
	live_session_added(sv->up, pid);
	set_target(sv, pid);
	if (sv->fl.w)
		flight_meta_update(sv);
	live_cmdline(pid, cmd, sizeof(cmd));
	fprintf(stderr, "faultline: attached to pid %d (%s)\n", pid, fl_esc(cmd));
}

/* Once a second: has the target gone, has a new one appeared? */
static void check_target(struct serve *sv)
{
	int pid = sv->m.pid;

	if (pid > 0 && live_pid_running(pid))
		return;
	if (pid > 0) {
		refresh(sv); /* its last counts */
		if (!sv->match && any_target(sv))
			return; /* -p with several pids or --children: others remain */
		sv->m.up = false;
		sv->m.pid = 0;
		session_prune_dead(&sv->sess);
		if (!sv->match) {
			sv->stop_error = "every target has exited";
			return;
		}
		fprintf(stderr, "faultline: pid %d exited; waiting for a process matching '%s'\n",
			pid, sv->match);
	}
	if (sv->match)
		attach_match(sv);
}

/* --- the flight recorder (--flight) --------------------------------------------------- */

/* Into the in-memory ring; a failure is said once (the dumps then lack those events). */
static void flight_append(struct serve *sv, const void *data, size_t size)
{
	int err = fl_writer_append(sv->fl.w, data, size);

	sv->fl_events++;
	if (err && !sv->fl_write_err) {
		sv->fl_write_err = err;
		fl_err("flight: cannot keep events in memory: %s; dumps will lack some",
		       strerror(-err));
	}
}

static void flight_write_event(void *ctx, void *data, size_t size)
{
	flight_append(ctx, data, size);
}

/* livereq's hand-over: every event of the stream, taken as record's on_event takes it. */
static int flight_event(void *ctx, void *data, size_t size)
{
	struct serve *sv = ctx;
	const struct fl_hdr *h = data;
	struct fl_cuda cuda;
	struct proc_ev pe;

	if (h->type == FL_EV_NET) {
		/* parsed, written as FL_EV_REQ by flight_turn: no payload reaches the ring */
		wire_event(sv->fwire, data, size);
		sv->fl_net_events++;
		return 0;
	}
	if (proc_ev_decode(data, size, &pe) && pe.kind == FL_PROC_EXIT)
		wire_proc_exit(sv->fwire, pe.pid, pe.ts_ns);
	flight_on_event(&sv->fl, data, size);
	if (h->type == FL_EV_PROC || h->type == FL_EV_CUDA)
		data = uprobes_on_event(sv->up, data, size, &cuda);
	if (data)
		flight_append(sv, data, size);
	return 0;
}

static void flight_write_request(void *ctx, const struct request *q)
{
	struct fl_req e;

	flight_req_record(q, &e);
	flight_append(ctx, &e, sizeof(e));
}

/* A dump's trailer: what serve knows of the session (record's, less its overhead figures). */
static char *flight_trailer(void *ctx, const char *reason)
{
	struct serve *sv = ctx;
	struct bpf_map *targets = sv->sess.skel->maps.targets;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	__u32 key, *prev = NULL;
	uint64_t faults[2];
	struct jw w;

	if (!f)
		return NULL;
	jw_init(&w, f, false);
	jw_obj_open(&w);
	jw_kstr(&w, "stop_reason", reason);
	jw_key(&w, "clocks");
	meta_clocks(&w);
	jw_ku64(&w, "events", sv->fl_events);
	jw_key(&w, "counters");
	jw_obj_open(&w);
	session_fault_totals(&sv->sess, faults);
	jw_ku64(&w, "faults_user", faults[0]);
	jw_ku64(&w, "faults_kernel", faults[1]);
	jw_ku64(&w, "khugepaged_scans", session_counter(&sv->sess, FL_CNT_KHUGEPAGED_SCAN));
	jw_ku64(&w, "kcompactd_wakes", session_counter(&sv->sess, FL_CNT_KCOMPACTD_WAKE));
	jw_ku64(&w, "compaction_deferred", session_counter(&sv->sess, FL_CNT_COMPACTION_DEFERRED));
	jw_obj_close(&w);
	if (sv->fwire)
		wire_trailer_json(sv->fwire, &w, sv->fl_net_events);
	/* mappings now: regions mapped during the window resolve against these */
	jw_key(&w, "targets_end");
	jw_arr_open(&w);
	while (!bpf_map__get_next_key(targets, prev, &key, sizeof(key))) {
		meta_target(&w, key);
		prev = &key;
	}
	jw_arr_close(&w);
	jw_obj_close(&w);
	fclose(f);
	return buf;
}

/* The dumps' header describes the target now traced: rebuilt at each attach. */
static void flight_meta_update(struct serve *sv)
{
	if (!sv->fl.on)
		return;
	free(sv->meta);
	sv->meta = meta_build(&sv->sess, sv->argc, sv->argv, NULL);
	sv->fl.meta = sv->meta;
}

/* Before any event is read: the ring, and livereq handing every event on to flight_event. */
static int flight_open(struct serve *sv)
{
	int err;

	if (!sv->fl.on)
		return 0;
	sv->fwire = wire_new();
	if (!sv->fwire) {
		fl_err("serve: out of memory");
		return -ENOMEM;
	}
	sv->fl.trailer = flight_trailer;
	sv->fl.trailer_ctx = sv;
	err = flight_start(&sv->fl);
	if (err) {
		fl_err("flight recorder: %s", strerror(-err));
		return err;
	}
	sv->req.next = flight_event;
	sv->req.next_ctx = sv;
	return 0;
}

/* Each turn of the loop (at least every FLIGHT_TICK_MS): events in, triggers, a due dump. */
static void flight_turn(struct serve *sv)
{
	if (!sv->fl.w)
		return;
	livereq_poll(&sv->req, &sv->sess, 0);
	uprobes_huge_emit(sv->up, false, flight_write_event, sv);
	flight_poll(&sv->fl, sv->fwire);
	wire_drain_ended(sv->fwire, flight_write_request, sv);
	fl_writer_tick(sv->fl.w);
}

/* The end: the last events in, then a pending dump (or --dump-on-exit) is written. */
static void flight_end(struct serve *sv)
{
	const char *reason = cli_stop_signal  ? cli_stop_reason(cli_stop_signal)
			     : sv->stop_error ? sv->stop_error
					      : "error";

	if (!sv->fl.w)
		return;
	livereq_poll(&sv->req, &sv->sess, 0);
	uprobes_huge_emit(sv->up, true, flight_write_event, sv);
	wire_finish(sv->fwire); /* requests still open go in, marked incomplete */
	wire_drain_ended(sv->fwire, flight_write_request, sv);
	flight_finish(&sv->fl, reason);
	flight_close(&sv->fl);
}

static void run(struct serve *sv)
{
	struct pollfd p[CLIENTS_MAX + 2];
	uint64_t next = 0;

	while (!cli_stop_signal && !sv->stop_error) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		int timeout;

		flight_turn(sv);
		if (now >= next) {
			check_target(sv);
			uprobes_poll(sv->up);
			refresh(sv);
			next = now + TICK_MS * 1000000ull;
			continue;
		}
		for (int i = 0; i < CLIENTS_MAX; i++)
			p[i] = (struct pollfd){.fd = sv->clients[i].fd,
					       .events = sv->clients[i].out ? POLLOUT : POLLIN};
		p[CLIENTS_MAX] = (struct pollfd){.fd = sv->lfd, .events = POLLIN};
		/* the ring buffer's fd: readable once a batch of request traffic waits (-1: off) */
		p[CLIENTS_MAX + 1] =
		    (struct pollfd){.fd = livereq_fd(&sv->req, &sv->sess), .events = POLLIN};
		timeout = (int)((next - now) / 1000000) + 1;
		if (serve_pending(sv) < timeout)
			timeout = serve_pending(sv);
		if (sv->fl.w && timeout > FLIGHT_TICK_MS)
			timeout = FLIGHT_TICK_MS;
		if (poll(p, CLIENTS_MAX + 2, timeout) < 0)
			continue;
		if (p[CLIENTS_MAX + 1].revents)
			livereq_poll(&sv->req, &sv->sess, 0);
		serve_clients(sv, p);
		if (p[CLIENTS_MAX].revents)
			accept_clients(sv);
	}
}

static int serve_start(struct serve *sv)
{
	int err;

	sv->sopts.emit_events = sv->fl.on;
	err = live_session_open(&sv->sess, &sv->sopts, &sv->up, &sv->req);
	if (!err)
		err = flight_open(sv);
	if (err)
		return err;
	sv->m.have_requests = sv->req.on;
	sv->m.have_alloc = probe_plan_active(&sv->sess.plan, "alloc_calls");
	sv->m.have_fault_dur = probe_plan_active(&sv->sess.plan, "fault_duration");
	if (sv->sopts.npids)
		set_target(sv, sv->sopts.pids[0]);
	else
		attach_match(sv);
	if (!sv->m.pid && sv->match)
		fprintf(stderr, "faultline: no process matches '%s' yet; waiting for one\n",
			sv->match);
	flight_meta_update(sv);
	fprintf(stderr, "faultline: serving http://%s/metrics\n", sv->where);
	return live_snap_read(&sv->sess, &sv->prev);
}

static int clients_open(struct serve *sv)
{
	sv->clients = calloc(CLIENTS_MAX, sizeof(*sv->clients));
	if (!sv->clients) {
		fl_err("serve: out of memory for %d clients", CLIENTS_MAX);
		return -ENOMEM;
	}
	for (int i = 0; i < CLIENTS_MAX; i++)
		sv->clients[i].fd = -1;
	return 0;
}

static void clients_close(struct serve *sv)
{
	for (int i = 0; sv->clients && i < CLIENTS_MAX; i++)
		if (sv->clients[i].fd >= 0)
			client_close(sv, &sv->clients[i]);
	free(sv->clients);
}

int cmd_serve(int argc, char **argv)
{
	struct serve sv = {.lfd = -1};
	int err;

	if (parse_args(&sv, argc, argv))
		return 2;
	if (sv.fl.on && flight_check_dir(sv.fl.dir))
		return 1;
	if (clients_open(&sv))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	cli_catch_stop_signals();
	/* Listen first: a port in use fails at once, before any BPF is loaded. */
	err = open_listener(&sv);
	if (!err)
		err = serve_start(&sv);
	if (!err)
		run(&sv);
	if (sv.stop_error) {
		fl_err("%s; stopping (use --match PATTERN to follow a restarting server)",
		       sv.stop_error);
		err = -ESRCH;
	}
	flight_end(&sv);
	if (sv.lfd >= 0)
		close(sv.lfd);
	clients_close(&sv);
	live_snap_free(&sv.prev);
	live_snap_free(&sv.cur);
	live_session_close(&sv.sess, sv.up, &sv.req);
	wire_free(sv.fwire);
	free(sv.meta);
	return err ? 1 : 0;
}
