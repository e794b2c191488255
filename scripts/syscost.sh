#!/bin/bash
# syscost.sh [ROUNDS] FL...: what faultline's syscall programs cost processes it does NOT trace.
# Per round and per condition (nothing attached, then each faultline build FL in turn, rotated
# each round), `FL record -p <an idle sleep>` runs while untraced workloads make syscalls:
#   getppid  `perf bench syscall basic -l $SC_LOOPS`: a syscall neither part looks at
#   rw       `dd bs=1 count=$SC_DD` from /dev/zero to /dev/null: read/write, which the request
#            part classifies and then filters out by target
#   redis    with SC_REDIS=N: redis-server (untraced, started here) and `redis-benchmark -n N -t
#            get,set -P 1`: per request (both sides' syscalls) instead of per syscall
# Prints one line per (round, condition, workload): wall ns per op (a syscall; redis: a request),
# per faultline syscall program (fl_sys_*, or fl_memsys_* and fl_net_* before they were merged)
# that ran in the window: runs and ns/run (bpf_stats from /proc/<record pid>/fdinfo, names from
# bpftool), and their BPF ns per op. Then the medians. Other processes' syscalls in the window
# are counted too (a quiet machine keeps them few).
# Needs root, perf, bpftool and kernel.bpf_stats_enabled=1 (set here, restored on exit).
set -euo pipefail
ROUNDS=5
[[ ${1:-} =~ ^[0-9]+$ ]] && ROUNDS=$1 && shift
[ $# -ge 1 ] || { echo "usage: $0 [ROUNDS] FAULTLINE..." >&2; exit 2; }
SC_LOOPS=${SC_LOOPS:-10000000}
SC_DD=${SC_DD:-2000000}
d=$(mktemp -d)
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
sleep 100000 &
idle=$!
WORKLOADS="getppid rw"
rs=
if [ -n "${SC_REDIS:-}" ]; then
	SC_REDIS_PORT=${SC_REDIS_PORT:-16399}
	redis-server --port "$SC_REDIS_PORT" --save '' --appendonly no >"$d/redis.out" 2>&1 &
	rs=$!
	for _ in $(seq 100); do redis-cli -p "$SC_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
	WORKLOADS="$WORKLOADS redis"
fi
trap 'kill $idle $rs 2>/dev/null; echo "$old_stats" >/proc/sys/kernel/bpf_stats_enabled; rm -rf "$d"' EXIT
echo 1 >/proc/sys/kernel/bpf_stats_enabled

# "name run_cnt run_time_ns" of the programs PID holds open (not its links: no run_cnt)
progs() {
	local f id
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^prog_id:/ {id = $2} /^run_cnt:/ {c = $2} /^run_time_ns:/ {t = $2}
		     END {if (id != "" && c != "") print id, c, t + 0}' "$f" 2>/dev/null || true
	done | while read -r id c t; do
		echo "$(bpftool prog show id "$id" 2>/dev/null | sed -n 's/^[0-9]*: [a-z_]*  name \([^ ]*\).*/\1/p') $c $t"
	done | sort
}

# run_one WORKLOAD: runs it, prints "ns_per_syscall"
run_one() {
	local t0 t1 n
	t0=$(date +%s%N)
	if [ "$1" = getppid ]; then
		perf bench syscall basic -l "$SC_LOOPS" >/dev/null
		n=$SC_LOOPS
	elif [ "$1" = redis ]; then
		redis-benchmark -q -p "$SC_REDIS_PORT" -n "$SC_REDIS" -t get,set -P 1 >/dev/null
		n=$((2 * SC_REDIS))
	else
		dd if=/dev/zero of=/dev/null bs=1 count="$SC_DD" 2>/dev/null
		n=$((2 * SC_DD))
	fi
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / (n / 1000)))" # ps per syscall, printed /1000 below
}

# measure COND FL|-: both workloads with FL attached (or none)
measure() {
	local cond=$1 fl=$2 rp="" w p0 p1 ps
	if [ "$fl" != - ]; then
		"$fl" record -p "$idle" -o "$d/r.data" 2>"$d/rec.err" &
		rp=$!
		for _ in $(seq 300); do
			grep -q 'recording to' "$d/rec.err" && break
			sleep 0.1
		done
		grep -q 'recording to' "$d/rec.err" || { cat "$d/rec.err"; exit 1; }
	fi
	for w in $WORKLOADS; do
		[ -n "$rp" ] && p0=$(progs "$rp")
		ps=$(run_one "$w")
		if [ -n "$rp" ]; then
			p1=$(progs "$rp")
			join <(echo "$p0") <(echo "$p1") | awk -v cond="$cond" -v w="$w" -v ps="$ps" \
			    -v n="$(case $w in getppid) echo "$SC_LOOPS" ;; redis) echo $((2 * SC_REDIS)) ;; *) echo $((2 * SC_DD)) ;; esac)" '
				$1 !~ /^fl_(memsys|net|sys)_/ {next}
				{c = $4 - $2; t = $5 - $3; if (c > 0) {line = line sprintf(" %s=%d:%.1f", $1, c, t / c); tot += t}}
				END {printf "%s %s wall_ns=%.1f bpf_ns/op=%.1f%s\n", cond, w, ps / 1000, tot / n, line}'
		else
			echo "$cond $w wall_ns=$(awk -v ps="$ps" 'BEGIN {printf "%.1f", ps / 1000}') bpf_ns/op=0"
		fi
	done
	if [ -n "$rp" ]; then
		kill -INT "$rp"
		wait "$rp" || true
	fi
}

conds=(none "$@")
for ((r = 0; r < ROUNDS; r++)); do
	for ((i = 0; i < ${#conds[@]}; i++)); do
		c=${conds[$(((i + r) % ${#conds[@]}))]}
		if [ "$c" = none ]; then
			measure none -
		else
			measure "$(basename "$c")" "$c"
		fi
	done
done | tee "$d/all"
echo "medians over $ROUNDS rounds:"
python3 - "$d/all" <<'EOF'
import sys, statistics as st, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    f = line.split()
    key = (f[0], f[1])
    for kv in f[2:]:
        k, v = kv.split("=", 1)
        if ":" in v:
            c, ns = v.split(":")
            rows[key][k + " runs"].append(float(c))
            rows[key][k + " ns/run"].append(float(ns))
        else:
            rows[key][k].append(float(v))
for key, cols in rows.items():
    print(" ".join(key), " ".join("%s=%.1f" % (k, st.median(v)) for k, v in cols.items()))
EOF
