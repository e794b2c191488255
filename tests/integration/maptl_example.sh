#!/usr/bin/env bash
# The mapping timeline on the example server the way `make demo` runs it (scripts/demo.sh): the
# V1 layout (API process + engine process started before faultline attaches), recorded with
# `record -p API --children`, driven by loadgen. Each request's KV buffer is an anonymous mmap
# made and unmapped by the engine during the session: the report names them as one group of
# mmaps by the Python interpreter (count = the requests served), names the weights file, and
# counts under 1% of the faults as "short-lived mapping" or unknown. Request #5 drops 4 MiB of the
# weights from memory and reads them back (--stall-kind majfault): those faults are the weights
# file's, in faults.regions and in faults.files.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root
N=40 KV_MB=16

: >"$TMP/server.out"
python3 "$EX/server.py" --port 0 -q --kv-mb $KV_MB --thp madvise --weights "$TMP/weights.bin" \
	--weights-mb 32 --stall-requests 5 --stall-kind majfault --stall-mb 4 >"$TMP/server.out" 2>&1 &
SPID=$!
on_exit "kill -TERM $SPID 2>/dev/null; wait $SPID 2>/dev/null"
wait_listening 60
API=$(pgrep -o -f "server.py .*$TMP/weights.bin")
check_eq "API pid (pgrep -o -f server.py) vs the pid started" "$API" "$SPID"

start_record -p "$API" --children -o "$TMP/ex.data"
loadgen -n $N -c 4 --max-tokens 16 --prompt-len 200 --jsonl "$TMP/reqs.jsonl"
stop_record
report_json() { "$FL" report -i "$1" --json >"$2" || fail "report --json failed"; }
report_json "$TMP/ex.data" "$TMP/ex.json"
"$FL" report -i "$TMP/ex.data" >"$TMP/ex.txt" || fail "report (text) failed"
sed -n '/^  region/,/^  unknown/p;/^  file (filemap/,/^$/p' "$TMP/ex.txt"

total=$(json 'j["faults"]["total"]' "$TMP/ex.json")
check_ge "faults recorded" "$total" 1000
kv='[r for r in j["faults"]["regions"] if r["kind"] == "anon" and r["bytes_max"] == '$((KV_MB << 20))' and r["region"].startswith("anon mmap by python")]'
check_eq "KV buffer regions (16 MiB anon mmaps by python)" "$(json "len($kv)" "$TMP/ex.json")" 1
note "made by: $(json "${kv}[0][\"creator\"]" "$TMP/ex.json")"
note "KV region: $(json "${kv}[0][\"region\"]" "$TMP/ex.json")"
check_ge "KV buffers mapped during the session (requests served: $N)" \
	"$(json "${kv}[0][\"maps\"]" "$TMP/ex.json")" $N
check_ge "KV buffers unmapped during the session" "$(json "${kv}[0][\"unmaps\"]" "$TMP/ex.json")" $((N - 4))
check_ge "faults in the KV buffers" "$(json "${kv}[0][\"faults\"]" "$TMP/ex.json")" 1
check_ge "faults in the weights file (its 4 MiB re-read; fault-around maps up to 16 pages a fault)" \
	"$(json 'sum(r["faults"] for r in j["faults"]["regions"] if r["region"] == "weights.bin")' "$TMP/ex.json")" 1
# The file is listed by name among the files whatever its filemap faults: the re-read's pages
# may all come from the page cache by fault-around (filemap_map_pages, no mm_filemap_fault), as
# in CI's sanitizer pass; maptl_regions counts filemap faults exactly.
check_eq "weights.bin listed among the files" \
	"$(json 'sum(1 for f in j["faults"]["files"] if f["file"] == "weights.bin")' "$TMP/ex.json")" 1
note "filemap faults of weights.bin: $(json 'sum(f["faults"] for f in j["faults"]["files"] if f["file"] == "weights.bin")' "$TMP/ex.json") (0 when the page cache served the re-read)"
lost=$(json 'sum(r["faults"] for r in j["faults"]["regions"] if r["kind"] == "unknown" or "short-lived" in r["region"])' "$TMP/ex.json")
note "short-lived/unknown: $lost of $total faults"
python3 -c "import sys; sys.exit(0 if int(sys.argv[1]) * 100 < int(sys.argv[2]) else 1)" "$lost" "$total" ||
	fail "short-lived/unknown faults $lost are not under 1% of $total"
grep -qE "^  anon mmap by python.*16\.0 MiB +[0-9]+" "$TMP/ex.txt" || fail "text: no KV buffer row"
grep -qE "^      16\.0 MiB x [0-9]+, [0-9]+ unmapped during the session" "$TMP/ex.txt" ||
	fail "text: no '16.0 MiB x N' group line"
grep -qE "^  weights\.bin +[0-9]+" "$TMP/ex.txt" || fail "text: no weights.bin row"
echo "ok"
