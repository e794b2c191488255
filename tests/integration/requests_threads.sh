#!/usr/bin/env bash
# Own thread or another: the example server in one process (--layout single), a thread per
# connection. Three requests at once (three connections, three threads); the second to arrive
# stalls in the kernel in its prefill (MADV_COLLAPSE of 16 MiB touched as 4 KiB pages, or where
# THP is "always" a burst of 8000 4 KiB faults). The server's log line says which request, in
# which pid and tid, when (CLOCK_MONOTONIC) and how many faults the thread took. Counted
# against that log:
#   - the stalled request was answered by the logged tid, and shows the stall's faults (and its
#     khugepaged stall time) as its own thread's;
#   - every other request whose window contains the logged stall shows those faults and that
#     stall time as another thread's, not its own (its thread may stall meanwhile on its own
#     account, e.g. a fault waiting for the mmap_lock the collapse holds: that is its own);
#   - the parts add up (faults exactly, stall time to the window's total), and with the client's
#     log given, each request shows the time from the client's start to the server's first read;
#   - where the stall came from (collapse: the server calls kv_collapse() of its own native
#     library, examples/kvops.c): the stalled request lists that call site as its own thread's
#     (JSON stall_sites and the text report), and a request containing the stall lists the same
#     stall time at that site as another thread's, never as its own.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

KIND=collapse
if grep -q '\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
	KIND=faults
	note "THP enabled=always: using --stall-kind faults"
fi
# long decodes (12 tokens, 50 ms apart) keep the other requests open across the stall
start_server -q --kv-mb 1 --stall-requests 2 --stall-kind "$KIND" --stall-mb 16 \
	--stall-faults 8000 --itl-ms 50
start_record -p "$SPID" -o "$TMP/t.data"
loadgen -n 3 -c 3 --max-tokens 12 --prompt-len 20 --jsonl "$TMP/reqs.jsonl"
# the stall's log line is written before the request's first token: it is there by now
grep -q 'Stall in request #2 ' "$TMP/server.out" || fail "no stall logged: $(tail -5 "$TMP/server.out")"
stop_record
"$FL" report -i "$TMP/t.data" --json >"$TMP/rep.json" || fail "report failed"
"$FL" report -i "$TMP/t.data" >"$TMP/rep.txt" || fail "report (text) failed"
"$FL" report -i "$TMP/t.data" --requests "$TMP/reqs.jsonl" --json >"$TMP/repc.json" ||
	fail "report --requests failed"
"$FL" report -i "$TMP/t.data" --requests "$TMP/reqs.jsonl" >"$TMP/repc.txt" ||
	fail "report --requests (text) failed"
grep 'Stall in request' "$TMP/server.out" | sed 's/^.*\] /  server log: /'

PYTHONPATH=$CHECKS_PY python3 - "$TMP" "$SPID" "$KIND" <<'PY' || fail "see above"
import json, re, sys
import checks
from checks import check, bound
tmp, spid, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rep = json.load(open(tmp + "/rep.json"))
reqs = rep["requests"]["list"]

m = None
for line in open(tmp + "/server.out"):
    m = re.search(r"Stall in request #(\d+) (\S+)-0: kind=\S+ [\d.]+ ms, thread minflt \+(\d+) "
                  r".*; pid (\d+) tid (\d+) start=([\d.]+) end=([\d.]+)", line) or m
if not m:
    check("the server's stall log line", False, "missing", "Stall in request #2")
    sys.exit(1)
rid, minflt, pid, tid = m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5))
a, b = float(m.group(6)) * 1e9, float(m.group(7)) * 1e9
print("  log: request %s, pid %d tid %d, %.2f ms, thread minflt +%d" % (rid, pid, tid,
                                                                        (b - a) / 1e6, minflt))
check("requests on the wire", len(reqs) == 3, len(reqs), 3)
check("pid of the stall vs the server's", pid == spid, pid, spid)


def windows(q):
    return [(k, q[k]) for k in ("prefill", "decode") if q[k]]


def tid_stalls(q, w, who):
    """The window's stalls of thread WHO, from the report's per-stall list (slowest); None if
    the window is not listed."""
    for s in rep["requests"][w]["slowest"]:
        if s["id"] == q["id"]:
            return [x for x in s["stalls"] if x["tid"] == who]
    return None


def logged_tid_stall(q, w):
    """The window's stall time of the logged tid."""
    st = tid_stalls(q, w, tid)
    return None if st is None else sum(x["overlap_ns"] for x in st)


print("  %-40s %8s %9s  %-9s %22s %24s" % ("request", "tid", "TTFT ms", "window", "faults own/oth-thr/oth-proc",
                                            "stall ms own/oth-thr/oth-proc"))
