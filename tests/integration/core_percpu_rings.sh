#!/usr/bin/env bash
# Fault events go to one ring buffer per CPU (bpf/faults.bpf.c, user/session.c): record -v says
# so, one ring for each online CPU, and the faults of threads running on every CPU are all
# recorded: the total matches the kernel's own count (/proc/PID/stat minflt+majflt) for the traced
# period, and nothing is dropped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

ncpu=$(getconf _NPROCESSORS_ONLN) # one CPU: one ring, still checked
secs() { printf '%.0f' "$(scaled "$1")"; } # wait_line and wait_record count whole seconds

start_workload touch_pages 120000 4 --nohuge
start_record -v -p "$WPID" -o "$TMP/rings.data"
grep -q "one [0-9]* KiB ring buffer per CPU, on $ncpu CPU(s)" "$TMP/rec.err" ||
	fail "record -v does not say it has one fault ring per online CPU ($ncpu): $(grep -i ring "$TMP/rec.err")"
note "record -v: $(grep -o 'fault events: .*' "$TMP/rec.err")"
before=$(proc_faults "$WPID")
go
wait_line "$WOUT" '^[0-9]+ [0-9]+$' "$(secs 60)" || fail "touch_pages did not finish"
final=$(awk 'NF == 2 && $1 ~ /^[0-9]+$/ { print $1 + $2 }' "$WOUT")
finish_workload || fail "touch_pages failed"
wait_record "$(secs 30)"
report_json "$TMP/rings.data" "$TMP/rings.json"
got=$(json 'j["faults"]["total"]' "$TMP/rings.json")
note "4 threads on $ncpu CPUs: /proc/$WPID/stat minflt+majflt $before at attach, $final at the end"
check_within "faults (user+kernel) while traced" "$got" "$((final - before))" 1
check_ge "faults at least the pages touched" "$got" 120000
check_eq "events dropped" "$(json 'j["events"]["dropped"]' "$TMP/rings.json")" 0
echo "ok"
