#!/usr/bin/env bash
# vm: yes
# MADV_COLLAPSE of a traced region: every collapse shows up as a timed khugepaged stall, matching
# the workload's own count of successful calls and /proc/vmstat thp_collapse_alloc for the period.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
# MADV_COLLAPSE works in every mode but "never"; "madvise" also keeps faults and khugepaged from
# making huge pages of the region before the workload asks.
thp_madvise

n=16
start_workload collapse $n
start_record -p "$WPID" -o "$TMP/collapse.data"
before=$(vmstat thp_collapse_alloc)
go
wait_line "$WOUT" '^collapsed ' 60 || fail "collapse did not finish: $(cat "$TMP/collapse.err")"
after=$(vmstat thp_collapse_alloc)
finish_workload || fail "collapse failed: $(cat "$TMP/collapse.err")"
wait_record 30
read -r _ ok _ huge < <(grep '^collapsed ' "$WOUT")
note "workload: $ok of $n MADV_COLLAPSE calls succeeded, $huge bytes now in huge pages"
[ "$ok" -ge 1 ] || fail "no MADV_COLLAPSE succeeded: nothing to compare"
report_json "$TMP/collapse.data" "$TMP/collapse.json"
j=$TMP/collapse.json
# Attempts that failed (khugepaged finding the range already huge, say) held the lock too and
# are stalls, but only successful collapses compare with the workload's count.
got=$(json 'j["stalls"]["khugepaged"]["succeeded"]' "$j")
note "collapse attempts seen: $(json 'j["stalls"]["khugepaged"]["count"]' "$j")"
check_eq "successful collapses seen vs MADV_COLLAPSE calls that succeeded" "$got" "$ok"
# thp_collapse_alloc is system-wide: khugepaged may collapse another process's memory meanwhile.
note "thp_collapse_alloc delta $((after - before)) (system-wide)"
[ $((after - before)) -ge "$ok" ] || fail "thp_collapse_alloc delta $((after - before)) < $ok"
# Each attempt allocates its huge page first (thp_collapse_alloc counts it) and may still fail
# after: the counter goes with the attempts seen, failed ones included.
attempts=$(json 'j["stalls"]["khugepaged"]["count"]' "$j")
check_within "collapse attempts seen vs thp_collapse_alloc delta" "$attempts" "$((after - before))" 10
total=$(json 'j["stalls"]["khugepaged"]["total_ns"]' "$j")
p50=$(json 'j["stalls"]["khugepaged"]["p50_ns"]' "$j")
note "collapse stall time: total ${total} ns, p50 ${p50} ns"
check_ge "collapse stall p50 (a 2 MiB copy under the mmap_lock takes microseconds)" "$p50" 1000
# Labelled by who did it: the workload's main thread asked (MADV_COLLAPSE, synchronous in that
# thread), apart from the khugepaged daemon's collapses. The workload's MADV_HUGEPAGE registers
# it with khugepaged, which may collapse a region first: MADV_COLLAPSE then succeeds on a range
# already huge without collapsing. Either way each region is collapsed once, by one of the two.
asked=$(json 'j["stalls"]["khugepaged"]["madv_collapse"]["succeeded"]' "$j")
daemon=$(json 'j["stalls"]["khugepaged"]["daemon"]["succeeded"]' "$j")
note "successful collapses: $asked by MADV_COLLAPSE, $daemon by the khugepaged daemon"
check_ge "collapses labelled MADV_COLLAPSE asked by the process, succeeded" "$asked" 1
check_eq "MADV_COLLAPSE + daemon successful collapses vs MADV_COLLAPSE calls that succeeded" \
	"$((asked + daemon))" "$ok"
check_eq "threads that asked for a collapse (tid:pid)" \
	"$(json '",".join("%d:%d" % (t["tid"], t["pid"]) for t in j["stalls"]["khugepaged"]["madv_collapse"]["threads"])' "$j")" \
	"$WPID:$WPID"
check_eq "daemon + madv_collapse = all collapse attempts" \
	"$(json 'j["stalls"]["khugepaged"]["daemon"]["count"] + j["stalls"]["khugepaged"]["madv_collapse"]["count"]' "$j")" \
	"$attempts"
"$FL" report -i "$TMP/collapse.data" >"$TMP/collapse.txt" 2>/dev/null || fail "text report failed"
line=$(grep 'by MADV_COLLAPSE the process asked for' "$TMP/collapse.txt")
note "text: $line"
grep -q "in tid $WPID (pid $WPID)" <<<"$line" || fail "the text report does not name the thread that asked"
echo "ok"
