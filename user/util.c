// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>
#include "util.h"

int fl_verbose;
bool fl_oom;

int fl_nomem(void)
{
	fl_oom = true;
	return -ENOMEM;
}

void fl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("faultline: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void fl_info(const char *fmt, ...)
{
	va_list ap;

	if (!fl_verbose)
		return;
	fputs("faultline: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "", 1000 },
	};
	char num[32];

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		size_t n = strlen(s), sl = strlen(units[i].suffix);
		uint64_t v;

		if (n <= sl || n - sl >= sizeof(num) || strcmp(s + n - sl, units[i].suffix))
			continue;
		memcpy(num, s, n - sl);
		num[n - sl] = 0;
		if (parse_u64(num, 0, UINT64_MAX / units[i].mult, &v))
			return -EINVAL;
		*out_ms = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int parse_pid_list(const char *s, int *pids, int max, int *n)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (*n >= max) {
			err = -E2BIG;
			break;
		}
		if (parse_u64(tok, 1, 4194304, &v)) {
			err = -EINVAL;
			break;
		}
		pids[(*n)++] = (int)v;
	}
	if (!err && *n == 0)
		err = -EINVAL;
	free(copy);
	return err;
}

uint64_t clock_ns(int clock_id)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

char *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1), *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0 || !buf) {
		int e = errno;

		free(buf);
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
	}
	close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(buf, len, f)) {
		fclose(f);
		buf[0] = 0;
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

void thp_selected(const char *text, char *out, size_t len)
{
	const char *a = strchr(text, '['), *b = a ? strchr(a, ']') : NULL;

	if (!a || !b || (size_t)(b - a - 1) >= len) {
		snprintf(out, len, "%s", text);
		return;
	}
	memcpy(out, a + 1, b - a - 1);
	out[b - a - 1] = 0;
}

int grow_array(void **v, size_t *cap, size_t n, size_t elem_size, size_t min_cap)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : (min_cap ? min_cap : 1);
	/* Sizes come from files and from the wire: an overflow is a failure, not a small block. */
	if (!elem_size || ncap < *cap || ncap > PTRDIFF_MAX / elem_size)
		return fl_nomem();
	nv = realloc(*v, ncap * elem_size);
	if (!nv)
		return fl_nomem();
	*v = nv;
	*cap = ncap;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	const char *u;
	double v;
	char *end;
	int shift = 0;

	if (!s || !(*s >= '0' && *s <= '9'))
		return -EINVAL; /* no sign, no space, no "inf" or "nan" */
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || strspn(s, "0123456789.") != (size_t)(end - s))
		return -EINVAL; /* no exponent, no hex */
	if (*end && (u = strchr(units, *end >= 'a' ? *end - 32 : *end))) {
		shift = 10 * (int)(u - units + 1);
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	} else if (!strcmp(end, "B")) {
		end++;
	}
	if (*end)
		return -EINVAL;
	v = ldexp(v, shift);
	if (v >= 18446744073709551616.0)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

const char *fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

const char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
	return buf;
}
