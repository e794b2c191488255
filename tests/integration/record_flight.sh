#!/usr/bin/env bash
# record --flight: events stay in memory; a trigger writes one ordinary record file.
# examples/server.py sleeps S ms in the prefill of its requests #13 and #16 (one request at a
# time). A calibration run of ten normal requests sets the TTFT threshold from the data (5x the
# slowest, at least 300 ms, and below S / 2), then with --max-dumps 1:
#  - nothing is written before a trigger (the -o directory stays empty, hidden files included);
#  - request #13 triggers exactly one dump, named after it, its header naming it (id, TTFT,
#    threshold); its report lists the slow request, whose id is in the client's log;
#  - request #16's trigger is logged as suppressed (--max-dumps 1) and writes nothing;
#  - SIGUSR1 writes a dump of the current window (by hand: not bound by --max-dumps);
#  - SIGINT ends the session without a dump (no --dump-on-exit);
#  - a second session: requests #17 and #18 sent together, slow together: one dump holds both.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

S=3000
start_server -q --kv-mb 0 --churn 0 --stall-requests 13,16,17,18 --stall-kind sleep --stall-ms $S
# calibration: requests #1-#10
loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/calib.jsonl"
THR=$(python3 - "$TMP/calib.jsonl" <<'PY'
import json, sys
t = [json.loads(l)["ttft"] for l in open(sys.argv[1])]
print(max(300, int(5 * 1000 * max(t)) + 1))
PY
)
note "calibration: slowest TTFT of 10 x 5 -> threshold ${THR} ms (stalled requests: ${S} ms)"
[ "$THR" -lt $((S / 2)) ] || fail "normal requests are too slow here (threshold $THR ms) to tell a $S ms stall apart"

mkdir "$TMP/dumps"
: >"$TMP/rec.err"
"$FL" record -p "$SPID" --flight 30s --trigger "ttft=${THR}ms" --after 1s --max-dumps 1 \
	--min-spacing 0 -o "$TMP/dumps" 2>"$TMP/rec.err" &
RPID=$!
on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
# wait_for PATTERN WHAT: polls rec.err (generously: CI is busy)
wait_for() {
	local n=$(($(scaled 60 | cut -d. -f1) * 10))
	for _ in $(seq "$n"); do
		grep -q -- "$1" "$TMP/rec.err" && return 0
		kill -0 "$RPID" 2>/dev/null || fail "record exited: $(cat "$TMP/rec.err")"
		sleep 0.1
	done
	fail "$2 (no '$1' in: $(cat "$TMP/rec.err"))"
}
wait_for 'flight recording:' "record --flight did not start"
# requests #11, #12: normal
loadgen -n 2 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/a.jsonl"
sleep 1.5 # a (wrong) dump would be due 1 s after a trigger
n=$(find "$TMP/dumps" -mindepth 1 | wc -l)
check_eq "files in -o before any trigger" 0 "$n"

# requests #13 (slow), #14
loadgen -n 2 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/b.jsonl"
wait_for 'flight: wrote' "no dump after the slow request"
SLOW_ID=$(sed -n 1p "$TMP/b.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
note "slow request (client's log): $SLOW_ID"
mapfile -t dumps < <(find "$TMP/dumps" -mindepth 1)
check_eq "files after the slow request" 1 "${#dumps[@]}"
D=${dumps[0]}
case "$(basename "$D")" in
faultline-[0-9]*T[0-9]*-"$SLOW_ID".data) note "dump: $(basename "$D")" ;;
*) fail "dump named $(basename "$D"), expected faultline-YYYYMMDDTHHMMSS-$SLOW_ID.data" ;;
esac
check_eq "dump mode" 600 "$(stat -c %a "$D")"
"$FL" report -i "$D" --json >"$TMP/d.json" || fail "report on the dump failed"
"$FL" report -i "$D" >"$TMP/d.txt" || fail "report (text) on the dump failed"

