# The rules Perfetto's JSON importer enforces on `faultline report --perfetto`, and the trace's
# counts against the report's JSON (imported by report_views.sh, not a test itself).
#   python3 trace_check.py TRACE.json REPORT.json NAME
import collections
import json
import sys

import checks
from checks import check


def ns(us):
    return int(round(us * 1000))


def check_trace(trace_path, rep_path, name):
    t = json.load(open(trace_path))
    rep = json.load(open(rep_path))
    ev = t["traceEvents"]
    phases = collections.Counter(e["ph"] for e in ev)
    print("%s: %d events %s, metadata %s" % (name, len(ev), dict(phases), t["metadata"]))
    bad = [e for e in ev if e["ph"] not in "MXCbesf"]
    check(name + ": phases are M X C b e s f", not bad, len(bad), 0)
    bad = [e for e in ev if not isinstance(e.get("pid"), int) or not isinstance(e.get("tid"), int)]
    check(name + ": pid and tid on every event", not bad, len(bad), 0)
    timed = [e for e in ev if e["ph"] != "M"]
    bad = [e for e in timed if not isinstance(e.get("ts"), (int, float)) or e["ts"] < 0]
    check(name + ": ts (us from the start, >= 0) on every timed event", not bad, len(bad), 0)
    xs = [e for e in ev if e["ph"] == "X"]
    bad = [e for e in xs if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0]
    check(name + ": dur on every X", not bad, len(bad), 0)
    dur_s = max([ns(e["ts"]) for e in timed] + [0]) / 1e9
    check(name + ": timestamps in us (last event within the session)",
          dur_s <= rep["session"]["duration_s"] + 60, round(dur_s, 3),
          "<= %.3f s + 60" % rep["session"]["duration_s"])

    procs = {e["pid"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]) for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    bad = {e["pid"] for e in timed if e["pid"] not in procs}
    check(name + ": every process named by an M event", not bad, sorted(bad), [])
    bad = {(e["pid"], e["tid"]) for e in xs if (e["pid"], e["tid"]) not in threads}
    check(name + ": every thread with slices named by an M event", not bad, sorted(bad), [])

    overlaps = 0
    by_thread = collections.defaultdict(list)
    for e in xs:
        by_thread[(e["pid"], e["tid"])].append((ns(e["ts"]), ns(e["dur"])))
    for sl in by_thread.values():
        sl.sort()
        for (a, da), (b, db) in zip(sl, sl[1:]):
            overlaps += b < a + da
    check(name + ": X slices on one thread never overlap", overlaps == 0, overlaps, 0)

    opened, bad = collections.Counter(), 0
    for e in sorted((e for e in ev if e["ph"] in "be"), key=lambda e: (ns(e["ts"]), e["ph"] == "b")):
        k = (e.get("cat"), e.get("id"), e["name"])
        if e["ph"] == "b":
            opened[k] += 1
        elif opened[k] > 0:
            opened[k] -= 1
        else:
            bad += 1
    bad += sum(opened.values())
    check(name + ": async b/e pair up by id", bad == 0, bad, 0)

    # flow arrows: a start and an end per id, each inside an X slice of its own thread
    ends = collections.defaultdict(list)
    for e in ev:
        if e["ph"] in "sf":
            ends[e["id"]].append(e)
    bad = [i for i, v in ends.items() if sorted(e["ph"] for e in v) != ["f", "s"]]
    check(name + ": flows with one start and one end", not bad, len(bad), 0)
    unbound = 0
    for v in ends.values():
        for e in v:
            unbound += not any(a <= ns(e["ts"]) <= a + d for a, d in by_thread.get((e["pid"], e["tid"]), []))
    check(name + ": flow ends inside a slice of their thread", unbound == 0, unbound, 0)
    stalled = sum(1 for e in ev if e["ph"] == "b" and e.get("args", {}).get("stall_ms_in_ttft", 0) > 0)
    check(name + ": flows when stalls overlapped first-token windows", (len(ends) > 0) == (stalled > 0),
          len(ends), "> 0" if stalled else 0)

    stalls = collections.Counter(e["args"]["cause"] for e in xs if e.get("cat") == "stall")
    for cause, s in rep["stalls"].items():
        if s is not None:
            check(name + ": %s slices" % cause, stalls[cause] == s["count"], stalls[cause],
                  s["count"])
    if rep.get("pinned"):
        n = sum(1 for e in xs if e.get("cat") == "pinned")
        check(name + ": pinned-call slices", n == len(rep["pinned"]["calls"]), n,
              len(rep["pinned"]["calls"]))
    if rep.get("alloc") and rep["alloc"].get("slow_calls") is not None:
        n = sum(1 for e in xs if e.get("cat") == "alloc")
        check(name + ": allocator-call slices", n == len(rep["alloc"]["slow_calls"]), n,
              len(rep["alloc"]["slow_calls"]))

    reqs = {e["id"] for e in ev if e["ph"] == "b" and e["name"] != "to first token"}
    want = (rep["requests"]["count"] if rep["requests"] else 0) - t["metadata"]["requests_dropped_cap"]
    check(name + ": requests (async slices)", len(reqs) == want, len(reqs), want)

    rss = collections.Counter(e["pid"] for e in ev if e["ph"] == "C" and e["name"] == "RSS")
    for r in rep["rss"]:
        ok = (rss[r["pid"]] >= 1) == (r["samples"] >= 1) and rss[r["pid"]] <= r["samples"]
        check(name + ": RSS points of pid %d" % r["pid"], ok, rss[r["pid"]],
              "1..%d" % r["samples"])
    pts = sorted((ns(e["ts"]), e["args"]["faults"]) for e in ev
                 if e["ph"] == "C" and e["name"] == "faults per ms")
    total = sum(v * (b[0] - a[0]) / 1e6 for a, b in zip(pts, pts[1:]) for v in [a[1]])
    want = rep["faults"]["total"]
    check(name + ": faults per ms, integrated over time", abs(total - want) <= max(1, want * 1e-6),
          round(total, 1), want)
    per = collections.defaultdict(list)
    for e in ev:
        if e["ph"] == "C" and e["name"].startswith("faults per ms, tid "):
            per[(e["pid"], e["name"])].append((ns(e["ts"]), e["args"]["faults"]))
    total = 0
    for pts in per.values():
        pts.sort()
        total += sum(a[1] * (b[0] - a[0]) / 1e6 for a, b in zip(pts, pts[1:]))
    open_end = sum(1 for pts in per.values() if pts[-1][1] != 0)
    check(name + ": per-thread fault counters that end above 0", open_end == 0, open_end, 0)
    want = rep["faults"]["total"]
    if not t["metadata"]["thread_faults_capped"]:
        check(name + ": faults per ms of %d threads, integrated" % len(per),
              abs(total - want) <= max(1, want * 1e-6), round(total, 1), want)
    return t


if __name__ == "__main__":
    check_trace(sys.argv[1], sys.argv[2], sys.argv[3])
    sys.exit(0 if checks.ok else 1)
