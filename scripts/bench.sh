#!/usr/bin/env bash
# make bench: how fast faultline records and reads, as ratios measured side by side in one run.
#
# Every number is a ratio against an untraced run of the same workload, or against public peers
# (perf record, perf trace, bpftrace) in the same run: runs are interleaved round by round
# (untraced, faultline, perf..., then again, in a rotated order) and summarised as the median
# with min-max. Nothing here passes or fails: `make test` never runs it.
#
#   sudo make bench                    # full run, < 10 minutes; refreshes docs/benchmarks.md
#   sudo BENCH_QUICK=1 scripts/bench.sh  # < 2 minutes, results in .output/bench/results.md only
#
# Environment: FAULTLINE, FAULTLINE_WORKLOADS (binaries to measure, as in tests/lib.sh),
# BENCH_QUICK=1 (short), BENCH_ROUNDS=N (rounds per comparison), BENCH_DOC=0|1
# (refresh the results block of docs/benchmarks.md; default 1 for a full run, 0 for quick),
# BENCH_PEERS="faultline perf-record perf-trace bpftrace" (which tracers to compare),
# BENCH_SECTIONS="peers sweep scale memory report alloc live flight bpfcost topcost" (which;
# report needs memory; also soak), BENCH_BPFCOST_ROUNDS=N (bpfcost: rounds, default 5, quick 3),
# BENCH_FL_ARGS (bpfcost: more `faultline record` options, e.g. --fault-events=all),
# BENCH_TOPCOST_ROUNDS/_SECS/_RATE (topcost: rounds (2, quick 1) of SECS seconds (30, quick 10)
# at RATE faults/s (100000)); also ttft (the example server's median TTFT per allocator mode:
# BENCH_TTFT_ROUNDS, 4 (quick 2), BENCH_TTFT_N requests per round, 40), BENCH_FL_BASE=PATH
# (alloc: another faultline binary, e.g. main's, measured interleaved with this one).
#
# bpftrace needs tracefs for its tracepoints: if /sys/kernel/tracing is not mounted this script
# mounts it for the bpftrace runs and unmounts it again on exit.
# shellcheck disable=SC2086,SC2046,SC2207 # word splitting on purpose: lists of arguments and
# key=value fields are kept in strings ($extra, $cfg, mem.samples, replace_arg's output)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/.output/bench
# Snapshots of the binaries (see check_setup): a `make` elsewhere in the tree must not swap them
# out in the middle of a run.
FL_BUILT=${FAULTLINE:-$ROOT/.output/faultline}
FL=$OUT/bin/faultline
FL_BASE=${BENCH_FL_BASE:-} # bench_alloc: another faultline build measured interleaved (full-base)
WL=${FAULTLINE_WORKLOADS:-$ROOT/.output/workloads}
W=$OUT/bin/bench_faults
FLOOR=$OUT/bin/bpf_floor # bpfcost: a program that returns at once, beside faultline's (bench/)
DOC=$ROOT/docs/benchmarks.md
QUICK=${BENCH_QUICK:-0}

if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-3}
	BUDGET_S=110       # sections past their share of this are cut short (see over_budget)
	STORM_SECS=1       # untraced length of a comparison storm (see calibrate)
	N_SHORT=500000     # memory: short session
	N_LONG=2000000     # memory: 4x longer session (also the big file for `report`)
	REPORT_RUNS=1
	RATE_SECS=4
	ALLOC_ROUNDS=1
	ALLOC_PAIRS=20000
	ALLOC_PY_ITERS=20000
	WRITE_DOC=${BENCH_DOC:-0}
else
	ROUNDS=${BENCH_ROUNDS:-5}
	BUDGET_S=540
	STORM_SECS=2
	N_SHORT=2500000
	N_LONG=10000000
	REPORT_RUNS=3
	RATE_SECS=20
	ALLOC_ROUNDS=3
	ALLOC_PAIRS=100000
	ALLOC_PY_ITERS=100000
	WRITE_DOC=${BENCH_DOC:-1}
fi
PEERS=${BENCH_PEERS:-"faultline perf-record perf-trace bpftrace"}
SECTIONS=${BENCH_SECTIONS:-"peers sweep scale memory report alloc live flight bpfcost topcost"}
# perf trace formats every fault as text and is ~10x slower: it gets 1/5 of the faults, and its
# slowdown is compared as faults/s, which does not depend on the number of faults.
PTRACE_DIV=5
LIVE_LISTEN=127.0.0.1:19464

RUNS=$OUT/runs.tsv   # section round tool key=value...
RESULTS=$OUT/results.md
MOUNTED_TRACEFS=0
BG_PIDS=()

log() { printf 'bench: %s\n' "$*" >&2; }

# over_budget FRACTION: true once the run has used FRACTION of BUDGET_S. On a busy machine the
# optional rounds are dropped (and the results say how many ran) so the run stays bounded.
over_budget() { python3 -c "import sys; sys.exit(0 if $SECONDS - $T0 > $BUDGET_S * $1 else 1)"; }

