// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The allocator model built from a real record file (written with the record layer, read with
 * model_build): the trailer's alloc member decoded once into typed structs (functions with their
 * percentiles, threads, libraries and symbols), each process's command, and the one RSS decode
 * with the trend of the program a process runs last.
 */
#include "alloc_model.h"
#include "alloc_report.h"
#include "jw.h"
#include "model.h"
#include "recfile.h"
#include "unit.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S 1000000000ull

static const char *const meta =
    "{\"targets\":[{\"pid\":100,\"comm\":\"server\"},{\"pid\":300,\"comm\":\"worker\"}]}";

/* malloc: 900 calls in [64, 127] ns and 100 in [4096, 8191], the slowest 4200 ns; free: 3 in
 * [2, 3] ns and no max recorded. */
static const char *const trailer =
    "{\"alloc\":{\"mode\":\"full\",\"cuda\":\"auto\",\"slow_ns\":50000,"
    "\"functions\":["
    "{\"func\":\"malloc\",\"count\":1000,\"total_ns\":500000,\"max_ns\":4200,\"bytes\":64000,"
    "\"hist\":[0,0,0,0,0,0,900,0,0,0,0,0,100,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},"
    "{\"func\":\"free\",\"count\":3,\"total_ns\":9,\"max_ns\":0,\"bytes\":0,\"hist\":[0,3]}],"
    "\"threads\":[{\"tid\":101,\"pid\":100,\"calls\":1003,\"total_ns\":500009,"
    "\"by_func\":{\"malloc\":1000,\"free\":3,\"no_such_fn\":7}}],"
    "\"processes\":[{\"pid\":100,\"code_maps\":\"\",\"libraries\":["
    "{\"path\":\"/lib/libc.so.6\",\"kind\":\"allocator\",\"allocator\":\"glibc\","
    "\"attached_ns\":1,\"detached\":\"process exited\",\"error\":null,\"symbols\":["
    "{\"name\":\"malloc\",\"func\":\"malloc\",\"probed\":true,\"status\":\"probed\",\"offset\":16},"
    "{\"name\":\"aligned_alloc\",\"func\":\"aligned_alloc\",\"probed\":false,"
    "\"status\":\"same address as memalign: counted there\",\"offset\":32}]},"
    "{\"path\":\"/lib/libcudart.so.12\",\"kind\":\"cudart\",\"allocator\":null,"
    "\"attached_ns\":2,\"detached\":null,\"error\":\"no symbols\",\"symbols\":[]}]}]}}";

static int put_rss(struct fl_writer *w, uint32_t pid, uint64_t ts, int64_t anon)
{
	struct fl_rss e = {.h = {.type = FL_EV_RSS, .tid = pid, .ts_ns = ts}, .pid = pid};

	e.pages[FL_RSS_ANON] = anon;
	return fl_writer_append(w, &e, sizeof(e));
}

static int put_exec(struct fl_writer *w, uint32_t pid, uint64_t ts, const char *comm)
{
	struct fl_proc e = {
	    .h = {.type = FL_EV_PROC, .tid = pid, .ts_ns = ts}, .pid = pid, .kind = FL_PROC_EXEC};

	strncpy(e.comm, comm, sizeof(e.comm) - 1);
	return fl_writer_append(w, &e, sizeof(e));
}

/* Writes the file: pid 100 runs 100 pages, execs python3, which goes 50 -> 300 pages and exits
 * (0); pid 200 (named nowhere) and pid 300 (a target) have one sample each. */
static int write_file(const char *path, const char *trl)
{
	struct fl_writer *w;
	int err;

	if (fl_writer_open(&w, path, meta))
		return -1;
	err = put_rss(w, 100, 1 * S, 0) || put_rss(w, 100, 2 * S, 100) ||
	      put_exec(w, 100, 2 * S + 1, "python3") || put_rss(w, 100, 3 * S, 50) ||
	      put_rss(w, 100, 5 * S, 300) || put_rss(w, 100, 6 * S, 0) ||
	      put_rss(w, 200, 4 * S, 10) || put_rss(w, 300, 4 * S, 20);
	return fl_writer_close(w, trl) || err ? -1 : 0;
}

