// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The streaming JSON writer: escaping, commas at every nesting level, raw values. */
#include "jw.h"
#include "unit.h"
#include <stdlib.h>

struct membuf {
	char *buf;
	size_t len;
	FILE *f;
};

static void mb_open(struct membuf *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
}

static const char *mb_close(struct membuf *m)
{
	fclose(m->f);
	return m->buf;
}

UNIT_TEST(jw_escape_control_chars)
{
	struct membuf m;
	const char in[] = "a\"b\\c\nd\re\tf\x01g\x1f\x7fh\0i";

	mb_open(&m);
	json_escape(m.f, in, sizeof(in) - 1); /* includes the NUL: length, not strlen */
	CHECK_STR(mb_close(&m), "a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\\u007fh\\u0000i");
	free(m.buf);
}

UNIT_TEST(jw_escape_utf8_passes_through)
{
	struct membuf m;
	const char *in = "caf\xc3\xa9 \xe2\x86\x92";

	mb_open(&m);
	json_escape(m.f, in, strlen(in));
	CHECK_STR(mb_close(&m), in);
	free(m.buf);
}

UNIT_TEST(jw_nesting_commas)
{
	struct membuf m;
	struct jw w;

	mb_open(&m);
	jw_init(&w, m.f, false);
	jw_obj_open(&w);
	jw_ku64(&w, "a", 1);
	jw_key(&w, "b");
	jw_arr_open(&w);
	jw_u64(&w, 1);
	jw_obj_open(&w);
	jw_obj_close(&w);
	jw_arr_open(&w);
	jw_arr_close(&w);
	jw_obj_open(&w);
	jw_kstr(&w, "x", NULL);
	jw_kbool(&w, "y", true);
	jw_obj_close(&w);
	jw_i64(&w, -5);
	jw_arr_close(&w);
	jw_kdouble(&w, "c", 0.5);
	jw_kdouble(&w, "nan", 0.0 / 0.0);
	jw_ki64(&w, "d", INT64_MIN);
	jw_ku64(&w, "e", UINT64_MAX);
	jw_key(&w, "f");
	jw_null(&w);
	jw_obj_close(&w);
	CHECK_STR(mb_close(&m), "{\"a\":1,\"b\":[1,{},[],{\"x\":null,\"y\":true},-5],\"c\":0.5,"
				"\"nan\":null,\"d\":-9223372036854775808,"
				"\"e\":18446744073709551615,\"f\":null}");
	free(m.buf);
}

UNIT_TEST(jw_raw_values)
{
	struct membuf m;
	struct jw w;

	mb_open(&m);
	jw_init(&w, m.f, false);
	jw_obj_open(&w);
	jw_key(&w, "arr");
	jw_arr_open(&w);
	jw_key_raw_value(&w, "{\"k\":[1,2]}");
	jw_key_raw_value(&w, "3");
	jw_arr_close(&w);
	jw_key(&w, "raw");
	jw_key_raw_value(&w, "\"s\"");
	jw_ku64(&w, "after", 2);
	jw_obj_close(&w);
	CHECK_STR(mb_close(&m), "{\"arr\":[{\"k\":[1,2]},3],\"raw\":\"s\",\"after\":2}");
	free(m.buf);
}

UNIT_TEST(jw_keys_and_strings_escaped)
{
	struct membuf m;
	struct jw w;

	mb_open(&m);
	jw_init(&w, m.f, false);
	jw_obj_open(&w);
	jw_kstr(&w, "k\"\n", "comm\x1b[31m");
	jw_key(&w, "n");
	jw_strn(&w, "ab\0cd", 5);
	jw_obj_close(&w);
	CHECK_STR(mb_close(&m), "{\"k\\\"\\n\":\"comm\\u001b[31m\",\"n\":\"ab\\u0000cd\"}");
	free(m.buf);
}

UNIT_TEST(jw_pretty_is_valid_shape)
{
	struct membuf m;
	struct jw w;

	mb_open(&m);
	jw_init(&w, m.f, true);
	jw_obj_open(&w);
	jw_ku64(&w, "a", 1);
	jw_key(&w, "b");
	jw_arr_open(&w);
	jw_arr_close(&w);
	jw_obj_close(&w);
	CHECK_STR(mb_close(&m), "{\n  \"a\": 1,\n  \"b\": []\n}\n");
	free(m.buf);
}

UNIT_TEST(jw_escape_invalid_utf8_stays_valid)
{
	struct membuf m;
	/* a lone 0xff, a stray continuation, an overlong '/', a surrogate, a cut-off sequence */
	const char in[] = "/a\xff"
			  "b\x80"
			  "c\xc0\xaf"
			  "d\xed\xa0\x80"
			  "e\xe2\x86";

	mb_open(&m);
	json_escape(m.f, in, sizeof(in) - 1);
	CHECK_STR(mb_close(&m), "/a\\u00ffb\\u0080c\\u00c0\\u00afd\\u00ed\\u00a0\\u0080e\\u00e2"
				"\\u0086");
	free(m.buf);
}

UNIT_TEST(jw_escape_4byte_utf8_passes)
{
	struct membuf m;
	const char *in = "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";

	mb_open(&m);
	json_escape(m.f, in, strlen(in));
	CHECK_STR(mb_close(&m), in);
	free(m.buf);
}
