/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Requests on the wire: accept, read, recv*, write, send* and close on the TCP sockets of traced
 * processes, with the first FL_NET_CAP bytes each way. Only capture happens here; user space
 * (user/wire.c) turns the byte streams into HTTP requests. Unix sockets, pipes and files are
 * filtered out at syscall entry, so vLLM's engine traffic over unix sockets costs one lookup.
 * Run from the syscall programs of sys.bpf.c, which classify the syscall number first
 * (net_classify): only these syscalls get here, at entry and at exit.
 */
#ifndef FL_REQUESTS_BPF_H
#define FL_REQUESTS_BPF_H

#include "common.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* How the syscall's second argument points at the data. */
enum buf_kind { BUF_PLAIN = 0, BUF_IOVEC, BUF_MSGHDR, BUF_NONE };

struct net_call {
	__u64 ts_ns; /* syscall entry */
	__u64 buf;   /* user pointer: data, iovec array or msghdr */
	__s32 fd;
	__u16 dir;  /* enum fl_net_dir */
	__u16 kind; /* enum buf_kind */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct net_call);
} net_calls SEC(".maps");

/* The event is built here and copied out with its real length (the payload is variable). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_net);
} net_scratch SEC(".maps");

/* fd -> struct file -> struct socket -> sock: AF_INET/AF_INET6 TCP stream sockets only. */
static __always_inline bool fd_is_tcp(__s32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (fd < 0 || !fdt || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return false;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return false;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return (family == AF_INET || family == AF_INET6) &&
	       BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

static __always_inline bool net_classify(long nr, __u16 *dir, __u16 *kind)
{
	switch (nr) {
	case FL_NR_READ:
	case FL_NR_RECVFROM:
		*dir = FL_NET_IN, *kind = BUF_PLAIN;
		return true;
	case FL_NR_WRITE:
	case FL_NR_SENDTO:
		*dir = FL_NET_OUT, *kind = BUF_PLAIN;
		return true;
	case FL_NR_READV:
		*dir = FL_NET_IN, *kind = BUF_IOVEC;
		return true;
	case FL_NR_WRITEV:
		*dir = FL_NET_OUT, *kind = BUF_IOVEC;
		return true;
	case FL_NR_RECVMSG:
		*dir = FL_NET_IN, *kind = BUF_MSGHDR;
		return true;
	case FL_NR_SENDMSG:
		*dir = FL_NET_OUT, *kind = BUF_MSGHDR;
		return true;
	case FL_NR_ACCEPT:
	case FL_NR_ACCEPT4:
		*dir = FL_NET_ACCEPT, *kind = BUF_NONE;
		return true;
	case FL_NR_CLOSE:
		*dir = FL_NET_CLOSE, *kind = BUF_NONE;
		return true;
	}
	return false;
}

/* Emits an event of DIR with LEN bytes of payload already in e->data. */
static __always_inline void net_emit(struct fl_net *e, __u64 ts_ns, __s32 fd, __u32 dir,
				     __s64 bytes, __u32 cap)
{
	__u64 size;

	fl_hdr_init(&e->h, FL_EV_NET, 0, ts_ns);
	e->pid = fl_tgid();
	e->fd = fd;
	e->dir = dir;
	e->cap_len = cap;
	e->bytes = bytes;
	size = (sizeof(*e) - FL_NET_CAP + cap + 7) & ~7ull;
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, fl_wakeup_flags()))
		fl_count(FL_CNT_DROPS, 1);
}

static __always_inline struct fl_net *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&net_scratch, &zero);
}

/* DIR and KIND: net_classify() of the syscall. */
static __always_inline int net_enter(struct pt_regs *regs, __u16 dir, __u16 kind)
{
	struct net_call c = {.dir = dir, .kind = kind};
	struct fl_net *e;
	__u32 tid;

	if (!(cfg_emit_events || cfg_emit_net) || !fl_is_target())
		return 0;
	c.fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	if (!fd_is_tcp(c.fd))
		return 0;
	if (c.dir == FL_NET_CLOSE) {
		/* after close the fd is gone: report it now */
		e = scratch();
		if (e)
			net_emit(e, bpf_ktime_get_ns(), c.fd, FL_NET_CLOSE, 0, 0);
		return 0;
	}
	c.ts_ns = bpf_ktime_get_ns();
	c.buf = (__u64)PT_REGS_PARM2_CORE_SYSCALL(regs);
	tid = fl_tid();
	bpf_map_update_elem(&net_calls, &tid, &c, BPF_ANY);
	return 0;
}

/* The user buffer holding the first bytes, and how many of them the call could fill. */
static __always_inline __u64 first_buf(const struct net_call *c, __u64 *len)
{
	struct iovec iov = {};
	struct user_msghdr msg = {};

	*len = ~0ull;
	if (c->kind == BUF_PLAIN)
		return c->buf;
	if (c->kind == BUF_MSGHDR) {
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)c->buf) || !msg.msg_iovlen)
			return 0;
		if (bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov))
			return 0;
	} else if (bpf_probe_read_user(&iov, sizeof(iov), (void *)c->buf)) {
		return 0;
	}
	*len = iov.iov_len;
	return (__u64)iov.iov_base;
}

/* DIR and KIND: net_classify() of the syscall, which must be the one net_enter() saw. */
static __always_inline int net_exit(long ret, __u16 dir, __u16 kind)
{
	__u32 tid = fl_tid();
	struct net_call *cp, c;
	struct fl_net *e;
	__u64 buf, len, cap;

	if (dir == FL_NET_CLOSE) /* reported at entry, nothing kept */
		return 0;
	cp = bpf_map_lookup_elem(&net_calls, &tid);
	if (!cp)
		return 0;
	c = *cp;
	bpf_map_delete_elem(&net_calls, &tid);
	if (c.dir != dir || c.kind != kind) /* not this call's entry (lost exit): drop it */
		return 0;
	if (ret <= 0 && c.dir != FL_NET_ACCEPT)
		return 0;
	if (ret < 0)
		return 0;
	e = scratch();
	if (!e)
		return 0;
	if (c.dir == FL_NET_ACCEPT) {
		net_emit(e, bpf_ktime_get_ns(), (__s32)ret, FL_NET_ACCEPT, 0, 0);
		return 0;
	}
	buf = first_buf(&c, &len);
	cap = ret;
	if (cap > len)
		cap = len;
	if (cap > FL_NET_CAP)
		cap = FL_NET_CAP;
	if (!buf || bpf_probe_read_user(e->data, cap, (void *)buf))
		cap = 0;
	/* inbound data is there at exit; outbound data left at entry (a full socket blocks) */
	net_emit(e, c.dir == FL_NET_IN ? bpf_ktime_get_ns() : c.ts_ns, c.fd, c.dir, ret, cap);
	return 0;
}

#endif /* FL_REQUESTS_BPF_H */