/* M built from the file write_file makes with trailer TRL (in a temporary file, gone after). */
static int build_with(struct model *m, const char *trl)
{
	char path[] = "/tmp/fl-allocmodel-XXXXXX";
	int fd = mkstemp(path), err;

	if (fd < 0)
		return -1;
	close(fd);
	err = write_file(path, trl) || model_build(m, path) ? -1 : 0;
	unlink(path);
	return err;
}

static char *printed(const struct model *m, int what)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;

	jw_init(&w, f, true);
	if (what == 0)
		alloc_print_json(m, &w);
	else if (what == 1)
		rss_print_text(m, f);
	else
		alloc_print_text(m, f);
	fclose(f);
	return buf;
}

static const struct rss_stat *rss_of(const struct model *m, int pid)
{
	for (size_t i = 0; i < m->nrss; i++)
		if (m->rss[i].pid == pid)
			return &m->rss[i];
	return NULL;
}

/* A recording with the probes' cost measured: malloc's 1000 calls in fine slot [768, 832) (log2
 * [512, 1023]), free's 3 in [4608, 5120) (log2 [4096, 8191]); malloc's entry emulated (700 ns),
 * free's stepped (5000 ns). */
static const char *const trailer_calib =
    "{\"alloc\":{\"mode\":\"full\",\"cuda\":\"auto\",\"slow_ns\":50000,"
    "\"probe_calibration\":{\"emulated\":{\"calls\":3000,\"p50_ns\":700,\"p25_ns\":690,"
    "\"p75_ns\":710},\"stepped\":{\"calls\":3000,\"p50_ns\":5000,\"p25_ns\":4800,"
    "\"p75_ns\":5200}},"
    "\"functions\":["
    "{\"func\":\"malloc\",\"count\":1000,\"total_ns\":800000,\"max_ns\":830,\"bytes\":64000,"
    "\"hist\":[0,0,0,0,0,0,0,0,0,1000],\"hist_fine\":[[76,1000]],"
    "\"probe_entry\":\"emulated\",\"probe_overhead_ns\":700},"
    "{\"func\":\"free\",\"count\":3,\"total_ns\":15000,\"max_ns\":5100,\"bytes\":0,"
    "\"hist\":[0,0,0,0,0,0,0,0,0,0,0,0,3],\"hist_fine\":[[97,3]],"
    "\"probe_entry\":\"stepped\",\"probe_overhead_ns\":5000},"
    "{\"func\":\"calloc\",\"count\":2,\"total_ns\":2000,\"max_ns\":1000,\"bytes\":0,"
    "\"hist\":[0,0,0,0,0,0,0,0,0,2],\"hist_fine\":[[76,1]],"
    "\"probe_entry\":\"emulated\",\"probe_overhead_ns\":700}],"
    "\"threads\":[],\"processes\":[]}}";

UNIT_TEST(alloc_model_probe_cost_out)
{
	struct model m = {};
	const struct alloc_model *a;
	char *t;

	CHECK(build_with(&m, trailer_calib) == 0);
	a = m.alloc;
	CHECK(a && a->calibrated && a->nfns == 3);
	if (!a || a->nfns != 3)
		goto out;
	CHECK(fl_fine_slot(800) == 76 && fl_fine_slot(5100) == 97);
	CHECK_EQ_U64(a->fns[0].raw_p50_ns, 799); /* 768 + 64 * 499.5 / 1000 */
	CHECK_EQ_U64(a->fns[0].p50_ns, 99);
	CHECK_EQ_U64(a->fns[0].overhead_ns, 700);
	CHECK_EQ_U64(a->fns[0].noise_ns, 87); /* 700 / 8 over a middle half of 20 */
	CHECK(!a->fns[0].p50_probe);
	CHECK_EQ_U64(a->fns[0].mean_ns, 100);
	CHECK_EQ_U64(a->fns[1].raw_p50_ns, 4864); /* rank 2 of 3 in [4608, 5120) */
	CHECK_EQ_U64(a->fns[1].p50_ns, 0);
	CHECK(a->fns[1].p50_probe);
	CHECK_STR(a->fns[1].probe_entry, "stepped");
	/* calloc's fine histogram has 1 call where the log2 one has 2: not used */
	CHECK(a->fns[2].fine == NULL);
	CHECK_EQ_U64(a->fns[2].raw_p50_ns, 1000); /* the log2 bound, at most the max */
	t = printed(&m, 0);
	CHECK(
	    t &&
	    strstr(t,
		   "\"probe_overhead_ns\": {\n    \"emulated\": 700,\n    \"stepped\": 5000\n  }"));
	CHECK(t && strstr(t, "\"p50_probe_dominated\": true"));
	free(t);
	t = printed(&m, 2);
	CHECK(t && strstr(t, "probe cost per call"));
	CHECK(t && strstr(t, "stepped    5.0 us"));
	CHECK(t && strstr(t, "0 ns*"));
	free(t);
out:
	model_free(&m);
}

