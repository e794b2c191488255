#!/usr/bin/env python3
"""Turns scripts/bench.sh's runs.tsv into the markdown results block (medians, min-max, ratios).

Usage: bench_summary.py RUNS.tsv N_STORM PTRACE_DIV   (the markdown goes to stdout)
RUNS.tsv has one row per run: section, round, tool, then key=value fields.
"""
import statistics as st, sys
from collections import defaultdict

runs, n_storm, ptdiv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []
for line in open(runs):
    f = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in f[3:] if "=" in x)
    rows.append((f[0], f[1], f[2], kv))

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def vals(section, tool, key):
    return [num(kv.get(key)) for s, r, t, kv in rows if s == section and t == tool
            and num(kv.get(key)) is not None]

def med(xs, fmt="{:.0f}"):
    if not xs:
        return "n/a"
    m = st.median(xs)
    if len(xs) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"

def per_round_ratio(section, tool, key="rate"):
    """untraced/tool for each round: the slowdown, paired within a round."""
    base = {r: num(kv.get(key)) for s, r, t, kv in rows if s == section and t == "untraced"}
    out = []
    for s, r, t, kv in rows:
        if s == section and t == tool and base.get(r) and num(kv.get(key)):
            out.append(base[r] / num(kv[key]))
    return out

def k(x):
    return f"{x / 1000:.0f}k"

print("### Fault storm: slowdown under each tracer\n")
print(f"`bench_faults -t 2 -n {n_storm}` (2 threads, MADV_DONTNEED + write, one 4K fault per "
      f"touch); perf trace gets 1/{ptdiv} of the faults. Slowdown = untraced faults/s ÷ traced "
      "faults/s, paired within each round; median (min–max).\n")
print("| tool | faults/s | slowdown | events recorded (median) | drops (max) | max RSS (tool or workload) |")
print("|---|---|---|---|---|---|")
tools = [t for t in ["untraced", "faultline", "perf-record", "perf-trace", "bpftrace"]
         if vals("peers", t, "rate")]
names = {"untraced": "untraced", "faultline": "faultline record",
         "perf-record": "perf record -c 1 -d -e page-faults", "perf-trace": "perf trace -F all --no-syscalls",
         "bpftrace": "bpftrace page_fault_user count()"}
for t in tools:
    rate = vals("peers", t, "rate")
    slow = "1" if t == "untraced" else med(per_round_ratio("peers", t), "{:.2f}")
    ev = vals("peers", t, "events")
    dr = vals("peers", t, "drops")
    rss = vals("peers", t, "maxrss_kb")
    print(f"| {names[t]} | {med([x / 1000 for x in rate], '{:.0f}k')} | {slow} | "
          f"{k(st.median(ev)) if ev else '—'} | {int(max(dr)) if dr else '—'} | "
          f"{str(int(st.median(rss) / 1024)) + ' MiB' if rss else '—'} |")

print("\n### Highest rate recorded without drops\n")
nr = len({r for s, r, *_ in rows if s.startswith("sweep-")})
print(f"Each storm untraced and under `faultline record` (default settings: 32 MiB ring buffer), "
      f"{nr} round(s), interleaved; faultline's rate is the workload's own faults/s while traced, "
      "and every fault is counted (as runs of faults: `--fault-events=runs`, the default).\n")
print("| storm | untraced faults/s | faultline faults/s | slowdown | faults recorded | drops |")
print("|---|---|---|---|---|---|")
for sec in sorted({s for s, *_ in rows if s.startswith("sweep-")}):
    _, th, mode = sec.split("-", 2)
    mode = mode.replace("-read", ", read (zero page)")
    u, f = vals(sec, "untraced", "rate"), vals(sec, "faultline", "rate")
    ev, dr = vals(sec, "faultline", "events"), vals(sec, "faultline", "drops")
    print(f"| {th[1:]} threads, {mode} | {med([x / 1000 for x in u], '{:.0f}k')} | "
          f"{med([x / 1000 for x in f], '{:.0f}k')} | {med(per_round_ratio(sec, 'faultline'), '{:.2f}')} | "
          f"{k(st.median(ev)) if ev else '—'} | {int(max(dr)) if dr else '—'} |")

print("\n### More CPUs: storms above 1 M faults/s\n")
sk = [kv for s, r, t, kv in rows if s == "scale" and t == "skipped"]
if sk:
    print(f"Not measured in this run: {sk[0]['why'].replace('_', ' ')}.")
