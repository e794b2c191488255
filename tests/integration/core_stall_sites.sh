#!/usr/bin/env bash
# Where the stalls came from: collapse stalls forced by two known functions of a workload built
# with frame pointers (kv_alloc and loader_pin, MADV_COLLAPSE each) show up as two call sites
# whose frames name those functions and madvise in libc, with the workload's own stall counts,
# and the call sites add up to the report's count of MADV_COLLAPSE stalls.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
# With "always" the workload's faults would take huge pages and khugepaged could collapse its
# regions before it asks; "madvise" without MADV_HUGEPAGE leaves every collapse to MADV_COLLAPSE.
thp_madvise

kv=6
ld=3
start_workload stall_sites $kv $ld
start_record -p "$WPID" -o "$TMP/sites.data"
go
wait_line "$WOUT" "^loader_pin stalls " "$(printf %.0f "$(scaled 60)")" || fail "stall_sites did not finish: $(cat "$TMP/stall_sites.err")"
finish_workload || fail "stall_sites failed: $(cat "$TMP/stall_sites.err")"
wait_record "$(printf %.0f "$(scaled 30)")"
want_kv=$(awk '/^kv_alloc stalls /{print $3}' "$WOUT")
want_ld=$(awk '/^loader_pin stalls /{print $3}' "$WOUT")
note "workload: kv_alloc collapsed $want_kv of $kv regions, loader_pin $want_ld of $ld"
{ [ "$want_kv" -ge 1 ] && [ "$want_ld" -ge 1 ]; } || fail "no MADV_COLLAPSE succeeded: nothing to compare"
report_json "$TMP/sites.data" "$TMP/sites.json"
j=$TMP/sites.json
# The call site whose frames hold FUNC: "count frames" (frames as symbol(module),...).
site() {
	json '" ".join("%d %s" % (s["count"], ",".join("%s(%s)" % (f["symbol"], f["module"].rsplit("/", 1)[-1]) for f in s["frames"])) for s in j["stall_stacks"]["khugepaged"]["sites"] if any(f["symbol"] == "'"$1"'" for f in s["frames"]))' "$j"
}
kv_site=$(site kv_alloc)
ld_site=$(site loader_pin)
note "kv_alloc call site: $kv_site"
note "loader_pin call site: $ld_site"
[ -n "$kv_site" ] || fail "no khugepaged call site names kv_alloc: $(json 'j["stall_stacks"]' "$j")"
[ -n "$ld_site" ] || fail "no khugepaged call site names loader_pin"
check_eq "kv_alloc call sites (one: same chain of functions)" "$(wc -w <<<"$kv_site")" 2
check_eq "loader_pin call sites" "$(wc -w <<<"$ld_site")" 2
grep -q 'madvise(libc' <<<"$kv_site" || fail "the kv_alloc call site does not start in libc's madvise"
grep -q 'loader_pin' <<<"$kv_site" && fail "kv_alloc and loader_pin share a call site"
check_eq "kv_alloc call site: stalls vs the workload's collapses" "${kv_site%% *}" "$want_kv"
check_eq "loader_pin call site: stalls vs the workload's collapses" "${ld_site%% *}" "$want_ld"
sum=$(json 'sum(s["count"] for s in j["stall_stacks"]["khugepaged"]["sites"])' "$j")
asked=$(json 'j["stalls"]["khugepaged"]["madv_collapse"]["count"]' "$j")
check_eq "khugepaged call sites' stalls vs the report's MADV_COLLAPSE stalls" "$sum" "$asked"
check_eq "khugepaged stalls with a stack vs MADV_COLLAPSE stalls" \
	"$(json 'j["stall_stacks"]["khugepaged"]["with_stack"]' "$j")" "$asked"
"$FL" report -i "$TMP/sites.data" >"$TMP/sites.txt" 2>/dev/null || fail "text report failed"
sed -n '/^Where the stalls came from/,/^$/p' "$TMP/sites.txt" | head -30
grep -q '^Where the stalls came from' "$TMP/sites.txt" || fail "no 'Where the stalls came from' section"
grep -q '<- kv_alloc (stall_sites)' "$TMP/sites.txt" || fail "the text report does not name kv_alloc"
echo "ok"
