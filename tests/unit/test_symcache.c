// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Address to symbol: offsets inside functions of this very binary name those functions. */
#include "elfsym.h"
#include "symcache.h"
#include "unit.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

UNIT_TEST(symcache_names_own_functions)
{
	struct elfsym ss[2] = {{.name = "symcache_lookup"}, {.name = "elfsym_resolve"}};
	char path[4096], err[128];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	struct symcache *c = symcache_new();
	const char *name = NULL;
	uint64_t delta = 0;
	struct stat st;
	int fd;

	CHECK(n > 0 && c);
	if (n <= 0 || !c)
		return;
	path[n] = 0;
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && !fstat(fd, &st));
	CHECK(elfsym_resolve(fd, ss, 2, err, sizeof(err)) == 0);
	close(fd);
	CHECK(ss[0].offset && ss[1].offset);
	for (int k = 0; k < 2; k++) {
		CHECK(symcache_lookup(c, path, st.st_dev, st.st_ino, ss[k].offset + 3, &name,
				      &delta));
		CHECK_STR(name, ss[k].name);
		CHECK_EQ_U64(delta, 3);
	}
	/* another inode at that path (the file replaced since the recording): not read */
	CHECK(!symcache_lookup(c, path, st.st_dev, st.st_ino + 1, ss[0].offset, &name, &delta));
	CHECK(!symcache_lookup(c, "/nonexistent/lib.so", 1, 1, 0x1000, &name, &delta));
	symcache_free(c);
}
