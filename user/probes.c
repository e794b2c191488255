// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "probes.h"
#include "faultline.skel.h"
#include "util.h"
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The table: concern -> choices, best first. Program names are those in bpf/ *.bpf.c. */
static const struct probe_concern concerns[] = {
    {"process_tree",
     "fork/exec/exit of traced processes (keeps --children current)",
     {{ATTACH_TP_BTF, {"fl_fork", "fl_exec", "fl_exit"}}}},
    {"fault_user",
     "every page fault taken in user mode",
     {{ATTACH_TP_BTF, {"fl_pf_user_btf"}}, {ATTACH_RAW_TP, {"fl_pf_user_raw"}}}},
    {"fault_kernel",
     "faults on user memory taken in kernel mode (copy_*_user)",
     {{ATTACH_TP_BTF, {"fl_pf_kernel_btf"}}, {ATTACH_RAW_TP, {"fl_pf_kernel_raw"}}}},
    {"fault_duration",
     "handle_mm_fault duration and outcome (major/minor, retries)",
     {{ATTACH_FENTRY, {"fl_fault_fentry", "fl_fault_fexit"}},
      {ATTACH_KPROBE, {"fl_fault_kprobe", "fl_fault_kretprobe"}}}},
    {"file_fault",
     "faults on file-backed mappings (mmapped weights)",
     {{ATTACH_TP_BTF, {"fl_filemap_fault_btf"}},
      {ATTACH_RAW_TP, {"fl_filemap_fault_raw"}},
      {ATTACH_FENTRY, {"fl_filemap_fault_fentry"}},
      {ATTACH_KPROBE, {"fl_filemap_fault_kprobe"}}}},
    {"direct_reclaim",
     "direct reclaim stalls",
     {{ATTACH_TP_BTF, {"fl_reclaim_begin", "fl_reclaim_end"}}}},
    {"memcg_reclaim",
     "memory cgroup reclaim stalls",
     {{ATTACH_TP_BTF, {"fl_memcg_reclaim_begin", "fl_memcg_reclaim_end"}}}},
    {"direct_compaction",
     "direct compaction stalls",
     {{ATTACH_TP_BTF, {"fl_compact_try", "fl_compact_end", "fl_compact_deferred"}}}},
    {"kcompactd",
     "background compaction wake-ups",
     {{ATTACH_TP_BTF, {"fl_kcompactd_wake", "fl_kcompactd_sleep"}}}},
    {"khugepaged",
     "khugepaged scans and collapses of traced memory (and MADV_COLLAPSE)",
     {{ATTACH_TP_BTF, {"fl_khugepaged_scan", "fl_collapse"}}}},
    {"mmap_lock",
     "mmap_lock waits and long write holds",
     {{ATTACH_TP_BTF, {"fl_lock_start", "fl_lock_acquired", "fl_lock_released"}}}},
    {"migration",
     "page migration in traced threads",
     {{ATTACH_TP_BTF, {"fl_migrate_start", "fl_migrate_end"}}}},
    /* sampled: read by the fault program when 10 ms old, and by the memory syscalls, exec and
     * exit; tp_btf (--probes rss=tp_btf): kmem:rss_stat, a program run on nearly every fault */
    {"rss",
     "resident set size of traced processes over time (sampled: faults every 10 ms, memory "
     "syscalls, exec, exit; tp_btf: every change)",
     {{ATTACH_SAMPLED, {NULL}}, {ATTACH_TP_BTF, {"fl_rss"}}}},
    /* alloc_syscalls and requests share the syscall programs (bpf/sys.bpf.c): one run per
     * syscall of the machine, whichever of them is on; cfg_sys_* says which part runs where */
    {"alloc_syscalls",
     "mmap munmap madvise brk mremap of traced processes (--alloc=lite, full)",
     {{ATTACH_TP_BTF, {"fl_sys_enter", "fl_sys_exit"}},
      {ATTACH_RAW_TP, {"fl_sys_enter_raw", "fl_sys_exit_raw"}}}},
    {"alloc_calls",
     "malloc-family calls in the allocator each process uses (--alloc=full)",
     {{ATTACH_MANUAL, {"fl_alloc_entry", "fl_alloc_ret"}}}},
    {"cuda_pinned",
     "CUDA pinned-memory calls in libcudart and libcuda (--cuda=auto)",
     {{ATTACH_MANUAL, {"fl_cuda_entry", "fl_cuda_ret"}}}},
    {"requests",
     "HTTP requests on the target's TCP sockets (first 256 bytes each way)",
     {{ATTACH_TP_BTF, {"fl_sys_enter", "fl_sys_exit"}},
      {ATTACH_RAW_TP, {"fl_sys_enter_raw", "fl_sys_exit_raw"}}}},
};

