#!/bin/bash
# bpfcost-pair.sh A B THREADS [SECONDS]: two faultline builds record the same fault storm at once
# (record -p), so both see the same faults, load and clock; prints each build's fl_pf_user_btf
# ns/run (bpf_stats: run_time_ns / run_cnt). Swap A and B between rounds: the program attached
# first runs first. Needs root and kernel.bpf_stats_enabled=1. See docs/benchmarks.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${FAULTLINE_WORKLOADS:-$ROOT/.output/workloads}/bench_faults
A=$1 B=$2 T=$3 S=${4:-2}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkfifo "$d/fifo"
# the workload waits until both have attached, and holds until the statistics are read
sh -c "sleep 3; exec $W -t $T -s $S --hold" <"$d/fifo" >"$d/wout" 2>&1 &
wp=$!
exec 9>"$d/fifo"
"$A" record -p "$wp" -o "$d/a.data" >"$d/a.out" 2>&1 9>&- &
ap=$!
"$B" record -p "$wp" -o "$d/b.data" >"$d/b.out" 2>&1 9>&- &
bp=$!
for _ in $(seq 600); do
	grep -q faults_per_s= "$d/wout" && break
	sleep 0.1
done
# "prog_id run_cnt run_time_ns" of the programs PID holds
progs() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^prog_id:/ {id = $2} /^run_cnt:/ {c = $2} /^run_time_ns:/ {t = $2}
		     END {if (id != "") print id, c + 0, t + 0}' "$f" 2>/dev/null || true
	done
}
pa=$(progs "$ap")
pb=$(progs "$bp")
ids=" $(bpftool prog show --json | python3 -c 'import json, sys
print(" ".join(str(p["id"]) for p in json.load(sys.stdin) if p.get("name") == "fl_pf_user_btf"))') "
exec 9>&-
wait "$ap" "$bp" || true
pick() { echo "$1" | while read -r id c t; do
	[[ "$ids" == *" $id "* && $c -gt 0 ]] && echo $((t / c))
done; }
echo "$(basename "$A") $(pick "$pa") $(basename "$B") $(pick "$pb") t=$T" \
	"$(grep -o 'faults_per_s=[0-9]*' "$d/wout")"
