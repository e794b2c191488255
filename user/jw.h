/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A streaming JSON writer (bpftool's json_writer in spirit): commas and escaping handled here. */
#ifndef FL_JW_H
#define FL_JW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 64

struct jw {
	FILE *f;
	int depth;
	bool need_comma[JW_MAX_DEPTH];
	bool pretty;
	bool after_key;	   /* the next value follows a key: no comma */
	bool inline_saved; /* pretty, before jw_inline_begin() */
};

void jw_init(struct jw *w, FILE *f, bool pretty);
void jw_obj_open(struct jw *w);
void jw_obj_close(struct jw *w);
void jw_arr_open(struct jw *w);
void jw_arr_close(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* key + value in one call */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_ku64(struct jw *w, const char *key, uint64_t v);
void jw_ki64(struct jw *w, const char *key, int64_t v);
void jw_kdouble(struct jw *w, const char *key, double v);
void jw_kbool(struct jw *w, const char *key, bool v);
/*
 * What is written from jw_inline_begin() to jw_inline_end() goes on one line, compact, within a
 * pretty document (report --json shows the header's objects so). Does not nest.
 */
void jw_inline_begin(struct jw *w);
void jw_inline_end(struct jw *w);
/* A jansson value, spliced in as it is (jansson escapes it); null when V is NULL. */
typedef struct json_t json_t;
void jw_jansson(struct jw *w, json_t *v);
/* Copies the named members of OBJ as keys of the object being written (null where missing);
 * the list of names ends with NULL. */
void jw_jansson_members(struct jw *w, json_t *obj, ...);
/* A value that is already JSON text (e.g. from jansson). */
void jw_key_raw_value(struct jw *w, const char *json);
/* Escapes S as a JSON string body (no quotes) into F. */
void json_escape(FILE *f, const char *s, size_t n);

#endif