const char *probe_attach_name(enum probe_attach a)
{
	static const char *names[] = {"tp_btf", "raw_tp", "fentry", "kprobe", "uprobe", "sampled"};

	return a < ARRAY_SIZE(names) ? names[a] : "?";
}

/* The choices end at the first without programs (ATTACH_SAMPLED has none). */
static bool choice_set(const struct probe_choice *c)
{
	return c->progs[0] || c->attach == ATTACH_SAMPLED;
}

int probe_plan_init(struct probe_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->n = ARRAY_SIZE(concerns);
	p->concerns = concerns;
	p->state = calloc(p->n, sizeof(*p->state));
	if (!p->state)
		return -ENOMEM;
	for (int i = 0; i < p->n; i++)
		p->state[i].choice = -1;
	return 0;
}

static int concern_index(const struct probe_plan *p, const char *name)
{
	for (int i = 0; i < p->n; i++) {
		const char *a = p->concerns[i].name, *b = name;

		while (*a && *b && (*a == *b || (*a == '_' && *b == '-'))) {
			a++;
			b++;
		}
		if (!*a && !*b)
			return i;
	}
	return -1;
}

void probe_plan_disable(struct probe_plan *p, const char *name, const char *reason)
{
	int i = concern_index(p, name);

	if (i < 0)
		return;
	p->state[i].off = true;
	snprintf(p->state[i].reason, sizeof(p->state[i].reason), "%s", reason);
}

int probe_plan_override(struct probe_plan *p, const char *spec)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int i, c;

		if (!eq) {
			fl_err("--probes: '%s' is not CONCERN=TYPE (e.g. fault-duration=kprobe)",
			       tok);
			err = -EINVAL;
			break;
		}
		*eq = 0;
		i = concern_index(p, tok);
		if (i < 0) {
			fl_err("--probes: unknown concern '%s' (faultline record -v lists them)",
			       tok);
			err = -EINVAL;
			break;
		}
		if (!strcmp(eq + 1, "off")) {
			probe_plan_disable(p, tok, "turned off with --probes");
			continue;
		}
		for (c = 0; c < PROBE_MAX_CHOICES && choice_set(&p->concerns[i].choices[c]); c++)
			if (!strcmp(probe_attach_name(p->concerns[i].choices[c].attach), eq + 1))
				break;
		if (c == PROBE_MAX_CHOICES || !choice_set(&p->concerns[i].choices[c])) {
			fl_err("--probes: concern '%s' cannot use '%s'", tok, eq + 1);
			err = -EINVAL;
			break;
		}
		p->state[i].choice = c;
		p->state[i].forced = true;
		p->state[i].forced_choice = c;
	}
	free(copy);
	return err;
}

/* --- feature detection, once ------------------------------------------------------------ */

static struct btf *cached_btf;
static bool btf_tried;

static struct btf *vmlinux_btf(void)
{
	if (!btf_tried) {
		btf_tried = true;
		cached_btf = btf__load_vmlinux_btf();
		if (!cached_btf)
			cached_btf = NULL;
	}
	return cached_btf;
}

/* The parsed kernel BTF is tens of MiB: keep it only while planning. */
void probe_btf_release(void)
{
	btf__free(cached_btf);
	cached_btf = NULL;
	btf_tried = false;
}

static bool btf_has_tracepoint(const char *tp)
{
	char name[128];
	struct btf *btf = vmlinux_btf();

	if (!btf)
		return false;
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) > 0;
}

