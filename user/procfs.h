/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The /proc readers: /proc/PID/stat, /proc/PID/maps (parsed from the live file or from the text
 * stored in a record) and /proc/PID/pagemap.
 */
#ifndef FL_PROCFS_H
#define FL_PROCFS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The fields of /proc/PID/stat that faultline reads. */
struct proc_stat {
	char comm[64]; /* between the first '(' and the last ')' */
	char state;    /* 'R', 'S', 'Z', 'X'... */
	int ppid;
	unsigned long flags;	      /* PF_*: PF_KTHREAD 0x00200000 */
	unsigned long long starttime; /* clock ticks after boot */
};

/* Parses the text of /proc/PID/stat. The comm may hold spaces, parentheses and newlines: the
 * fields are read after the LAST ')'. 0 or -EINVAL. */
int proc_stat_parse(const char *text, struct proc_stat *st);
/* Reads and parses /proc/PID/stat. 0 or -errno (-ENOENT: no such process). */
int proc_stat_read(int pid, struct proc_stat *st);
/* PID's parent, or -1 when PID is gone or unreadable. */
int proc_ppid(int pid);

struct vma {
	uint64_t start, end, offset, inode;
	uint64_t dev; /* makedev() of the maps "maj:min": compares with st_dev */
	char perms[5];
	char *path; /* "" for anonymous */
};

struct vmas {
	struct vma *v;
	size_t n, cap;
};

/* Parses maps TEXT (as in /proc/PID/maps) into VMAS, sorted by start. 0 or -errno. */
int vmas_parse(struct vmas *vmas, const char *text);
/* Reads /proc/PID/maps as text (caller frees), NULL with errno on failure. */
char *maps_read(int pid);
const struct vma *vmas_find(const struct vmas *vmas, uint64_t addr);
/* A short region name for a fault address: "heap", "[stack]", "anon", or the file's basename. */
const char *vma_region(const struct vma *v);
void vmas_free(struct vmas *vmas);
/* The allocator a process really uses, from its mappings: "jemalloc", "tcmalloc", "mimalloc"
 * or "glibc"; with the library's path in LIB when one was found. */
const char *maps_allocator(const char *maps_text, char *lib, size_t len);

/* Bytes of [addr, addr+len) in PID backed by huge pages (THP or hugetlb), or -errno (-ENODATA:
 * nothing of the range is present). Only the mapped parts are walked, at most 65536 2 MiB blocks
 * of them (beyond that, sampled); /proc/kpageflags needs CAP_SYS_ADMIN. */
int64_t huge_backed_bytes(int pid, uint64_t addr, uint64_t len);
/* The same, giving up with -EINTR once *STOP is set (a walk on a worker thread). */
int64_t huge_backed_bytes_until(int pid, uint64_t addr, uint64_t len, const atomic_bool *stop);

#endif
