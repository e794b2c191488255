/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --alloc=lite: the memory syscalls (mmap munmap madvise brk mremap) of traced processes, timed,
 * with the caller's ip. Run from the syscall programs of sys.bpf.c, which classify the syscall
 * number first: only these five syscalls get here.
 */
#ifndef FL_MEMSYS_BPF_H
#define FL_MEMSYS_BPF_H

#include "common.bpf.h"

struct memsys_start {
	__u64 ts_ns;
	__u64 addr, len, arg;
	__u64 caller_ip, syscall_ip;
	__u16 op; /* enum fl_memsys_op */
	__u16 advice;
	__u32 dev;    /* mmap of a file: see struct fl_memsys */
	__u16 hflags; /* the event's fl_hdr.flags: FL_F_MAP_* for mmap */
	__u16 pad[3];
	__u64 ino, pgoff;
	char name[FL_MS_NAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct memsys_start);
} memsys_starts SEC(".maps");

/*
 * mmap of a file: the file behind FD, named as mm_filemap_fault names it (dev, inode) and by its
 * dentry's name, so that the report can name the mapping even when the process is gone before
 * anyone reads its /proc/PID/maps.
 */
static __always_inline void memsys_mmap_file(struct memsys_start *s, __u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *f = NULL;
	struct fdtable *fdt;
	const unsigned char *name;

	if ((s->hflags & FL_F_MAP_ANON) || (__s64)fd < 0 || fd > 0xffffff)
		return;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	s->ino = BPF_CORE_READ(f, f_inode, i_ino);
	s->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(s->name, sizeof(s->name), name) < 0)
		s->name[0] = 0;
}

/* OP: fl_memsys_op() of the syscall, not FL_MS_NONE. */
static __always_inline int memsys_enter(struct pt_regs *regs, __u32 op)
{
	struct memsys_start s = {.op = op};
	__u32 tid;
	__u64 a[4], sp, fd, off;

	if (!fl_is_target())
		return 0;
	tid = fl_tid();
	fl_syscall_args(regs, a);
	s.addr = a[0];
	switch (s.op) {
	case FL_MS_MMAP: /* flags in the low half, prot in the high half */
		s.len = a[1];
		s.arg = (a[2] << 32) | (__u32)a[3];
		s.hflags = fl_mmap_flags(a[3], a[2]);
		fl_syscall_args56(regs, &fd, &off);
		s.pgoff = off;
		memsys_mmap_file(&s, fd);
		break;
	case FL_MS_MUNMAP:
		s.len = a[1];
		break;
	case FL_MS_MADVISE:
		s.len = a[1];
		s.arg = a[2];
		s.advice = fl_madv_of(a[2]);
		break;
	case FL_MS_MREMAP: /* old_addr, old_len, new_len, flags */
		s.len = a[2];
		s.arg = a[3];
		break;
	default: /* brk(addr): where the heap starts, for a heap not seen in a maps list */
		s.pgoff =
		    BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), mm, start_brk);
		break;
	}
	s.syscall_ip = BPF_CORE_READ(regs, FL_REGS_IP);
	/* glibc's wrappers are leaf functions: the word at sp is the return address into the
	 * caller, which names the library that asked (libc for malloc, libjemalloc, python...). */
	sp = BPF_CORE_READ(regs, sp);
	if (bpf_probe_read_user(&s.caller_ip, sizeof(s.caller_ip), (void *)sp))
		s.caller_ip = 0;
	s.ts_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&memsys_starts, &tid, &s, BPF_ANY);
	/* RSS before a call that may shrink it (the peak), and after it (fl_rss_due samples growth
	 * by faults at most every 10 ms and would miss both) */
	if (s.op != FL_MS_MMAP)
		fl_rss_now(s.ts_ns);
	return 0;
}

static __always_inline int memsys_exit(__u32 op, long ret)
{
	__u32 tid = fl_tid();
	struct memsys_start *s;
	struct fl_memsys *e;

	s = bpf_map_lookup_elem(&memsys_starts, &tid);
	if (!s)
		return 0;
	if (s->op != op) {
		bpf_map_delete_elem(&memsys_starts, &tid);
		return 0;
	}
	e = fl_reserve(struct fl_memsys, FL_EV_MEMSYS, s->hflags);
	if (e) {
		e->h.ts_ns = s->ts_ns;
		e->pid = fl_tgid();
		e->op = op;
		e->advice = s->advice;
		e->addr = s->addr;
		e->len = s->len;
		e->arg = s->arg;
		e->ret = ret;
		e->dur_ns = bpf_ktime_get_ns() - s->ts_ns;
		e->caller_ip = s->caller_ip;
		e->syscall_ip = s->syscall_ip;
		e->dev = s->dev;
		e->pad = 0;
		e->ino = s->ino;
		e->pgoff = s->pgoff;
		__builtin_memcpy(e->name, s->name, sizeof(e->name));
		fl_submit(e);
	}
	bpf_map_delete_elem(&memsys_starts, &tid);
	fl_rss_now(bpf_ktime_get_ns()); /* mmap too: MAP_POPULATE and MAP_LOCKED take no faults */
	return 0;
}

#endif /* FL_MEMSYS_BPF_H */
