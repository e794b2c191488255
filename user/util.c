// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

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

int parse_duration(const char *s, uint64_t bare_unit_ns, uint64_t res_ns, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
	    {"ns", 1},
	    {"us", 1000},
	    {"ms", 1000000},
	    {"s", 1000000000ull},
	    {"m", 60000000000ull},
	    {"h", 3600000000000ull},
	};
	uint64_t whole = 0, frac = 0, scale = 1, mult = 0, v;
	const char *p = s;
	int digits = 0;

	if (!s || !res_ns)
		return -EINVAL;
	/* Digits by hand, not strtod: no signs, spaces, exponents, "inf", hex or locale commas. */
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (whole > (UINT64_MAX - (*p - '0')) / 10)
			return -ERANGE;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (scale <=
			    UINT64_MAX / 100) { /* further digits are below any resolution */
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
		}
	}
	if (!digits)
		return -EINVAL;
	if (!*p)
		mult = bare_unit_ns;
	for (size_t i = 0; !mult && i < ARRAY_SIZE(units); i++)
		if (!strcmp(p, units[i].suffix))
			mult = units[i].ns;
	if (!mult)
		return -EINVAL;
	if (mult < res_ns || mult % res_ns) {
		/* a unit finer than the result's (e.g. 1500us in ms): rounded */
		long double x = ((long double)whole + (long double)frac / scale) * mult / res_ns;

		if (x >= 18446744073709551615.0L)
			return -ERANGE;
		*out = (uint64_t)(x + 0.5L);
		return 0;
	}
	mult /= res_ns;
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	/* frac / scale < 1: the fraction adds less than one unit, rounded to the resolution */
	v = whole * mult + (uint64_t)((long double)frac * mult / scale + 0.5L);
	if (v < whole * mult)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *out_ms)
{
	return parse_duration(s, 1000000000ull, 1000000, out_ms);
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
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
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

int open_target_file(const char *path, uint64_t dev, uint64_t ino, char *why, size_t len)
{
	char self[64];
	struct stat st;
	int pfd, fd, err;

	/*
	 * O_PATH first: nothing is opened for reading (opening a device can have side effects, a
	 * FIFO can block) until fstat has shown the mapped regular file; then that very inode is
	 * opened through /proc/self/fd.
	 */
	pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0) {
		err = -errno;
		snprintf(why, len, "skipped: cannot open the file: %s", strerror(errno));
		return err;
	}
	if (fstat(pfd, &st)) {
		err = -errno;
		snprintf(why, len, "skipped: cannot stat the file: %s", strerror(errno));
		close(pfd);
		return err;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, len, "skipped: a symbolic link now, not the mapped file");
		close(pfd);
		return -ELOOP;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "skipped: not a regular file (%s)",
			 S_ISFIFO(st.st_mode)			      ? "a FIFO"
			 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
			 : S_ISSOCK(st.st_mode)			      ? "a socket"
			 : S_ISDIR(st.st_mode)			      ? "a directory"
								      : "not a file");
		close(pfd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_ino != ino || (uint64_t)st.st_dev != dev) {
		snprintf(why, len,
			 "skipped: the file at this path is not the mapped one (device %u:%u inode "
			 "%llu, mapped %u:%u inode %llu)",
			 major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino,
			 major(dev), minor(dev), (unsigned long long)ino);
		close(pfd);
		return -ESTALE;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	if (fd < 0)
		snprintf(why, len, "skipped: cannot open the file: %s", strerror(-err));
	close(pfd);
	return fd < 0 ? err : fd;
}

int utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	int len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	/* the second byte's range rules out overlong forms, surrogates and code points > 10FFFF */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < (size_t)len || s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* The escaped form of the character at U (N bytes left) into PIECE; its input length. */
static int esc_piece(const unsigned char *u, size_t n, char piece[8], size_t *plen)
{
	int l = utf8_seq_len(u, n);

	/* C0, DEL and C1 (U+0080-U+009F: 0xc2 0x80-0x9f) can drive a terminal */
	if (!l || u[0] < 0x20 || u[0] == 0x7f || (l == 2 && u[0] == 0xc2 && u[1] < 0xa0)) {
		*plen = snprintf(piece, 8, "\\x%02x", l == 2 ? u[1] : u[0]);
		return l ? l : 1;
	}
	memcpy(piece, u, l);
	*plen = l;
	return l;
}

char *fl_escape(char *out, size_t outlen, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0, total = 0, plen, reserve;
	char piece[8];

	if (!outlen)
		return out;
	for (size_t i = 0; i < n; total += plen)
		i += esc_piece(u + i, n - i, piece, &plen);
	/* what does not fit whole ends with "...": room for it stays until then */
	reserve = total < outlen ? 1 : 4;
	for (size_t i = 0; i < n;) {
		int l = esc_piece(u + i, n - i, piece, &plen);

		if (o + plen + reserve > outlen) {
			if (outlen >= 4) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, piece, plen);
		o += plen;
		i += l;
	}
	out[o] = 0;
	return out;
}

const char *fl_esc(const char *s)
{
	static __thread char bufs[8][4096];
	static __thread unsigned int next;
	char *b;

	if (!s)
		return NULL;
	b = bufs[next++ % ARRAY_SIZE(bufs)];
	return fl_escape(b, sizeof(bufs[0]), s, strlen(s));
}

size_t lower_bound_u64(const void *base, size_t n, size_t size, size_t off, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t key;

		memcpy(&key, (const char *)base + mid * size + off, sizeof(key));
		if (key < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