cleanup() {
	local p
	bpf_stats_restore
	for p in "${BG_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$MOUNTED_TRACEFS" = 1 ]; then
		umount /sys/kernel/tracing 2>/dev/null || log "could not unmount /sys/kernel/tracing"
	fi
	rm -f "$OUT"/*.data "$OUT"/*.data.old "$OUT"/ptrace.txt
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_setup() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: needs root (BPF, perf with every fault): run 'sudo make bench'" >&2
		exit 1
	fi
	if [ ! -x "$FL_BUILT" ] || [ ! -x "$WL/bench_faults" ]; then
		echo "bench: $FL_BUILT or $WL/bench_faults missing: run 'make' first" >&2
		exit 1
	fi
	mkdir -p "$OUT/bin"
	cp "$FL_BUILT" "$FL"
	cp "$WL/bench_faults" "$W"
	rm -f "$FLOOR"
	if [ -x "$ROOT/.output/benchtools/bpf_floor" ]; then
		cp "$ROOT/.output/benchtools/bpf_floor" "$FLOOR"
	else
		log "bpfcost: .output/benchtools/bpf_floor missing (make): no floor measured"
	fi
	have perf || log "perf not found (Debian package linux-perf): perf peers skipped"
	have bpftrace || log "bpftrace not found (Debian package bpftrace): bpftrace peer skipped"
	[ -x /usr/bin/time ] || log "/usr/bin/time not found (Debian package time): max RSS from report only"
	mkdir -p "$OUT"
	: >"$RUNS"
}

have() { command -v "$1" >/dev/null 2>&1; }

# kv KEY LINE: the value of KEY=... in a bench_faults result line.
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# jq_py EXPR FILE: a Python expression on the JSON document `j`.
jq_py() {
	python3 -c "import json,sys; j=json.load(open(sys.argv[2])); print($1)" "$1" "$2" 2>/dev/null ||
		echo nan
}

# row SECTION ROUND TOOL KEY=VALUE...: one measurement into runs.tsv.
row() { printf '%s\n' "$*" | tr ' ' '\t' >>"$RUNS"; }

ensure_tracefs() {
	[ -e /sys/kernel/tracing/events ] && return 0
	mount -t tracefs nodev /sys/kernel/tracing || return 1
	MOUNTED_TRACEFS=1
	log "mounted tracefs on /sys/kernel/tracing for bpftrace (unmounted on exit)"
}

# ---- one traced (or untraced) storm per tool; each prints the workload's result line ----

# Each runs under /usr/bin/time: %M is the peak RSS of the tool or of the workload it waited for,
# whichever is larger (the untraced row gives the workload's own).
TIMED=(/usr/bin/time -f 'maxrss_kb=%M' -o "$OUT/tool.time")

run_untraced() { "${TIMED[@]}" "$W" "$@"; }

# faultline record; FL_JSON and FL_TIME are left behind for the caller.
run_faultline() {
	local data=$OUT/fl.data
	"${TIMED[@]}" "$FL" record -o "$data" -- "$W" "$@" 2>"$OUT/fl.err"
	"$FL" report -i "$data" --json >"$OUT/fl.json"
	rm -f "$data"
}

run_perf_record() {
	"${TIMED[@]}" perf record -q -c 1 -d -e page-faults -o "$OUT/perf.data" -- "$W" "$@" 2>"$OUT/perf.err"
	perf report -i "$OUT/perf.data" --stats 2>/dev/null >"$OUT/perf.stats" || true
	rm -f "$OUT/perf.data" "$OUT/perf.data.old"
}

run_perf_trace() {
	"${TIMED[@]}" perf trace --no-syscalls -F all -o "$OUT/ptrace.txt" -- "$W" "$@" 2>"$OUT/ptrace.err"
	grep -c 'fault \[' "$OUT/ptrace.txt" >"$OUT/ptrace.count" || true
	grep -c LOST "$OUT/ptrace.txt" >"$OUT/ptrace.lost" || true
	rm -f "$OUT/ptrace.txt"
}

run_bpftrace() {
	local prog='tracepoint:exceptions:page_fault_user /pid == cpid/ { @[tid] = count(); }'

	"${TIMED[@]}" bpftrace -c "$W $*" -e "$prog" >"$OUT/bt.out" 2>"$OUT/bt.err"
	grep '^mode=' "$OUT/bt.out"
}

# storm SECTION ROUND TOOL ARGS...: runs one storm under TOOL and records a row.
storm() {
	local section=$1 round=$2 tool=$3 line extra=""
	shift 3
	case $tool in
	untraced) line=$(run_untraced "$@" || true) ;;
	faultline)
		line=$(run_faultline "$@" || true)
		extra="events=$(jq_py "j['faults']['total']" "$OUT/fl.json")"
		extra+=" drops=$(jq_py "j['events']['dropped']" "$OUT/fl.json")"
		extra+=" rss_anon_end_kb=$(jq_py "j['overhead'].get('rss_anon_end_kb')" "$OUT/fl.json")"
		;;
	perf-record)
		line=$(run_perf_record "$@" || true)
		extra="events=$(awk '/SAMPLE events:/ {print $3; exit}' "$OUT/perf.stats")"
		extra+=" drops=$(awk '/LOST/ {s += $3} END {print s + 0}' "$OUT/perf.stats")"
		;;
	perf-trace)
		local n=$(($(kv_arg -n "$@") / PTRACE_DIV))
		line=$(run_perf_trace $(replace_arg -n "$n" "$@") || true)
		extra="events=$(cat "$OUT/ptrace.count") drops=$(cat "$OUT/ptrace.lost")"
		;;
	bpftrace)
		line=$(run_bpftrace "$@" || true)
		extra="events=$(awk -F': ' '/^@\[/ {s += $2} END {print s + 0}' "$OUT/bt.out")"
		;;
	esac
	extra+=" $(grep maxrss "$OUT/tool.time" 2>/dev/null || echo maxrss_kb=nan)"
	rm -f "$OUT/tool.time"
	if [ -z "$line" ]; then
		log "$tool: the workload printed no result (see $OUT/*.err)"
		return 0
	fi
	row "$section" "$round" "$tool" "rate=$(kv faults_per_s "$line")" "wall_s=$(kv wall_s "$line")" \
		"touches=$(kv touches "$line")" "minflt=$(kv minflt "$line")" $extra
	log "  round $round $tool: $(kv faults_per_s "$line") faults/s${extra:+ ($extra)}"
}

# kv_arg OPT ARGS...: the value after OPT in ARGS.
kv_arg() {
	local opt=$1
	shift
	while [ $# -gt 1 ]; do
		[ "$1" = "$opt" ] && { echo "$2"; return; }
		shift
	done
}

# replace_arg OPT VALUE ARGS...: ARGS with OPT's value replaced.
replace_arg() {
	local opt=$1 val=$2 out=()
	shift 2
	while [ $# -gt 0 ]; do
		if [ "$1" = "$opt" ] && [ $# -gt 1 ]; then
			out+=("$1" "$val")
			shift 2
			continue
		fi
		out+=("$1")
		shift
	done
	echo "${out[@]}"
}

available_tools() {
	local t tools=(untraced)
	for t in $PEERS; do
		case $t in
		faultline) tools+=("$t") ;;
		perf-*) have perf && tools+=("$t") ;;
		bpftrace) have bpftrace && [ -e /sys/kernel/tracing/events ] && tools+=("$t") ;;
		esac
	done
	echo "${tools[@]}"
}

# Sizes the storms from an untraced run, so that each lasts about STORM_SECS untraced however
# busy the machine is: a fixed number of faults (the ratio of rates is the ratio of wall times),
# and a bounded run.
calibrate() {
	local line rate
	line=$("$W" -t 2 -s 1 || true)
	rate=$(kv faults_per_s "$line")
	N_STORM=$(python3 -c "import sys; print(int(max(200000, min(4000000, round(float(sys.argv[1]) * $STORM_SECS, -5)))))" "${rate:-0}")
	SWEEP_N=$N_STORM
	log "calibrate: untraced storm makes ${rate:-?} faults/s now: $N_STORM faults per storm"
}

# 1. Slowdown of a fault storm under each tracer, interleaved and rotated round by round.
bench_peers() {
	local tools r i n

	# here, not in available_tools' subshell, so that cleanup knows to unmount it
	if [[ " $PEERS " == *" bpftrace "* ]] && have bpftrace; then
		ensure_tracefs || log "cannot mount tracefs: bpftrace peer skipped"
	fi
	tools=($(available_tools))
	n=${#tools[@]}

	log "peers: ${tools[*]}; $ROUNDS rounds of $N_STORM faults, 2 threads"
	for ((r = 1; r <= ROUNDS; r++)); do
		if [ "$r" -gt 5 ] && over_budget 0.3; then
			log "peers: stopping after $((r - 1)) rounds (time budget)"
			break
		fi
		for ((i = 0; i < n; i++)); do
			storm peers "$r" "${tools[(i + r - 1) % n]}" -t 2 -n "$N_STORM"
		done
	done
}

# 2. The highest fault rate faultline records without drops: cheaper faults, more threads.
bench_sweep() {
	local cfg r

	log "sweep: faultline at the fastest storms this machine makes ($SWEEP_N faults each)"
	for ((r = 1; r <= (QUICK ? 1 : 2); r++)); do
		if [ "$r" -gt 1 ] && over_budget 0.45; then
			log "sweep: stopping after $((r - 1)) round (time budget)"
			break
		fi
		for cfg in "1 dontneed" "2 dontneed" "2 mmap" "4 dontneed" "2 dontneed --read"; do
			set -- $cfg
			storm "sweep-t$1-$2${3:+-read}" "$r" untraced -t "$1" --mode "$2" ${3:-} -n "$SWEEP_N"
			storm "sweep-t$1-$2${3:+-read}" "$r" faultline -t "$1" --mode "$2" ${3:-} -n "$SWEEP_N"
		done
	done
}

# 2b. On a machine with 8+ CPUs: storms from a quarter, half and three quarters of the CPUs, to
# see the record path above 1 M events/s (a 2-CPU machine cannot make that many faults).
bench_scale() {
	local ncpu r t
	ncpu=$(nproc)
	if [ "$ncpu" -lt 8 ]; then
		row scale 0 skipped "why=needs_8_or_more_CPUs_(this_machine_has_$ncpu)"
		log "scale: skipped: needs 8 or more CPUs, this machine has $ncpu"
		return 0
	fi
	for ((r = 1; r <= 2; r++)); do
		for t in $((ncpu / 4)) $((ncpu / 2)) $((ncpu * 3 / 4)); do
			storm "scale-t$t" "$r" untraced -t "$t" -n $((t * 1500000))
			storm "scale-t$t" "$r" faultline -t "$t" -n $((t * 1500000))
		done
	done
}

# sample_proc PID FILE: every 100 ms, the process's RSS and RssAnon (max and last) and each
# thread's CPU (utime+stime ticks, the highest seen), until it ends; FILE holds key=value pairs.
sample_proc() {
	local pid=$1 file=$2
	while [ -d "/proc/$pid" ]; do
		{
			awk '/^(VmRSS|RssAnon):/ {print $1 $2}' "/proc/$pid/status" 2>/dev/null
			for t in "/proc/$pid/task/"*; do
				awk '{print "thr_" $2 "=" $14 + $15}' "$t/stat" 2>/dev/null
			done
		} | tr -d '()' | sed 's/:/=/'
		echo --
		sleep 0.1
	done | awk -v file="$file" '
		$0 == "--" { n++; next }
		{ split($0, kv, "="); k = kv[1]; v = kv[2] + 0
		  if (!(k in max) || v > max[k]) max[k] = v
		  last[k] = v }
		END { for (k in max) printf "max_%s=%d ", k, max[k] > file
		      for (k in last) if (k !~ /^thr_/) printf "last_%s=%d ", k, last[k] > file
		      printf "samples=%d\n", n > file }'
}

# pid_with_comm PID COMM: PID if it is COMM, else its child that is (a shell may sit between).
pid_with_comm() {
	local i=0 c
	while [ $((i++)) -lt 200 ]; do
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && { echo "$1"; return; }
		c=$(pgrep -P "$1" -x "$2" | head -1 || true)
		[ -n "$c" ] && { echo "$c"; return; }
		sleep 0.01
	done
}

# memory_session LABEL FAULTS DATA: one `faultline record` of a storm, sampled while it runs.
memory_session() {
	local label=$1 n=$2 data=$3 pid fpid sp line j=$OUT/mem-$1.json

	log "memory: $label session, $n faults"
	/usr/bin/time -f 'maxrss_kb=%M' -o "$OUT/mem.time" \
		"$FL" record --fault-events=all -o "$data" -- "$W" -t 2 -n "$n" >"$OUT/mem.out" 2>"$OUT/mem.err" &
	pid=$!
	BG_PIDS+=("$pid")
	fpid=$(pid_with_comm "$pid" faultline)
	: >"$OUT/mem.samples"
	if [ -n "$fpid" ]; then
		sample_proc "$fpid" "$OUT/mem.samples" &
		sp=$!
		BG_PIDS+=("$sp")
	fi
	wait "$pid" || log "faultline record exited non-zero (see $OUT/mem.err)"
	if [ -n "$fpid" ]; then wait "$sp" 2>/dev/null || true; fi
	BG_PIDS=()
	line=$(grep '^mode=' "$OUT/mem.out" || true)
	"$FL" report -i "$data" --json >"$j" || true
	row "memory-$label" 1 faultline "rate=$(kv faults_per_s "$line")" \
		"events_total=$(jq_py "j['events']['total']" "$j")" \
		"drops=$(jq_py "j['events']['dropped']" "$j")" \
		"$(grep maxrss "$OUT/mem.time" || echo maxrss_kb=nan)" \
		"report_max_rss_kb=$(jq_py "j['overhead'].get('max_rss_kb')" "$j")" \
		"rss_anon_end_kb=$(jq_py "j['overhead'].get('rss_anon_end_kb')" "$j")" \
		"user_cpu_ns=$(jq_py "j['overhead'].get('user_cpu_ns')" "$j")" \
		"sys_cpu_ns=$(jq_py "j['overhead'].get('sys_cpu_ns')" "$j")" \
		"bpf_ns_per_run=$(jq_py "j['overhead'].get('bpf_ns_per_run')" "$j")" \
		$(cat "$OUT/mem.samples")
}

# 3. faultline's own memory for a short and a 4x longer session; the long one is kept for `report`.
# One event per fault (--fault-events=all): the record path and `report` at their busiest.
bench_memory() {
	memory_session short "$N_SHORT" "$OUT/short.data"
	rm -f "$OUT/short.data"
	memory_session long "$N_LONG" "$OUT/big.data"
}

# 4. `faultline report` on the big file: text and --json, interleaved.
bench_report() {
	local r fmt t0 t1 events

	[ -f "$OUT/big.data" ] || { log "report: no big recording"; return 0; }
	events=$(jq_py "j['events']['total']" "$OUT/mem-long.json")
	log "report: $events events, $(du -h "$OUT/big.data" | cut -f1), $REPORT_RUNS runs each"
	for ((r = 1; r <= REPORT_RUNS; r++)); do
		for fmt in text json; do
			local args=(report -i "$OUT/big.data")
			[ "$fmt" = json ] && args+=(--json)
			t0=$(date +%s%N)
			/usr/bin/time -f 'maxrss_kb=%M' -o "$OUT/rep.time" "$FL" "${args[@]}" >/dev/null ||
				log "faultline ${args[*]} failed"
			t1=$(date +%s%N)
			row report "$r" "report-$fmt" "secs=$(((t1 - t0) / 1000000))e-3" \
				"events=$events" "$(grep maxrss "$OUT/rep.time" || echo maxrss_kb=nan)"
		done
	done
	rm -f "$OUT/big.data"
}

# wall_ns COMMAND...: runs COMMAND with "go" on stdin and output discarded; prints its wall ns.
wall_ns() {
	local t0 t1
	t0=$(date +%s%N)
	echo go | "$@" >/dev/null 2>>"$OUT/alloc.err" || log "$* failed (see $OUT/alloc.err)"
	t1=$(date +%s%N)
	echo $((t1 - t0))
}

# wall_cpu CMD...: "WALL_NS CPU_NS" of CMD given "go" on stdin: its wall time, and the user+system
# CPU of it and its children (the traced process pays the uprobe traps in system time; on a busy
# machine the CPU is steadier than the wall, which also counts the waits for a CPU).
wall_cpu() {
	python3 -c '
import resource, subprocess, sys, time
err = open(sys.argv[1], "a")
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic_ns()
if subprocess.run(sys.argv[2:], input=b"go\n", stdout=subprocess.DEVNULL, stderr=err).returncode:
    print(" ".join(sys.argv[2:]), "failed", file=err)
t1 = time.monotonic_ns()
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print(t1 - t0, int((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e9))
' "$OUT/alloc.err" "$@"
}

# pairs_row ROUND TOOL CMD...: the alloc-pairs row of CMD N and CMD N0 (wall and CPU).
pairs_row() {
	local r=$1 tool=$2 a b
	shift 2
	read -r -a a <<<"$(wall_cpu "$@" "$ALLOC_PAIRS")"
	read -r -a b <<<"$(wall_cpu "$@" 1000)"
	row alloc-pairs "$r" "$tool" "n_ns=${a[0]}" "n0_ns=${b[0]}" "n_cpu_ns=${a[1]}" \
		"n0_cpu_ns=${b[1]}" "pairs=$((ALLOC_PAIRS - 1000))"
}

# 5. Allocator overhead, once `record --alloc=` and tests/workloads/malloc_n.c exist.
# Per pair: (full(N) - full(N0)) - (untraced(N) - untraced(N0)), over N - N0 pairs, so that
# faultline's start-up and the process's own start cancel out.
bench_alloc() {
	local n=$ALLOC_PAIRS r py
	local rec=("$FL" record -o "$OUT/alloc.data")

	if ! "$FL" record --help 2>&1 | grep -q -- '--alloc'; then
		row alloc 0 skipped "why=faultline_record_has_no_--alloc_option_yet"
		log "alloc: skipped: 'faultline record' has no --alloc option yet"
		return 0
	fi
	if [ ! -x "$WL/malloc_n" ]; then
		row alloc 0 skipped "why=tests/workloads/malloc_n.c_not_built_yet"
		log "alloc: skipped: $WL/malloc_n does not exist yet"
		return 0
	fi
	py="for i in range($ALLOC_PY_ITERS): b = bytearray(1024)" # 1 KiB: past pymalloc, into malloc
	# The peer: the same uprobes and uretprobes on glibc's malloc and free, counted by bpftrace,
	# which tells the kernel's uprobe cost apart from faultline's.
	local libc bt=""
	libc=$(ldd "$WL/malloc_n" | awk '/libc.so/ {print $3}')
	if have bpftrace && [ -n "$libc" ] && ensure_tracefs; then
		bt="uprobe:$libc:malloc,uprobe:$libc:free /pid == cpid/ { @e = count(); }"
		bt+=" uretprobe:$libc:malloc,uretprobe:$libc:free /pid == cpid/ { @r = count(); }"
		# a program, for wall_cpu: bpftrace -c takes the command and its N as one string
		# shellcheck disable=SC2016 # $1 and $2 are the little script's own
		printf '#!/bin/sh\nexec bpftrace -e "$1" -c "%s $2"\n' "$WL/malloc_n" >"$OUT/bt_malloc_n"
		chmod +x "$OUT/bt_malloc_n"
	fi
	log "alloc: $n malloc+free pairs untraced vs --alloc=full; python loop lite vs full"
	for ((r = 1; r <= ALLOC_ROUNDS; r++)); do
		pairs_row "$r" untraced "$WL/malloc_n"
		pairs_row "$r" full "${rec[@]}" --alloc=full -- "$WL/malloc_n"
		if [ -n "$FL_BASE" ]; then # another build, e.g. main's, interleaved with this one
			pairs_row "$r" full-base "$FL_BASE" record -o "$OUT/alloc.data" --alloc=full -- \
				"$WL/malloc_n"
		fi
		row alloc-python "$r" untraced "ns=$(wall_ns python3 -c "$py")"
		row alloc-python "$r" lite "ns=$(wall_ns "${rec[@]}" --alloc=lite -- python3 -c "$py")"
		row alloc-python "$r" full "ns=$(wall_ns "${rec[@]}" --alloc=full -- python3 -c "$py")"
		if [ -n "$bt" ]; then
			pairs_row "$r" bpftrace "$OUT/bt_malloc_n" "$bt"
		fi
	done
	rm -f "$OUT/alloc.data"
}

# proc_cpu_ticks PID: utime+stime of a process, in clock ticks.
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# metric NAME FILE: the sum of a Prometheus metric's samples in FILE.
metric() { awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}' "$2"; }

# live_wait_ready SUBCOMMAND: until serve answers a scrape or top has printed a frame (60 s at most).
live_wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		if [ "$1" = serve ]; then
			curl -sf -o /dev/null "http://$LIVE_LISTEN/metrics" && return 0
		else
			[ -s "$OUT/live-$1.out" ] && return 0
		fi
		sleep 0.1
	done
	log "  faultline $1 not ready after 60 s (see $OUT/live-$1.err)"
}

# live_cpu SUBCOMMAND RATE ARGS...: the CPU of `faultline SUBCOMMAND` over RATE_SECS against a
# storm paced at RATE faults/s, from /proc/PID/stat (utime+stime, clock ticks).
live_cpu() {
	local sub=$1 rate=$2 wpid lpid t0 t1 extra=""
	shift 2
	# the storm outlives the window: it is stopped once the window is measured
	"$W" -t 2 -s $((RATE_SECS + 120)) -r "$rate" >"$OUT/live.w" &
	BG_PIDS+=($!)
	wpid=$(pid_with_comm $! bench_faults)
	"$FL" "$sub" -p "$wpid" "$@" >"$OUT/live-$sub.out" 2>"$OUT/live-$sub.err" &
	lpid=$!
	BG_PIDS+=("$lpid")
	lpid=$(pid_with_comm "$lpid" faultline)
	live_wait_ready "$sub" # loading and attaching are not what is measured
	t0=$(proc_cpu_ticks "$lpid")
	if [ "$sub" = serve ]; then
		curl -s "http://$LIVE_LISTEN/metrics" >"$OUT/live-m0.txt" || true
	fi
	sleep "$RATE_SECS"
	if [ ! -d "/proc/$lpid" ]; then
		log "  faultline $sub exited during the window (see $OUT/live-$sub.err)"
		row "live-$sub" "$rate" "$sub" "error=exited_early" "secs=$RATE_SECS"
		kill "${BG_PIDS[@]}" 2>/dev/null || true
		wait "${BG_PIDS[@]}" 2>/dev/null || true
		BG_PIDS=()
		return 0
	fi
	t1=$(proc_cpu_ticks "$lpid")
	if [ "$sub" = serve ]; then
		curl -s "http://$LIVE_LISTEN/metrics" >"$OUT/live-m1.txt" || true
		extra="faults=$(($(metric faultline_page_faults_total "$OUT/live-m1.txt") - \
			$(metric faultline_page_faults_total "$OUT/live-m0.txt")))"
		extra+=" bpf_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" \
			"$(metric faultline_bpf_run_seconds_total "$OUT/live-m0.txt")" \
			"$(metric faultline_bpf_run_seconds_total "$OUT/live-m1.txt")")"
	else
		extra="lines=$(grep -c . "$OUT/live-$sub.out" || true)"
	fi
	kill -INT "$lpid" 2>/dev/null || true
	kill "${BG_PIDS[@]}" 2>/dev/null || true
	wait "${BG_PIDS[@]}" 2>/dev/null || true
	BG_PIDS=()
	row "live-$sub" "$rate" "$sub" "ticks=$((t1 - t0))" "hz=$(getconf CLK_TCK)" \
		"rate=$rate" "secs=$RATE_SECS" $extra
	log "  $sub at $rate faults/s: $((t1 - t0)) ticks of CPU in $RATE_SECS s ${extra:+($extra)}"
}

# 6. top/serve CPU at fixed event rates, once those subcommands exist.
bench_live() {
	local rate sub
	for sub in top serve; do
		if ! "$FL" --help 2>&1 | grep -qE "^  $sub "; then
			row "live-$sub" 0 skipped "why=faultline_has_no_$sub""_subcommand_yet"
			log "live: skipped: faultline has no '$sub' subcommand yet"
			continue
		fi
		for rate in 10000 100000; do
			log "live: faultline $sub at $rate faults/s for $RATE_SECS s"
			if [ "$sub" = top ]; then
				live_cpu top "$rate" --batch
			else
				live_cpu serve "$rate" --listen "$LIVE_LISTEN"
			fi
		done
	done
}

# 7. record --flight: CPU and memory of the in-memory recorder over RATE_SECS, on an idle target
# (RATE 0: a process asleep) and at a paced fault storm; nothing may be written to its -o dir.
flight_cpu() {
	local rate=$1 wpid lpid t0 t1 r0 r1 i dir=$OUT/flight-$1
	rm -rf "$dir"
	mkdir -p "$dir"
	if [ "$rate" = 0 ]; then
		sleep $((RATE_SECS + 120)) &
		wpid=$!
		BG_PIDS+=("$wpid")
	else
		"$W" -t 2 -s $((RATE_SECS + 120)) -r "$rate" >"$OUT/flight.w" &
		BG_PIDS+=($!)
		wpid=$(pid_with_comm $! bench_faults)
	fi
	"$FL" record -p "$wpid" --flight 60s -o "$dir" 2>"$OUT/flight.err" &
	lpid=$!
	BG_PIDS+=("$lpid")
	for ((i = 0; i < 600; i++)); do
		grep -q 'flight recording:' "$OUT/flight.err" && break
		sleep 0.1
	done
	t0=$(proc_cpu_ticks "$lpid")
	r0=$(awk '/^VmRSS/ {print $2}' "/proc/$lpid/status" 2>/dev/null || echo 0)
	sleep "$RATE_SECS"
	t1=$(proc_cpu_ticks "$lpid")
	r1=$(awk '/^VmRSS/ {print $2}' "/proc/$lpid/status" 2>/dev/null || echo 0)
	kill -INT "$lpid" 2>/dev/null || true
	kill "${BG_PIDS[@]}" 2>/dev/null || true
	wait "${BG_PIDS[@]}" 2>/dev/null || true
	BG_PIDS=()
	row flight "$rate" flight "ticks=$((t1 - t0))" "hz=$(getconf CLK_TCK)" "secs=$RATE_SECS" \
		"rss0_kb=$r0" "rss1_kb=$r1" "files=$(find "$dir" -mindepth 1 | wc -l)"
	log "  flight at $rate faults/s: $((t1 - t0)) ticks of CPU in $RATE_SECS s, RSS $r0 -> $r1 KiB"
}

# serve --flight on examples/server.py: idle (RPM 0) and with examples/loadgen.py sending RPM
# requests a minute; CPU (user+system ticks) and RSS of faultline serve over RATE_SECS, requests
# it counted (/metrics) and files written (none: the ttft trigger, 60 s, never fires).
serve_flight_cpu() {
	local rpm=$1 secs=${2:-$RATE_SECS} spid lpid gpid port addr t0 t1 r0 r1 rm1=- q0 q1 i
	local dir=$OUT/serve-flight-$1
	rm -rf "$dir"
	mkdir -p "$dir"
	python3 "$ROOT/examples/server.py" --layout single --port 0 -q --kv-mb 0 --churn 0 \
		--weights "$OUT/sf.bin" --weights-mb 8 >"$OUT/sf.srv" 2>&1 &
	spid=$!
	BG_PIDS+=("$spid")
	for ((i = 0; i < 300; i++)); do
		grep -q '^listening on' "$OUT/sf.srv" && break
		sleep 0.1
	done
	port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/sf.srv")
	"$FL" serve -p "$spid" --listen 127.0.0.1:0 --flight 60s --trigger ttft=60s -o "$dir" \
		2>"$OUT/sf.err" &
	lpid=$!
	BG_PIDS+=("$lpid")
	for ((i = 0; i < 600; i++)); do
		grep -q 'serving http' "$OUT/sf.err" && break
		sleep 0.1
	done
	addr=$(grep -o 'serving http://[^/]*' "$OUT/sf.err" | sed 's|serving http://||')
	if [ "$rpm" != 0 ]; then
		python3 "$ROOT/examples/loadgen.py" --url "http://127.0.0.1:$port" -q -c 16 \
			-n $((rpm * (secs + 30) / 60)) --rate "$(python3 -c "print($rpm / 60)")" \
			--max-tokens 4 --prompt-len 20 >"$OUT/sf.lg" 2>&1 &
		gpid=$!
		BG_PIDS+=("$gpid")
		sleep 2 # past the first connections
	fi
	curl -s "http://$addr/metrics" >"$OUT/sf.m0"
	t0=$(proc_cpu_ticks "$lpid")
	r0=$(awk '/^VmRSS/ {print $2}' "/proc/$lpid/status" 2>/dev/null || echo 0)
	if [ "$secs" -ge 120 ]; then # a soak: RSS at minute 1 against the end
		sleep 60
		rm1=$(awk '/^VmRSS/ {print $2}' "/proc/$lpid/status" 2>/dev/null || echo 0)
		sleep $((secs - 60))
	else
		sleep "$secs"
	fi
	t1=$(proc_cpu_ticks "$lpid")
	r1=$(awk '/^VmRSS/ {print $2}' "/proc/$lpid/status" 2>/dev/null || echo 0)
	curl -s "http://$addr/metrics" >"$OUT/sf.m1"
	q0=$(metric faultline_requests_total "$OUT/sf.m0")
	q1=$(metric faultline_requests_total "$OUT/sf.m1")
	kill -INT "$lpid" 2>/dev/null || true
	kill "${BG_PIDS[@]}" 2>/dev/null || true
	wait "${BG_PIDS[@]}" 2>/dev/null || true
	BG_PIDS=()
	row flight-serve "$rpm" serve "ticks=$((t1 - t0))" "hz=$(getconf CLK_TCK)" "secs=$secs" \
		"rss0_kb=$r0" "rss_min1_kb=$rm1" "rss1_kb=$r1" "reqs=$((q1 - q0))" "ring_kb=$(($(metric faultline_flight_ring_bytes "$OUT/sf.m1") / 1024))" \
		"files=$(find "$dir" -mindepth 1 | wc -l)"
	log "  serve --flight at $rpm req/min: $((t1 - t0)) ticks of CPU in $secs s, $((q1 - q0)) requests, RSS $r0 -> (minute 1: $rm1) -> $r1 KiB"
}

bench_flight() {
	local rate
	for rate in 0 10000; do
		log "flight: record --flight 60s at $rate faults/s for $RATE_SECS s"
		flight_cpu "$rate"
	done
	for rate in 0 10000; do
		log "flight: serve --flight 60s at $rate requests/min for $RATE_SECS s"
		serve_flight_cpu "$rate"
	done
}

# BENCH_SECTIONS=soak: serve --flight at 10k requests/min for BENCH_SOAK_SECS (600), RSS at minute 1
# against the end (the issue's "memory flat over a 10-minute soak").
bench_soak() {
	log "soak: serve --flight 60s at 10000 requests/min for ${BENCH_SOAK_SECS:-600} s"
	serve_flight_cpu 10000 "${BENCH_SOAK_SECS:-600}"
}

# ---- BENCH_SECTIONS=bpfcost: BPF time per fault, per faultline program (bpf_stats) ----
# kernel.bpf_stats_enabled=1 makes the kernel time every BPF program run (run_time_ns, run_cnt);
# bench_faults --hold keeps the target, and so faultline's programs, alive until the statistics
# are read. Programs are those held by this run's faultline process (its fds), so other faultline
# sessions on the machine are not counted. bpf_floor (bench/floor.bpf.c) holds a program that
# returns at once beside them: what bpf_stats counts for it is the floor under every figure.

BPFCOST_ROUNDS=${BENCH_BPFCOST_ROUNDS:-$([ "$QUICK" = 1 ] && echo 3 || echo 5)}
# BENCH_FL_ARGS: more `faultline record` options for these runs (e.g. --fault-events=all)
FL_ARGS=${BENCH_FL_ARGS:-}
BPF_STATS_OLD=""

bpf_stats_on() {
	[ -n "$BPF_STATS_OLD" ] && return 0
	BPF_STATS_OLD=$(cat /proc/sys/kernel/bpf_stats_enabled)
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
}

bpf_stats_restore() {
	[ -n "$BPF_STATS_OLD" ] && echo "$BPF_STATS_OLD" >/proc/sys/kernel/bpf_stats_enabled
	BPF_STATS_OLD=""
}

# bpf_progs_of PID: "name run_cnt run_time_ns" for each BPF program PID holds open: the ids and
# statistics from /proc/PID/fdinfo (bpftool's pids member needs a bpftool built with skeletons),
# the names from bpftool.
bpf_progs_of() {
	local pid=$1
	bpftool prog show --json | python3 -c '
import glob, json, sys
names = {p["id"]: p.get("name", "?") for p in json.load(sys.stdin)}
for f in glob.glob(f"/proc/{sys.argv[1]}/fdinfo/*"):
    try:
        kv = dict(l.split(":", 1) for l in open(f) if ":" in l)
    except OSError:
        continue
    if "prog_id" in kv and "run_cnt" in kv:
        i = int(kv["prog_id"])
        print(names.get(i, f"id{i}"), int(kv["run_cnt"]), int(kv["run_time_ns"]))
' "$pid"
}

# floor_start: bpf_floor (bench/floor.bpf.c) attached, held until fd 8 closes; FLOOR_PID.
floor_start() {
	local i

	FLOOR_PID=""
	[ -x "$FLOOR" ] || return 0
	rm -f "$OUT/floor.fifo" "$OUT/floor.out"
	mkfifo "$OUT/floor.fifo"
	"$FLOOR" <"$OUT/floor.fifo" >"$OUT/floor.out" 2>"$OUT/floor.err" 9>&- &
	FLOOR_PID=$!
	BG_PIDS+=("$FLOOR_PID")
	exec 8>"$OUT/floor.fifo"
	for ((i = 0; i < 100; i++)); do
		grep -q attached "$OUT/floor.out" 2>/dev/null && return 0
		kill -0 "$FLOOR_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "bpfcost: bpf_floor did not attach (see $OUT/floor.err): no floor this round"
	exec 8>&-
	FLOOR_PID=""
}

# bpfcost_run ROUND THREADS: one storm under faultline record; a row per program that ran, and
# one for the floor: a program that returns at once on the same tracepoint, in the same storm,
# attached before faultline's in odd rounds and after it in even ones (programs on a tracepoint
# run in the order they were attached).
bpfcost_run() {
	local round=$1 threads=$2 fifo=$OUT/bpfcost.fifo outf=$OUT/bpfcost.out flpid line faults i
	local name cnt ns floor_first=$((round % 2))

	rm -f "$fifo" "$outf" "$OUT/bpfcost.go" "$OUT/bpfcost.err"
	mkfifo "$fifo" "$OUT/bpfcost.go"
	FLOOR_PID=""
	[ "$floor_first" = 1 ] && floor_start
	# the workload starts when told (bpfcost.go): after both programs are attached
	# shellcheck disable=SC2016
	"$FL" record -o "$OUT/bpfcost.data" $FL_ARGS -- sh -c \
		'read -r _ <"$1"; shift; exec "$@"' sh "$OUT/bpfcost.go" \
		"$W" -t "$threads" -n "$N_STORM" --hold <"$fifo" >"$outf" 2>"$OUT/bpfcost.err" 8>&- &
	flpid=$!
	BG_PIDS+=("$flpid")
	exec 9>"$fifo" # bench_faults holds until this closes
	if [ "$floor_first" = 0 ]; then
		# faultline says it is recording once its programs are attached
		for ((i = 0; i < 300; i++)); do
			grep -q "recording to" "$OUT/bpfcost.err" 2>/dev/null && break
			kill -0 "$flpid" 2>/dev/null || break
			sleep 0.1
		done
		floor_start
	fi
	# shellcheck disable=SC2016
	timeout 60 sh -c 'echo go >"$1"' sh "$OUT/bpfcost.go" || true # the storm starts
	for ((i = 0; i < 1200; i++)); do
		grep -q faults_per_s= "$outf" 2>/dev/null && break
		kill -0 "$flpid" 2>/dev/null || break
		sleep 0.1
	done
	line=$(grep faults_per_s= "$outf" || true)
	bpf_progs_of "$flpid" >"$OUT/bpfcost.progs" || true
	if [ -n "$FLOOR_PID" ]; then
		bpf_progs_of "$FLOOR_PID" | sed 's/^fl_floor /(floor) /' >>"$OUT/bpfcost.progs" || true
		exec 8>&-
		wait "$FLOOR_PID" || true
	fi
	exec 9>&-
	wait "$flpid" || log "bpfcost: faultline record failed (see $OUT/bpfcost.err)"
	rm -f "$fifo" "$OUT/floor.fifo" "$OUT/bpfcost.go"
	if [ -z "$line" ]; then
		log "bpfcost: the workload printed no result (see $OUT/bpfcost.err)"
		return 0
	fi
	"$FL" report -i "$OUT/bpfcost.data" --json >"$OUT/bpfcost.json" || true
	faults=$(jq_py "j['faults']['total']" "$OUT/bpfcost.json")
	row "bpfcost-t$threads" "$round" faultline "rate=$(kv faults_per_s "$line")" \
		"minflt=$(kv minflt "$line")" "events=$faults" \
		"drops=$(jq_py "j['events']['dropped']" "$OUT/bpfcost.json")"
	while read -r name cnt ns; do
		[ "$cnt" -gt 0 ] || continue
		row "bpfcost-t$threads" "$round" "prog:$name" "run_cnt=$cnt" "run_time_ns=$ns" "faults=$faults"
	done <"$OUT/bpfcost.progs"
	rm -f "$OUT/bpfcost.data" "$OUT/bpfcost.json"
	log "  round $round, $threads thread(s): $(kv faults_per_s "$line") faults/s, $faults faults recorded;" \
		"$(awk '$2 > 0 {printf "%s %.0f ns/run x%d; ", $1, $3 / $2, $2}' "$OUT/bpfcost.progs")"
}

bench_bpfcost() {
	local r t

	have bpftool || { log "bpfcost: bpftool not found (Debian package bpftool): skipped"; return 0; }
	bpf_stats_on
	log "bpfcost: $BPFCOST_ROUNDS rounds of $N_STORM faults, 1 and 2 threads, bpf_stats on"
	for ((r = 1; r <= BPFCOST_ROUNDS; r++)); do
		for t in 1 2; do
			bpfcost_run "$r" "$t"
		done
	done
	bpf_stats_restore
}

# ---- BENCH_SECTIONS=topcost: what `top --batch` and `serve` cost at 100k faults/s ----
# A 2-thread storm paced at TOPCOST_RATE faults/s; over a window of TOPCOST_SECS, from
# /proc/PID/stat: utime (user space, the target is 0.25% of a core) and stime; the on-CPU time of
# all of faultline's threads (schedstat, ns); faultline's own BPF programs' run_time_ns/run_cnt
# from its fdinfo (BPF_ENABLE_STATS, which faultline takes itself); the target's faults
# (minflt). serve is scraped every second (a busier Prometheus than the default 15 s).

TOPCOST_RATE=${BENCH_TOPCOST_RATE:-100000}
TOPCOST_ROUNDS=${BENCH_TOPCOST_ROUNDS:-$([ "$QUICK" = 1 ] && echo 1 || echo 2)}
TOPCOST_SECS=${BENCH_TOPCOST_SECS:-$([ "$QUICK" = 1 ] && echo 10 || echo 30)}

# oncpu_ns PID: on-CPU ns of all its threads (schedstat's first field).
oncpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }

# fd_bpf_ns PID: "run_time_ns run_cnt" summed over the BPF programs PID holds open.
fd_bpf_ns() {
	awk -F'\t' '$1 == "run_time_ns:" {ns += $2} $1 == "run_cnt:" {n += $2}
		END {printf "%d %d", ns, n}' /proc/"$1"/fdinfo/* 2>/dev/null || echo "0 0"
}

# topcost_run ROUND SUB: one window of `faultline SUB` against the paced storm.
topcost_run() {
	local round=$1 sub=$2 wpid lpid u0 s0 u1 s1 c0 c1 b0 b1 f0 f1
	"$W" -t 2 -s $((TOPCOST_SECS + 120)) -r "$TOPCOST_RATE" >"$OUT/topcost.w" &
	BG_PIDS+=($!)
	wpid=$(pid_with_comm $! bench_faults)
	if [ "$sub" = top ]; then
		"$FL" top -p "$wpid" --batch >"$OUT/live-top.out" 2>"$OUT/live-top.err" &
	else
		"$FL" serve -p "$wpid" --listen "$LIVE_LISTEN" >/dev/null 2>"$OUT/live-serve.err" &
	fi
	lpid=$!
	BG_PIDS+=("$lpid")
	live_wait_ready "$sub"
	if [ "$sub" = serve ]; then
		while curl -s -o "$OUT/topcost.m" "http://$LIVE_LISTEN/metrics"; do sleep 1; done &
		BG_PIDS+=($!)
	fi
	sleep 2 # past the first frame or scrape
	read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$lpid/stat")
	c0=$(oncpu_ns "$lpid")
	b0=$(fd_bpf_ns "$lpid")
	f0=$(awk '{print $10}' "/proc/$wpid/stat")
	sleep "$TOPCOST_SECS"
	read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$lpid/stat" 2>/dev/null || echo "- -")
	c1=$(oncpu_ns "$lpid")
	b1=$(fd_bpf_ns "$lpid")
	f1=$(awk '{print $10}' "/proc/$wpid/stat")
	kill -INT "$lpid" 2>/dev/null || true
	kill "${BG_PIDS[@]}" 2>/dev/null || true
	wait "${BG_PIDS[@]}" 2>/dev/null || true
	BG_PIDS=()
	if [ "$u1" = - ]; then
		log "topcost: faultline $sub exited during the window (see $OUT/live-$sub.err)"
		return 0
	fi
	row "topcost-$sub" "$round" "$sub" "utime=$((u1 - u0))" "stime=$((s1 - s0))" \
		"hz=$(getconf CLK_TCK)" "secs=$TOPCOST_SECS" "oncpu_ns=$((c1 - c0))" \
		"bpf_ns=$((${b1% *} - ${b0% *}))" "bpf_runs=$((${b1#* } - ${b0#* }))" \
		"faults=$((f1 - f0))"
	log "  round $round $sub: utime $((u1 - u0)) stime $((s1 - s0)) ticks, on-CPU" \
		"$(((c1 - c0) / 1000000)) ms, own BPF $(((${b1% *} - ${b0% *}) / 1000000)) ms in" \
		"$TOPCOST_SECS s; target $(((f1 - f0) / TOPCOST_SECS)) faults/s"
}

bench_topcost() {
	local r sub
	log "topcost: top --batch and serve at $TOPCOST_RATE faults/s, $TOPCOST_ROUNDS x $TOPCOST_SECS s"
	for ((r = 1; r <= TOPCOST_ROUNDS; r++)); do
		for sub in top serve; do
			topcost_run "$r" "$sub"
		done
	done
}

# Markdown for the topcost rows: medians (min-max) over rounds, as % of one core.
topcost_summary() {
	python3 - "$RUNS" <<'EOF'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0].startswith("topcost-"):
        kv = dict(x.split("=", 1) for x in f[3:] if "=" in x)
        rows.setdefault(f[0][8:], []).append({k: float(v) for k, v in kv.items()})
if not rows:
    sys.exit(0)
print("\n### top and serve's own cost (`BENCH_SECTIONS=topcost`)\n")
print("A 2-thread storm paced at 100k faults/s; per window, % of one core: user space (utime; "
      "the target is <= 0.25), system (stime), on-CPU (schedstat, all of faultline's threads), "
      "and faultline's own BPF programs (run_time_ns from its fdinfo: they run in the faulting "
      "threads, not in faultline's). serve is scraped every second. Medians (min-max).\n")
print("| command | rounds | target faults/s | user % | system % | on-CPU % | own BPF % | "
      "BPF ns / target fault |")
print("|---|---|---|---|---|---|---|---|")

def cell(v, fmt):
    m = fmt.format(st.median(v))
    return m + (f" ({fmt.format(min(v))}-{fmt.format(max(v))})" if len(v) > 1 else "")

for sub in ("top", "serve"):
    r = rows.get(sub)
    if not r:
        continue
    pct = lambda k: [x[k] / x["hz"] / x["secs"] * 100 for x in r]
    print(f"| {sub} | {len(r)} | {cell([x['faults'] / x['secs'] for x in r], '{:,.0f}')} | "
          f"{cell(pct('utime'), '{:.2f}')} | {cell(pct('stime'), '{:.2f}')} | "
          f"{cell([x['oncpu_ns'] / x['secs'] / 1e7 for x in r], '{:.3f}')} | "
          f"{cell([x['bpf_ns'] / x['secs'] / 1e7 for x in r], '{:.2f}')} | "
          f"{cell([x['bpf_ns'] / max(x['faults'], 1) for x in r], '{:.0f}')} |")
EOF
}

# ---- BENCH_SECTIONS=ttft: an allocator mode to leave on a serving process ----
# examples/server.py answers examples/loadgen.py (TTFT_N requests, one at a time, client-measured
# median TTFT) untraced, under `record` (default: --alloc=lite), under `record --alloc=full`, and
# under bpftrace with the same libc uprobes (entry of malloc, calloc, realloc, free; return of the
# first three) whose programs return at once (pid == 1): the trap floor that any in-BPF sampling
# decision would still pay. bpftrace attaches its uprobes system-wide; faultline only to the target.
# Interleaved rounds; also the server's CPU per request (utime+stime of /proc/PID/stat: it keeps
# the time of exited threads, which the server starts one per connection).

TTFT_ROUNDS=${BENCH_TTFT_ROUNDS:-$([ "$QUICK" = 1 ] && echo 2 || echo 4)}
TTFT_N=${BENCH_TTFT_N:-40}

# ttft_wait_file FILE TEXT: until FILE holds TEXT (60 s at most).
ttft_wait_file() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ttft_lg PORT: one loadgen run; prints its median TTFT in ms.
ttft_lg() {
	python3 "$ROOT/examples/loadgen.py" --url "http://127.0.0.1:$1" -q -n "$TTFT_N" -c 1 \
		--max-tokens 8 --prompt-len 50 --save-result "$OUT/ttft.json" >/dev/null 2>&1 || true
	python3 -c "import json, sys; j = json.load(open(sys.argv[1]))
print(j['median_ttft_ms'] if j.get('completed') else 'nan')" "$OUT/ttft.json" 2>/dev/null || echo nan
}

bench_ttft() {
	local spid port libc r m tp c0 c1 v bt ac
	python3 "$ROOT/examples/server.py" --layout single --port 0 -q --weights "$OUT/ttft.bin" \
		--weights-mb 8 >"$OUT/ttft.srv" 2>&1 &
	spid=$!
	BG_PIDS+=("$spid")
	ttft_wait_file "$OUT/ttft.srv" '^listening on' || { log "ttft: the example server did not start"; return 0; }
	spid=$(sed -n 's/^faultline-example server: pid \([0-9]*\).*/\1/p' "$OUT/ttft.srv") # not a shim's
	port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/ttft.srv")
	libc=$(awk '/libc.so/ {print $6; exit}' "/proc/$spid/maps")
	bt="uprobe:$libc:malloc,uprobe:$libc:free,uprobe:$libc:calloc,uprobe:$libc:realloc,"
	bt+="uretprobe:$libc:malloc,uretprobe:$libc:calloc,uretprobe:$libc:realloc"
	bt+=' /pid == 1/ { @c = count(); } BEGIN { printf("recording to\n"); }'
	ttft_lg "$port" >/dev/null # warm-up
	log "ttft: $TTFT_ROUNDS rounds of $TTFT_N requests: untraced, record, record --alloc=slow, record --alloc=full, uprobe trap floor"
	for ((r = 1; r <= TTFT_ROUNDS; r++)); do
		for m in untraced record slow full trap; do
			tp=""
			: >"$OUT/ttft.err"
			case $m in
			record) "$FL" record -p "$spid" -o "$OUT/ttft.data" -f 2>"$OUT/ttft.err" & tp=$! ;;
			slow) "$FL" record -p "$spid" --alloc=slow -o "$OUT/ttft.data" -f 2>"$OUT/ttft.err" & tp=$! ;;
			full) "$FL" record -p "$spid" --alloc=full -o "$OUT/ttft.data" -f 2>"$OUT/ttft.err" & tp=$! ;;
			trap) have bpftrace && { bpftrace -e "$bt" >"$OUT/ttft.err" 2>&1 & tp=$!; } ;;
			esac
			[ "$m" = trap ] && [ -z "$tp" ] && continue
			[ -n "$tp" ] && { ttft_wait_file "$OUT/ttft.err" 'recording to' || log "ttft: $m did not start"; }
			c0=$(proc_cpu_ticks "$spid")
			v=$(ttft_lg "$port")
			c1=$(proc_cpu_ticks "$spid")
			if [ -n "$tp" ]; then
				kill -INT "$tp" 2>/dev/null || true
				wait "$tp" 2>/dev/null || true
			fi
			ac=0 # allocator calls the recording reports (slow paths, or malloc-family calls)
			if [ "$m" = slow ] || [ "$m" = full ]; then
				ac=$("$FL" report -i "$OUT/ttft.data" --json 2>/dev/null | python3 -c \
					'import json,sys; print(sum(f["count"] for f in json.load(sys.stdin)["alloc"]["functions"].values()))' ||
					echo 0)
			fi
			row ttft "$r" "$m" "median_ttft_ms=$v" "cpu_ticks=$((c1 - c0))" "hz=$(getconf CLK_TCK)" "n=$TTFT_N" \
				"alloc_calls=$ac"
			log "  round $r $m: median TTFT $v ms, server CPU $((c1 - c0)) ticks for $TTFT_N requests, $ac allocator calls reported"
		done
	done
	rm -f "$OUT/ttft.data" "$OUT/ttft.bin"
	kill "${BG_PIDS[@]}" 2>/dev/null || true
	wait "${BG_PIDS[@]}" 2>/dev/null || true
	BG_PIDS=()
}

