// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The flight recorder of record --flight and serve --flight (see flight.h). */
#include "flight.h"
#include "recfile.h"
#include "util.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t flight_usr1;

void flight_defaults(struct flight *f)
{
	f->max_bytes = 64 << 20;
	f->after_ms = 5000;
	f->spacing_ms = 10000;
	f->max_dumps = 10;
}

static int flight_time(const char *opt, const char *arg, uint64_t *ms)
{
	if (parse_duration_ms(arg, ms) || !*ms) {
		fl_err("%s '%s': expected a duration such as 30s, 500ms or 2m", opt, arg);
		return -EINVAL;
	}
	return 0;
}

int flight_opt(struct flight *f, int c, const char *arg)
{
	uint64_t ms;
	char *end;

	f->on |= c == FLIGHT_OPT_FLIGHT;
	switch (c) {
	case FLIGHT_OPT_FLIGHT:
		return flight_time("--flight", arg, &f->window_ms);
	case FLIGHT_OPT_BYTES:
		if (parse_size(arg, &f->max_bytes) || f->max_bytes < (1u << 20)) {
			fl_err("--flight-bytes '%s': expected a size of at least 1M (64M, 1G)",
			       arg);
			return -EINVAL;
		}
		return 0;
	case FLIGHT_OPT_TRIGGER: /* thresholds to the microsecond: stall=500us */
		if (!strncmp(arg, "ttft=", 5) && !parse_duration(arg + 5, 1000000000, 1, &ms) &&
		    ms) {
			f->ttft_ns = ms;
			return 0;
		}
		if (!strncmp(arg, "stall=", 6) && !parse_duration(arg + 6, 1000000000, 1, &ms) &&
		    ms) {
			f->stall_ns = ms;
			return 0;
		}
		fl_err("--trigger '%s': expected ttft=TIME or stall=TIME, e.g. ttft=500ms", arg);
		return -EINVAL;
	case FLIGHT_OPT_AFTER:
		if (parse_duration_ms(arg, &f->after_ms)) {
			fl_err("--after '%s': expected a duration such as 5s or 500ms", arg);
			return -EINVAL;
		}
		return 0;
	case FLIGHT_OPT_MAX_DUMPS:
		errno = 0;
		f->max_dumps = strtol(arg, &end, 10);
		if (errno || end == arg || *end || f->max_dumps < 0) {
			fl_err("--max-dumps '%s': expected a number (0: no limit)", arg);
			return -EINVAL;
		}
		return 0;
	case FLIGHT_OPT_MIN_SPACING:
		if (parse_duration_ms(arg, &f->spacing_ms)) {
			fl_err("--min-spacing '%s': expected a duration such as 10s", arg);
			return -EINVAL;
		}
		return 0;
	default: /* FLIGHT_OPT_DUMP_ON_EXIT */
		f->dump_on_exit = true;
		return 0;
	}
}

int flight_check_opts(const struct flight *f, const char *cmd)
{
	if (!f->on && (f->ttft_ns || f->stall_ns || f->dump_on_exit)) {
		fl_err("%s: --trigger and --dump-on-exit need --flight TIME", cmd);
		return -EINVAL;
	}
	return 0;
}

static void flight_on_usr1(int sig)
{
	(void)sig;
	flight_usr1 = 1;
}

static void log_trigger(const char *kind, const char *id, uint64_t value_ns, uint64_t thr_ns,
			const char *what)
{
	char v[32], t[32];

	if (thr_ns)
		fprintf(stderr, "faultline: flight: trigger %s%s%s (%s > %s): %s\n", kind,
			*id ? " " : "", fl_esc(id), fmt_ns(value_ns, v, sizeof(v)),
			fmt_ns(thr_ns, t, sizeof(t)), what);
	else
		fprintf(stderr, "faultline: flight: trigger %s: %s\n", kind, what);
}

/*
 * A trigger starts a dump, due --after from now, or joins the one being collected (which it
 * extends by up to another --after: the ring holds --flight + 2 x --after). Past --max-dumps or
 * within --min-spacing of the last dump, it is only logged and counted.
 */
