#!/usr/bin/env bash
# vm: yes
# Attribution against a server that stalls in the kernel on chosen requests: requests #3 and #7
# (loadgen indices 2 and 6, one request at a time) do MADV_COLLAPSE of 16 MiB touched as 4096
# fresh pages in their prefill. Those requests, and only those, must show khugepaged stalls and
# the fault burst inside [start, first token]. Where THP is "always" (the VM's kernel), fresh
# memory is huge already and MADV_COLLAPSE has nothing to do: the stall is then a burst of 8000
# 4 KiB faults (MADV_NOHUGEPAGE), seen as fault stalls where the fault_duration probe works.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

record_stalled "$TMP/r.data" "$TMP/reqs.jsonl"
"$FL" report -i "$TMP/r.data" --json >"$TMP/rep.json" || fail "report failed"
"$FL" report -i "$TMP/r.data" >"$TMP/rep.txt" || fail "report (text) failed"
grep -q '^Requests: 10 from the wire' "$TMP/rep.txt" || fail "no requests section: $(grep -A3 '^Requests' "$TMP/rep.txt")"

python3 - "$TMP" "$KIND" <<'PY' || fail "see above"
import json, sys
tmp, kind = sys.argv[1], sys.argv[2]
rep = json.load(open(tmp + "/rep.json"))
r = rep["requests"]
cause = "khugepaged" if kind == "collapse" else "fault"
have_cause = kind == "collapse" or rep["probes"]["fault_duration"]["status"] == "ok"
min_faults = 4096 if kind == "collapse" else 8000
idx = {json.loads(l)["id"]: json.loads(l)["index"] for l in open(tmp + "/reqs.jsonl")}
want = {2, 6}
by_req = {}
for q in r["list"]:
    i = idx.get(q["id"])
    pre = q["prefill"] or {}
    by_req[i] = (pre.get("by_cause", {}).get(cause, 0), pre.get("faults", 0))
    print("  request %s (%s): TTFT %.2f ms, %s stall %.3f ms, faults in window %d" % (
        i, q["id"], q["ttft_ns"] / 1e6, cause, by_req[i][0] / 1e6, by_req[i][1]))
got_faults = {i for i, (st, f) in by_req.items() if f >= min_faults}
print("  requests with >= %d faults in [start, first token]: faultline=%s ground-truth=%s" % (
    min_faults, sorted(got_faults), sorted(want)))
ok = got_faults == want
if have_cause:
    # every request faults in its KV buffer: the stalled ones must stand out by far
    others = max([st for i, (st, f) in by_req.items() if i not in want] + [0])
    got_stall = {i for i, (st, f) in by_req.items() if st > 0 and st >= 3 * others}
    print("  requests with %s stalls in [start, first token] (>= 3x any other's %.3f ms): "
          "faultline=%s ground-truth=%s" % (cause, others / 1e6, sorted(got_stall), sorted(want)))
    ok &= got_stall == want
else:
    print("  %s stalls: no durations on this kernel (fault_duration unavailable), faults only" % cause)
slow = {idx.get(s["id"]) for s in r["prefill"]["slowest"][:2]}
print("  two slowest by TTFT: faultline=%s ground-truth=%s" % (sorted(slow), sorted(want)))
sys.exit(0 if ok else 1)
PY
