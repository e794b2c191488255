#!/usr/bin/env bash
# The text report of a real recording has every section (session header, Probes, Stalls table,
# histograms, faults by region, RSS, overhead, Findings), and the JSON report every top-level key.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

start_workload mmap_churn 2 1 1
start_record -p "$WPID" -o "$TMP/text.data"
go
finish_workload || fail "mmap_churn failed"
wait_record 30
"$FL" report -i "$TMP/text.data" >"$TMP/report.txt" 2>"$TMP/report.err" || fail "report failed"
[ -s "$TMP/report.err" ] && fail "report wrote to stderr: $(cat "$TMP/report.err")"
has() { # DESC REGEX
	grep -qE -e "$2" "$TMP/report.txt" || { cat "$TMP/report.txt"; fail "text report lacks $1 (/$2/)"; }
	note "text has $1: $(grep -m1 -E -e "$2" "$TMP/report.txt" | sed 's/^ *//' | cut -c1-90)"
}
has "the session header" "^faultline report: $TMP/text.data$"
has "when, where and how it stopped" "^  recorded .* on .* \(kernel $(uname -r)\), [0-9.]+ s, stopped: targets exited"
has "the target" "^  target pid $WPID mmap_churn"
has "the THP settings" "^  THP enabled=[a-z]+ defrag=[a-z+]+"
has "the event counts" "^  events [0-9]+, dropped 0$"
has "the Probes section" "^Probes$"
has "the user fault probe" "^  fault_user +(tp_btf|raw_tp|tracepoint)"
has "the Stalls table" "^Stalls +count +total +p50 +p99 +max$"
for c in direct_reclaim memcg_reclaim direct_compaction khugepaged mmap_lock_wait migration; do
	has "the $c row" "^  $c +[0-9]+ "
done
has "a log2 histogram" "^  mmap_lock_wait latency$"
has "histogram rows" "^ +[0-9]+ -> [0-9]+ +: [0-9]+ +\|\*+ *\|$"
has "the fault summary" "^Page faults: [0-9]+ \(user [0-9]+, kernel-mode on user memory [0-9]+"
has "faults by region" "^  region +faults +share +kernel$"
has "the RSS section" "^RSS( \(.*\))?$"
has "the target's RSS" "^  pid $WPID +min "
has "the Other section" "^  processes: 0 forked, 0 exec'd, 1 exited$"
has "the overhead section" "^faultline overhead$"
# record leaves BPF run-time statistics off (machine-wide, they cost every BPF program two clock
# reads a run) unless --bpf-stats on; a kernel.bpf_stats_enabled=1 left by someone counts anyway
if [ "$(cat /proc/sys/kernel/bpf_stats_enabled)" = 1 ]; then
	has "BPF run time (kernel.bpf_stats_enabled=1)" "^  BPF programs: [0-9]+ runs, .* ns per run"
else
	has "BPF programs not timed by default" "^  BPF programs: not timed \(record --bpf-stats on"
fi
has "the Findings section" "^Findings$"

report_json "$TMP/text.data" "$TMP/report.json"
keys=$(json '",".join(j.keys())' "$TMP/report.json")
note "JSON top-level keys: $keys"
for k in version session probes events faults stalls rss other alloc pinned requests findings overhead; do
	[[ ",$keys," == *",$k,"* ]] || fail "JSON report lacks top-level key '$k'"
done

# --bpf-stats on: the programs are timed, and the runs counted include the workload's faults
"$FL" record --bpf-stats on -o "$TMP/timed.data" -- "$WL/bench_faults" -t 1 -n 5000 >"$TMP/timed.out" \
	2>"$TMP/timed.err" || fail "record --bpf-stats on failed: $(cat "$TMP/timed.err")"
"$FL" report -i "$TMP/timed.data" >"$TMP/timed.txt" || fail "report of the timed recording failed"
line=$(grep -m1 -E "^  BPF programs: [0-9]+ runs, .* ns per run" "$TMP/timed.txt") ||
	fail "--bpf-stats on: no BPF run time in the report: $(grep -A2 '^faultline overhead' "$TMP/timed.txt")"
note "--bpf-stats on: ${line#  }"
runs=$(echo "$line" | sed -E 's/^  BPF programs: ([0-9]+) runs.*/\1/')
check_ge "BPF runs timed (>= the 5000 faults of the storm)" "$runs" 5000
report_json "$TMP/timed.data" "$TMP/timed.json"
check_eq "JSON overhead.bpf_timed" "$(json 'j["overhead"]["bpf_timed"]' "$TMP/timed.json")" True
"$FL" record --bpf-stats maybe -- true 2>"$TMP/bad.err" && fail "--bpf-stats maybe was accepted"
grep -q "expected on or off" "$TMP/bad.err" || fail "--bpf-stats maybe: $(cat "$TMP/bad.err")"
echo "ok"
