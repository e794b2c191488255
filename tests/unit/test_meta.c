/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Command lines in the record header: values that look like secrets are stored as <redacted>
 * (record --keep-cmdline keeps them), and ordinary vLLM flags are left alone.
 */
#include "meta.h"
#include "unit.h"
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const args[] = {"/bin/sh",
				   "-c",
				   "sleep 10; :",
				   "sh",
				   "--api-key",
				   "sk-one",
				   "--token=two",
				   "--hf-token",
				   "three",
				   "--db-password=four",
				   "OPENAI_API_KEY=five",
				   "my-secret-six",
				   "sk-seven",
				   "--max-num-batched-tokens",
				   "8192",
				   "--tokenizer",
				   "t5",
				   "--port",
				   "8000",
				   NULL};

static const char *const redacted[] = {"/bin/sh",
				       "-c",
				       "sleep 10; :",
				       "sh",
				       "--api-key",
				       "<redacted>",
				       "--token=<redacted>",
				       "--hf-token",
				       "<redacted>",
				       "--db-password=<redacted>",
				       "OPENAI_API_KEY=<redacted>",
				       "<redacted>",
				       "<redacted>",
				       "--max-num-batched-tokens",
				       "8192",
				       "--tokenizer",
				       "t5",
				       "--port",
				       "8000",
				       NULL};

/* The cmdline array meta_target writes for PID. */
static json_t *target_cmdline(int pid, json_t **root)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;

	jw_init(&w, f, false);
	meta_target(&w, pid);
	fclose(f);
	*root = json_loads(buf, 0, NULL);
	free(buf);
	return json_object_get(*root, "cmdline");
}

static void check_cmdline(int *unit_failed, int pid, const char *const *want)
{
	json_t *root, *cmd = target_cmdline(pid, &root);
	size_t n = 0;

	while (want[n])
		n++;
	CHECK_EQ_U64(json_array_size(cmd), n);
	for (size_t i = 0; i < n && i < json_array_size(cmd); i++)
		CHECK_STR(json_string_value(json_array_get(cmd, i)), want[i]);
	json_decref(root);
}

UNIT_TEST(meta_redacts_secrets_in_command_lines)
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	for (int i = 0; i < 1000; i++) { /* until it has exec'd (10 s at most) */
		char path[64], buf[16] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			buf[n] = 0;
			fclose(f);
		}
		if (!strcmp(buf, "/bin/sh"))
			break;
		usleep(10000);
	}
	check_cmdline(unit_failed, pid, redacted);
	meta_opts.keep_cmdline = true;
	check_cmdline(unit_failed, pid, args);
	meta_opts.keep_cmdline = false;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
