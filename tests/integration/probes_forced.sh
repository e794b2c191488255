#!/usr/bin/env bash
# --probes CONCERN=TYPE is a demand (issue #14): when the kernel refuses TYPE, record (and top,
# serve) stop before recording, with a non-zero exit and the kernel's reason, and leave no file.
# When the kernel accepts it, the file's plan must show exactly that type in use. Either way the
# old behaviour (exit 0, the concern silently "unavailable") fails.
. "$(dirname "$0")/../lib.sh"
need_root

refused=0 refused_type=
for type in fentry kprobe; do
	out=$TMP/$type.data
	"$FL" record -o "$out" --probes "fault-duration=$type" -- true >"$TMP/$type.out" 2>"$TMP/$type.err"
	rc=$?
	note "fault-duration=$type: exit $rc, stderr: $(head -c 300 "$TMP/$type.err" | tr '\n' '|')"
	if [ $rc -ne 0 ]; then
		refused=$((refused + 1)) refused_type=$type
		grep -q "fault_duration=$type" "$TMP/$type.err" || fail "$type: the message does not name the forced type"
		grep -qiE "refused|not available|unavailable|failed" "$TMP/$type.err" ||
			fail "$type: the message gives no reason"
		[ -e "$out" ] && fail "$type: a refused record left $out behind"
		continue
	fi
	plan=$("$FL" report -i "$out" --json 2>/dev/null | python3 -c \
		'import json,sys; p=json.load(sys.stdin)["probes"]["fault_duration"]; print(p["attach"], p["status"])')
	check_eq "$type accepted: the plan's fault_duration" "$plan" "$type ok"
done
note "$refused of 2 forced types refused by kernel $(uname -r)"

# The same check guards the live views.
if [ -n "$refused_type" ]; then
	timeout "$(scaled 60)" "$FL" top -p $$ --batch -n 1 --probes "fault-duration=$refused_type" \
		>/dev/null 2>"$TMP/top.err"
	rc=$?
	note "top --probes fault-duration=$refused_type: exit $rc, $(head -c 200 "$TMP/top.err")"
	if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then fail "top accepted a forced type the kernel refuses"; fi
	grep -q "fault_duration=$refused_type" "$TMP/top.err" || fail "top's message does not name it"
fi
echo "ok"