/* Loads (and attaches) an empty fentry program on handle_mm_fault: locked-down kernels say no. */
static bool fentry_works(char *why, size_t len)
{
	static int cached = -1;
	static char cached_why[128];
	struct bpf_insn insns[] = {
	    {.code = 0xb7, .dst_reg = 0, .imm = 0}, /* r0 = 0 */
	    {.code = 0x95},			    /* exit */
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY);
	struct btf *btf = vmlinux_btf();
	int id, fd, link;

	if (cached >= 0)
		goto out;
	cached = 0;
	if (!btf) {
		snprintf(cached_why, sizeof(cached_why), "no kernel BTF");
		goto out;
	}
	id = btf__find_by_name_kind(btf, "handle_mm_fault", BTF_KIND_FUNC);
	if (id <= 0) {
		snprintf(cached_why, sizeof(cached_why), "handle_mm_fault not in kernel BTF");
		goto out;
	}
	opts.attach_btf_id = id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "fl_probe", "GPL", insns, 2, &opts);
	if (fd < 0) {
		snprintf(cached_why, sizeof(cached_why), "fentry refused by this kernel: %s",
			 strerror(errno));
		goto out;
	}
	link = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, NULL);
	if (link < 0)
		snprintf(cached_why, sizeof(cached_why), "fentry attach refused: %s",
			 strerror(errno));
	else
		cached = 1;
	if (link >= 0)
		close(link);
	close(fd);
out:
	snprintf(why, len, "%s", cached_why);
	return cached == 1;
}

static bool kprobe_works(char *why, size_t len)
{
	if (access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0)
		return true;
	snprintf(why, len, "kprobes not available (no kprobe PMU: CONFIG_KPROBES off?)");
	return false;
}

bool probe_attach_works(enum probe_attach a, char *why, size_t len)
{
	switch (a) {
	case ATTACH_TP_BTF:
	case ATTACH_RAW_TP:
		if (btf_has_tracepoint("page_fault_user"))
			return true;
		snprintf(why, len,
			 vmlinux_btf() ? "tracepoint page_fault_user not in kernel BTF"
				       : "no kernel BTF (/sys/kernel/btf/vmlinux)");
		return false;
	case ATTACH_FENTRY:
		return fentry_works(why, len);
	case ATTACH_KPROBE:
		return kprobe_works(why, len);
	case ATTACH_MANUAL:
	case ATTACH_SAMPLED:
		break;
	}
	return true;
}

static bool choice_available(const struct probe_choice *c, struct bpf_object *obj, char *why,
			     size_t len)
{
	switch (c->attach) {
	case ATTACH_RAW_TP:
		/* Without kernel BTF there is no telling: try. With it, a tracepoint has its
		 * typedef. */
		if (!vmlinux_btf())
			return true;
		/* fallthrough */
	case ATTACH_TP_BTF:
		for (int i = 0; i < PROBE_MAX_PROGS && c->progs[i]; i++) {
			struct bpf_program *prog =
			    bpf_object__find_program_by_name(obj, c->progs[i]);
			const char *sec = prog ? bpf_program__section_name(prog) : NULL;
			const char *tp = sec ? strchr(sec, '/') : NULL;

			if (!tp || !btf_has_tracepoint(tp + 1)) {
				snprintf(why, len, "tracepoint %s not in kernel BTF",
					 tp ? tp + 1 : "?");
				return false;
			}
		}
		return true;
	case ATTACH_MANUAL:
	case ATTACH_SAMPLED:
		return true;
	case ATTACH_FENTRY:
		return fentry_works(why, len);
	case ATTACH_KPROBE:
		return kprobe_works(why, len);
	}
	return false;
}

static void set_autoload(struct bpf_object *obj, const struct probe_choice *c, bool on)
{
	for (int i = 0; i < PROBE_MAX_PROGS && c->progs[i]; i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(obj, c->progs[i]);

		if (prog)
			bpf_program__set_autoload(prog, on);
	}
}

