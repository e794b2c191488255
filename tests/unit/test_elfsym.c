// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ELF address to symbol: this test binary's own functions, found through its own mappings the way
 * the report finds a fault's ip (ip - mapping start + mapping offset). */
#include "elfsym.h"
#include "procfs.h"
#include "unit.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((noinline, noclone)) int elfsym_probe_fn(int x)
{
	return x * 3 + 1;
}

/* The file offset of ADDR in this process and the mapping that holds it. */
static const struct vma *self_offset(struct vmas *vs, const void *addr, uint64_t *off)
{
	char *text = maps_read(getpid());
	const struct vma *v;

	if (!text || vmas_parse(vs, text)) {
		free(text);
		return NULL;
	}
	free(text);
	v = vmas_find(vs, (uint64_t)(uintptr_t)addr);
	if (v)
		*off = (uint64_t)(uintptr_t)addr - v->start + v->offset;
	return v;
}

UNIT_TEST(elfsym_lookup_self)
{
	struct elfsym_cache cache = {};
	const struct elfsym_table *t, *t2;
	const char *err = NULL, *name;
	struct vmas vs = {};
	const struct vma *v;
	uint64_t off = 0, so = 99;
	char tmp[64];
	FILE *f;

	CHECK(elfsym_probe_fn(1) == 4);
	v = self_offset(&vs, (const void *)elfsym_probe_fn, &off);
	CHECK(v && v->path[0] == '/');
	if (!v)
		return;
	t = elfsym_cache_get(&cache, v->path, v->dev, v->inode, &err);
	CHECK(t != NULL);
	if (!t) {
		printf("  %s: %s\n", v->path, err);
		goto out;
	}
	name = elfsym_lookup(t, off, &so);
	CHECK_STR(name ? name : "(none)", "elfsym_probe_fn");
	CHECK_EQ_U64(so, 0);
	name = elfsym_lookup(t, off + 2, &so);
	CHECK_STR(name ? name : "(none)", "elfsym_probe_fn");
	CHECK_EQ_U64(so, 2);
	/* read once: the second ask is the same table */
	t2 = elfsym_cache_get(&cache, v->path, v->dev, v->inode, &err);
	CHECK(t2 == t);
	CHECK_EQ_U64(cache.n, 1);
	/* an offset no segment loads */
	CHECK(!elfsym_lookup(t, 1ull << 50, &so));
	/* another file at that path than the one mapped (inode): refused, with the reason */
	CHECK(!elfsym_cache_get(&cache, v->path, v->dev, v->inode + 1, &err));
	CHECK(err && strstr(err, "not the file that was mapped"));
	/* paths from a recording: a /proc file, a FIFO (would block) and a text file are refused */
	CHECK(!elfsym_cache_get(&cache, "/proc/self/status", 0, 0, &err));
	CHECK(err && strstr(err, "not read"));
	snprintf(tmp, sizeof(tmp), "/tmp/fl-elfsym-%d", (int)getpid());
	CHECK(!mkfifo(tmp, 0600));
	CHECK(!elfsym_cache_get(&cache, tmp, 0, 0, &err));
	CHECK(err && strstr(err, "not a regular file"));
	unlink(tmp);
	strcat(tmp, ".txt"); /* another path: the cache keeps the FIFO's answer */
	f = fopen(tmp, "w");
	CHECK(f && fputs("not ELF\n", f) >= 0);
	if (f)
		fclose(f);
	CHECK(!elfsym_cache_get(&cache, tmp, 0, 0, &err));
	CHECK(err && strstr(err, "not an ELF file"));
	unlink(tmp);
out:
	elfsym_cache_free(&cache);
	vmas_free(&vs);
}

/* Reasons handed out stay valid while the cache grows (the report keeps them per ip). */
UNIT_TEST(elfsym_cache_grows)
{
	struct elfsym_cache cache = {};
	const char *errs[40];
	char path[64];

	for (int i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "/nonexistent/fl-elfsym/lib%d.so", i);
		CHECK(!elfsym_cache_get(&cache, path, 0, 1, &errs[i]));
	}
	CHECK_EQ_U64(cache.n, 40);
	for (int i = 0; i < 40; i++)
		CHECK(errs[i] && strstr(errs[i], "cannot open"));
	/* asked again: the same entry, not a new one */
	CHECK(!elfsym_cache_get(&cache, "/nonexistent/fl-elfsym/lib7.so", 0, 1, &errs[0]));
	CHECK_EQ_U64(cache.n, 40);
	elfsym_cache_free(&cache);
}

/*
 * Name to offset and back: the offsets elfsym_resolve gives (where uprobes attach) name those
 * functions again. Only the mapped file is read: another device or inode at that path, or a
 * symbolic link there now (the maps path is a resolved one), is refused.
 */
UNIT_TEST(elfsym_names_resolved_offsets)
{
	struct elfsym ss[2] = {{.name = "elfsym_lookup"}, {.name = "elfsym_resolve"}};
	char path[4096], link[64], err[256];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	struct elfsym_table *t;
	uint64_t delta = 0;
	const char *name;
	struct stat st;
	int fd;

	CHECK(n > 0);
	if (n <= 0)
		return;
	path[n] = 0;
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && !fstat(fd, &st));
	CHECK(elfsym_resolve(fd, ss, 2, err, sizeof(err)) == 0);
	close(fd);
	CHECK(ss[0].offset && ss[1].offset);
	t = elfsym_table_open(path, st.st_dev, st.st_ino, err, sizeof(err));
	CHECK(t != NULL);
	for (int k = 0; t && k < 2; k++) {
		name = elfsym_lookup(t, ss[k].offset + 3, &delta);
		CHECK_STR(name ? name : "(none)", ss[k].name);
		CHECK_EQ_U64(delta, 3);
	}
	elfsym_table_free(t);
	CHECK(!elfsym_table_open(path, st.st_dev + 1, st.st_ino, err, sizeof(err)));
	CHECK(strstr(err, "not the file that was mapped") != NULL);
	snprintf(link, sizeof(link), "/tmp/fl-elfsym-link-%d", (int)getpid());
	CHECK(!symlink(path, link));
	CHECK(!elfsym_table_open(link, st.st_dev, st.st_ino, err, sizeof(err)));
	CHECK(strstr(err, "symbolic link") != NULL);
	unlink(link);
}
