#!/usr/bin/env bash
# Cross-process attribution on the example server in vLLM V1's shape: the API process (the pid a
# user finds with pgrep, owning the HTTP socket) and the engine process it started with
# multiprocessing before faultline attached (holding the memory, running the requests). faultline
# records the API pid with --children. Requests #3 and #7 force a MADV_COLLAPSE of 32 MiB in the
# engine during their prefill; the engine's log line says which request stalled, in which pid and
# tid, when the collapse began and how long it took (CLOCK_MONOTONIC, the clock faultline uses).
# Counted against that log:
#   - the stalled requests show the collapse's 16 khugepaged stalls, from the engine pid and the
#     logged tid (another process than the API pid that answered them), at most the logged time;
#   - every request whose wire window contains a logged collapse shows all of its engine stall
#     time, one that overlaps it in part at most the overlap, one clear of both none;
#   - per request and window, "other processes" equals the by_process entries that are not the
#     answering process, and the text report names the engine pid on the stalled requests.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

if grep -q '\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
	# fresh memory is huge already: MADV_COLLAPSE has nothing to do, the engine cannot stall
	note "THP enabled=always: the forced collapse stall cannot happen on this host"
	exit 77
fi

: >"$TMP/server.out"
"${RT[@]}" python3 "$EX/server.py" --port 0 --weights "$TMP/weights.bin" --weights-mb 8 -q \
	--kv-mb 1 --stall-requests 3,7 --stall-kind collapse --stall-mb 32 \
	--requests-jsonl "$TMP/srv.jsonl" >"$TMP/server.out" 2>&1 &
SPID=$!
on_exit "kill -TERM $SPID 2>/dev/null; wait $SPID 2>/dev/null"
wait_listening 30
ENGINE=$(sed -n 's/^engine: pid \([0-9]*\) .*/\1/p' "$TMP/server.out")
[ -n "$ENGINE" ] || fail "server.py did not name its engine process: $(head -5 "$TMP/server.out")"
# as a user finds `vllm serve`: the oldest match is the API process (the engine is its child
# with the same command line); the weights path keeps other tests' servers out
API=$(pgrep -o -f "server.py .*$TMP/weights.bin")
check_eq "API pid (pgrep -o -f server.py) vs the pid started" "$API" "$SPID"
check_eq "engine's parent pid" "$(ps -o ppid= -p "$ENGINE" | tr -d ' ')" "$API"

start_record -p "$API" --children -o "$TMP/v1.data"
loadgen -n 12 -c 2 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/reqs.jsonl"
stop_record
"$FL" report -i "$TMP/v1.data" --json >"$TMP/rep.json" || fail "report failed"
"$FL" report -i "$TMP/v1.data" >"$TMP/rep.txt" || fail "report (text) failed"
grep -q '^Requests: 12 from the wire' "$TMP/rep.txt" ||
	fail "no requests section: $(grep -A3 '^Requests' "$TMP/rep.txt")"
grep 'Stall in request' "$TMP/server.out" | sed 's/^.*\] /  server log: /'

PYTHONPATH=$CHECKS_PY python3 - "$TMP" "$API" "$ENGINE" <<'PY' || fail "see above"
import json, re, sys
import checks
from checks import check
tmp, api, engine = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rep = json.load(open(tmp + "/rep.json"))
reqs = rep["requests"]["list"]

# the example's own log: request number, id, pid, tid, collapse start and length
stalls = {}
for line in open(tmp + "/server.out"):
    m = re.search(r"Stall in request #(\d+) (\S+)-0: kind=collapse .*collapse_ms=([\d.]+) "
                  r"collapse_start=([\d.]+).*; pid (\d+) tid (\d+) ", line)
    if m:
        stalls[m.group(2)] = dict(n=int(m.group(1)), ms=float(m.group(3)),
                                  a=float(m.group(4)) * 1e9, pid=int(m.group(5)),
                                  tid=int(m.group(6)))
        stalls[m.group(2)]["b"] = stalls[m.group(2)]["a"] + stalls[m.group(2)]["ms"] * 1e6
check("forced stalls in the server's log (requests #)", sorted(s["n"] for s in stalls.values())
      == [3, 7], sorted(s["n"] for s in stalls.values()), [3, 7])
check("pid of the stalls in the server's log", {s["pid"] for s in stalls.values()} == {engine},
      sorted({s["pid"] for s in stalls.values()}), [engine])


def windows(q):
    return [w for w in (q["prefill"], q["decode"]) if w]


def engine_khugepaged(q):
    return sum(p["by_cause"].get("khugepaged", 0) for w in windows(q) for p in w["by_process"]
               if p["pid"] == engine)


def api_khugepaged(q):
    return sum(p["by_cause"].get("khugepaged", 0) for w in windows(q) for p in w["by_process"]
               if p["pid"] == api)


print("  %-22s %8s %9s %11s %14s" % ("request", "TTFT ms", "pid", "log ms", "engine stall ms"))
for q in reqs:
    ov = sum(max(0, min(q["end_ns"], s["b"]) - max(q["start_ns"], s["a"])) for s in stalls.values())
    print("  %-22s %8.2f %9s %11.2f %14.3f" % (q["id"], q["ttft_ns"] / 1e6, q["pid"], ov / 1e6,
                                              engine_khugepaged(q) / 1e6))
check("every request answered by the API pid", {q["pid"] for q in reqs} == {api},
      sorted({q["pid"] for q in reqs}), [api])

