#!/usr/bin/env bash
# vm: yes
# mmap_lock contention: threads that mmap/munmap in a loop while others fault show waits with
# durations, bounded by the time the threads themselves measured inside those calls.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

start_workload mmap_churn 4 2 3
start_record -p "$WPID" -o "$TMP/lock.data"
go
wait_line "$WOUT" '^ops ' 60 || fail "mmap_churn did not finish"
finish_workload || fail "mmap_churn failed"
wait_record 30
read -r _ ops _ busy < <(grep '^ops ' "$WOUT")
note "workload: $ops loops, $busy ns spent inside mmap/munmap/faulting, all threads together"
report_json "$TMP/lock.data" "$TMP/lock.json"
j=$TMP/lock.json
count=$(json 'j["stalls"]["mmap_lock_wait"]["count"]' "$j")
total=$(json 'j["stalls"]["mmap_lock_wait"]["total_ns"]' "$j")
p50=$(json 'j["stalls"]["mmap_lock_wait"]["p50_ns"]' "$j")
max=$(json 'j["stalls"]["mmap_lock_wait"]["max_ns"]' "$j")
note "mmap_lock waits: count $count, total $total ns, p50 $p50 ns, max $max ns"
# How many waits depends on how often the threads ran at once (fewer on a loaded machine): some, not a number.
check_ge "mmap_lock waits" "$count" 10
check_ge "mmap_lock wait p50 (ns)" "$p50" 1000
check_ge "max >= p50" "$max" "$p50"
# A thread waits only while inside one of its calls: the waits cannot exceed the time measured.
check_ge "time measured in the calls vs total lock wait" "$busy" "$total"
hist=$(json 'sum(b["count"] for b in j["stalls"]["mmap_lock_wait"]["hist"])' "$j")
check_eq "histogram total vs count" "$hist" "$count"
echo "ok"