ttft_summary() {
	python3 - "$RUNS" <<'EOF'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "ttft":
        kv = dict(x.split("=", 1) for x in f[3:] if "=" in x)
        cpu_us = float(kv["cpu_ticks"]) / float(kv["hz"]) / float(kv["n"]) * 1e6
        rows.setdefault(f[2], []).append((float(kv["median_ttft_ms"]), cpu_us, int(kv.get("alloc_calls", 0))))
if not rows:
    sys.exit(0)
print("\n### Median TTFT of the example server (`BENCH_SECTIONS=ttft`)\n")
print("examples/loadgen.py, one request at a time, client-measured; median over rounds of each "
      "round's median (min-max), and the server's CPU per request (utime+stime). trap: bpftrace with "
      "the same libc uprobes, programs that return at once.\n")
print("| mode | rounds | median TTFT ms | vs untraced | server CPU us/request | allocator calls reported per round |")
print("|---|---|---|---|---|---|")
base = st.median([x[0] for x in rows.get("untraced", [(float("nan"), 0, 0)]) if x[0] == x[0]] or [float("nan")])
names = {"slow": "record --alloc=slow", "full": "record --alloc=full", "record": "record (--alloc=lite)"}
for m in ("untraced", "record", "slow", "full", "trap"):
    r = [x for x in rows.get(m, []) if x[0] == x[0]]
    if not r:
        continue
    t = [x[0] for x in r]
    c = [x[1] for x in r]
    a = [x[2] for x in r]
    print(f"| {names.get(m, m)} | {len(r)} | {st.median(t):.2f} ({min(t):.2f}-{max(t):.2f}) | "
          f"{st.median(t) / base:.2f}x | {st.median(c):.0f} ({min(c):.0f}-{max(c):.0f}) | "
          f"{st.median(a):.0f} |" if m in ("slow", "full") else
          f"| {names.get(m, m)} | {len(r)} | {st.median(t):.2f} ({min(t):.2f}-{max(t):.2f}) | "
          f"{st.median(t) / base:.2f}x | {st.median(c):.0f} ({min(c):.0f}-{max(c):.0f}) | |")
EOF
}

