// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "jw.h"
#include "util.h"
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w, FILE *f, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->pretty = pretty;
}

static void indent(struct jw *w)
{
	if (!w->pretty)
		return;
	fputc('\n', w->f);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Before a value or key at the current level. */
static void sep(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		fputc(',', w->f);
	w->need_comma[w->depth] = true;
	if (w->depth)
		indent(w);
}

/*
 * Output is always valid UTF-8: well-formed sequences pass, and a byte that starts none (a path
 * or a header from a target can hold any byte) is written as \u00XX of the byte, so a reader
 * sees U+0080-U+00FF in its place (docs/json-schema.md).
 */
void json_escape(FILE *f, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		int l;

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				fprintf(f, "\\u%04x", c);
				break;
			}
			l = utf8_seq_len(u + i, n - i);
			if (!l) {
				fprintf(f, "\\u%04x", c);
				break;
			}
			fwrite(u + i, 1, l, f);
			i += l;
			continue;
		}
		i++;
	}
}

static void open_(struct jw *w, char c)
{
	sep(w);
	fputc(c, w->f);
	if (w->depth + 1 < JW_MAX_DEPTH)
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void close_(struct jw *w, char c)
{
	bool had = w->need_comma[w->depth];

	if (w->depth > 0)
		w->depth--;
	if (had)
		indent(w);
	fputc(c, w->f);
	if (w->depth == 0 && w->pretty)
		fputc('\n', w->f);
}

void jw_obj_open(struct jw *w)
{
	open_(w, '{');
}
void jw_obj_close(struct jw *w)
{
	close_(w, '}');
}
void jw_arr_open(struct jw *w)
{
	open_(w, '[');
}
void jw_arr_close(struct jw *w)
{
	close_(w, ']');
}

void jw_key(struct jw *w, const char *key)
{
	sep(w);
	fputc('"', w->f);
	json_escape(w->f, key, strlen(key));
	fputs(w->pretty ? "\": " : "\":", w->f);
	w->after_key = true;
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	sep(w);
	fputc('"', w->f);
	json_escape(w->f, s, n);
	fputc('"', w->f);
}

void jw_str(struct jw *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	jw_strn(w, s, strlen(s));
}

void jw_u64(struct jw *w, uint64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_i64(struct jw *w, int64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void jw_double(struct jw *w, double v)
{
	sep(w);
	if (isfinite(v))
		fprintf(w->f, "%.6g", v);
	else
		fputs("null", w->f);
}

void jw_bool(struct jw *w, bool v)
{
	sep(w);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w)
{
	sep(w);
	fputs("null", w->f);
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}
void jw_ku64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	jw_u64(w, v);
}
void jw_ki64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_i64(w, v);
}
void jw_kdouble(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	jw_double(w, v);
}
void jw_kbool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_inline_begin(struct jw *w)
{
	w->inline_saved = w->pretty;
	w->pretty = false;
}

void jw_inline_end(struct jw *w)
{
	w->pretty = w->inline_saved;
}

void jw_key_raw_value(struct jw *w, const char *json)
{
	sep(w);
	fputs(json, w->f);
}

void jw_jansson(struct jw *w, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s) {
		jw_null(w);
		return;
	}
	jw_key_raw_value(w, s);
	free(s);
}

void jw_jansson_members(struct jw *w, json_t *obj, ...)
{
	const char *name;
	va_list ap;

	va_start(ap, obj);
	while ((name = va_arg(ap, const char *))) {
		jw_key(w, name);
		jw_jansson(w, json_object_get(obj, name));
	}
	va_end(ap);
}