void probe_plan_choose(struct probe_plan *p, struct faultline_bpf *skel)
{
	struct bpf_object *obj = skel->obj;

	/* all off first: concerns may share programs (alloc_syscalls, requests) */
	for (int i = 0; i < p->n; i++)
		for (int k = 0; k < PROBE_MAX_CHOICES && choice_set(&p->concerns[i].choices[k]);
		     k++)
			set_autoload(obj, &p->concerns[i].choices[k], false);
	for (int i = 0; i < p->n; i++) {
		const struct probe_concern *c = &p->concerns[i];
		struct probe_state *s = &p->state[i];
		char why[160] = "";

		if (s->off || s->failed) {
			s->choice = -1;
			continue;
		}
		if (s->forced) {
			if (!choice_available(&c->choices[s->choice], obj, why, sizeof(why))) {
				snprintf(s->reason, sizeof(s->reason), "%s", why);
				s->choice = -1;
			}
		} else {
			s->choice = -1;
			s->reason[0] = 0;
			for (int k = 0; k < PROBE_MAX_CHOICES && choice_set(&c->choices[k]); k++) {
				size_t used = strlen(s->reason);

				if (choice_available(&c->choices[k], obj, why, sizeof(why))) {
					s->choice = k;
					break;
				}
				/* every refusal, so the reader sees why each fallback failed too */
				snprintf(s->reason + used, sizeof(s->reason) - used, "%s%s",
					 used ? "; " : "", why);
			}
		}
		if (s->choice >= 0)
			set_autoload(obj, &c->choices[s->choice], true);
	}
}

/*
 * Concerns sharing a program (alloc_syscalls, requests) are blamed for it one at a time, the
 * first active one first, which may not be the one at fault: when the program fails again without
 * it, another is blamed and the first gets its chance back (once).
 */
static int blamed(struct probe_plan *p, int i, const char *prog)
{
	for (int j = 0; j < p->n; j++) {
		struct probe_state *s = &p->state[j];

		if (j != i && s->failed && s->blamed_prog && !s->retried &&
		    !strcmp(s->blamed_prog, prog)) {
			s->failed = false;
			s->retried = true;
			s->reason[0] = 0;
			fl_info("probe %s: %s fails without it too: trying it again",
				p->concerns[j].name, prog);
		}
	}
	p->state[i].blamed_prog = prog;
	return i;
}

/* libbpf says "prog 'NAME': failed to load: -13" (or "BPF program load failed"). */
int probe_plan_blame(struct probe_plan *p, const char *log)
{
	static const char *const markers[] = {"': failed to load", "': BPF program load failed"};

	for (size_t m = 0; m < ARRAY_SIZE(markers); m++) {
		const char *end = strstr(log, markers[m]), *name;

		if (!end)
			continue;
		for (name = end; name > log && name[-1] != '\''; name--)
			;
		for (int i = 0; i < p->n; i++) {
			int k = p->state[i].choice;

			for (int j = 0;
			     k >= 0 && j < PROBE_MAX_PROGS && p->concerns[i].choices[k].progs[j];
			     j++) {
				const char *pn = p->concerns[i].choices[k].progs[j];

				if (strlen(pn) == (size_t)(end - name) &&
				    !strncmp(pn, name, end - name))
					return blamed(p, i, pn);
			}
		}
	}
	return -1;
}

void probe_plan_fail(struct probe_plan *p, int i, const char *why)
{
	if (i < 0 || i >= p->n)
		return;
	/* forced stays: a forced concern that failed is the caller's error to report */
	p->state[i].choice = -1;
	p->state[i].failed = true;
	snprintf(p->state[i].reason, sizeof(p->state[i].reason), "%s", why);
}

