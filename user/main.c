// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "commands.h"
#include "meta.h"
#include "util.h"
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} commands[] = {
    {"record", cmd_record, "record a process tree's memory stalls into faultline.data"},
    {"report", cmd_report, "print what a recording shows (text, --json)"},
    {"diff", cmd_diff, "compare two recordings side by side (text, --json)"},
    {"top", cmd_top, "live view of a process tree's stalls, per thread or cause"},
    {"serve", cmd_serve, "serve live stall metrics to Prometheus (/metrics)"},
    {"doctor", cmd_doctor, "audit node and process settings that delay first tokens"},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: faultline COMMAND [OPTIONS]\n\n"
		"Why was this request's first token late? faultline traces the memory stalls\n"
		"(page faults, reclaim, compaction, khugepaged, mmap_lock) of a running server.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\nRun 'faultline COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("faultline %s\n", FL_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		char name[64];

		if (strcmp(argv[1], commands[i].name))
			continue;
		/* getopt's own messages then read "faultline record: unrecognized option" */
		snprintf(name, sizeof(name), "faultline %s", commands[i].name);
		argv[1] = name;
		return commands[i].fn(argc - 1, argv + 1);
	}
	fl_err("unknown command '%s' (try 'faultline --help')", argv[1]);
	return 2;
}