void flight_trigger(struct flight *f, const char *kind, const char *id, uint64_t value_ns,
		    uint64_t threshold_ns, uint64_t ts_ns)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC), after = f->after_ms * 1000000;
	bool by_hand = !strcmp(kind, "signal") || !strcmp(kind, "exit");
	char what[128];

	if (f->pending) {
		if (by_hand) {
			f->due_ns = now;
		} else if (now + after > f->first_ns + 2 * after) {
			f->suppressed++;
			log_trigger(kind, id, value_ns, threshold_ns,
				    "suppressed (the pending dump cannot be extended further)");
			return;
		} else if (now + after > f->due_ns) {
			f->due_ns = now + after;
		}
		f->triggers++;
		log_trigger(kind, id, value_ns, threshold_ns, "joins the pending dump");
		return;
	}
	if (!by_hand && f->max_dumps && f->dumps >= f->max_dumps) {
		f->suppressed++;
		snprintf(what, sizeof(what), "suppressed (--max-dumps %ld reached)", f->max_dumps);
		log_trigger(kind, id, value_ns, threshold_ns, what);
		return;
	}
	if (!by_hand && f->last_end_ns && now - f->last_end_ns < f->spacing_ms * 1000000) {
		f->suppressed++;
		log_trigger(kind, id, value_ns, threshold_ns,
			    "suppressed (within --min-spacing of the last dump)");
		return;
	}
	f->pending = true;
	f->first_ns = now;
	f->due_ns = by_hand ? now : now + after;
	f->trig_ts = ts_ns;
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->value_ns = value_ns;
	f->threshold_ns = threshold_ns;
	f->triggers = 1;
	snprintf(what, sizeof(what), "dump in %.1f s", by_hand ? 0 : f->after_ms / 1000.0);
	log_trigger(kind, id, value_ns, threshold_ns, what);
}

void flight_on_event(struct flight *f, const void *data, size_t size)
{
	const struct fl_hdr *h = data;

	if (f->stall_ns && h->type == FL_EV_STALL && size >= sizeof(struct fl_stall) &&
	    ((const struct fl_stall *)data)->dur_ns > f->stall_ns)
		flight_trigger(f, "stall", "", ((const struct fl_stall *)data)->dur_ns, f->stall_ns,
			       h->ts_ns);
}

/* --trigger ttft: each request once, as soon as its first token is on the wire. */
static void flight_check_ttft(struct flight *f, const struct wire *wire)
{
	const struct reqlist *l;
	uint64_t seen = f->ttft_seen;

	if (!f->ttft_ns || !wire)
		return;
	l = wire_requests(wire);
	for (size_t i = 0; i < l->n; i++) {
		const struct request *q = &l->v[i];
		uint64_t ft = q->first_token_ns;

		if (!ft || ft <= f->ttft_seen || ft < q->start_ns)
			continue;
		seen = ft > seen ? ft : seen;
		if (ft - q->start_ns > f->ttft_ns)
			flight_trigger(f, "ttft", q->id[0] ? q->id : q->xrid, ft - q->start_ns,
				       f->ttft_ns, q->start_ns);
	}
	f->ttft_seen = seen;
}

/* The recording's header JSON with a "flight" member: the window, its bound, the trigger. */
static char *flight_meta(struct flight *f, const struct fl_ring_info *info, uint64_t since)
{
	json_t *m = json_loads(f->meta ? f->meta : "{}", 0, NULL), *o, *t;
	char *out;

	if (!m || !json_is_object(m)) {
		json_decref(m);
		m = json_object();
	}
	o = json_object();
	t = json_object();
	json_object_set_new(o, "window_ms", json_integer(f->window_ms));
	json_object_set_new(o, "after_ms", json_integer(f->after_ms));
	json_object_set_new(o, "max_bytes", json_integer(f->max_bytes));
	json_object_set_new(o, "bound", json_string(info->bound));
	json_object_set_new(o, "from_ns", json_integer(since));
	json_object_set_new(o, "first_event_ns", json_integer(info->first_ns));
	json_object_set_new(o, "last_event_ns", json_integer(info->last_ns));
	json_object_set_new(o, "ring_bytes", json_integer(info->ring_bytes));
	json_object_set_new(t, "kind", json_string(f->kind));
	json_object_set_new(t, "request_id", json_string(f->id));
	json_object_set_new(t, "ts_ns", json_integer(f->trig_ts));
	json_object_set_new(t, "value_ns", json_integer(f->value_ns));
	json_object_set_new(t, "threshold_ns", json_integer(f->threshold_ns));
	json_object_set_new(t, "triggers", json_integer(f->triggers));
	if (!strcmp(f->kind, "ttft")) {
		json_object_set_new(t, "ttft_ms", json_real(f->value_ns / 1e6));
		json_object_set_new(t, "threshold_ms", json_real(f->threshold_ns / 1e6));
	}
	json_object_set_new(o, "trigger", t);
	json_object_set_new(m, "flight", o);
	out = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return out;
}

