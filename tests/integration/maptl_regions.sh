#!/usr/bin/env bash
# The mapping timeline under record -- CMD, whose process is gone before the end-of-session look
# at its maps: map_regions faults a known number of pages in a named file (private, written: one
# fault per page), a private anonymous region, [heap] grown with brk, and 100 buffers mapped,
# written and unmapped at one reused address. Each region's count in the report equals the
# workload's own (getrusage around each part, +-1%), the file's faults are under its name (and
# in faults.files), the buffers are one group of 100 maps and 100 unmaps, and nothing is unknown.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
F=300 A=512 H=400 NBUF=100 B=8
file=$TMP/weights-maptl.bin
head -c $((F * 4096)) /dev/urandom >"$file"

"$FL" record -o "$TMP/m.data" -- "$WL/map_regions" "$file" $F $A $H $NBUF $B \
	>"$TMP/m.out" 2>"$TMP/rec.err" || { cat "$TMP/rec.err"; fail "faultline record failed"; }
note "workload says: $(tr '\n' ' ' <"$TMP/m.out")"
read -r _ n_file _ n_anon _ n_heap _ n_buf <"$TMP/m.out"
read -r _ _ anon_bytes _ buf_bytes < <(sed -n 2p "$TMP/m.out")
[ -n "$buf_bytes" ] || fail "map_regions printed no result"
report_json "$TMP/m.data" "$TMP/m.json"
"$FL" report -i "$TMP/m.data" >"$TMP/m.txt" || fail "report failed"
sed -n '/^  region/,/^  unknown/p' "$TMP/m.txt"

reg() { # reg PYTHON-CONDITION FIELD: FIELD summed over the regions matching the condition
	json "sum(r[\"$2\"] for r in j[\"faults\"][\"regions\"] if $1)" "$TMP/m.json"
}
mine='r["creator"] == "map_regions" and r["kind"] == "anon"'
check_within "faults in weights-maptl.bin" "$(reg 'r["region"] == "weights-maptl.bin"' faults)" "$n_file" 1
# its path is known where a maps list showed it (the process may be gone before any look)
path=$(json '[r["path"] for r in j["faults"]["regions"] if r["region"] == "weights-maptl.bin"][0]' "$TMP/m.json")
[ "$path" = None ] || check_eq "its path" "$path" "$file"
check_within "faults in the private anonymous region" \
	"$(reg "$mine and r[\"bytes_max\"] == $anon_bytes" faults)" "$n_anon" 1
check_within "faults in [heap]" "$(reg 'r["region"] == "heap"' faults)" "$n_heap" 1
check_within "faults in the 100 buffers" "$(reg "$mine and r[\"bytes_max\"] == $buf_bytes" faults)" \
	"$n_buf" 1
check_eq "buffer maps" "$(reg "$mine and r[\"bytes_max\"] == $buf_bytes" maps)" $NBUF
check_eq "buffer unmaps" "$(reg "$mine and r[\"bytes_max\"] == $buf_bytes" unmaps)" $NBUF
check_eq "unknown faults" "$(json 'j["faults"]["unknown"]' "$TMP/m.json")" 0
check_eq "unknown regions' faults" "$(reg 'r["kind"] == "unknown"' faults)" 0
check_eq "short-lived mapping faults" "$(reg '"short-lived" in r["region"]' faults)" 0
check_within "filemap faults of weights-maptl.bin" \
	"$(json 'sum(f["faults"] for f in j["faults"]["files"] if f["file"] == "weights-maptl.bin")' "$TMP/m.json")" \
	"$n_file" 1
grep -qE "^  weights-maptl\.bin +[0-9]+" "$TMP/m.txt" || fail "text: no weights-maptl.bin region row"
grep -qE "^      32\.0 KiB x $NBUF, $NBUF unmapped during the session" "$TMP/m.txt" ||
	fail "text: no '32.0 KiB x $NBUF' group line"
note "text: $(grep -E '^  unknown:' "$TMP/m.txt")"
echo "ok"