# Markdown for the bpfcost rows of runs.tsv: per program, medians over rounds of runs per fault,
# ns per run and ns per fault, and their sums.
bpfcost_summary() {
	python3 - "$RUNS" <<'EOF'
import statistics as st, sys
from collections import defaultdict

rows = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0].startswith("bpfcost-"):
        rows.append((f[0], f[1], f[2], dict(x.split("=", 1) for x in f[3:] if "=" in x)))
if not rows:
    sys.exit(0)

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")

def med(v):
    v = [x for x in v if x == x]
    return st.median(v) if v else float("nan")

print("\n### BPF time per fault (`BENCH_SECTIONS=bpfcost`: bpf_stats, `faultline record`, bench_faults)\n")
print("ns/run: run_time_ns / run_cnt; runs/fault: run_cnt / faults recorded; ns/fault: run_time_ns "
      "/ faults recorded. Medians over rounds. The sum of ns/run counts the programs that run on "
      "every fault (runs/fault >= 0.5); the sum of ns/fault counts every program. The floor is what "
      "bpf_stats counts for a program that does nothing, attached beside faultline's (before it in "
      "odd rounds, after it in even ones): the kernel's cost of timing and calling a program, which "
      "every figure here includes.\n")
for sec in sorted({r[0] for r in rows}):
    progs, info = defaultdict(dict), {}
    for s, r, t, kv in rows:
        if s == sec:
            (progs[t[5:]] if t.startswith("prog:") else info)[r] = kv
    rate = med([num(kv.get("rate")) for kv in info.values()])
    drops = [info[r].get("drops") for r in sorted(info)]
    print(f"**{sec[9:]} thread(s)**: {len(info)} rounds, median {rate:,.0f} faults/s under record, "
          f"drops per round: {', '.join(map(str, drops))}\n")
    print("| program | runs/fault | ns/run | ns/fault |")
    print("|---|---|---|---|")
    sum_run, sum_fault = defaultdict(float), defaultdict(float)
    floor = {r: num(kv["run_time_ns"]) / num(kv["run_cnt"]) for r, kv in progs.pop("(floor)", {}).items()}
    for name in sorted(progs, key=lambda n: -sum(num(k["run_time_ns"]) for k in progs[n].values())):
        runs, per_run, per_fault = [], [], []
        for r, kv in progs[name].items():
            cnt, ns, flt = num(kv["run_cnt"]), num(kv["run_time_ns"]), num(kv.get("faults"))
            runs.append(cnt / flt)
            per_run.append(ns / cnt)
            per_fault.append(ns / flt)
            if cnt / flt >= 0.5:
                sum_run[r] += ns / cnt
            sum_fault[r] += ns / flt
        print(f"| {name} | {med(runs):.3f} | {med(per_run):.0f} | {med(per_fault):.1f} |")
    print(f"| **sum** | | **{med(list(sum_run.values())):.0f}** | **{med(list(sum_fault.values())):.1f}** |")
    if floor:
        above = [sum_run[r] - floor[r] for r in floor if r in sum_run]
        print(f"| floor: a program that returns at once, same storms (bench/floor.bpf.c) | | "
              f"{med(list(floor.values())):.0f} ({min(floor.values()):.0f}-{max(floor.values()):.0f}) | |")
        print(f"| **sum above the floor** (per round, then median) | | **{med(above):.0f}** | |")
    print()
