// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for serve's request-head parser, fed what any local user can send to its port.
 * The input is parsed whole and as serve reads it, in pieces (the first byte picks the piece
 * size), never more than SERVE_REQ_MAX bytes. It checks the parser's promises: a result of 1,
 * 0, -EINVAL or -E2BIG; on 1 an upper-case method and a path without spaces, control bytes or
 * query string; and the same answer for a prefix that was already complete as for the whole.
 */
#include "serve.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int parse(const uint8_t *data, size_t len, char *method, char *path)
{
	char *copy = malloc(len ? len : 1); /* exactly LEN bytes: ASan sees any read past them */
	int r;

	if (!copy)
		return 0;
	memcpy(copy, data, len);
	r = serve_parse_request(copy, len, method, 16, path, 1024);
	free(copy);
	if (r != 1 && r != 0 && r != -EINVAL && r != -E2BIG)
		abort();
	if (r == -E2BIG && len < SERVE_REQ_MAX)
		abort();
	if (r != 1)
		return r;
	if (!method[0] || !path[0] || strchr(path, '?'))
		abort();
	for (const char *c = method; *c; c++)
		if (*c < 'A' || *c > 'Z')
			abort();
	for (const unsigned char *c = (const unsigned char *)path; *c; c++)
		if (*c <= 0x20 || *c == 0x7f)
			abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char m1[16], p1[1024], m2[16], p2[1024];
	size_t step, len = 0;
	int whole, r = 0;

	if (size > SERVE_REQ_MAX)
		size = SERVE_REQ_MAX;
	whole = parse(data, size, m1, p1);
	if (!size)
		return 0;
	step = 1 + data[0] % 64;
	while (len < size && !r) { /* as serve reads: stop at the first answer */
		len = len + step < size ? len + step : size;
		r = parse(data, len, m2, p2);
	}
	if (r == 1 && (whole != 1 || strcmp(m1, m2) || strcmp(p1, p2)))
		abort();
	if (len == size && r != whole)
		abort();
	return 0;
}
