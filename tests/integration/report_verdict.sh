#!/usr/bin/env bash
# The verdict at the top of the report. Three recordings of examples/server.py, one request at a
# time (loadgen indices 2 and 6 are the server's requests #3 and #7):
#  - requests #3 and #7 do MADV_COLLAPSE of 16 MiB in their prefill: the verdict must name the
#    forced collapses, and exactly those two requests as the ones memory made slow;
#  - requests #3 and #7 sleep 150 ms instead (a slow tail that is not memory): "not the cause";
#  - the server recorded with no requests at all: "no request", with valid JSON;
#  - the first recording cut in half: a verdict that says the file is cut short.
# The requests are the client's (loadgen --jsonl, given with --requests): all ten, whatever the
# wire probe saw.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

# 1. forced collapses
record_stalled "$TMP/collapse.data" "$TMP/collapse.jsonl"
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
"$FL" report -i "$TMP/collapse.data" --requests "$TMP/collapse.jsonl" --json >"$TMP/collapse.json" || fail "report --json failed"
"$FL" report -i "$TMP/collapse.data" --requests "$TMP/collapse.jsonl" >"$TMP/collapse.txt" || fail "report failed"
head -1 "$TMP/collapse.txt" | grep -qx 'Verdict' || fail "the report does not start with the verdict"
sed -n '1,/^$/p' "$TMP/collapse.txt"

# 2. a slow tail that is not memory: sleeps
start_server -q --kv-mb 0 --churn 0 --stall-requests 3,7 --stall-kind sleep --stall-ms 150
# 3. the same server, recorded while idle
start_record -p "$SPID" -o "$TMP/idle.data"
stop_record
start_record -p "$SPID" -o "$TMP/sleep.data"
loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/sleep.jsonl"
stop_record
"$FL" report -i "$TMP/sleep.data" --requests "$TMP/sleep.jsonl" --json >"$TMP/sleep.json" || fail "report --json (sleep) failed"
"$FL" report -i "$TMP/idle.data" --json >"$TMP/idle.json" || fail "report --json (idle) failed"

# 4. cut short
size=$(stat -c %s "$TMP/collapse.data")
head -c $((size / 2)) "$TMP/collapse.data" >"$TMP/cut.data"
"$FL" report -i "$TMP/cut.data" --json >"$TMP/cut.json" 2>/dev/null || fail "report --json (cut) failed"
"$FL" report -i "$TMP/cut.data" >"$TMP/cut.txt" 2>/dev/null || fail "report (cut) failed"

# requests and no memory stall: a valid trace and page too
"$FL" report -i "$TMP/sleep.data" --requests "$TMP/sleep.jsonl" --perfetto "$TMP/sleep.trace.json" --html "$TMP/sleep.html" ||
	fail "report --perfetto --html (sleep) failed"
PYTHONPATH=$CHECKS_PY python3 "$CHECKS_PY/trace_check.py" "$TMP/sleep.trace.json" \
	"$TMP/sleep.json" sleep || fail "trace of sleep: see above"
grep -q 'Memory is not the cause' "$TMP/sleep.html" || fail "the page has no verdict"

PYTHONPATH=$CHECKS_PY python3 - "$TMP" "$KIND" <<'PY' || fail "see above"
import json, sys
import checks
from checks import check
tmp, kind = sys.argv[1], sys.argv[2]

def load(name):
    rep = json.load(open("%s/%s.json" % (tmp, name)))
    v = rep["verdict"]
    print("%s: %s" % (name, "\n    ".join(v["text"])))
    return rep, v

def ids(name, want_idx):
    return sorted(json.loads(l)["id"] for l in open("%s/%s.jsonl" % (tmp, name))
                  if json.loads(l)["index"] in want_idx)

rep, v = load("collapse")
want = ids("collapse", {2, 6})
cls = "madv_collapse" if kind == "collapse" else "fault"
timed = kind == "collapse" or rep["probes"]["fault_duration"]["status"] == "ok"
if timed:
    check("collapse: verdict kind", v["kind"] in ("memory", "some_requests"), v["kind"],
          "memory or some_requests")
    first = v["causes"][0]["class"] if v["causes"] else None
    check("collapse: first cause", first == cls, first, cls)
    got = sorted(s["id"] for s in v["stalled_requests"]["slowest"])
    check("collapse: requests memory made slow", got == want, got, want)
    got = sorted(v["causes"][0]["request_ids"]) if v["causes"] else []
    check("collapse: requests the first cause explains", got == want, got, want)
    check("collapse: the text names the call", "MADV_COLLAPSE" in " ".join(v["text"]),
          "MADV_COLLAPSE" in " ".join(v["text"]), True)
else:
    print("  fault stalls untimed on this kernel: the cause check needs fault durations")

rep, v = load("sleep")
check("sleep: verdict kind", v["kind"] == "not_memory", v["kind"], "not_memory")
check("sleep: text", v["text"][0].startswith("Memory is not the cause"), v["text"][0][:40],
      "Memory is not the cause...")
check("sleep: tail requests", v["tail"]["count"] >= 2, v["tail"]["count"], ">= 2")

rep, v = load("idle")
check("idle: verdict kind", v["kind"] == "no_requests", v["kind"], "no_requests")
check("idle: requests", v["requests"] == 0, v["requests"], 0)

rep, v = load("cut")
check("cut: truncated", rep["session"]["truncated"] and v["truncated"], v["truncated"], True)
check("cut: text says so", "cut short" in v["text"][-1], v["text"][-1][:50], "...cut short...")
sys.exit(0 if checks.ok else 1)
PY
