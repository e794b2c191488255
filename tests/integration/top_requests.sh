#!/usr/bin/env bash
# faultline top --batch on examples/server.py while examples/loadgen.py sends a known number of
# streaming requests: the frames' requests/s add up to the client's completed count, and their
# TTFT p50 matches the client's own (loadgen measures from its send to the first SSE chunk; the
# wire from the server's read to its write of that chunk, so they differ by the loopback trip).
# Before the first request the header shows "-"; with --wire off it stays "-".
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/requests_common.bash"
need_root

N=150 RATE=40 TTFT_TOL_MS=3
[ -n "${FAULTLINE_IN_VM:-}" ] && N=30 RATE=5
start_server --kv-mb 2 -q

# top_start OUT ARGS...: top --batch in the background; returns once it watches the server.
top_start() {
	local out=$1
	shift
	"$FL" top -p "$SPID" --batch -i 1 "$@" >"$TMP/$out" 2>"$TMP/$out.err" &
	TPID=$!
	on_exit "kill -INT $TPID 2>/dev/null; wait $TPID 2>/dev/null"
	wait_line "$TMP/$out.err" 'faultline: watching pid' 60 || {
		cat "$TMP/$out.err"
		fail "top did not start"
	}
}

top_stop() {
	kill -INT "$TPID"
	wait "$TPID" || fail "top --batch exited $?: $(cat "$TMP/$1.err")"
}

top_start top.out
sleep 1.3 # one frame before any request
loadgen -n $N -c 1 --rate $RATE --max-tokens 8 --prompt-len 60 --save-result "$TMP/bench.json"
sleep 2.2 # the frames that hold the last requests
top_stop top.out

PYTHONPATH=$CHECKS_PY python3 - "$TMP/top.out" "$TMP/bench.json" "$N" "$TTFT_TOL_MS" <<'PY' ||
	fail "see above"
import json, re, statistics, sys
import checks
from checks import check
out, bench, n, tol = sys.argv[1], sys.argv[2], int(sys.argv[3]), checks.bound(float(sys.argv[4]))

def ms(v, unit):
    return float(v) * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

frames, dt = [], None
for line in open(out):
    m = re.match(r"Faults: \d+ in ([\d.]+)s", line)
    if m and frames:
        frames[-1]["dt"] = float(m.group(1))
    m = re.match(r"requests/s (\S+)  TTFT p50 (-|[\d.]+ \w+)  p99 (-|[\d.]+ \w+)  ", line)
    if line.startswith("requests/s"):
        if not m:
            print("  unparsed header line: " + line.strip())
            checks.ok = False
            continue
        f = {"rate": m.group(1), "p50": None, "p99": None, "dt": 0}
        for k, g in (("p50", 2), ("p99", 3)):
            if m.group(g) != "-":
                v, u = m.group(g).split()
                f[k] = ms(v, u)
        frames.append(f)
print("  frames (requests/s, TTFT p50 ms, p99 ms): " +
      " ".join("%s/%s/%s" % (f["rate"], f["p50"], f["p99"]) for f in frames))
b = json.load(open(bench))
done = sum(1 for e in b["errors"] if not e)
client_p50 = statistics.median(sorted(t for t, e in zip(b["ttfts"], b["errors"]) if not e)) * 1e3
check("first frame, before any request", frames and frames[0]["rate"] == "-", frames[0]["rate"] if frames else None, "-")
busy = [f for f in frames if f["rate"] not in ("-", "0")]
check("frames with requests/s > 0", len(busy) >= 1, len(busy), ">= 1")
total = sum(float(f["rate"].rstrip("k")) * f["dt"] for f in busy)
# requests/s is printed rounded (42, 4.5): allow that rounding, one request per frame
check("requests in the frames (sum of requests/s x interval)", abs(total - done) <= max(len(busy), 0.05 * done),
      "%.1f" % total, "%d completed (loadgen)" % done)
p50s = sorted((f["p50"], float(f["rate"].rstrip("k")) * f["dt"]) for f in busy if f["p50"] is not None)
half, acc, mid = sum(w for _, w in p50s) / 2, 0, None
for v, w in p50s:  # the frames' p50, weighted by the requests each frame holds
    acc += w
    if acc >= half:
        mid = v
        break
check("TTFT p50 within %g ms of the client's" % tol, mid is not None and abs(mid - client_p50) <= tol,
      "%.2f ms" % mid if mid is not None else None, "%.2f ms (loadgen)" % client_p50, timing=True)
check("TTFT p99 >= p50 in every frame", all(f["p99"] >= f["p50"] for f in busy if f["p50"] is not None), "yes", "yes")
sys.exit(0 if checks.ok else 1)
PY

# --wire off: no request capture, and the header says so with "-"
top_start top-off.out --wire off
loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 30
sleep 1.3
top_stop top-off.out
off=$(awk '/^requests\/s / { print $2 }' "$TMP/top-off.out" | sort -u | paste -sd,)
check_eq "requests/s with --wire off (every frame)" "$off" "-"
echo "ok"
