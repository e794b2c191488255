#!/usr/bin/env bash
# vm: yes
# --children follows a child that forks and execs: its faults are recorded and its pid appears;
# every target exiting mid-session ends the session cleanly ("targets exited") with a whole file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

start_workload spawn "$WL/touch_pages" 60000 --nohuge
start_record -p "$WPID" --children -o "$TMP/children.data"
go
finish_workload || fail "spawn (or its child) failed: $(cat "$WOUT")"
wait_record 30
grep -q '(targets exited)' "$TMP/rec.err" || fail "record did not end with 'targets exited'"
child=$(awk '$1 == "child" { print $2 }' "$WOUT")
child_faults=$(awk 'NF == 2 && $1 ~ /^[0-9]+$/ { print $1 + $2 }' "$WOUT")
{ [ -n "$child" ] && [ -n "$child_faults" ]; } || fail "workload output incomplete: $(cat "$WOUT")"
note "parent $WPID forked child $child, which took $child_faults faults (its /proc/self/stat)"

report_json "$TMP/children.data" "$TMP/children.json"
j=$TMP/children.json
got=$(json 'j["faults"]["total"]' "$j")
# The child's whole life is traced (fork to exit); the parent adds a few hundred (fork, wait).
check_within "faults of parent+child vs the child's own count" "$got" "$child_faults" 2
check_ge "faults recorded" "$got" "$child_faults"
check_eq "forks seen" "$(json 'j["other"]["forks"]' "$j")" 1
check_eq "execs seen" "$(json 'j["other"]["execs"]' "$j")" 1
check_eq "exits seen (child and parent)" "$(json 'j["other"]["exits"]' "$j")" 2
check_eq "child pid among the RSS series" \
	"$(json "any(r['pid'] == $child for r in j['rss'])" "$j")" True
check_eq "stop reason" "$(json 'j["session"]["stop_reason"]' "$j")" "targets exited"
check_eq "file truncated" "$(json 'j["session"]["truncated"]' "$j")" False
"$FL" report -i "$TMP/children.data" >"$TMP/children.txt" 2>"$TMP/report.err" || fail "text report failed"
[ -s "$TMP/report.err" ] && fail "report warned on a whole file: $(cat "$TMP/report.err")"
echo "ok"
