#!/usr/bin/env bash
# record --fault-events=all|runs|off: the counts stay exact in every mode. For each mode:
# touch_pages (2 threads, each touching its own pages, -p on the running process): the report's
# total equals the kernel-side counters exactly (no fault lost or counted twice between the
# per-CPU runs, the ring and the runs still open at the end), and the kernel's /proc/PID/stat
# count for the traced period (within 1%, as core_faults); each thread's count (report
# --perfetto's per-thread counter) equals that thread's own count (getrusage RUSAGE_THREAD,
# within 1%). map_regions under record -- CMD: each region's count equals the workload's own
# (all, runs; +-1% as maptl_regions), and off says the addresses were not recorded instead.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
PAGES=60000 T=2
secs() { printf '%.0f' "$(scaled "$1")"; } # wait_line and wait_record count whole seconds

# thread_faults TRACE TID: the thread's faults, summed from its "faults per ms, tid N" counter
thread_faults() {
	python3 - "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
w = j["metadata"]["thread_fault_bucket_ms"]
name = "faults per ms, tid %s" % sys.argv[2]
print(round(sum(e["args"]["faults"] * w for e in j["traceEvents"]
                if e.get("ph") == "C" and e.get("name") == name)))
PY
}

threads_case() { # MODE
	local mode=$1 before final got kern data=$TMP/t-$1.data js=$TMP/t-$1.json tid min maj mine
	start_workload touch_pages "$PAGES" "$T" --nohuge --per-thread
	start_record -p "$WPID" -o "$data" --fault-events="$mode"
	before=$(proc_faults "$WPID")
	go
	wait_line "$WOUT" '^[0-9]+ [0-9]+$' "$(secs 60)" || fail "touch_pages did not finish"
	final=$(awk 'NF == 2 && $1 ~ /^[0-9]+$/ { print $1 + $2 }' "$WOUT")
	finish_workload || fail "touch_pages failed"
	wait_record "$(secs 30)"
	report_json "$data" "$js"
	"$FL" report -i "$data" >"$TMP/t-$mode.txt" || fail "report ($mode) failed"
	"$FL" report -i "$data" --perfetto "$TMP/t-$mode.trace.json" || fail "report --perfetto failed"
	note "--fault-events=$mode: $(grep -E '^  (events|fault events)' "$TMP/t-$mode.txt" | tr -s ' ' | tr '\n' ';')"
	check_eq "session.fault_events ($mode)" "$(json 'j["session"]["fault_events"]' "$js")" "$mode"
	grep -q "^  fault events: $mode " "$TMP/t-$mode.txt" || fail "text names no mode $mode"
	check_eq "events dropped ($mode)" "$(json 'j["events"]["dropped"]' "$js")" 0
	got=$(json 'j["faults"]["total"]' "$js")
	kern=$(json 'j["other"]["counters"]["faults_user"] + j["other"]["counters"]["faults_kernel"]' "$js")
	check_eq "faults in the report = faults counted in the kernel ($mode)" "$got" "$kern"
	# the file read as docs/record-format.md says (FL_EV_FAULT + FL_EV_FAULT_RUN counts), not
	# by faultline's reader
	python3 "$ROOT/tests/integration/inflate_record.py" "$data" "$TMP/inflated" >"$TMP/t-$mode.sum" ||
		fail "inflate_record.py failed on the $mode recording"
	check_eq "faults in the file, by inflate_record.py ($mode)" "$(json 'j["faults"]' "$TMP/t-$mode.sum")" "$got"
	note "/proc/$WPID/stat minflt+majflt $before at attach, $final at the end"
	check_within "faults while traced vs /proc ($mode)" "$got" "$((final - before))" 1
	while read -r _ tid min maj; do
		mine=$(thread_faults "$TMP/t-$mode.trace.json" "$tid")
		check_within "thread $tid's faults vs its RUSAGE_THREAD ($mode)" "$mine" "$((min + maj))" 1
		check_ge "thread $tid's faults, at least its pages ($mode)" "$mine" $((PAGES / T))
	done < <(grep '^thread ' "$WOUT")
	[ "$(grep -c '^thread ' "$WOUT")" = "$T" ] || fail "touch_pages printed no per-thread counts"
	if [ "$mode" = runs ]; then
		# the pages are touched one after the other: far fewer runs than faults
		local runs
		runs=$(json 'j["session"]["fault_runs"]' "$js")
		note "runs: $runs events hold $got faults"
		python3 -c "import sys; sys.exit(0 if 0 < $runs < $got / 10 else 1)" ||
			fail "runs mode: $runs runs for $got faults"
	fi
}