else:
    print("| storm | untraced faults/s | faultline faults/s (= events/s) | slowdown | events | drops | faultline max RSS |")
    print("|---|---|---|---|---|---|---|")
    for sec in sorted({s for s, *_ in rows if s.startswith("scale-t")}, key=lambda x: int(x[7:])):
        u, f = vals(sec, "untraced", "rate"), vals(sec, "faultline", "rate")
        ev, dr = vals(sec, "faultline", "events"), vals(sec, "faultline", "drops")
        rss = vals(sec, "faultline", "maxrss_kb")
        print(f"| {sec[7:]} threads, dontneed | {med([x / 1000 for x in u], '{:.0f}k')} | "
              f"{med([x / 1000 for x in f], '{:.0f}k')} | {med(per_round_ratio(sec, 'faultline'), '{:.2f}')} | "
              f"{k(st.median(ev)) if ev else '—'} | {int(max(dr)) if dr else '—'} | "
              f"{int(max(rss) / 1024) if rss else '—'} MiB |")

print("\n### faultline's own memory and CPU: short vs 4x longer session\n")
print("`faultline record --fault-events=all -- bench_faults -t 2 -n N` (one event per fault: the "
      "record path at its busiest), one session each. Max RSS (`/usr/bin/time`) "
      "counts the ring buffer's data pages twice (libbpf maps them twice so records can wrap): "
      "64 MiB of it is the default 32 MiB ring buffer. RssAnon is faultline's own heap, sampled "
      "every 100 ms (its peak comes from loading: kernel BTF, freed after load). Thread CPU: "
      "utime+stime of each faultline thread, sampled the same way (last sample before exit).\n")
print("| session | events | drops | max RSS | RssAnon max / last | CPU: consumer thread | CPU: fl-writer thread (zlib) | faultline CPU per event |")
print("|---|---|---|---|---|---|---|---|")
import os
tick = os.sysconf("SC_CLK_TCK")
def mib(v):
    v = num(v)
    return "?" if v is None else f"{v / 1024:.1f}"
for sec in ["memory-short", "memory-long"]:
    for s, r, t, kv in rows:
        if s != sec:
            continue
        ev = num(kv.get("events_total")) or 0
        cons, wr = num(kv.get("max_thr_faultline")), num(kv.get("max_thr_fl-writer"))
        cpu = (num(kv.get("user_cpu_ns")) or 0) + (num(kv.get("sys_cpu_ns")) or 0)
        print(f"| {sec[7:]} | {ev / 1e6:.2f} M | {kv.get('drops')} | {mib(kv.get('maxrss_kb'))} MiB | "
              f"{mib(kv.get('max_RssAnon'))} / {mib(kv.get('last_RssAnon'))} MiB | "
              f"{'?' if cons is None else f'{cons / tick:.2f} s'} | "
              f"{'?' if wr is None else f'{wr / tick:.2f} s'} | "
              f"{cpu / ev if ev else 0:.0f} ns |")

rep = [t for t in ["report-text", "report-json"] if vals("report", t, "secs")]
if rep:
    ev = vals("report", rep[0], "events")
    print(f"\n### `faultline report` on a {ev[0] / 1e6:.1f} M-event recording\n")
    print("Median (min–max) wall seconds of interleaved runs; the file is the long session above.\n")
    print("| command | seconds | max RSS |")
    print("|---|---|---|")
    for t in rep:
        rss = vals("report", t, "maxrss_kb")
        cmd = "faultline report -i big.data" + (" --json" if t == "report-json" else "") + " > /dev/null"
        print(f"| `{cmd}` | {med(vals('report', t, 'secs'), '{:.2f}')} | "
              f"{int(st.median(rss) / 1024) if rss else 0} MiB |")

print("\n### Allocator overhead (`--alloc`)\n")
sk = [kv for s, r, t, kv in rows if s == "alloc" and t == "skipped"]
if sk:
    print(f"Not measured in this run: {sk[0]['why'].replace('_', ' ')}.")