EOF
}

machine() {
	printf -- '- machine: %s, %s CPUs, %s GiB RAM, kernel %s\n' \
		"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$(nproc)" \
		"$(awk '/MemTotal/ {printf "%d", $2 / 1048576}' /proc/meminfo)" "$(uname -r)"
	printf -- '- tools: %s; %s; faultline %s\n' \
		"$(perf --version 2>/dev/null || echo 'no perf')" \
		"$(bpftrace --version 2>/dev/null || echo 'no bpftrace')" \
		"$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	printf -- '- THP: enabled=%s defrag=%s (bench_faults sets MADV_NOHUGEPAGE: 4K faults only)\n' \
		"$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)" \
		"$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/defrag)"
	printf -- '- run: %s, %s mode, %s rounds, %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
		"$([ "$QUICK" = 1 ] && echo quick || echo full)" "$ROUNDS" \
		"$([ "$MOUNTED_TRACEFS" = 1 ] && echo 'tracefs mounted by the script for bpftrace' || echo 'tracefs was already mounted')"
}

# Turns runs.tsv into the markdown results block (medians, min-max, ratios).
summarise() {
	python3 "$ROOT/scripts/bench_summary.py" "$RUNS" "$N_STORM" "$PTRACE_DIV"
}

write_results() {
	{
		echo "<!-- bench-results:begin (written by scripts/bench.sh; do not edit by hand) -->"
		echo "## Results"
		echo
		machine
		echo
		summarise
		bpfcost_summary
		topcost_summary
		ttft_summary
		echo
		echo "<!-- bench-results:end -->"
	} >"$RESULTS"
	cat "$RESULTS"
	if [ "$WRITE_DOC" = 1 ] && [ -f "$DOC" ] && grep -q 'bench-results:begin' "$DOC"; then
		python3 - "$DOC" "$RESULTS" <<'EOF'
import re, sys
doc, res = open(sys.argv[1]).read(), open(sys.argv[2]).read().rstrip("\n")
new = re.sub(r"<!-- bench-results:begin.*?<!-- bench-results:end -->", lambda m: res, doc, flags=re.S)
open(sys.argv[1], "w").write(new)
EOF
		log "refreshed the results block of docs/benchmarks.md"
	fi
}

main() {
	T0=$SECONDS
	check_setup
	calibrate
	for s in $SECTIONS; do
		"bench_$s"
	done
	log "done in $((SECONDS - T0)) s; raw rows in $RUNS"
	write_results
}

main "$@"
