// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline serve: the in-kernel aggregates as Prometheus metrics on a small HTTP/1.1 endpoint
 * (one request per connection, Connection: close). Single-threaded: poll() on the listening
 * socket, and once a second a look at the target (with --match, re-attach to a restarted one).
 * Counters are per target: cumulative since its attach and never going backwards while it is
 * traced; a new target (--match after a restart) is a new series (its pid label) from 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "faultline.skel.h"
#include "cli.h"
#include "commands.h"
#include "live.h"
#include "livereq.h"
#include "model.h"
#include "serve.h"
#include "session.h"
#include "uprobes.h"
#include "util.h"

#define TICK_MS 1000
#define CLIENT_TIMEOUT_MS 2000

enum { OPT_MATCH = CLI_OPT_OWN };

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
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: faultline serve (-p PID[,PID...] | --match PATTERN) [--children] [--listen HOST:PORT]\n"
"\n"
"Serve a process tree's memory stalls as Prometheus metrics (GET /metrics, text format 0.0.4).\n"
"In-kernel aggregates are read at each scrape; the only events are the targets' HTTP traffic\n"
"(first bytes each way), parsed for the request count and time to first byte.\n"
"\n"
"  -p, --pid PID[,PID]     watch these processes; serve exits when they have all exited\n"
"      --match PATTERN     watch the oldest process whose command line contains PATTERN\n"
"                          (like pgrep -f); when it exits, report faultline_up 0 and attach\n"
"                          to the next one that appears (a restarted server)\n"
"      --children          also their descendants, current and future\n"
"  -l, --listen HOST:PORT  where to listen (default 127.0.0.1:9464; [::1]:9464; port 0 picks one)\n"
CLI_USAGE_LIVE_ALLOC_CUDA
"      --wire on|off       requests and their time to first byte from the targets' TCP\n"
"                          sockets (default on)\n"
CLI_USAGE_LIVE_TAIL
"\n"
"Metrics: faultline_up, faultline_page_faults_total{kind}, faultline_stall_seconds{cause}\n"
"(histogram), faultline_alloc_call_seconds, faultline_pinned_call_seconds,\n"
"faultline_requests_total, faultline_request_ttfb_seconds (histogram),\n"
"faultline_events_dropped_total, faultline_bpf_run_seconds_total; labels pid and comm.\n"
"Stops on Ctrl-C, SIGTERM or SIGHUP (run it under systemd, or setsid, to outlive a terminal).\n"
"\n"
"Examples:\n"
"  sudo faultline serve --match 'vllm serve' --children --listen 127.0.0.1:9464\n"
"  curl -s http://127.0.0.1:9464/metrics | grep faultline_stall_seconds_count\n");
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
	case 'h':
		usage(stdout);
		exit(0);
	default:
		return cli_try_help("serve");
	}
}

static int parse_args(struct serve *sv, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_LONGOPTS_SESSION,
		{ "match", required_argument, NULL, OPT_MATCH },
		{ "listen", required_argument, NULL, 'l' },
		{}
	};
	int c, err;

	sv->listen = "127.0.0.1:9464";
	sv->sopts.alloc_mode = FL_ALLOC_OFF;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:l:vh", longopts, NULL)) != -1) {
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
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256], port_s[8];
	uint16_t port;
	int err;

	if (serve_parse_listen(sv->listen, host, sizeof(host), &port)) {
		fl_err("--listen '%s': expected HOST:PORT (127.0.0.1:9464, [::1]:9464)", sv->listen);
		return -EINVAL;
	}
	snprintf(port_s, sizeof(port_s), "%u", port);
	err = getaddrinfo(host, port_s, &hints, &res);
	if (err) {
		fl_err("--listen '%s': cannot resolve '%s': %s", sv->listen, host, gai_strerror(err));
		return -EINVAL;
	}
	err = bind_one(sv, res);
	freeaddrinfo(res);
	if (err == -EADDRINUSE)
		fl_err("address %s is in use (another faultline serve or exporter?): choose another "
		       "port with --listen", sv->where);
	else if (err == -EADDRNOTAVAIL)
		fl_err("address %s is not an address of this machine (--listen)", sv->where);
	else if (err)
		fl_err("cannot listen on %s: %s", sv->where, strerror(-err));
	return err;
}

/* --- HTTP ------------------------------------------------------------------------------ */

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the client went away: nothing to do */
		buf += n;
		len -= n;
	}
}

