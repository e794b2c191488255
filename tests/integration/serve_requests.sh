#!/usr/bin/env bash
# faultline serve on examples/server.py while examples/loadgen.py sends a known number of
# requests (streaming, then non-streaming): /metrics' faultline_requests_total and the count of
# the faultline_request_ttfb_seconds histogram equal the client's completed count, its mean
# matches the client's mean TTFT, no event was dropped, and promtool accepts the exposition.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
. "$(dirname "$0")/requests_common.bash"
need_root
if [ -z "${FAULTLINE_IN_VM:-}" ]; then
	command -v promtool >/dev/null || fail "promtool is missing: run scripts/install-deps.sh"
fi

N=120 N2=20 RATE=40 MEAN_TOL_MS=3
[ -n "${FAULTLINE_IN_VM:-}" ] && N=30 N2=5 RATE=5
start_server --kv-mb 2 -q
SRV=$SPID
start_serve -p "$SRV"

http_get "$SERVE_URL/metrics" >"$TMP/m0.txt" || fail "GET /metrics failed"
check_eq "faultline_requests_total before any request" \
	"$(metric "$TMP/m0.txt" '^faultline_requests_total\{')" 0
grep -q '^# TYPE faultline_request_ttfb_seconds histogram' "$TMP/m0.txt" ||
	fail "no faultline_request_ttfb_seconds histogram in /metrics"

loadgen -n $N -c 2 --rate $RATE --max-tokens 8 --prompt-len 60 --save-result "$TMP/bench.json"
loadgen -n $N2 -c 1 --max-tokens 4 --prompt-len 30 --no-stream --save-result "$TMP/plain.json"
want=$(python3 -c 'import json, sys
print(sum(sum(1 for e in json.load(open(f))["errors"] if not e) for f in sys.argv[1:]))' \
	"$TMP/bench.json" "$TMP/plain.json")
# a scrape reads what the ring buffer holds; the server's last write may still be in flight
for _ in $(seq 30); do
	http_get "$SERVE_URL/metrics" >"$TMP/m.txt" || fail "GET /metrics failed"
	[ "$(metric "$TMP/m.txt" '^faultline_request_ttfb_seconds_count\{')" -ge "$want" ] && break
	sleep 0.1
done
grep -E '^faultline_request|^faultline_events_dropped' "$TMP/m.txt" | grep -v '_bucket' | sed 's/^/  /'
check_eq "faultline_requests_total vs loadgen's completed requests" \
	"$(metric "$TMP/m.txt" '^faultline_requests_total\{')" "$want"
check_eq "faultline_request_ttfb_seconds_count vs loadgen's completed requests" \
	"$(metric "$TMP/m.txt" '^faultline_request_ttfb_seconds_count\{')" "$want"
check_eq "faultline_request_ttfb_seconds_bucket{le=\"+Inf\"}" \
	"$(metric "$TMP/m.txt" '^faultline_request_ttfb_seconds_bucket\{.*le="\+Inf"')" "$want"
check_eq "faultline_events_dropped_total" "$(metric "$TMP/m.txt" '^faultline_events_dropped_total\{')" 0
grep -q "^faultline_requests_total{pid=\"$SRV\",comm=\"python3\"}" "$TMP/m.txt" ||
	fail "faultline_requests_total is not labelled pid=\"$SRV\",comm=\"python3\""

PYTHONPATH=$ROOT/tests/integration python3 - "$TMP/m.txt" "$TMP/bench.json" "$TMP/plain.json" "$MEAN_TOL_MS" <<'PY' ||
	fail "see above"
import json, re, sys
import checks
from checks import check
metrics, files, tol = sys.argv[1], sys.argv[2:4], checks.bound(float(sys.argv[4]))
vals, buckets = {}, []
for line in open(metrics):
    m = re.match(r'(faultline_request_ttfb_seconds_\w+)\{[^}]*?(?:le="([^"]+)")?\} (\S+)', line)
    if m and m.group(1).endswith("_bucket"):
        buckets.append((float(m.group(2)), float(m.group(3))))
    elif m:
        vals[m.group(1)] = float(m.group(3))
ttfts = [t for f in files for t, e in zip(*(json.load(open(f))[k] for k in ("ttfts", "errors"))) if not e]
mean = vals["faultline_request_ttfb_seconds_sum"] / vals["faultline_request_ttfb_seconds_count"] * 1e3
want = sum(ttfts) / len(ttfts) * 1e3
check("mean TTFB (sum/count) within %g ms of loadgen's mean TTFT" % tol, abs(mean - want) <= tol,
      "%.3f ms" % mean, "%.3f ms" % want, timing=True)
cum = [c for _, c in buckets]
mono = all(a <= b for a, b in zip(cum, cum[1:]))
check("buckets cumulative and non-decreasing (%d buckets)" % len(buckets), mono, mono, True)
sys.exit(0 if checks.ok else 1)
PY

if command -v promtool >/dev/null; then
	promtool check metrics <"$TMP/m.txt" >"$TMP/promtool.out" 2>&1
	rc=$?
	note "promtool check metrics: exit $rc $(head -c 300 "$TMP/promtool.out")"
	[ $rc -eq 0 ] || fail "promtool check metrics rejected the exposition"
else
	note "promtool check metrics: not in the emulated VM's initramfs (checked on the host)"
fi
echo "ok"
