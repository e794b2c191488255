#!/bin/bash
# statscost.sh [ROUNDS] [FAULTLINE]: what BPF run-time statistics (`record --bpf-stats on`) cost,
# against `--bpf-stats off` and nothing attached, rotated every round:
#   storm    a 1-thread fault storm traced by `faultline record -- bench_faults` (faults/s)
#   getppid  an untraced `perf bench syscall basic` while faultline records an idle sleep (ns/op)
# kernel.bpf_stats_enabled is set to 0 for the run (restored on exit). Needs root and perf.
# Prints one line per (round, condition), then the medians. See docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${FAULTLINE_WORKLOADS:-$ROOT/.output/workloads}/bench_faults
ROUNDS=${1:-6}
FLB=${2:-$ROOT/.output/faultline}
d=$(mktemp -d)
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
sleep 100000 &
idle=$!
trap 'kill $idle 2>/dev/null; echo "$old_stats" >/proc/sys/kernel/bpf_stats_enabled; rm -rf "$d"' EXIT
echo 0 >/proc/sys/kernel/bpf_stats_enabled
conds=(none on off)
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < 3; k++)); do
		c=${conds[$(((r + k) % 3))]}
		# 1: a traced 1-thread storm (untraced for none)
		if [ "$c" = none ]; then
			st=$("$W" -t 1 -n 1000000 | grep -o 'faults_per_s=[0-9]*')
		else
			st=$("$FLB" record --bpf-stats "$c" -o "$d/storm.data" -- "$W" -t 1 -n 1000000 \
				2>/dev/null | grep -o 'faults_per_s=[0-9]*')
		fi
		# 2: an untraced getppid loop while faultline records an idle process
		fp=
		if [ "$c" != none ]; then
			"$FLB" record --bpf-stats "$c" -p $idle -o "$d/idle.data" 2>"$d/idle.err" &
			fp=$!
			for _ in $(seq 100); do
				grep -q "recording to" "$d/idle.err" && break
				sleep 0.1
			done
		fi
		sc=$(perf bench syscall basic -l 3000000 2>/dev/null | awk '/usecs\/op/ {print $1 * 1000}')
		if [ -n "$fp" ]; then
			kill -INT "$fp"
			wait "$fp" 2>/dev/null || true
		fi
		echo "round=$r cond=$c storm_$st getppid_ns=$sc" | tee -a "$d/rows"
	done
done
python3 - "$d/rows" <<'PY'
import statistics as st, sys
rows = [dict(kv.split("=") for kv in l.split()) for l in open(sys.argv[1])]
base = {r["round"]: float(r["storm_faults_per_s"]) for r in rows if r["cond"] == "none"}
for c in ("none", "on", "off"):
    mine = [r for r in rows if r["cond"] == c]
    slow = [base[r["round"]] / float(r["storm_faults_per_s"]) for r in mine]
    g = [float(r["getppid_ns"]) for r in mine]
    print(f"{c:5} storm slowdown {st.median(slow):.3f} ({min(slow):.3f}-{max(slow):.3f}), "
          f"getppid {st.median(g):.0f} ns ({min(g):.0f}-{max(g):.0f})")
PY