static void respond(int fd, int code, const char *reason, const char *type, const char *body,
		    size_t blen, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, type, blen);

	write_all(fd, hdr, n);
	if (!head)
		write_all(fd, body, blen);
}

/* Reads the request head (up to the blank line) with a deadline. 0 or -errno. */
static int read_head(int fd, char *buf, size_t len)
{
	uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + CLIENT_TIMEOUT_MS * 1000000ull;
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		ssize_t r;

		if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000) + 1) <= 0)
			return -ETIMEDOUT;
		r = read(fd, buf + n, len - 1 - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -ECONNRESET;
		n += r;
		buf[n] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 0;
	}
	return -E2BIG;
}

static int refresh(struct serve *sv);

static void serve_metrics(struct serve *sv, int fd, bool head)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	refresh(sv);
	f = open_memstream(&body, &len);
	if (!f) {
		respond(fd, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, head);
		return;
	}
	serve_render(f, &sv->m);
	fclose(f);
	respond(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
	free(body);
}

static void handle_client(struct serve *sv, int fd)
{
	static const char help[] =
		"faultline serve: memory stalls of a process tree as Prometheus metrics.\n"
		"GET /metrics for the text exposition format (0.0.4).\n";
	char req[4096], method[16], path[1024];
	bool head;

	if (read_head(fd, req, sizeof(req)) || sscanf(req, "%15s %1023s", method, path) != 2) {
		respond(fd, 400, "Bad Request", "text/plain", "bad request\n", 12, false);
		return;
	}
	path[strcspn(path, "?")] = 0;
	head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head)
		respond(fd, 405, "Method Not Allowed", "text/plain", "GET only\n", 9, false);
	else if (!strcmp(path, "/metrics"))
		serve_metrics(sv, fd, head);
	else if (!strcmp(path, "/"))
		respond(fd, 200, "OK", "text/plain; charset=utf-8", help, sizeof(help) - 1, head);
	else
		respond(fd, 404, "Not Found", "text/plain", "not found: try /metrics\n", 24, head);
}

static void accept_clients(struct serve *sv)
{
	int fd;

	while ((fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		handle_client(sv, fd);
		close(fd);
	}
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

#define SINCE(field, cur) since((uint64_t *)&sv->m.field, (const uint64_t *)(cur), \
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
#define ADD(field)                                                                         \
	for (size_t i = 0; i < sizeof(m->field) / sizeof(uint64_t); i++)                   \
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
	live_cmdline(pid, cmd, sizeof(cmd));
	fprintf(stderr, "faultline: attached to pid %d (%s)\n", pid, cmd);
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
		fprintf(stderr, "faultline: pid %d exited; waiting for a process matching '%s'\n", pid,
			sv->match);
	}
	if (sv->match)
		attach_match(sv);
}

static void run(struct serve *sv)
{
	uint64_t next = 0;

	while (!cli_stop_signal && !sv->stop_error) {
		/* the ring buffer's fd: readable once a batch of request traffic waits (-1: off) */
		struct pollfd p[2] = { { .fd = sv->lfd, .events = POLLIN },
				       { .fd = livereq_fd(&sv->req, &sv->sess),
					 .events = POLLIN } };
		uint64_t now = clock_ns(CLOCK_MONOTONIC);

		if (now >= next) {
			check_target(sv);
			uprobes_poll(sv->up);
			refresh(sv);
			next = now + TICK_MS * 1000000ull;
			continue;
		}
		if (poll(p, 2, (int)((next - now) / 1000000) + 1) <= 0)
			continue;
		if (p[1].revents)
			livereq_poll(&sv->req, &sv->sess, 0);
		if (p[0].revents)
			accept_clients(sv);
	}
}

static int serve_start(struct serve *sv)
{
	int err;

	err = live_session_open(&sv->sess, &sv->sopts, &sv->up, &sv->req);
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
	fprintf(stderr, "faultline: serving http://%s/metrics\n", sv->where);
	return live_snap_read(&sv->sess, &sv->prev);
}

int cmd_serve(int argc, char **argv)
{
	struct serve sv = { .lfd = -1 };
	int err;

	if (parse_args(&sv, argc, argv))
		return 2;
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
	if (sv.lfd >= 0)
		close(sv.lfd);
	live_snap_free(&sv.prev);
	live_snap_free(&sv.cur);
	live_session_close(&sv.sess, sv.up, &sv.req);
	return err ? 1 : 0;
}