HUGE = 32 // 2  # --stall-mb 32: the collapse makes 16 huge pages, one khugepaged stall each
for rid, s in sorted(stalls.items(), key=lambda x: x[1]["n"]):
    q = next((q for q in reqs if q["id"] == rid), None)
    if q is None:
        check("request %s on the wire" % rid, False, "missing", rid)
        continue
    pre = q["prefill"]
    eng = [p for p in pre["by_process"] if p["pid"] == engine]
    got = eng[0]["by_cause"].get("khugepaged", 0) if eng else 0
    s["got"] = got
    # the collapse's wall time also holds waits for the CPU and the mmap_lock (2-3x under ASan
    # on a busy machine), which are not khugepaged stalls: the share is shown, not enforced
    check("request #%d %s: engine pid's khugepaged stall in [start, first token] vs the log's "
          "collapse %.2f ms (> 0, <= it; %.0f%% of it)" % (s["n"], rid, s["ms"],
                                                          100 * got / max(1, s["ms"] * 1e6)),
          0 < got <= s["ms"] * 1e6 + 1e5, "%.3f ms" % (got / 1e6), "%.2f ms" % s["ms"])
    check("request #%d: the engine's entry is another process" % s["n"],
          bool(eng) and eng[0]["this_process"] is False,
          eng and eng[0]["this_process"], False)
    slow = [x for x in rep["requests"]["prefill"]["slowest"] if x["id"] == rid]
    ks = [x for x in slow[0]["stalls"] if x["cause"] == "khugepaged"] if slow else []
    check("request #%d: khugepaged stalls in its prefill, from the engine pid, vs the %d huge "
          "pages of the logged collapse" % (s["n"], HUGE),
          len(ks) == HUGE and all(x["pid"] == engine for x in ks), len(ks), HUGE)
    tids = sorted({x["tid"] for x in ks})
    check("request #%d: tids of its khugepaged stalls vs the log's tid" % s["n"],
          tids == [s["tid"]], tids, [s["tid"]])
    check("request #%d: other_processes_stall_ns >= the engine's khugepaged" % s["n"],
          # by_cause figures are JSON doubles (%.6g): their rounding allowed
          pre["other_processes_stall_ns"] >= got * (1 - 1e-5) - 1000, pre["other_processes_stall_ns"],
          ">= %d" % got)

# every request, by where its wire window [start, end] lies against the logged collapses:
# containing one -> all of that collapse's engine stall time (what its own request shows);
# overlapping one in part -> at most the overlap; clear of both (1 ms margin) -> none
MARGIN = 1e6
classes = {"contain": [], "partial": [], "clear": []}
bad = []
for q in reqs:
    got = engine_khugepaged(q)
    near = [s for s in stalls.values()
            if q["start_ns"] < s["b"] + MARGIN and s["a"] - MARGIN < q["end_ns"]]
    full = [s for s in near if q["start_ns"] <= s["a"] and s["b"] <= q["end_ns"]]
    ov = sum(max(0, min(q["end_ns"], s["b"]) - max(q["start_ns"], s["a"])) for s in near)
    if full and len(full) == len(near):
        classes["contain"].append(q["id"])
        want = sum(s.get("got", 0) for s in full)
        if abs(got - want) > max(2000, 2e-5 * want):  # %.6g doubles: 6 digits each
            bad.append((q["id"], "contains", got, want))
    elif near:
        classes["partial"].append(q["id"])
        if got > ov + 1e5:
            bad.append((q["id"], "partial", got, ov))
    else:
        classes["clear"].append(q["id"])
        if got:
            bad.append((q["id"], "clear", got, 0))
print("  requests containing a logged collapse: %d, overlapping one in part: %d, clear: %d"
      % tuple(len(classes[k]) for k in ("contain", "partial", "clear")))
check("requests whose engine khugepaged stall time disagrees with the log's collapses "
      "(contain: all of it, partial: <= overlap, clear: 0)", not bad, bad, [])
check("khugepaged stalls in the API process", sum(api_khugepaged(q) for q in reqs) == 0,
      sum(api_khugepaged(q) for q in reqs), 0)

# the split adds up, for every request and window
bad = []
for q in reqs:
    for w in windows(q):
        others = sum(p["stall_ns"] for p in w["by_process"] if not p["this_process"])
        if w["other_processes_stall_ns"] != others or w["more_processes"]:
            bad.append((q["id"], w["other_processes_stall_ns"], others))
check("other_processes_stall_ns == sum of by_process entries not this process", not bad, bad, [])
op = rep["requests"]["prefill"]["other_processes"]
check("prefill: other processes' pid (window summary)", op and op["pid"] == engine,
      op and op["pid"], engine)
sys.exit(0 if checks.ok else 1)
PY

sed -n 's/.*Stall in request #[0-9]* \(\S*\)-0: .*/\1/p' "$TMP/server.out" >"$TMP/stalled"
while read -r rid; do
	grep -m1 -A3 -E "^    $rid +[0-9.]+ [mun]?s  stalls" "$TMP/rep.txt" | sed 's/^/  text: /'
	grep -m1 -E "^    $rid +[0-9.]+ [mun]?s  stalls" "$TMP/rep.txt" | grep -q "in other processes than pid $API (most in pid $ENGINE)" ||
		fail "the text report does not name the engine pid $ENGINE on $rid"
done <"$TMP/stalled"
note "the text report names engine pid $ENGINE on the stalled requests"