UNIT_TEST(alloc_model_decodes_trailer_once)
{
	struct model m = {};
	const struct alloc_model *a;
	char *t;

	CHECK(build_with(&m, trailer) == 0);
	a = m.alloc;
	CHECK(a != NULL);
	if (!a)
		goto out;
	CHECK_STR(alloc_mode(&m), "full");
	CHECK(alloc_mode_is(&m, "full"));
	CHECK_STR(a->cuda_mode, "auto");
	CHECK_EQ_U64(a->slow_ns, 50000);
	CHECK_EQ_U64(a->nfns, 2);
	CHECK_STR(a->fns[0].name, "malloc");
	CHECK_EQ_U64(a->fns[0].count, 1000);
	CHECK_EQ_U64(a->fns[0].bytes, 64000);
	CHECK_EQ_U64(log2hist_total(a->fns[0].hist.slots), 1000);
	CHECK_EQ_U64(a->fns[0].p50_ns, 127);  /* rank 500: slot [64, 127] */
	CHECK_EQ_U64(a->fns[0].p99_ns, 4200); /* slot [4096, 8191], never above the max */
	CHECK_STR(a->fns[1].name, "free");
	CHECK_EQ_U64(a->fns[1].p99_ns, 3); /* no max recorded: the slot's bound */
	CHECK_EQ_U64(a->nthreads, 1);
	CHECK_EQ_U64(a->threads[0].tid, 101);
	CHECK_EQ_U64(a->threads[0].by_func[FL_AF_MALLOC], 1000);
	CHECK_EQ_U64(a->threads[0].by_func[FL_AF_FREE], 3); /* an unknown name is dropped */
	CHECK_EQ_U64(a->nlibs, 2);
	CHECK(alloc_lib_is_allocator(&a->libs[0]) && !alloc_lib_is_cuda(&a->libs[0]));
	CHECK(alloc_lib_is_cuda(&a->libs[1]) && !alloc_lib_is_allocator(&a->libs[1]));
	CHECK_EQ_U64(a->libs[0].pid, 100);
	CHECK_STR(a->libs[0].allocator, "glibc");
	CHECK_EQ_U64(a->libs[0].nsyms, 2);
	CHECK(a->libs[0].syms[0].probed && !a->libs[0].syms[1].probed);
	CHECK_EQ_U64(a->libs[0].syms[1].offset, 32);
	CHECK(a->libs[1].allocator == NULL);
	CHECK_STR(a->libs[1].error, "no symbols");
	/* commands: the exec's over the target list's, the target list's, none */
	CHECK_STR(alloc_proc_comm(&m, 100), "python3");
	CHECK_STR(alloc_proc_comm(&m, 300), "worker");
	CHECK_STR(alloc_proc_comm(&m, 200), "?");

	/* the printers copy the decoded figures; the trailer's arrays stay on one line */
	t = printed(&m, 0);
	CHECK(t && strstr(t, "\"threads\": [{\"tid\":101,\"pid\":100,\"calls\":1003,"
			     "\"total_ns\":500009,\"by_func\":{\"malloc\":1000,\"free\":3}}]"));
	CHECK(t && strstr(t, "\"p99_ns\": 4200"));
	CHECK(t && strstr(t, "{\"name\":\"aligned_alloc\",\"func\":\"aligned_alloc\","
			     "\"probed\":false,\"status\":\"same address as memalign: counted "
			     "there\",\"offset\":32}"));
	free(t);
	t = printed(&m, 2);
	CHECK(t && strstr(t, "Allocator (--alloc=full)"));
	CHECK(t && strstr(t, "allocator: glibc"));
	CHECK(t && strstr(t, "aligned_alloc      same address as memalign"));
	CHECK(t && !strstr(t, "RSS")); /* one RSS section, in the report's memory part */
	free(t);
out:
	model_free(&m);
}

