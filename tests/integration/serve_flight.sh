#!/usr/bin/env bash
# serve --flight: serve keeps the full event stream in memory as record --flight does, and a
# ttft trigger writes one ordinary record file while /metrics goes on answering.
# examples/server.py sleeps S ms in the prefill of its request #13 (one request at a time). A
# calibration run of ten normal requests sets the TTFT threshold from the data (5x the slowest,
# at least 300 ms, below S / 2), then:
#  - nothing is written before the trigger (the -o directory stays empty, hidden files too),
#    and /metrics says faultline_flight_dumps_total 0 with the ring's gauges;
#  - request #13 triggers exactly one dump, named after it; faultline report reads it and lists
#    the slow request and the requests before it (the window);
#  - /metrics then says faultline_flight_dumps_total 1, no suppressed trigger, and scrapes still
#    answer; more normal requests write nothing; SIGINT ends serve without another dump.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
. "$(dirname "$0")/requests_common.bash"
need_root

S=3000
start_server -q --kv-mb 0 --churn 0 --stall-requests 13 --stall-kind sleep --stall-ms $S
SRV=$SPID
# calibration: requests #1-#10
loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/calib.jsonl"
THR=$(python3 - "$TMP/calib.jsonl" <<'PY'
import json, sys
t = [json.loads(l)["ttft"] for l in open(sys.argv[1])]
print(max(300, int(5 * 1000 * max(t)) + 1))
PY
)
note "calibration: slowest TTFT of 10 x 5 -> threshold ${THR} ms (stalled request: ${S} ms)"
[ "$THR" -lt $((S / 2)) ] || fail "normal requests are too slow here (threshold $THR ms) to tell a $S ms stall apart"

mkdir "$TMP/dumps"
start_serve -p "$SRV" --flight 30s --trigger "ttft=${THR}ms" --after 1s --min-spacing 0 \
	-o "$TMP/dumps"
SERVE_PID=$SPID
grep -q 'flight recording:' "$TMP/serve.err" || fail "serve --flight did not say it records: $(cat "$TMP/serve.err")"
LIMIT=$(scaled 60 | cut -d. -f1)

# requests #11, #12: normal
loadgen -n 2 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/a.jsonl"
sleep 1.5 # a (wrong) dump would be due 1 s after a trigger
check_eq "files in -o before any trigger" 0 "$(find "$TMP/dumps" -mindepth 1 | wc -l)"
http_get "$SERVE_URL/metrics" >"$TMP/m0.txt" || fail "GET /metrics failed"
check_eq "faultline_flight_dumps_total before the trigger" \
	"$(metric "$TMP/m0.txt" '^faultline_flight_dumps_total\{')" 0
grep -q '^# TYPE faultline_flight_ring_bytes gauge' "$TMP/m0.txt" || fail "no faultline_flight_ring_bytes gauge"
grep -q '^# TYPE faultline_flight_window_seconds gauge' "$TMP/m0.txt" || fail "no faultline_flight_window_seconds gauge"
# the ring holds compressed chunks once one is handed over (every FL_CHUNK_TARGET_MS at most)
for _ in $(seq $((LIMIT * 10))); do
	http_get "$SERVE_URL/metrics" >"$TMP/m0.txt" || fail "GET /metrics failed"
	[ "$(metric "$TMP/m0.txt" '^faultline_flight_ring_bytes\{')" -gt 0 ] && break
	sleep 0.1
done
check_ge "faultline_flight_ring_bytes after 12 requests" "$(metric "$TMP/m0.txt" '^faultline_flight_ring_bytes\{')" 1

# requests #13 (slow), #14
loadgen -n 2 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/b.jsonl"
wait_line "$TMP/serve.err" 'flight: wrote' "$LIMIT" || fail "no dump after the slow request: $(cat "$TMP/serve.err")"
SLOW_ID=$(sed -n 1p "$TMP/b.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
note "slow request (client's log): $SLOW_ID"
mapfile -t dumps < <(find "$TMP/dumps" -mindepth 1)
check_eq "files after the slow request" 1 "${#dumps[@]}"
D=${dumps[0]}
case "$(basename "$D")" in
faultline-[0-9]*T[0-9]*-"$SLOW_ID".data) note "dump: $(basename "$D")" ;;
*) fail "dump named $(basename "$D"), expected faultline-YYYYMMDDTHHMMSS-$SLOW_ID.data" ;;
esac
"$FL" report -i "$D" --json >"$TMP/d.json" || fail "report on the dump failed"
"$FL" report -i "$D" >"$TMP/d.txt" || fail "report (text) on the dump failed"

# scrapes still answer, and count the dump
for i in 1 2 3; do
	http_get "$SERVE_URL/metrics" >"$TMP/m1.txt" || fail "GET /metrics failed after the dump (scrape $i)"
done
check_eq "faultline_up after the dump" "$(metric "$TMP/m1.txt" '^faultline_up\{')" 1
check_eq "faultline_flight_dumps_total after the slow request" \
	"$(metric "$TMP/m1.txt" '^faultline_flight_dumps_total\{')" 1
check_eq "faultline_flight_triggers_suppressed_total" \
	"$(metric "$TMP/m1.txt" '^faultline_flight_triggers_suppressed_total\{')" 0
check_eq "faultline_flight_dumps_failed_total" \
	"$(metric "$TMP/m1.txt" '^faultline_flight_dumps_failed_total\{')" 0
grep -E '^faultline_flight' "$TMP/m1.txt" | sed 's/^/  /'

# requests #15, #16: normal, nothing more is written
loadgen -n 2 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/c.jsonl"
sleep 1.5
kill -INT "$SERVE_PID"
wait "$SERVE_PID" || fail "serve --flight failed: $(cat "$TMP/serve.err")"
grep 'flight' "$TMP/serve.err" | sed 's/^/  /'
grep -q '1 dumps, 0 triggers suppressed' "$TMP/serve.err" || fail "the summary does not count 1 dump and 0 suppressed triggers"
check_eq "files after normal requests and SIGINT" 1 "$(find "$TMP/dumps" -mindepth 1 | wc -l)"

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
rep = json.load(open(tmp + "/d.json"))
ids = [q.get("id") for q in rep["requests"]["list"]]
check("the dump's report lists the slow request", slow in ids, ids, slow)
a = [json.loads(l)["id"] for l in open(tmp + "/a.jsonl")]
check("the dump holds the requests before the trigger", all(i in ids for i in a), ids, a)
sys.exit(0 if checks.ok else 1)
PY