static int add_link(struct probe_plan *p, struct bpf_link *l)
{
	if (p->nlinks == p->cap_links) {
		int cap = p->cap_links ? p->cap_links * 2 : 32;
		struct bpf_link **nl = realloc(p->links, cap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		p->links = nl;
		p->cap_links = cap;
	}
	p->links[p->nlinks++] = l;
	return 0;
}

/* Whether an earlier concern than I, active, has program NAME: it is attached already. */
static bool attached_before(const struct probe_plan *p, int i, const char *name)
{
	for (int j = 0; j < i; j++) {
		int k = p->state[j].choice;

		for (int m = 0; k >= 0 && m < PROBE_MAX_PROGS && p->concerns[j].choices[k].progs[m];
		     m++)
			if (!strcmp(p->concerns[j].choices[k].progs[m], name))
				return true;
	}
	return false;
}

void probe_plan_attach(struct probe_plan *p, struct faultline_bpf *skel)
{
	for (int i = 0; i < p->n; i++) {
		const struct probe_choice *c;
		int first = p->nlinks;

		if (p->state[i].choice < 0)
			continue;
		c = &p->concerns[i].choices[p->state[i].choice];
		if (c->attach == ATTACH_MANUAL || c->attach == ATTACH_SAMPLED)
			continue;
		for (int j = 0; j < PROBE_MAX_PROGS && c->progs[j]; j++) {
			struct bpf_program *prog =
			    bpf_object__find_program_by_name(skel->obj, c->progs[j]);
			struct bpf_link *l;
			char why[160];

			if (attached_before(p, i, c->progs[j]))
				continue; /* twice would run it twice */
			l = prog ? bpf_program__attach(prog) : NULL;
			if (!l) {
				int err = prog ? -errno : -ENOENT;

				snprintf(why, sizeof(why), "%s '%s': failed to attach: %s",
					 probe_attach_name(c->attach), c->progs[j], strerror(-err));
				while (p->nlinks > first)
					bpf_link__destroy(p->links[--p->nlinks]);
				probe_plan_fail(p, i, why);
				fl_info("probe %s: %s", p->concerns[i].name, why);
				break;
			}
			add_link(p, l);
		}
	}
}

int probe_plan_forced_failure(const struct probe_plan *p)
{
	for (int i = 0; i < p->n; i++)
		if (p->state[i].forced && !p->state[i].off && p->state[i].choice < 0)
			return i;
	return -1;
}

bool probe_plan_active(const struct probe_plan *p, const char *name)
{
	int i = concern_index(p, name);

	return i >= 0 && p->state[i].choice >= 0;
}

bool probe_plan_uses(const struct probe_plan *p, const char *name, enum probe_attach a)
{
	int i = concern_index(p, name);

	return i >= 0 && p->state[i].choice >= 0 &&
	       p->concerns[i].choices[p->state[i].choice].attach == a;
}

void probe_plan_print(const struct probe_plan *p, FILE *f)
{
	fprintf(f, "probe plan:\n");
	for (int i = 0; i < p->n; i++) {
		const struct probe_state *s = &p->state[i];

		if (s->choice >= 0)
			fprintf(f, "  %-18s %-8s %s\n", p->concerns[i].name,
				probe_attach_name(p->concerns[i].choices[s->choice].attach),
				p->concerns[i].what);
		else
			fprintf(f, "  %-18s %-8s %s\n", p->concerns[i].name,
				s->off ? "off" : "unavailable", s->reason);
	}
}

void probe_plan_json(const struct probe_plan *p, struct jw *w)
{
	jw_obj_open(w);
	for (int i = 0; i < p->n; i++) {
		const struct probe_state *s = &p->state[i];

		jw_key(w, p->concerns[i].name);
		jw_obj_open(w);
		if (s->choice >= 0) {
			jw_kstr(w, "attach",
				probe_attach_name(p->concerns[i].choices[s->choice].attach));
			jw_kstr(w, "status", "ok");
			jw_key(w, "reason");
			jw_null(w);
		} else {
			jw_key(w, "attach");
			jw_null(w);
			jw_kstr(w, "status", s->off ? "off" : "unavailable");
			jw_kstr(w, "reason", s->reason);
		}
		jw_obj_close(w);
	}
	jw_obj_close(w);
}

void probe_plan_destroy(struct probe_plan *p)
{
	for (int i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	free(p->links);
	free(p->state);
	memset(p, 0, sizeof(*p));
}

int probe_mmap_lock_write_arg(void)
{
	struct btf *btf = vmlinux_btf();
	const struct btf_type *t;
	int id;

	if (!btf)
		return 1;
	id = btf__find_by_name_kind(btf, "btf_trace_mmap_lock_start_locking", BTF_KIND_TYPEDEF);
	if (id <= 0)
		return 1;
	t = btf__type_by_id(btf, id); /* typedef -> pointer -> func proto */
	t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_ptr(t))
		return 1;
	t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_func_proto(t))
		return 1;
	/* (void *__data, mm, [memcg_path,] write) */
	return btf_vlen(t) == 4 ? 2 : 1;
}