else:
    def per_pair(tool, key="ns"):
        out = []
        for s, r, t, kv in rows:
            a, b = num(kv.get("n_" + key)), num(kv.get("n0_" + key))
            if s == "alloc-pairs" and t == tool:
                out.append((a - b) / num(kv["pairs"]) if a is not None and b is not None else float("nan"))
        return out
    u, f = per_pair("untraced"), per_pair("full")
    uc = per_pair("untraced", "cpu_ns")
    pairs = vals("alloc-pairs", "untraced", "pairs")
    what = {"full": "`--alloc=full`", "full-base": "`--alloc=full` of BENCH_FL_BASE (the build compared)",
            "bpftrace": "peer: bpftrace with the same uprobes+uretprobes on malloc and free, counting only"}
    if u and f:
        print(f"- `malloc_n`: untraced {med(u, '{:.0f}')} ns per malloc+free pair "
              f"(wall of N={int(pairs[0]) + 1000} minus N=1000 pairs, so start-up cancels; "
              f"{len(u)} interleaved rounds). Added per pair, wall and CPU (user+system of the "
              "command and its children: the traps are the traced process's system time; steadier "
              "than the wall on a busy machine):")
    for tool in ("full", "full-base", "bpftrace"):
        t, tc = per_pair(tool), per_pair(tool, "cpu_ns")
        if not (u and t):
            continue
        extra = [b - a for a, b in zip(u, t)]
        cextra = [b - a for a, b in zip(uc, tc) if a == a and b == b]  # nan: no CPU in that row
        print(f"  - {what[tool]}: **{med(extra, '{:.0f}')} ns added** (wall), "
              f"{med(cextra, '{:.0f}') if cextra else 'n/a'} ns of CPU added")
    un, lite, full = (vals("alloc-python", m, "ns") for m in ("untraced", "lite", "full"))
    if lite and full and un:
        print(f"- Python loop of `bytearray(1024)` (malloc+free each): wall {med([x / 1e9 for x in un], '{:.2f}')} s "
              f"untraced, {med([x / 1e9 for x in lite], '{:.2f}')} s with `--alloc=lite`, "
              f"{med([x / 1e9 for x in full], '{:.2f}')} s with `--alloc=full` "
              f"(faultline start-up included): full/lite = {st.median(full) / st.median(lite):.2f}")

for sub in ["top", "serve"]:
    print(f"\n### `faultline {sub}` CPU at fixed event rates\n")
    sk = [kv for s, r, t, kv in rows if s == f"live-{sub}" and t == "skipped"]
    if sk:
        print(f"Not measured in this run: {sk[0]['why'].replace('_', ' ')}.")
        continue
    print(f"`bench_faults -t 2 -r RATE` against `faultline {sub}"
          f"{' --batch' if sub == 'top' else ' --listen ...'}`; the process's utime+stime from "
          "/proc/PID/stat over the window (load and attach excluded). The BPF programs' own time "
          "is charged to the traced threads, not to this process"
          f"{' (serve reports it as faultline_bpf_run_seconds_total)' if sub == 'serve' else ''}.\n")
    if sub == "serve":
        print("| faults/s | window | CPU of faultline serve | faults counted (metrics) | BPF run time (metrics) |")
        print("|---|---|---|---|---|")
    else:
        print("| faults/s | window | CPU of faultline top | lines printed (--batch) |")
        print("|---|---|---|---|")
    for s, r, t, kv in rows:
        if s != f"live-{sub}":
            continue
        if "error" in kv:
            print(f"| {r} | {kv['secs']} s | {kv['error'].replace('_', ' ')} | | |")
            continue
        secs, ticks, hz = num(kv["secs"]), num(kv["ticks"]), num(kv["hz"])
        cpu = f"{100 * ticks / hz / secs:.2f} % of a core ({ticks:.0f} ticks of 1/{hz:.0f} s)"
        if sub == "serve":
            bpf = num(kv.get("bpf_s"))
            print(f"| {r} | {secs:.0f} s | {cpu} | {kv.get('faults')} | "
                  f"{'?' if bpf is None else f'{100 * bpf / secs:.2f} % of a core'} |")
        else:
            print(f"| {r} | {secs:.0f} s | {cpu} | {kv.get('lines')} |")
flight = [(r, kv) for s, r, t, kv in rows if s == "flight"]
if flight:
    print("\n### record --flight (in memory until a trigger)\n")
    print("| faults/s | window | CPU of faultline record --flight | RSS start -> end | files written |")
    print("|---|---|---|---|---|")
    for r, kv in flight:
        secs, ticks, hz = num(kv["secs"]), num(kv["ticks"]), num(kv["hz"])
        print(f"| {'idle' if r == '0' else r} | {secs:.0f} s | {100 * ticks / hz / secs:.2f} % of a core "
              f"| {kv.get('rss0_kb')} -> {kv.get('rss1_kb')} KiB | {kv.get('files')} |")
sflight = [(r, kv) for s, r, t, kv in rows if s == "flight-serve"]
if sflight:
    print("\n### serve --flight on examples/server.py (in memory until a trigger)\n")
    print("| requests/min (offered) | window | requests counted | CPU of faultline serve --flight "
          "| RSS start -> end | ring | files written |")
    print("|---|---|---|---|---|---|---|")
    for r, kv in sflight:
        secs, ticks, hz = num(kv["secs"]), num(kv["ticks"]), num(kv["hz"])
        print(f"| {'idle' if r == '0' else r} | {secs:.0f} s | {kv.get('reqs')} "
              f"| {100 * ticks / hz / secs:.2f} % of a core "
              f"| {kv.get('rss0_kb')} -> {kv.get('rss1_kb')} KiB | {kv.get('ring_kb')} KiB | {kv.get('files')} |")
