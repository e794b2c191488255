#!/usr/bin/env bash
# A 1 MiB ring buffer under a fault storm loses events: the loss is counted and reported
# (events.dropped > 0, a finding says so), and the report still works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

start_workload touch_pages 250000 4 --nohuge
# A niced consumer on a busy 2-CPU machine falls behind a 1 MiB buffer (about 26k fault events).
FL_WRAP="nice -n 19" start_record -p "$WPID" --ringbuf-mb 1 -o "$TMP/drops.data"
go
wait_line "$WOUT" '^[0-9]+ [0-9]+$' 120 || fail "touch_pages did not finish"
finish_workload || fail "touch_pages failed"
wait_record 60
report_json "$TMP/drops.data" "$TMP/drops.json"
j=$TMP/drops.json
dropped=$(json 'j["events"]["dropped"]' "$j")
total=$(json 'j["events"]["total"]' "$j")
faults=$(json 'j["faults"]["total"]' "$j")
kernel=$(json 'j["other"]["counters"]["faults_user"] + j["other"]["counters"]["faults_kernel"]' "$j")
note "events recorded $total, dropped $dropped; faults recorded $faults, counted in the kernel $kernel"
check_ge "events.dropped" "$dropped" 1
# Every fault is counted in the kernel whether or not its event fit: recorded + dropped >= it.
check_ge "faults recorded + events dropped vs the in-kernel fault counter" \
	"$((faults + dropped))" "$kernel"
check_eq "events-dropped finding" \
	"$(json "any(f['id'] == 'events-dropped' for f in j['findings'])" "$j")" True
"$FL" report -i "$TMP/drops.data" >"$TMP/drops.txt" || fail "text report failed"
grep -q "dropped $dropped (ring buffer full" "$TMP/drops.txt" || fail "text report does not show the drops"
note "text: $(grep -m1 'dropped' "$TMP/drops.txt")"
echo "ok"
