// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The example server's own native memory operations, as vLLM keeps its KV-cache work in its
 * compiled extension (_C.so, custom ops): examples/server.py loads this library with ctypes when
 * it is built (make: .output/examples/libkvops.so) and falls back to Python's mmap.madvise when
 * it is not. A stall these functions cause then has a native call site the example owns, which
 * faultline's stall stacks name ("kv_collapse (libkvops.so)") where Python frames cannot be.
 *
 * Built with frame pointers and without sibling calls, so each function keeps a frame of its own
 * that a user stack walk passes through (a tail call into madvise would leave none).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

/* madvise(MADV_COLLAPSE) of [addr, addr + len): 0, or the errno. */
__attribute__((noinline, visibility("default"))) int kv_collapse(void *addr, size_t len)
{
	int rc = madvise(addr, len, MADV_COLLAPSE);

	return rc ? errno : 0;
}

/* Writes VALUE to one byte of every PAGE bytes of [addr, addr + len) (page faults). */
__attribute__((noinline, visibility("default"))) size_t kv_touch(void *addr, size_t len,
								 size_t page, int value)
{
	volatile uint8_t *p = addr;
	size_t n = 0;

	for (size_t off = 0; page && off < len; off += page, n++)
		p[off] = (uint8_t)value;
	return n;
}