for q in reqs:
    for k, w in windows(q):
        t = w["by_thread"]
        print("  %-40s %8d %9.2f  %-9s %22s %24s" % (
            q["id"], q["tid"], q["ttft_ns"] / 1e6, k,
            "/".join(str(t[x]["faults"]) for x in ("own_thread", "other_threads", "other_processes")),
            "/".join("%.2f" % (t[x]["stall_ns"] / 1e6) for x in ("own_thread", "other_threads",
                                                                  "other_processes"))))

# the parts add up, for every request and window
bad = []
for q in reqs:
    for k, w in windows(q):
        t = w["by_thread"]
        parts = [t[x] for x in ("own_thread", "other_threads", "other_processes")]
        if sum(p["faults"] for p in parts) != w["faults"] or \
                sum(p["stall_ns"] for p in parts) != w["stall_ns"] or \
                t["other_processes"]["stall_ns"] != w["other_processes_stall_ns"]:
            bad.append((q["id"], k))
check("windows whose by_thread parts do not add up to faults / stall_ns / other_processes_stall_ns",
      not bad, bad, [])

stalled = next((q for q in reqs if q["id"] == rid), None)
if stalled is None:
    check("the stalled request %s on the wire" % rid, False, "missing", rid)
    sys.exit(1)
check("stalled request: the thread that answered vs the log's tid", stalled["tid"] == tid,
      stalled["tid"], tid)
pre = stalled["prefill"]["by_thread"]
# the burst happens inside the prefill, in the answering thread: all of it its own (1% margin
# for the 1 ms buckets at the window's edges)
check("stalled request: own thread's faults in [start, first token] >= the log's thread minflt",
      pre["own_thread"]["faults"] >= 0.99 * minflt, pre["own_thread"]["faults"], ">= %d" % minflt)
own_logged = logged_tid_stall(stalled, "prefill")
if kind == "collapse":
    check("stalled request: stall time of the logged tid in its prefill (> 0, <= the logged %.2f ms)"
          % ((b - a) / 1e6), own_logged and 0 < own_logged <= b - a + 1e5,
          own_logged, "(0, %d]" % (b - a))
    check("stalled request: own thread's stall time vs the logged tid's stalls",
          pre["own_thread"]["stall_ns"] == own_logged, pre["own_thread"]["stall_ns"], own_logged)

# where the stall came from: the stalled request's own call site names the example's native
# function (examples/kvops.c, loaded by the server when make built it); a request that
# contains the stall lists that site as another thread's, never as its own
KV = "kv_collapse (libkvops.so)"


def kv_sites(q, whose):
    """The request's call sites of collapse stalls through kv_collapse, spent by WHOSE."""
    out = []
    for x in q.get("stall_sites", []):
        if x["whose"] == whose and x["cause"] == "khugepaged" and KV in x["frames"]:
            out.append(x)
    return out


def show_sites(q):
    for x in q.get("stall_sites", []):
        if KV not in x["frames"]:
            continue
        print("  %s %s: %s %d %s stall(s) %.2f ms at %s" % (
            q["id"], x["window"], x["whose"], x["count"], x["cause"], x["stall_ns"] / 1e6,
            " <- ".join(x["frames"][:3])))


if kind == "collapse":
    via = re.search(r"via=(\S+)", m.group(0))
    check("the server's collapse ran in the example's native code (make builds libkvops.so)",
          via and via.group(1) == "kv_collapse", via and via.group(1), "kv_collapse")
    show_sites(stalled)
    own = kv_sites(stalled, "own_thread")
    own_ns = sum(x["stall_ns"] for x in own)
    check("stalled request: own-thread collapse call sites at %s (time in (0, own thread's %d ns])"
          % (KV, pre["own_thread"]["stall_ns"]),
          own and 0 < own_ns <= pre["own_thread"]["stall_ns"], own_ns,
          "(0, %d]" % pre["own_thread"]["stall_ns"])
    check("stalled request: %s as another thread's" % KV, not kv_sites(stalled, "other_threads"),
          len(kv_sites(stalled, "other_threads")), 0)
    whole = rep["stall_stacks"]["khugepaged"]["sites"]
    bad = [x["site"] for x in own if x["site"] >= len(whole) or
           KV not in ["%s (%s)" % (f["symbol"], f["module"].rsplit("/", 1)[-1])
                      for f in whole[x["site"]]["frames"]]]
    check("stalled request: its sites' indexes into stall_stacks.khugepaged.sites name %s" % KV,
          not bad, bad, [])