/* DIR/faultline-YYYYMMDDTHHMMSS-ID.data; ID keeps [A-Za-z0-9._-], the rest becomes '_'. */
static char *flight_name(struct flight *f, int n)
{
	const char *id = f->id[0] ? f->id : f->kind;
	char stamp[32], clean[65], *path;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (i = 0; id[i] && i < sizeof(clean) - 1; i++)
		clean[i] = (isalnum((unsigned char)id[i]) || strchr("._-", id[i])) &&
				   !(i == 0 && id[i] == '.')
			       ? id[i]
			       : '_';
	clean[i] = 0;
	if (n ? asprintf(&path, "%s/faultline-%s-%s-%d.data", f->dir, stamp, clean, n)
	      : asprintf(&path, "%s/faultline-%s-%s.data", f->dir, stamp, clean) < 0)
		return NULL;
	return path;
}

/* Writes the pending dump: DIR/.faultline-dump.XXXXXX (0600), renamed without replacing. */
static void flight_dump(struct flight *f)
{
	uint64_t since =
	    f->trig_ts > f->window_ms * 1000000 ? f->trig_ts - f->window_ms * 1000000 : 0;
	char *meta = NULL, *trailer = NULL, *tmp = NULL, *path = NULL, why[64];
	struct fl_ring_info info;
	int fd = -1, err;

	f->pending = false;
	err = fl_writer_ring_info(f->w, since, &info);
	if (err)
		goto fail;
	meta = flight_meta(f, &info, since);
	snprintf(why, sizeof(why), "flight trigger: %s", f->kind);
	trailer = f->trailer ? f->trailer(f->trailer_ctx, why) : NULL;
	if (trailer) { /* the dump's own count, not the session's */
		json_t *t = json_loads(trailer, 0, NULL);

		free(trailer);
		trailer = NULL;
		if (t) {
			json_object_set_new(t, "events", json_integer(info.events));
			trailer = json_dumps(t, JSON_COMPACT);
			json_decref(t);
		}
	}
	err = -ENOMEM;
	if (!meta || !trailer || asprintf(&tmp, "%s/.faultline-dump.XXXXXX", f->dir) < 0)
		goto fail;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	err = fl_writer_ring_dump(f->w, fd, since, meta, trailer);
	if (close(fd) && !err)
		err = -errno;
	if (err)
		goto fail;
	for (int n = 0; n < 100; n++) {
		free(path);
		path = flight_name(f, n);
		err = -ENOMEM;
		if (!path)
			goto fail;
		err = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) ? -errno : 0;
		if (err != -EEXIST)
			break;
	}
	if (err)
		goto fail;
	f->dumps++;
	f->last_end_ns = clock_ns(CLOCK_MONOTONIC);
	fprintf(stderr,
		"faultline: flight: wrote %s (%llu events, %.1f s of events, window bound: "
		"%s; dump %ld)\n",
		path, (unsigned long long)info.events,
		info.last_ns > info.first_ns ? (info.last_ns - info.first_ns) / 1e9 : 0.0,
		info.bound, f->dumps);
	goto out;
fail:
	f->failed++;
	fl_err("flight: cannot write the dump in %s: %s; recording continues, the next trigger "
	       "tries again",
	       f->dir, strerror(-err));
	if (tmp)
		unlink(tmp);
out:
	free(tmp);
	free(path);
	free(meta);
	free(trailer);
}

/* Each turn of the loop: SIGUSR1, first tokens, and a dump whose --after has passed. */
void flight_poll(struct flight *f, const struct wire *wire)
{
	if (!f->on)
		return;
	if (flight_usr1) {
		flight_usr1 = 0;
		flight_trigger(f, "signal", "", 0, 0, clock_ns(CLOCK_MONOTONIC));
	}
	flight_check_ttft(f, wire);
	if (f->pending && clock_ns(CLOCK_MONOTONIC) >= f->due_ns)
		flight_dump(f);
}

