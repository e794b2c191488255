/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The mapping timeline: each traced process's address space rebuilt over the session from its
 * /proc/PID/maps at the start, its mmap/munmap/mremap/brk calls (FL_EV_MEMSYS), fork and exec
 * (FL_EV_PROC) and its maps at the end, so that a fault is counted against the mapping that held
 * its address when it happened (m->regions), and file faults against their file (m->files).
 */
#ifndef FL_MAPTL_H
#define FL_MAPTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct maptl;
struct fl_fault;
struct fl_fault_run;
struct fl_fault_dur;
struct fl_file_fault;
struct fl_memsys;
struct proc_ev;
struct vma;

/* Faults of one file (mm_filemap_fault's dev and inode), named at the end. */
struct file_stat {
	uint32_t kdev; /* the kernel's s_dev: major << 20 | minor */
	uint64_t ino;
	char *name, *path;     /* basename; path where a maps list showed it, else NULL */
	uint64_t faults;       /* mm_filemap_fault events */
	uint64_t major;	       /* major faults on its mappings (fault durations' outcome) */
	uint64_t mapped_bytes; /* its largest mapping seen (maps lists, mmap events) */
	bool code;	       /* mapped executable somewhere: a program or library */
};

/* The process P's maps at the start (model.c's load_all_maps): its timeline begins there. */
void maptl_start_maps(struct model *m, int pid);
void maptl_fault(struct model *m, const struct fl_fault *e);
void maptl_fault_run(struct model *m, const struct fl_fault_run *e);
void maptl_fault_dur(struct model *m, const struct fl_fault_dur *e);
void maptl_file_fault(struct model *m, const struct fl_file_fault *e);
void maptl_memsys(struct model *m, const struct fl_memsys *e, size_t len);
void maptl_proc(struct model *m, const struct proc_ev *p);
/* After the trailer's maps are loaded: the faults not placed yet, the files named. */
void maptl_finish(struct model *m);
void maptl_free(struct model *m);
/*
 * The mapping that held PID's ADDR at TS, after maptl_finish: the timeline's, else a maps list
 * of PID (after an exec, a periodic look, the start, the end), else its parent's for a child
 * forked during the session that had not exec'd by TS. *OUT is as a maps line would show it;
 * its path is the file's where a maps list showed it, else the basename an mmap event gave
 * (no '/'), "" for anonymous memory, and lives until maptl_free. 1: found; 0: not found, the
 * process known; -1: no maps list and no event for the process.
 */
int maptl_vma_at(const struct model *m, uint32_t pid, uint64_t ts, uint64_t addr, struct vma *out);

#endif
