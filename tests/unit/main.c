/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#include "unit.h"
#include <stdlib.h>

static struct unit_test *tests;

void unit_register(struct unit_test *t)
{
	t->next = tests;
	tests = t;
}

int main(int argc, char **argv)
{
	int n_pass = 0, n_fail = 0;

	for (struct unit_test *t = tests; t; t = t->next) {
		int failed = 0;

		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		t->fn(&failed);
		printf("%s %s\n", failed ? "FAIL" : "PASS", t->name);
		failed ? n_fail++ : n_pass++;
	}
	printf("unit: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
