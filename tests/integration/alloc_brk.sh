#!/usr/bin/env bash
# --alloc=lite's heap (brk) accounting per process image: bash grows its heap, then execs brk_n in
# the same pid, which moves the break N steps up and one down. The growth faultline reports for
# that pid is brk_n's own (end break minus the kernel's start_brk), not a difference across the
# two images' randomized heaps; the text section lists the process by name.
source "$(dirname "$0")/../lib.sh"
need_root
N=64 STEP=65536

"$FL" record -o "$TMP/brk.data" -- bash -c "x=\$(seq 1 20000); exec '$WL/brk_n' $N $STEP" \
	>"$TMP/brk.out" 2>"$TMP/rec.err" || { cat "$TMP/rec.err"; fail "faultline record failed"; }
note "workload says: $(cat "$TMP/brk.out")"
read -r _ _ start _ end _ peak <"$TMP/brk.out"
[ -n "$peak" ] || fail "brk_n printed no result: $(cat "$TMP/brk.out")"
"$FL" report -i "$TMP/brk.data" --json >"$TMP/brk.json" || fail "report --json failed"
"$FL" report -i "$TMP/brk.data" >"$TMP/brk.txt" || fail "report failed"
sed -n '/heap (brk)/,/growth:/p' "$TMP/brk.txt"
row='[b for b in j["alloc"]["brk"] if b["comm"] == "brk_n"][0]'
check_eq "brk_n heap growth (bytes)" "$(json "${row}[\"growth_bytes\"]" "$TMP/brk.json")" \
	$((0x$end - 0x$start))
check_eq "brk_n heap peak growth (bytes)" "$(json "${row}[\"peak_growth_bytes\"]" "$TMP/brk.json")" \
	$((0x$peak - 0x$start))
check_eq "brk_n heap start" "$(json "hex(${row}[\"start\"])" "$TMP/brk.json")" "0x$start"
check_ge "heap images seen in that pid (bash, then brk_n)" \
	"$(json "${row}[\"images\"]" "$TMP/brk.json")" 2
check_eq "refused brk calls" "$(json 'j["alloc"]["syscalls"]["brk"]["errors"]' "$TMP/brk.json")" 0
grep -qE "pid [0-9]+ +brk_n +\+$(python3 -c "print(round(($((0x$end - 0x$start)))/1048576, 1))") MiB" \
	"$TMP/brk.txt" || fail "text: no 'pid N brk_n +X MiB' row"
note "text: $(grep -E 'brk_n' "$TMP/brk.txt")"
echo "ok"
