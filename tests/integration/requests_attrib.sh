#!/usr/bin/env bash
# Attribution against a server that stalls in the kernel on chosen requests: requests #3 and #7
# (loadgen indices 2 and 6, one request at a time) do MADV_COLLAPSE of 16 MiB plus 4096 fresh
# page faults in their prefill. Those requests, and only those, must show khugepaged stalls and
# the fault burst inside [start, first token].
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

start_server -q --kv-mb 1 --stall-requests 3,7 --stall-kind collapse --stall-mb 16
start_record -p "$SPID" -o "$TMP/r.data"
loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/reqs.jsonl"
stop_record
"$FL" report -i "$TMP/r.data" --json >"$TMP/rep.json" || fail "report failed"
"$FL" report -i "$TMP/r.data" >"$TMP/rep.txt" || fail "report (text) failed"
grep -q '^Requests: 10 from the wire' "$TMP/rep.txt" || fail "no requests section: $(grep -A3 '^Requests' "$TMP/rep.txt")"

python3 - "$TMP" <<'PY' || fail "see above"
import json, sys
tmp = sys.argv[1]
r = json.load(open(tmp + "/rep.json"))["requests"]
ok = True
idx = {json.loads(l)["id"]: json.loads(l)["index"] for l in open(tmp + "/reqs.jsonl")}
want = {2, 6}
got_stall, got_faults = set(), set()
for q in r["list"]:
    i = idx.get(q["id"])
    pre = q["prefill"] or {}
    k = pre.get("by_cause", {}).get("khugepaged", 0)
    print("  request %s (%s): TTFT %.2f ms, khugepaged stall %.3f ms, faults in window %d" % (
        i, q["id"], q["ttft_ns"] / 1e6, k / 1e6, pre.get("faults", 0)))
    if pre.get("stalls", 0) and "khugepaged" in pre.get("by_cause", {}):
        got_stall.add(i)
    if pre.get("faults", 0) >= 4096:
        got_faults.add(i)
print("  requests with khugepaged stalls in [start, first token]: faultline=%s ground-truth=%s" % (sorted(got_stall), sorted(want)))
print("  requests with >= 4096 faults in [start, first token]: faultline=%s ground-truth=%s" % (sorted(got_faults), sorted(want)))
ok = got_stall == want and got_faults == want
slow = {idx.get(s["id"]) for s in r["prefill"]["slowest"][:2]}
print("  two slowest by TTFT: faultline=%s ground-truth=%s" % (sorted(slow), sorted(want)))
sys.exit(0 if ok else 1)
PY
