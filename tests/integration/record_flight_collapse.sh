#!/usr/bin/env bash
# record --flight on a memory stall: examples/server.py answers 300 requests, one at a time; the
# 200th does a MADV_COLLAPSE of 512 MiB in its prefill (the others touch no new memory). A
# calibration run of ten requests sets the TTFT threshold from the data (5x the slowest, at least
# 100 ms). Then, with `record --flight 30s --trigger ttft=THR`:
#  - exactly one dump is written, named after request #200, whose id is in the client's log;
#  - the dump holds the slow request, the collapse stalls behind it, and the window before the
#    trigger (the session is younger than --flight, so every request before #200);
#  - its report's verdict names the collapse the server asked for, and request #200.
# The threshold must lie below the stalled request's TTFT as the client measured it: checked.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

KIND=collapse
if grep -q '\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
	KIND=faults # memory is already huge-page backed: there would be nothing to collapse
	note "THP enabled=always: using --stall-kind faults"
fi
start_server -q --kv-mb 0 --churn 0 --stall-requests 200 --stall-kind "$KIND" --stall-mb 512 \
	--stall-faults 131072
loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/calib.jsonl"
THR=$(python3 - "$TMP/calib.jsonl" <<'PY'
import json, sys
t = [json.loads(l)["ttft"] for l in open(sys.argv[1])]
print(max(100, int(5 * 1000 * max(t)) + 1))
PY
)
note "calibration: slowest TTFT of 10 x 5 -> threshold ${THR} ms"

mkdir "$TMP/dumps"
: >"$TMP/rec.err"
"$FL" record -p "$SPID" --flight 30s --trigger "ttft=${THR}ms" --after 1s --min-spacing 0 \
	-o "$TMP/dumps" 2>"$TMP/rec.err" &
RPID=$!
on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
n=$(($(scaled 60 | cut -d. -f1) * 10))
for ((i = 0; i < n; i++)); do
	grep -q 'flight recording:' "$TMP/rec.err" && break
	kill -0 "$RPID" 2>/dev/null || fail "record exited: $(cat "$TMP/rec.err")"
	sleep 0.1
done
grep -q 'flight recording:' "$TMP/rec.err" || fail "record --flight did not start: $(cat "$TMP/rec.err")"
# requests #11-#300; #200 stalls
loadgen -n 290 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/run.jsonl"
for ((i = 0; i < n; i++)); do
	grep -q 'flight: wrote' "$TMP/rec.err" && break
	sleep 0.1
done
sleep 1.5 # a second (wrong) dump would be written 1 s after its trigger
kill -INT "$RPID"
wait "$RPID" || fail "record --flight failed: $(cat "$TMP/rec.err")"
cat "$TMP/rec.err"

SLOW=$(sed -n 190p "$TMP/run.jsonl" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["id"], int(j["ttft"] * 1000))')
read -r SLOW_ID SLOW_MS <<<"$SLOW"
note "request #200 (client's log): $SLOW_ID, TTFT $SLOW_MS ms; threshold $THR ms"
[ "$SLOW_MS" -gt "$THR" ] || fail "the stalled request's TTFT ($SLOW_MS ms) is not above the threshold ($THR ms): this machine is too busy to tell it apart"
mapfile -t dumps < <(find "$TMP/dumps" -mindepth 1)
check_eq "dumps written" "${#dumps[@]}" 1
D=${dumps[0]}
case "$(basename "$D")" in
faultline-[0-9]*T[0-9]*-"$SLOW_ID".data) note "dump: $(basename "$D")" ;;
*) fail "dump named $(basename "$D"), expected faultline-YYYYMMDDTHHMMSS-$SLOW_ID.data" ;;
esac
"$FL" report -i "$D" --json >"$TMP/d.json" || fail "report on the dump failed"
"$FL" report -i "$D" >"$TMP/d.txt" || fail "report (text) on the dump failed"
sed -n '/^Verdict/,/^$/p' "$TMP/d.txt"

PYTHONPATH=$CHECKS_PY python3 - "$TMP" "$SLOW_ID" "$KIND" <<'PY' || fail "see above"
import json, sys
import checks
from checks import check
tmp, slow, kind = sys.argv[1], sys.argv[2], sys.argv[3]
rep = json.load(open(tmp + "/d.json"))
run = [json.loads(l)["id"] for l in open(tmp + "/run.jsonl")]
before = set(run[:189])
reqs = rep["requests"]["list"]
got = {r.get("id") for r in reqs}
check("the slow request is in the dump", slow in got, slow in got, True)
check("requests before the trigger in the dump (the whole session: younger than --flight)",
      len(before & got), len(before & got), len(before))
if kind == "collapse":
    st = rep["stalls"]["khugepaged"]
    asked = (st.get("madv_collapse") or {}).get("count", 0)
    check("MADV_COLLAPSE stalls in the dump (>= 1)", asked >= 1, asked, ">= 1")
    v = rep["verdict"]
    first = v["causes"][0]["class"] if v["causes"] else None
    check("verdict: first cause", first == "madv_collapse", first, "madv_collapse")
    ids = v["causes"][0]["request_ids"] if v["causes"] else []
    check("verdict: the slow request among the first cause's", slow in ids, ids, slow)
sys.exit(0 if checks.ok else 1)
PY
echo "ok"
