/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef FL_UTIL_H
#define FL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define MAX_ERRNO 4095 /* a syscall returns -errno up to this: the kernel's IS_ERR_VALUE() */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern int fl_verbose;

/* "faultline: " + message to stderr. */
void fl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict parsing: the whole string, base 10, within [min, max]. 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/*
 * The one duration syntax of every option: a number with an optional fraction and a unit ns, us,
 * ms, s, m or h ("1.5", "500ms", "2m", "0.5s"); a bare number is in BARE_UNIT_NS. *OUT is in
 * units of RES_NS (1000000: milliseconds), rounded to the nearest. 0, -EINVAL (not a duration)
 * or -ERANGE (does not fit 64 bits).
 */
int parse_duration(const char *s, uint64_t bare_unit_ns, uint64_t res_ns, uint64_t *out);
/* parse_duration() in milliseconds, bare numbers in seconds: "30", "1.5", "500ms", "2m". */
int parse_duration_ms(const char *s, uint64_t *out_ms);
/* "1,2,3" -> pids; each must be a positive number. */
int parse_pid_list(const char *s, int *pids, int max, int *n);

uint64_t clock_ns(int clock_id);
/* Reads a whole small file (e.g. under /proc or /sys), NUL-terminated; caller frees. */
char *read_file(const char *path, size_t *len);
/* First line of a file, trailing newline removed, into buf. 0 or -errno. */
int read_line(const char *path, char *buf, size_t len);
/* "[always] madvise never" -> "always" */
void thp_selected(const char *sysfs_text, char *out, size_t len);
/*
 * Room for one more element in a growable array: *V holds N of *CAP elements of ELEM_SIZE bytes;
 * when full it doubles (from MIN_CAP). 0, or -ENOMEM with *V and *CAP unchanged. Callers pass
 * (void **)&array, as with libbpf's libbpf_ensure_mem().
 */
int grow_array(void **v, size_t *cap, size_t n, size_t elem_size, size_t min_cap);
/*
 * Opens a file a target names (a library path from /proc/PID/maps, seen through /proc/PID/root)
 * without trusting it: O_NOFOLLOW|O_NONBLOCK (a FIFO or a device must not block us), and fstat
 * must show a regular file with the mapping's device (makedev of the maps "maj:min") and inode.
 * The fd, or -errno with WHY set to a short reason ("not a regular file (a FIFO)").
 */
int open_target_file(const char *path, uint64_t dev, uint64_t ino, char *why, size_t len);
/*
 * Length (1-4) of the well-formed UTF-8 sequence at S (N bytes available), 0 when the byte at S
 * starts none (a stray continuation, an overlong form, a surrogate, a truncated sequence).
 */
int utf8_seq_len(const unsigned char *s, size_t n);
/*
 * Strings a target or a remote client controls (X-Request-Id, paths, comm, cmdline, file names),
 * made safe for a terminal: control characters (C0, DEL, C1) and bytes that are not UTF-8 become
 * "\xNN"; well-formed UTF-8 passes. OUT always ends with a NUL; a string that does not fit ends
 * with "...". Returns OUT.
 */
char *fl_escape(char *out, size_t outlen, const char *s, size_t n);
/*
 * fl_escape() of the C string S into one of a few per-thread buffers, for printf arguments:
 * fprintf(f, "%s", fl_esc(path)). Up to 8 results are valid at a time. NULL stays NULL.
 */
const char *fl_esc(const char *s);
/*
 * Set (never cleared) when an allocation failed: grow_array() sets it, other allocation sites of
 * the report paths call fl_nomem(). A report built with a failed allocation has a hole in it, so
 * report and diff check it and exit with "out of memory" instead of printing it.
 */
extern bool fl_oom;
/* Records an allocation failure (sets fl_oom); returns -ENOMEM. */
int fl_nomem(void);
/* "512M", "2G", "1.5G", "4096", "64KiB" -> bytes (binary units). 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *out);
/* Human-readable sizes and durations. */
const char *fmt_bytes(uint64_t bytes, char *buf, size_t len);
const char *fmt_ns(uint64_t ns, char *buf, size_t len);

/* qsort() that takes an empty array: qsort(NULL, 0, ...) is undefined behaviour in C. */
static inline void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

/*
 * The first of N elements of SIZE bytes at BASE, sorted by the uint64_t at offset OFF of each,
 * whose key is >= X (N when none): a binary search.
 */
size_t lower_bound_u64(const void *base, size_t n, size_t size, size_t off, uint64_t x);

#endif