# requests #15, #16 (slow): suppressed
loadgen -n 2 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/c.jsonl"
wait_for 'suppressed (--max-dumps 1' "the second slow request's trigger was not logged as suppressed"
SLOW2=$(sed -n 2p "$TMP/c.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
grep "suppressed" "$TMP/rec.err" | grep -qF "$SLOW2" || fail "the suppressed trigger does not name $SLOW2"
check_eq "files after the suppressed trigger" 1 "$(find "$TMP/dumps" -mindepth 1 | wc -l)"

# SIGUSR1: a dump now
kill -USR1 "$RPID"
wait_for 'signal.data' "no dump after SIGUSR1"
check_eq "files after SIGUSR1" 2 "$(find "$TMP/dumps" -mindepth 1 | wc -l)"
U=$(find "$TMP/dumps" -name '*-signal.data')
"$FL" report -i "$U" --json >"$TMP/u.json" || fail "report on the SIGUSR1 dump failed"
kill -INT "$RPID"
wait "$RPID" || fail "record --flight failed: $(cat "$TMP/rec.err")"
cat "$TMP/rec.err"
grep -q '2 dumps, 1 triggers suppressed' "$TMP/rec.err" || fail "the summary does not count 2 dumps and 1 suppressed trigger"
check_eq "files after SIGINT (no --dump-on-exit)" 2 "$(find "$TMP/dumps" -mindepth 1 | wc -l)"

# two slow requests at once: their triggers make one dump
mkdir "$TMP/dumps2"
: >"$TMP/rec.err"
"$FL" record -p "$SPID" --flight 30s --trigger "ttft=${THR}ms" --after 3s -o "$TMP/dumps2" \
	2>"$TMP/rec.err" &
RPID=$!
on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
wait_for 'flight recording:' "record --flight did not start (second session)"
loadgen -n 2 -c 2 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/e.jsonl"
wait_for 'flight: wrote' "no dump after two slow requests"
kill -INT "$RPID"
wait "$RPID" || fail "record --flight failed: $(cat "$TMP/rec.err")"
cat "$TMP/rec.err"
grep -q 'joins the pending dump' "$TMP/rec.err" || fail "the second trigger did not join the first one's dump"
mapfile -t dumps2 < <(find "$TMP/dumps2" -mindepth 1)
check_eq "files after two slow requests together" 1 "${#dumps2[@]}"
"$FL" report -i "${dumps2[0]}" --json >"$TMP/e.json" || fail "report on the joint dump failed"

PYTHONPATH=$CHECKS_PY python3 - "$TMP" "$D" "$SLOW_ID" "$THR" "$S" <<'PY' || fail "see above"
import json, struct, sys
import checks
from checks import check
tmp, path, slow, thr, s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
raw = open(path, "rb").read()
mlen = struct.unpack_from("<Q", raw, 16)[0]
meta = json.loads(raw[24:24 + mlen])
fl = meta.get("flight") or {}
t = fl.get("trigger") or {}
print("header flight:", json.dumps(fl))
check("trigger kind", t.get("kind") == "ttft", t.get("kind"), "ttft")
check("trigger request id", t.get("request_id") == slow, t.get("request_id"), slow)
check("threshold_ms", t.get("threshold_ms") == thr, t.get("threshold_ms"), thr)
check("trigger TTFT above the threshold", thr < (t.get("ttft_ms") or 0) < s * 3, t.get("ttft_ms"),
      "%d..%d" % (thr, s * 3))
check("bound", fl.get("bound") in ("none", "time", "bytes"), fl.get("bound"), "none|time|bytes")
client = [json.loads(l)["id"] for n in ("calib", "a", "b", "c") for l in open("%s/%s.jsonl" % (tmp, n))]
check("trigger id in the client's log", slow in client, slow, "one of %d ids" % len(client))
rep = json.load(open(tmp + "/d.json"))
ids = [q.get("id") for q in rep["requests"]["list"]]
check("the dump's report lists the slow request", slow in ids, ids, slow)
# the window before the trigger: requests #11 and #12 came before it and are in it
a = [json.loads(l)["id"] for l in open(tmp + "/a.jsonl")]
check("the dump holds the requests before the trigger", all(i in ids for i in a), ids, a)
u = json.load(open(tmp + "/u.json"))
check("the SIGUSR1 dump's report lists requests", len(u["requests"]["list"]) > 0,
      len(u["requests"]["list"]), "> 0")
e = json.load(open(tmp + "/e.json"))
eids = [q.get("id") for q in e["requests"]["list"]]
both = [json.loads(l)["id"] for l in open(tmp + "/e.jsonl")]
check("one dump holds both slow requests", all(i in eids for i in both), eids, both)
sys.exit(0 if checks.ok else 1)
PY
