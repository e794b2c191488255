// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Client request logs: vLLM bench JSON and JSON lines, converted to CLOCK_MONOTONIC ns. Nothing
 * in them is trusted: every field is type-checked and every message names the line or field.
 */
#include "requests.h"
#include "util.h"
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_WINDOW_NS 5000000ull

struct request *reqlist_add(struct reqlist *l)
{
	struct request *r;

	if (grow_array((void **)&l->v, &l->cap, l->n, sizeof(*l->v), 256))
		return NULL;
	r = &l->v[l->n];
	memset(r, 0, sizeof(*r));
	r->index = l->n++;
	r->wire_match = -1;
	r->fd = -1;
	return r;
}

void reqlist_free(struct reqlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *req_source_name(int source)
{
	static const char *const names[] = {"wire", "bench", "jsonl"};

	return source >= 0 && source < 3 ? names[source] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* Seconds on the log's clock -> CLOCK_MONOTONIC ns; false when it cannot be one. */
static bool secs_to_mono(double s, const struct req_clockmap *cm, uint64_t *out)
{
	double ns = s * 1e9;

	if (!isfinite(s) || s <= 0 || ns >= 9.2e18)
		return false;
	if (cm->clock == REQ_CLOCK_REALTIME)
		ns -= (double)cm->real_minus_mono_ns;
	if (ns <= 0)
		return false;
	*out = (uint64_t)llround(ns);
	return true;
}

static void copy_id(char *dst, const json_t *v)
{
	if (json_is_string(v))
		snprintf(dst, REQ_ID_LEN, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(dst, REQ_ID_LEN, "%lld", (long long)json_integer_value(v));
}

/* --- vLLM bench JSON ------------------------------------------------------------------- */

/* ARR[i] as seconds >= 0; the message names the field and index. */
static int bench_secs(const char *name, const json_t *doc, const char *field, size_t i, double *out,
		      char *err, size_t errlen)
{
	const json_t *v = json_array_get(json_object_get(doc, field), i);

	if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
		return fail(err, errlen, "%s: %s[%zu]: expected seconds as a number >= 0, got %s",
			    name, field, i, v ? type_name(v) : "nothing (array too short)");
	*out = json_number_value(v);
	return 0;
}

static int bench_check_array(const char *name, const json_t *doc, const char *field, size_t n,
			     bool required, char *err, size_t errlen)
{
	const json_t *a = json_object_get(doc, field);

	if (!a && !required)
		return 0;
	if (!json_is_array(a))
		return fail(err, errlen, "%s: '%s' %s", name, field,
			    a ? "is not an array" : "is missing");
	if (json_array_size(a) != n)
		return fail(err, errlen, "%s: '%s' has %zu entries but 'start_times' has %zu", name,
			    field, json_array_size(a), n);
	return 0;
}

/* End of request I: start + e2el when the file has e2els, else start + ttft + sum(itls). */
static double bench_duration(const json_t *doc, size_t i, double ttft)
{
	const json_t *e2el = json_array_get(json_object_get(doc, "e2els"), i);
	const json_t *itls = json_array_get(json_object_get(doc, "itls"), i);
	double d = ttft;
	size_t k;
	json_t *x;

	if (json_is_number(e2el) && isfinite(json_number_value(e2el)) &&
	    json_number_value(e2el) >= 0)
		return json_number_value(e2el);
	json_array_foreach(itls, k, x) if (json_is_number(x) && isfinite(json_number_value(x)) &&
					   json_number_value(x) > 0) d += json_number_value(x);
	return d;
}

static int bench_one(const char *name, const json_t *doc, size_t i, const struct req_clockmap *cm,
		     struct reqlist *out, char *err, size_t errlen)
{
	const json_t *e = json_array_get(json_object_get(doc, "errors"), i);
	double start, ttft, dur;
	struct request *r;
	bool failed;

	if (bench_secs(name, doc, "start_times", i, &start, err, errlen) ||
	    bench_secs(name, doc, "ttfts", i, &ttft, err, errlen))
		return -EINVAL;
	failed = (json_is_string(e) && json_string_length(e)) || ttft <= 0;
	r = reqlist_add(out);
	if (!r)
		return fail(err, errlen, "%s: out of memory", name);
	r->source = REQ_SRC_BENCH;
	r->failed = failed;
	if (!secs_to_mono(start, cm, &r->start_ns))
		return fail(err, errlen, "%s: start_times[%zu]: %g is not a CLOCK_MONOTONIC time",
			    name, i, start);
	dur = bench_duration(doc, i, failed ? 0 : ttft);
	r->first_token_ns = failed ? 0 : r->start_ns + (uint64_t)llround(ttft * 1e9);
	r->end_ns = r->start_ns + (uint64_t)llround(dur * 1e9);
	if (r->end_ns < r->first_token_ns)
		r->end_ns = r->first_token_ns;
	copy_id(r->id, json_array_get(json_object_get(doc, "request_ids"), i));
	if (!r->id[0])
		snprintf(r->id, sizeof(r->id), "#%zu", i);
	return 0;
}

int requests_parse_bench(const char *name, const char *buf, size_t len,
			 const struct req_clockmap *cm, struct reqlist *out, char *err,
			 size_t errlen)
{
	static const char *const optional[] = {"errors", "itls", "output_lens", "request_ids",
					       "e2els"};
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, 0, &jerr), *starts;
	int rc = 0;
	size_t n;

	if (!doc)
		return fail(err, errlen, "%s: line %d: not JSON: %s", name, jerr.line, jerr.text);
	starts = json_object_get(doc, "start_times");
	if (!json_is_object(doc)) {
		rc = fail(err, errlen, "%s: expected a vllm bench JSON object, got %s", name,
			  type_name(doc));
	} else if (!starts) {
		rc = fail(
		    err, errlen,
		    "%s: no 'start_times': this bench result (older vLLM) does not say when each "
		    "request started, so its requests cannot be placed on the recording's clock; "
		    "use a vLLM whose 'vllm bench serve --save-result --save-detailed' writes "
		    "start_times, or give JSON lines with start/first_token/end",
		    name);
	} else if (cm->clock == REQ_CLOCK_REALTIME) {
		rc = fail(err, errlen,
			  "%s: bench JSON start_times are time.perf_counter() "
			  "(CLOCK_MONOTONIC) seconds: drop --clock realtime",
			  name);
	} else if (!(rc = bench_check_array(name, doc, "start_times", json_array_size(starts), true,
					    err, errlen))) {
		n = json_array_size(starts);
		rc = bench_check_array(name, doc, "ttfts", n, true, err, errlen);
		for (size_t k = 0; !rc && k < sizeof(optional) / sizeof(optional[0]); k++)
			rc = bench_check_array(name, doc, optional[k], n, false, err, errlen);
		for (size_t i = 0; !rc && i < n; i++)
			rc = bench_one(name, doc, i, cm, out, err, errlen);
	}
	json_decref(doc);
	return rc;
}

/* --- JSON lines ------------------------------------------------------------------------ */

/* FIELD of line LINE: seconds, or null/absent when OPTIONAL; *have says which. */
static int jsonl_time(const char *name, size_t line, const json_t *o, const char *field,
		      bool optional, const struct req_clockmap *cm, uint64_t *out, bool *have,
		      char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, field);

	*have = false;
	if ((!v || json_is_null(v)) && optional)
		return 0;
	if (!v)
		return fail(err, errlen, "%s:%zu: field '%s' is missing (seconds)", name, line,
			    field);
	if (!json_is_number(v))
		return fail(err, errlen, "%s:%zu: field '%s': expected seconds as a number, got %s",
			    name, line, field, type_name(v));
	if (!secs_to_mono(json_number_value(v), cm, out))
		return fail(err, errlen, "%s:%zu: field '%s': %.6f is not a %s time%s", name, line,
			    field, json_number_value(v),
			    cm->clock == REQ_CLOCK_REALTIME ? "CLOCK_REALTIME" : "CLOCK_MONOTONIC",
			    cm->clock == REQ_CLOCK_MONOTONIC
				? " (realtime seconds? try --clock realtime)"
				: "");
	*have = true;
	return 0;
}

static int jsonl_line(const char *name, size_t line, const char *s, size_t n,
		      const struct req_clockmap *cm, struct reqlist *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o = json_loadb(s, n, 0, &jerr);
	uint64_t start = 0, first = 0, end = 0;
	bool have_first, have_end, have;
	const char *clock;
	struct request *r;
	int rc;

	if (!o)
		return fail(err, errlen, "%s:%zu: not JSON: %s", name, line, jerr.text);
	if (!json_is_object(o)) {
		rc = fail(err, errlen,
			  "%s:%zu: expected an object {\"id\",\"start\",\"first_token\","
			  "\"end\"}, got %s",
			  name, line, type_name(o));
		goto out;
	}
	rc = jsonl_time(name, line, o, "start", false, cm, &start, &have, err, errlen);
	if (!rc)
		rc = jsonl_time(name, line, o, "first_token", true, cm, &first, &have_first, err,
				errlen);
	if (!rc)
		rc = jsonl_time(name, line, o, "end", true, cm, &end, &have_end, err, errlen);
	if (rc)
		goto out;
	if ((have_first && first < start) || (have_end && end < start)) {
		rc = fail(err, errlen,
			  "%s:%zu: times go backwards (first_token or end before start)", name,
			  line);
		goto out;
	}
	r = reqlist_add(out);
	if (!r) {
		rc = fail(err, errlen, "%s: out of memory", name);
		goto out;
	}
	r->source = REQ_SRC_JSONL;
	r->start_ns = start;
	r->first_token_ns = have_first ? first : 0;
	r->failed = !have_first;
	r->end_ns = have_end ? end : have_first ? first : start;
	if (r->end_ns < r->first_token_ns)
		r->end_ns = r->first_token_ns;
	clock = json_string_value(json_object_get(o, "clock"));
	if (clock && strcmp(clock, cm->clock == REQ_CLOCK_REALTIME ? "realtime" : "monotonic") &&
	    !out->clock_mismatch++)
		snprintf(out->clock_said, sizeof(out->clock_said), "%s", clock);
	copy_id(r->id, json_object_get(o, "id"));
	copy_id(r->xrid, json_object_get(o, "x_request_id"));
	if (!r->id[0])
		snprintf(r->id, sizeof(r->id), "line %zu", line);
out:
	json_decref(o);
	return rc;
}

int requests_parse_jsonl(const char *name, const char *buf, size_t len,
			 const struct req_clockmap *cm, struct reqlist *out, char *err,
			 size_t errlen)
{
	size_t line = 0, pos = 0;

	if (cm->clock == REQ_CLOCK_REALTIME && !cm->have_pair)
		return fail(err, errlen,
			    "%s: --clock realtime needs the recording's clock pair "
			    "(metadata 'clocks'), which this recording lacks",
			    name);
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos, k = 0;
		int rc;

		line++;
		pos += n + (nl != NULL);
		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
			k++;
		if (k == n)
			continue;
		rc = jsonl_line(name, line, s, n, cm, out, err, errlen);
		if (rc)
			return rc;
	}
	if (!out->n)
		return fail(err, errlen, "%s: no requests in it (empty file?)", name);
	return 0;
}

