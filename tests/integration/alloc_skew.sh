#!/usr/bin/env bash
# --alloc=full percentiles come from log2 buckets; a bucket's upper bound is clamped to the
# observed maximum, so no percentile is printed above the max. calloc_skew makes many fast callocs
# and a few (over 1%) slow 64 MiB ones: the p99 falls in the max's bucket, whose bound (up to twice
# the max) was printed before (calloc p99 8.2 us, max 4.2 us).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
N=300 S=6

start_workload calloc_skew $N $S
start_record -p "$WPID" --alloc=full -o "$TMP/skew.data"
go
finish_workload || fail "calloc_skew exited non-zero"
note "workload: $(tail -1 "$WOUT")"
wait_record 30
report_json "$TMP/skew.data" "$TMP/skew.json"
check_eq "calloc calls" "$(json 'j["alloc"]["functions"]["calloc"]["count"]' "$TMP/skew.json")" $((N + S))
for fn in $(json '" ".join(j["alloc"]["functions"])' "$TMP/skew.json"); do
	read -r p50 p99 max < <(json '" ".join(str(j["alloc"]["functions"]["'"$fn"'"][k]) for k in ("p50_ns", "p99_ns", "max_ns"))' "$TMP/skew.json")
	check_ge "$fn: max_ns >= p99_ns" "$max" "$p99"
	check_ge "$fn: p99_ns >= p50_ns" "$p99" "$p50"
done
# The text report prints the same figures.
"$FL" report -i "$TMP/skew.data" >"$TMP/skew.txt" 2>/dev/null || fail "report failed"
# function calls bytes-asked p50 p99 max ...: every row's p99 <= max, as printed ("*" after a
# probe-dominated p50/p99).
python3 - "$TMP/skew.txt" >"$TMP/rows.txt" <<'PY' || { cat "$TMP/rows.txt"; fail "a text row prints p99 above max"; }
import re, sys
mult = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
rows = bad = 0
for line in open(sys.argv[1]):
    m = re.match(r"\s+(\w+)\s+(\d+)\s+\S+ \S+\s+([\d.]+) (ns|us|ms|s)\*?\s+([\d.]+) (ns|us|ms|s)\*?\s+([\d.]+) (ns|us|ms|s)\s", line)
    if not m:
        continue
    rows += 1
    p99, mx = float(m[5]) * mult[m[6]], float(m[7]) * mult[m[8]]
    print("  text: %s p99 %s %s, max %s %s" % (m[1], m[5], m[6], m[7], m[8]))
    bad += p99 > mx
sys.exit(1 if bad or not rows else 0)
PY
cat "$TMP/rows.txt"
grep -q 'at most the max' "$TMP/skew.txt" || fail "the text report does not say the bounds are clamped to the max"
echo "ok"