UNIT_TEST(alloc_model_one_rss_decode)
{
	const struct rss_stat *r;
	struct model m = {};
	char *t;

	CHECK(build_with(&m, "{}") == 0);
	CHECK_STR(alloc_mode(&m), "unknown (no trailer)");
	r = rss_of(&m, 100);
	CHECK(r != NULL);
	if (!r)
		goto out;
	/* over the session: both images */
	CHECK_EQ_U64(r->samples, 5);
	CHECK_EQ_U64(r->min_pages, 0);
	CHECK_EQ_U64(r->max_pages, 300);
	/* the program it ran last: from its first sample above 0 to its last */
	CHECK_EQ_U64(r->img_samples, 3);
	CHECK_EQ_U64(r->img_first, 50);
	CHECK_EQ_U64(r->img_last, 300);
	CHECK_EQ_U64(r->img_peak, 300);
	CHECK_EQ_U64(r->img_first_ts, 3 * S);
	CHECK_EQ_U64(r->img_last_ts, 5 * S);
	t = printed(&m, 1);
	CHECK(t && strstr(t, "\nRSS (largest first)\n  pid 100      min 0 B          max 1.2 MiB"));
	/* 250 pages more in 2 s: 0.49 MiB/s */
	CHECK(t && strstr(t, "    python3: first 200.0 KiB, last 1.2 MiB, peak 1.2 MiB over 2.0 s, "
			     "rate +0.5 MiB/s\n"));
	CHECK(t && strstr(t, "    worker: first 80.0 KiB"));
	CHECK(t && strstr(t, "    ?: first 40.0 KiB"));
	if (getenv("UNIT_SHOW"))
		fputs(t, stderr);
	free(t);
	t = printed(&m, 0);
	CHECK(t && strstr(t, "\"comm\": \"python3\",\n      \"first_bytes\": 204800,"));
	free(t);
out:
	model_free(&m);
}

/* Five processes larger over the session than a sixth whose program now is the largest: the
 * sixth is shown too (the trend of the three largest programs run last always was). */
UNIT_TEST(alloc_model_rss_section_keeps_largest_last_images)
{
	char path[] = "/tmp/fl-allocmodel-XXXXXX";
	int fd = mkstemp(path), err = 0;
	struct fl_writer *w = NULL;
	struct model m = {};
	char *t;

	CHECK(fd >= 0);
	close(fd);
	CHECK(fl_writer_open(&w, path, meta) == 0);
	if (!w)
		return;
	for (uint32_t pid = 401; pid <= 405; pid++)
		err = err || put_rss(w, pid, 1 * S, 1000) || put_exec(w, pid, 2 * S, "small") ||
		      put_rss(w, pid, 3 * S, 1);
	/* the three largest programs run last: 500's, 600's, and 401's (1 page, the lowest pid) */
	err = err || put_rss(w, 500, 1 * S, 500) || put_rss(w, 600, 1 * S, 2) ||
	      put_rss(w, 700, 1 * S, 1);
	CHECK(fl_writer_close(w, "{}") == 0 && !err);
	CHECK(model_build(&m, path) == 0);
	t = printed(&m, 1);
	CHECK(t && strstr(t, "  pid 405      min 4.0 KiB      max 3.9 MiB"));
	CHECK(t && strstr(t, "\n  pid 500      min 2.0 MiB      max 2.0 MiB"));
	CHECK(t && strstr(t, "  ... and 1 more processes, the programs they run last peaking at "
			     "4.0 KiB or less (all of them in --json)\n"));
	CHECK(t && strstr(t, "\n  pid 600      min 8.0 KiB      max 8.0 KiB"));
	CHECK(t && !strstr(t, "pid 700"));
	if (getenv("UNIT_SHOW"))
		fputs(t, stderr);
	free(t);
	model_free(&m);
	unlink(path);
}
