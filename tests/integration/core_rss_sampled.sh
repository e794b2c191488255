#!/usr/bin/env bash
# RSS is sampled without a program on kmem:rss_stat (bpf/common.bpf.h fl_rss_due, fl_rss_now):
# the fault program reads the mm's counters once the last sample is 10 ms old, the memory
# syscalls before and after each call, exec and exit. Ground truth from the workload itself:
# rss_shrink grows to 128 MiB by 4 KiB faults, prints VmRSS/VmHWM, unmaps all but 32 MiB, prints
# VmRSS, sleeps and exits. The report's peak must match VmHWM and its last sample the VmRSS after
# munmap, within 3% (no timing: the munmap samples are taken whatever the interval). The
# per-change program stays off, and samples are far fewer than faults.
# With --alloc=off the report says that decreases show late; the exit sample still gives the
# last image where the kernel fires sched_process_exit before exit_mm() (said, not required).
. "$(dirname "$0")/../lib.sh"
need_root

MIB=128
KEEP=32

run() { # NAME [record options...]
	local name=$1
	shift
	"$FL" record "$@" -o "$TMP/$name.data" -- "$WL/rss_shrink" $MIB $KEEP \
		>"$TMP/$name.out" 2>"$TMP/$name.err" || fail "record $*: $(cat "$TMP/$name.err")"
	hwm=$(sed -n 's/^grown .*hwm_kb=\([0-9]*\).*/\1/p' "$TMP/$name.out")
	shrunk=$(sed -n 's/^shrunk rss_kb=\([0-9]*\).*/\1/p' "$TMP/$name.out")
	if [ -z "$hwm" ] || [ -z "$shrunk" ]; then
		fail "rss_shrink printed no result: $(cat "$TMP/$name.out")"
	fi
	"$FL" report -i "$TMP/$name.data" --json >"$TMP/$name.json" || fail "report --json failed"
	"$FL" report -i "$TMP/$name.data" >"$TMP/$name.txt" || fail "report failed"
	j=$TMP/$name.json
	check_eq "$name: rss probe" "$(json 'j["probes"]["rss"]["attach"]' "$j")" sampled
	check_eq "$name: processes with RSS samples" "$(json 'len(j["rss"])' "$j")" 1
	check_eq "$name: events dropped" "$(json 'j["events"]["dropped"]' "$j")" 0
	peak=$(json 'j["rss"][0]["max_bytes"] >> 10' "$j")
	last=$(json 'j["rss"][0]["last_bytes"] >> 10' "$j")
	samples=$(json 'j["rss"][0]["samples"]' "$j")
	faults=$(json 'j["faults"]["total"]' "$j")
	note "$name: $samples RSS samples for $faults faults"
	check_ge "$name: faults per RSS sample" "$((faults / samples))" 20
}

run default
check_within "default: RSS peak (KiB) vs the workload's VmHWM" "$peak" "$hwm" 3
check_within "default: last RSS (KiB) vs the workload's VmRSS after munmap" "$last" "$shrunk" 3
grep -q 'sampled at faults every 10 ms at most, at memory syscalls' "$TMP/default.txt" ||
	fail "the RSS section does not say how it was sampled: $(grep -A3 '^RSS' "$TMP/default.txt")"

run alloc_off --alloc=off
grep -q 'memory syscalls not traced (--alloc=off)' "$TMP/alloc_off.txt" ||
	fail "--alloc=off: the RSS section does not say decreases show late: $(grep -A3 '^RSS' "$TMP/alloc_off.txt")"
note "alloc_off: peak $peak KiB (VmHWM $hwm), last $last KiB (VmRSS after munmap $shrunk; from the exit sample where the kernel allows it)"
echo "ok"