/* --flight: -o names an existing directory; nothing is created in it before a trigger. */
int flight_check_dir(const char *dir)
{
	struct stat st;

	int err = stat(dir, &st) ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;

	if (err) {
		fl_err("%s: %s; with --flight, -o names the directory the dumps go to (create it "
		       "first)",
		       dir, strerror(err));
		return -err;
	}
	if (access(dir, W_OK | X_OK)) {
		fl_err("%s: cannot write in it: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int flight_start(struct flight *f)
{
	struct sigaction sa = {.sa_handler = flight_on_usr1};
	uint64_t ns = (f->window_ms + 2 * f->after_ms) * 1000000;
	char b[32];
	int err;

	err = fl_writer_open_ring(&f->w, f->max_bytes, ns);
	if (err)
		return err;
	sigaction(SIGUSR1, &sa, NULL);
	fprintf(stderr,
		"faultline: flight recording: the last %.1f s (at most %s compressed) kept in "
		"memory; dumps go to %s/ on a trigger",
		f->window_ms / 1000.0, fmt_bytes(f->max_bytes, b, sizeof(b)), f->dir);
	if (f->ttft_ns)
		fprintf(stderr, ", ttft > %s", fmt_ns(f->ttft_ns, b, sizeof(b)));
	if (f->stall_ns)
		fprintf(stderr, ", stall > %s", fmt_ns(f->stall_ns, b, sizeof(b)));
	fprintf(stderr, ", kill -USR1 %d\n", getpid());
	return 0;
}

void flight_finish(struct flight *f, const char *reason)
{
	if (!f->on || !f->w)
		return;
	/* a trigger's dump is never lost to the end of the session */
	if (!f->pending && f->dump_on_exit)
		flight_trigger(f, "exit", "", 0, 0, clock_ns(CLOCK_MONOTONIC));
	if (f->pending)
		flight_dump(f);
	fprintf(stderr,
		"faultline: flight recorder stopped (%s): %ld dumps, %llu triggers "
		"suppressed, %llu dumps failed\n",
		reason, f->dumps, (unsigned long long)f->suppressed, (unsigned long long)f->failed);
}

void flight_ring_stat(const struct flight *f, uint64_t *bytes, uint64_t *span_ns)
{
	fl_writer_ring_stat(f->w, bytes, span_ns);
}

void flight_close(struct flight *f)
{
	if (f->w)
		fl_writer_close(f->w, NULL);
	f->w = NULL;
}

static void copy_str(char *dst, size_t len, const char *src, size_t srclen)
{
	size_t n = strnlen(src, len - 1 < srclen ? len - 1 : srclen);

	memcpy(dst, src, n); /* DST was zeroed: nothing of the stack reaches the file */
	dst[n] = 0;
}

void flight_req_record(const struct request *q, struct fl_req *e)
{
	char *query;

	memset(e, 0, sizeof(*e));
	e->h.type = FL_EV_REQ;
	e->h.tid = q->tid;
	e->h.ts_ns = q->start_ns;
	e->first_byte_ns = q->first_byte_ns;
	e->first_token_ns = q->first_token_ns;
	e->end_ns = q->end_ns;
	e->in_bytes = q->in_bytes;
	e->out_bytes = q->out_bytes;
	e->pid = q->pid;
	e->fd = q->fd;
	e->status = q->status;
	e->flags = (q->aborted ? FL_REQ_ABORTED : 0) | (q->incomplete ? FL_REQ_INCOMPLETE : 0);
	copy_str(e->method, sizeof(e->method), q->method, sizeof(q->method));
	copy_str(e->path, sizeof(e->path), q->path, sizeof(q->path));
	query = strchr(e->path, '?'); /* query strings carry tokens and prompts */
	if (query)
		memset(query, 0, e->path + sizeof(e->path) - query);
	copy_str(e->xrid, sizeof(e->xrid), q->xrid, sizeof(q->xrid));
	copy_str(e->id, sizeof(e->id), q->id, sizeof(q->id));
}
