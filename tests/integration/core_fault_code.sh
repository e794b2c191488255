#!/usr/bin/env bash
# Top faulting code: a workload faults from two known functions (touch_a, touch_b) and from libc's
# memset; the report names both functions with the workload's own fault counts (/proc/self/stat
# around each call, within 1%) and puts the memset faults in libc. Again with the work done by a
# child forked during the session (--children): it runs its parent's code at the same addresses.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

A=6000 B=3000 C=12000 # memset: libc also takes a few dozen faults of its own after a fork
limit=$(scaled 60)

# faults.code.sites of the workload in $TMP/code.json, summed where PRED(site) holds
sites() {
	python3 - "$TMP/code.json" "$1" <<'PY'
import json, os, sys
j = json.load(open(sys.argv[1]))
pred = eval("lambda s: " + sys.argv[2])
print(sum(s["faults"] for s in j["faults"]["code"]["sites"] if s["process"] == "fault_sites" and pred(s)))
PY
}
own() { awk -v k="$1" '$1 == k { print $2 }' "$WOUT"; }

run_case() { # LABEL [--fork]
	local label=$1 f
	shift
	note "-- $label"
	start_workload fault_sites "$A" "$B" "$C" "$@"
	rm -f "$TMP/rec.err" # start_record waits for a line in it: not the last case's
	if [ $# -gt 0 ]; then
		start_record -p "$WPID" --children -o "$TMP/code.data"
	else
		start_record -p "$WPID" -o "$TMP/code.data"
	fi
	go
	wait_line "$WOUT" '^done$' "${limit%.*}" ||
		fail "fault_sites did not finish: $(cat "$TMP/fault_sites.err")"
	# stopped while the workload is alive: the end-of-session maps see it too
	stop_record
	finish_workload || fail "fault_sites failed"
	report_json "$TMP/code.data" "$TMP/code.json"
	"$FL" report -i "$TMP/code.data" >"$TMP/code.txt" 2>"$TMP/report.err" || fail "report failed"
	sed -n '/^Top faulting code/,/^$/p' "$TMP/code.txt" | sed 's/^/  | /'

	for f in touch_a touch_b; do
		check_within "$label: faults in $f() (report vs the workload's own count)" \
			"$(sites "s['symbol'] == '$f'")" "$(own "$f")" 1
		grep -qE "^ +[0-9]+ +[0-9.]+% +$f\+0x[0-9a-f]+ +fault_sites +/" "$TMP/code.txt" ||
			fail "$label: the text report has no 'Top faulting code' line for $f"
	done
	check_within "$label: faults in libc during memset() (report vs the workload's own count)" \
		"$(sites "os.path.basename(s['library']).startswith('libc.so')")" "$(own memset)" 1
	check_eq "$label: code sites sum to the faults" \
		"$(json 'j["faults"]["code"]["total"]' "$TMP/code.json")" \
		"$(json 'j["faults"]["total"]' "$TMP/code.json")"
}

run_case "the target itself"
note "memset's faults are named: $(python3 -c '
import json, os, sys
j = json.load(open(sys.argv[1]))
s = [s for s in j["faults"]["code"]["sites"] if os.path.basename(s["library"]).startswith("libc.so")]
print(", ".join("%s+0x%x %d" % (x["symbol"] or "libc", x["offset"], x["faults"]) for x in s[:3]))' "$TMP/code.json")"
# libc is stripped: memset's own name comes from its debug file (libc6-dbg) where installed
libc=$(python3 -c '
import json, os, sys
j = json.load(open(sys.argv[1]))
print(next(s["library"] for s in j["faults"]["code"]["sites"] if os.path.basename(s["library"]).startswith("libc.so")))' "$TMP/code.json")
bid=$(readelf -n "$libc" 2>/dev/null | awk '/Build ID:/ { print $3 }')
if [ -n "$bid" ] && [ -f "/usr/lib/debug/.build-id/${bid:0:2}/${bid:2}.debug" ]; then
	check_within "faults in a libc symbol named *memset* (debug file installed)" \
		"$(sites "'memset' in (s['symbol'] or '')")" "$(own memset)" 1
else
	note "no debug file for $libc (build id ${bid:-?}): memset's faults are named libc.so.6+offset"
fi

run_case "a child forked during the session" --fork
echo "ok"