static bool looks_like_bench(const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, 0, &jerr);
	bool bench = json_is_object(doc) && !json_object_get(doc, "start");

	json_decref(doc);
	return bench;
}

int requests_parse(const char *name, const char *buf, size_t len, const struct req_clockmap *cm,
		   struct reqlist *out, char *err, size_t errlen)
{
	if (looks_like_bench(buf, len))
		return requests_parse_bench(name, buf, len, cm, out, err, errlen);
	return requests_parse_jsonl(name, buf, len, cm, out, err, errlen);
}

/* --- joining a client log with the wire ------------------------------------------------ */

static int find_by_id(const struct reqlist *wire, const char *id, const bool *taken)
{
	if (!id[0] || id[0] == '#')
		return -1;
	for (size_t i = 0; i < wire->n; i++)
		if (!taken[i] && (!strcmp(wire->v[i].id, id) || !strcmp(wire->v[i].xrid, id)))
			return i;
	return -1;
}

static int find_by_time(const struct reqlist *wire, uint64_t start, const bool *taken)
{
	uint64_t best = MATCH_WINDOW_NS + 1;
	int bi = -1;

	for (size_t i = 0; i < wire->n; i++) {
		uint64_t s = wire->v[i].start_ns, d = s > start ? s - start : start - s;

		if (!taken[i] && d < best) {
			best = d;
			bi = i;
		}
	}
	return bi;
}

size_t requests_match(struct reqlist *file, const struct reqlist *wire)
{
	bool *taken = calloc(wire->n + 1, sizeof(*taken));
	size_t matched = 0;

	if (!taken) {
		fl_nomem();
		return 0;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < file->n; i++) {
			struct request *r = &file->v[i];
			int k;

			if (r->wire_match >= 0)
				continue;
			k = pass ? find_by_time(wire, r->start_ns, taken)
				 : find_by_id(wire, r->id[0] ? r->id : r->xrid, taken);
			if (k < 0 && !pass && r->xrid[0])
				k = find_by_id(wire, r->xrid, taken);
			if (k < 0)
				continue;
			taken[k] = true;
			r->wire_match = k;
			matched++;
		}
	}
	free(taken);
	return matched;
}
