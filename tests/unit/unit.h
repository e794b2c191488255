/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A tiny unit-test harness: UNIT_TEST(name) { ... CHECK(cond); } registers itself at start-up. */
#ifndef FL_UNIT_H
#define FL_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(int *failed);
	struct unit_test *next;
};
void unit_register(struct unit_test *t);

#define UNIT_TEST(name)                                                                            \
	static void name(int *unit_failed);                                                        \
	static struct unit_test name##_reg = {#name, name, NULL};                                  \
	__attribute__((constructor)) static void name##_ctor(void)                                 \
	{                                                                                          \
		unit_register(&name##_reg);                                                        \
	}                                                                                          \
	static void name(int *unit_failed)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			*unit_failed = 1;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
	do {                                                                                       \
		uint64_t _a = (a), _b = (b);                                                       \
		if (_a != _b) {                                                                    \
			fprintf(stderr, "  %s:%d: %s == %" PRIu64 ", expected %" PRIu64 "\n",      \
				__FILE__, __LINE__, #a, _a, _b);                                   \
			*unit_failed = 1;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || strcmp(_a, _b)) {                                                       \
			fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,      \
				__LINE__, #a, _a ? _a : "(null)", _b);                             \
			*unit_failed = 1;                                                          \
		}                                                                                  \
	} while (0)

#endif