regions_case() { # MODE
	local mode=$1 F=300 A=512 H=400 NBUF=100 B=8 js=$TMP/m-$1.json txt=$TMP/m-$1.txt
	local file=$TMP/weights-fe.bin n_file n_anon n_heap n_buf anon_bytes buf_bytes
	[ -f "$file" ] || head -c $((F * 4096)) /dev/urandom >"$file"
	"$FL" record -o "$TMP/m-$mode.data" --fault-events="$mode" -- "$WL/map_regions" "$file" \
		$F $A $H $NBUF $B >"$TMP/m.out" 2>"$TMP/rec.err" ||
		{ cat "$TMP/rec.err"; fail "faultline record --fault-events=$mode failed"; }
	read -r _ n_file _ n_anon _ n_heap _ n_buf <"$TMP/m.out"
	read -r _ _ anon_bytes _ buf_bytes < <(sed -n 2p "$TMP/m.out")
	[ -n "$buf_bytes" ] || fail "map_regions printed no result"
	note "map_regions says: $(tr '\n' ' ' <"$TMP/m.out")"
	report_json "$TMP/m-$mode.data" "$js"
	"$FL" report -i "$TMP/m-$mode.data" >"$txt" || fail "report failed"
	check_eq "faults in the report = faults counted in the kernel ($mode, map_regions)" \
		"$(json 'j["faults"]["total"]' "$js")" \
		"$(json 'j["other"]["counters"]["faults_user"] + j["other"]["counters"]["faults_kernel"]' "$js")"
	if [ "$mode" = off ]; then
		check_eq "faults.addresses_recorded (off)" "$(json 'j["faults"]["addresses_recorded"]' "$js")" False
		grep -E "by mapping: not recorded \(--fault-events=off" "$txt" ||
			fail "off: the text does not say the mappings were not recorded"
		grep -E "Top faulting code: not recorded \(--fault-events=off\)" "$txt" ||
			fail "off: the text does not say the faulting code was not recorded"
		grep -qE '^  unknown: ' "$txt" && fail "off: the text shows 'unknown' faults"
		return 0
	fi
	reg() { json "sum(r[\"$2\"] for r in j[\"faults\"][\"regions\"] if $1)" "$js"; }
	local mine='r["creator"] == "map_regions" and r["kind"] == "anon"'
	check_within "faults in weights-fe.bin ($mode)" "$(reg 'r["region"] == "weights-fe.bin"' faults)" "$n_file" 1
	check_within "faults in the anonymous region ($mode)" \
		"$(reg "$mine and r[\"bytes_max\"] == $anon_bytes" faults)" "$n_anon" 1
	check_within "faults in [heap] ($mode)" "$(reg 'r["region"] == "heap"' faults)" "$n_heap" 1
	check_within "faults in the 100 buffers ($mode)" \
		"$(reg "$mine and r[\"bytes_max\"] == $buf_bytes" faults)" "$n_buf" 1
	check_eq "unknown faults ($mode)" "$(json 'j["faults"]["unknown"]' "$js")" 0
	check_eq "faults.addresses_recorded ($mode)" "$(json 'j["faults"]["addresses_recorded"]' "$js")" True
	grep -qE "^Top faulting code \(the fault's ip" "$txt" || fail "$mode: no Top faulting code"
}

for mode in all runs off; do
	echo "--- --fault-events=$mode"
	threads_case "$mode"
	regions_case "$mode"
done
# a typo names the choices
"$FL" record --fault-events=some -o "$TMP/x.data" -- true 2>"$TMP/bad.err" &&
	fail "record accepted --fault-events=some"
grep -q "expected runs (the default), all or off" "$TMP/bad.err" || fail "unclear error: $(cat "$TMP/bad.err")"
echo "ok"
