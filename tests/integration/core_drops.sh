#!/usr/bin/env bash
# A 1 MiB ring buffer under a fault storm loses events: the loss is counted and reported
# (events.dropped > 0, a finding says so), and the report still works. The ground truth is the
# kernel's count of the workload's faults (/proc/PID/stat minflt + majflt, read before it starts
# and by the workload itself when it is done) and the pages it touched: every fault faultline saw
# is either recorded or counted as dropped, and it records no more faults than happened.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

start_workload touch_pages 250000 4 --nohuge
# A niced consumer on a busy 2-CPU machine falls behind a 1 MiB buffer (about 26k fault events).
# One event per fault (--fault-events=all): runs of faults would not fill it.
FL_WRAP="nice -n 19" start_record -p "$WPID" --ringbuf-mb 1 -o "$TMP/drops.data" --fault-events=all
# The workload waits on its stdin: no fault of its own between this snapshot and go.
before=$(proc_faults "$WPID")
go
wait_line "$WOUT" '^[0-9]+ [0-9]+$' 120 || fail "touch_pages did not finish"
finish_workload || fail "touch_pages failed"
wait_record 60
read -r minflt majflt < <(grep -E '^[0-9]+ [0-9]+$' "$WOUT")
# its faults from go to its last /proc/self/stat read; a few more follow while it exits
kernel=$((minflt + majflt - before))
report_json "$TMP/drops.data" "$TMP/drops.json"
j=$TMP/drops.json
dropped=$(json 'j["events"]["dropped"]' "$j")
total=$(json 'j["events"]["total"]' "$j")
faults=$(json 'j["faults"]["total"]' "$j")
note "events recorded $total, dropped $dropped; faults recorded $faults;" \
	"the kernel counted $kernel faults of the workload after go ($before before)"
check_ge "events.dropped" "$dropped" 1
check_ge "the kernel's fault count vs the pages touched" "$kernel" 250000
# A dropped event may be another kind than a fault (mmap, exit), so this is a lower bound: no
# fault the kernel counted went missing without a drop being counted.
check_ge "faults recorded + events dropped vs the kernel's count" "$((faults + dropped))" "$kernel"
# And no more than that: recorded + dropped stays within 1% of the kernel's count (the other
# kinds of events and the exit path's faults are a few dozen).
check_ge "the kernel's count + 1% vs faults recorded + events dropped" "$((kernel + kernel / 100))" \
	"$((faults + dropped))"
check_eq "events-dropped finding" \
	"$(json "any(f['id'] == 'events-dropped' for f in j['findings'])" "$j")" True
"$FL" report -i "$TMP/drops.data" >"$TMP/drops.txt" || fail "text report failed"
grep -q "dropped $dropped (ring buffer full" "$TMP/drops.txt" || fail "text report does not show the drops"
note "text: $(grep -m1 'dropped' "$TMP/drops.txt")"
echo "ok"
