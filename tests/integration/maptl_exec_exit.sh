#!/usr/bin/env bash
# Processes that exec and exit before record can read their maps after the exec: exec_exit
# forks 60 children one after the other, each exec'ing a copy of true named ee_true, and counts
# their faults itself (wait4). Recorded with -p --children, the faults are in the report (total
# = the children's + the workload's own, less about one per child) and none is unknown: the exec's own image is
# named after the program by address ("ee_true: program image and bss", "... loader (ld.so) and
# [vdso]", "... [stack]"), the loader's mmaps by the loader. Prints how many execs record did
# read the maps of (maps_exec) and the faults placed by address per exec it did not.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
N=60
prog=$TMP/ee_true
cp "$(type -P true)" "$prog"

start_workload exec_exit $N "$prog"
start_record -p "$WPID" --children -o "$TMP/ee.data"
go
wait_line "$WOUT" '^children ' "$(printf %.0f "$(scaled 60)")" ||
	fail "exec_exit did not finish: $(cat "$TMP/exec_exit.err")"
finish_workload || fail "exec_exit failed: $(cat "$TMP/exec_exit.err")"
wait_record "$(printf %.0f "$(scaled 30)")"
read -r _ _ _ children _ self < <(grep '^children ' "$WOUT")
note "workload: $N children, their faults $children, its own during the loop $self"
report_json "$TMP/ee.data" "$TMP/ee.json"
"$FL" report -i "$TMP/ee.data" >"$TMP/ee.txt" 2>&1 || fail "faultline report failed"
sed -n '/^  region/,/^  unknown/p' "$TMP/ee.txt" | grep -vE '^      '
j=$TMP/ee.json
# The workload's faults before "go" are outside the session. About one per child is in its
# minflt but is no page-fault event (measured: 50-51 of 60): most likely the exec copying the
# arguments to the new stack through get_user_pages, which counts without the tracepoint.
total=$(json 'j["faults"]["total"]' "$j")
note "faults in the report: $total; the children's and the workload's own: $((children + self))" \
	"(about one per child, $N, is no page-fault event)"
check_ge "faults in the report (the processes' own, less one per child, -1%)" "$total" \
	$(((children + self) * 99 / 100 - N))
[ "$total" -le $((children + self)) ] || fail "more faults in the report ($total) than the processes took"
check_eq "unknown faults" "$(json 'j["faults"]["unknown"]' "$j")" 0
check_eq "faults in regions of kind unknown" \
	"$(json 'sum(r["faults"] for r in j["faults"]["regions"] if r["kind"] == "unknown")' "$j")" 0
python3 "$(dirname "$0")/inflate_record.py" "$TMP/ee.data" "$TMP/ee.raw" >/dev/null
looked=$(python3 -c 'import json, sys
d = open(sys.argv[1], "rb").read()
t = json.JSONDecoder().raw_decode(d[d.rindex(b"{\"stop_reason\""):].decode("latin-1"))[0]
print(sum(1 for x in t.get("maps_exec", []) if "/ee_true" in x["maps"]))' "$TMP/ee.raw")
missed=$((N - looked))
by_addr=$(json 'sum(r["faults"] for r in j["faults"]["regions"] if r["region"].startswith("ee_true: "))' "$j")
note "execs whose maps record read: $looked of $N; faults placed by address: $by_addr" \
	"($((missed ? by_addr / missed : 0)) per exec missed)"
if [ "$missed" -gt 0 ]; then
	# each exec touches its program, its loader and its stack at least once
	for part in "program image and bss" "loader (ld.so) and [vdso]" "[stack]"; do
		check_ge "faults in 'ee_true: $part (exec'd, by address)'" \
			"$(json "sum(r['faults'] for r in j['faults']['regions'] if r['region'] == \"ee_true: $part (exec'd, by address)\")" "$j")" \
			"$missed"
	done
fi
echo "ok"