# the other requests: those whose window contains the logged stall see it as another thread's
containing = 0
for q in reqs:
    if q is stalled:
        continue
    check("request %s: answered by another thread than the stalled one" % q["id"],
          q["tid"] != tid, q["tid"], "!= %d" % tid)
    # the request's two windows are adjacent: [start, first token) + [first token, end)
    if not (q["start_ns"] <= a and b <= q["end_ns"]):
        continue
    containing += 1
    t = {x: {y: sum(w["by_thread"][x][y] for k, w in windows(q)) for y in ("faults", "stall_ns")}
         for x in ("own_thread", "other_threads")}
    check("request %s contains the logged stall: other threads' faults >= the log's thread minflt"
          % q["id"], t["other_threads"]["faults"] >= 0.99 * minflt, t["other_threads"]["faults"],
          ">= %d" % minflt)
    check("request %s: own thread's faults < the log's thread minflt / 2" % q["id"],
          t["own_thread"]["faults"] < minflt / 2, t["own_thread"]["faults"], "< %d" % (minflt / 2))
    if kind == "collapse":
        other = sum(logged_tid_stall(q, k) or 0 for k, w in windows(q))
        check("request %s: other threads' stall time >= the logged tid's stalls in it (%s ns)"
              % (q["id"], other), other and t["other_threads"]["stall_ns"] >= other,
              t["other_threads"]["stall_ns"], ">= %s" % other)
        # its own thread may stall meanwhile too (a fault waiting for the mmap_lock the collapse
        # holds): what must not be its own is the collapse, khugepaged time
        own_by = {}
        for k, w in windows(q):
            for x in tid_stalls(q, k, q["tid"]) or []:
                own_by[x["cause"]] = own_by.get(x["cause"], 0) + x["overlap_ns"]
        print("  request %s: own thread's stalls by cause (ns): %s (all: %d)"
              % (q["id"], own_by or "none", t["own_thread"]["stall_ns"]))
        check("request %s: own thread's khugepaged stall time < the logged tid's" % q["id"],
              other and own_by.get("khugepaged", 0) < other, own_by.get("khugepaged", 0),
              "< %s" % other)
        show_sites(q)
        # its two windows are adjacent and contain the whole stall: the same time, exactly
        oth = sum(x["stall_ns"] for x in kv_sites(q, "other_threads"))
        check("request %s: %s as another thread's, time vs the stalled request's own there"
              % (q["id"], KV), oth and oth == own_ns, oth, own_ns)
        check("request %s: %s not among its own thread's call sites" % (q["id"], KV),
              not kv_sites(q, "own_thread"), len(kv_sites(q, "own_thread")), 0)
check("other requests whose [start, end] contains the logged stall (3 at once, 600 ms decodes)",
      containing >= 1, containing, ">= 1")

# a client log matched to the wire: from the client's start to the server's first read
repc = json.load(open(tmp + "/repc.json"))
client = {json.loads(l)["id"]: json.loads(l) for l in open(tmp + "/reqs.jsonl")}
bad = []
for q in repc["requests"]["list"]:
    c = q.get("client_to_read_ns")
    if c is None or "wire" not in q or c != q["wire"]["start_ns"] - q["start_ns"] or \
            not -bound(2e6) <= c <= q["ttft_ns"]:
        bad.append((q["id"], c))
    else:
        print("  %s: client start to the server's first read %.3f ms (client TTFT %.2f ms)"
              % (q["id"], c / 1e6, q["ttft_ns"] / 1e6))
check("client-log requests without client_to_read_ns = wire start - client start in "
      "[-2 ms, client TTFT]", not bad and len(repc["requests"]["list"]) == 3, bad, [], timing=True)
sys.exit(0 if checks.ok else 1)
PY

rid=$(sed -n 's/.*Stall in request #2 \(\S*\)-0: .*/\1/p' "$TMP/server.out")
line=$(grep -m1 -E "^    $rid +[0-9.]+ [mun]?s  stalls" "$TMP/rep.txt")
echo "  text: $line"
echo "$line" | grep -qE "faults [0-9]+ \(own thread [0-9]+, other threads [0-9]+, other processes [0-9]+\)" ||
	fail "the text report does not split the stalled request's faults by thread"
grep -m1 "from the client's start to the server's first read" "$TMP/repc.txt" | sed 's/^/  text: /' | cut -c1-200
grep -q "from the client's start to the server's first read" "$TMP/repc.txt" ||
	fail "the text report (--requests) does not show the time to the server's first read"
if [ "$KIND" = collapse ]; then
	# under the stalled request in the slowest by TTFT: its own call site, one line
	site=$(grep -m1 -A12 -E "^    $rid +[0-9.]+ [mun]?s  stalls" "$TMP/rep.txt" |
		grep -m1 -E "^      own thread: [0-9]+ khugepaged stalls? [0-9.]+ [mun]?s at .*kv_collapse \(libkvops\.so\)")
	echo "  text: $site"
	[ -n "$site" ] || fail "the text report does not name kv_collapse as the stalled request's own call site"
fi

