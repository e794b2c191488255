#!/usr/bin/env bash
# record's periodic look at the targets' maps (--maps-every) names what --alloc=off cannot:
# map_regions (see maptl_regions.sh) maps a named file, a private anonymous region and [heap]
# once the session has begun (record -p: its start maps are from before), faults a known number
# of pages in each, keeps them for HOLD and exits before the end-of-session look. Recorded with --alloc=off --maps-every 200ms, the file's
# faults are under its name (the look's path in faults.files), as many as the workload counted
# (+-1%); recorded the same way with --maps-every off, none is: they are "short-lived mapping".
# The 10 buffers mapped and unmapped between two looks stay unnamed: "short-lived mapping".
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
F=300 A=2000 H=100 NBUF=10 B=8
file=$TMP/weights-periodic.bin
head -c $((F * 4096)) /dev/urandom >"$file"
# long enough for several looks 200 ms apart, each read in steps between two ring-buffer polls
hold_ms=$(python3 -c "import sys; print(int(2000 * float(sys.argv[1])))" "$SLOW")

# record_run NAME EVERY: the workload, started and waiting, recorded with -p --alloc=off
# --maps-every EVERY: no maps list but the periodic looks can show what it maps after "go"
record_run() {
	start_workload map_regions "$file" $F $A $H $NBUF $B "$hold_ms"
	start_record -p "$WPID" -o "$TMP/$1.data" --alloc=off --maps-every "$2"
	go
	finish_workload || fail "map_regions failed: $(cat "$TMP/map_regions.err")"
	wait_record 60
	grep -vE '^pid ' "$WOUT" >"$TMP/$1.out"
	report_json "$TMP/$1.data" "$TMP/$1.json"
	"$FL" report -i "$TMP/$1.data" >"$TMP/$1.txt" 2>&1 || fail "faultline report ($1) failed"
}
# reg NAME PYTHON-CONDITION: faults summed over NAME's regions matching the condition
reg() {
	json "sum(r['faults'] for r in j['faults']['regions'] if $2)" "$TMP/$1.json"
}

record_run on 200ms
note "workload says: $(tr '\n' ' ' <"$TMP/on.out")"
read -r _ n_file _ n_anon _ n_heap _ n_buf <"$TMP/on.out"
[ -n "$n_buf" ] || fail "map_regions printed no result"
python3 "$(dirname "$0")/inflate_record.py" "$TMP/on.data" "$TMP/on.raw" >/dev/null
cost=$(python3 -c 'import json, sys
d = open(sys.argv[1], "rb").read()
t = json.JSONDecoder().raw_decode(d[d.rindex(b"{\"stop_reason\""):].decode("latin-1"))[0]
c = t["maps_periodic_cost"]
print(c["reads"], len(t["maps_periodic"]), c["steps"], c["step_max_ns"], c["total_ns"])' "$TMP/on.raw")
read -r reads kept steps step_max total <<<"$cost"
note "periodic looks: $reads reads, $kept kept, $steps steps, longest step $((step_max / 1000)) us," \
	"all steps $((total / 1000)) us"
check_ge "periodic looks read whole while the workload held its mappings" "$reads" 1
sed -n '/^  region/,/^  unknown/p' "$TMP/on.txt"
check_within "faults under weights-periodic.bin" \
	"$(reg on "r['region'] == 'weights-periodic.bin'")" "$n_file" 1
check_eq "its path in faults.files (from the look)" \
	"$(json "[f['path'] for f in j['faults']['files'] if f['file'] == 'weights-periodic.bin'][0]" "$TMP/on.json")" \
	"$file"
check_within "faults in [heap] (grown with brk, untraced)" "$(reg on "r['region'] == 'heap'")" "$n_heap" 1
check_within "faults in anonymous mappings" "$(reg on "r['region'].startswith('anon (mapped before')")" "$n_anon" 1
check_within "unnamed (short-lived mapping): the $NBUF buffers mapped and unmapped between two looks" \
	"$(reg on "'short-lived' in r['region']")" "$n_buf" 1

record_run off off
read -r _ off_file _ <"$TMP/off.out"
check_eq "without the look: faults under weights-periodic.bin" \
	"$(reg off "r['region'] == 'weights-periodic.bin'")" 0
check_ge "without the look: short-lived mapping faults (the file's among them)" \
	"$(reg off "'short-lived' in r['region']")" "$off_file"
echo "ok"
