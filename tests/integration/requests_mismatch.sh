#!/usr/bin/env bash
# report --requests with a client log that does not belong to the recording: a file none of whose
# requests fall inside it is an error (exit 1, a message saying why); one whose lines name another
# clock than they are read on is named as such; a partial match reports, with the warning in the
# text and the JSON (not only on stderr). And a recording made with --wire=off says the requests
# probe was off instead of "none seen on the wire".
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

start_server --kv-mb 1 -q
start_record -p "$SPID" -o "$TMP/r.data"
loadgen -n 6 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/mono.jsonl"
loadgen -n 4 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/real.jsonl" --clock realtime
stop_record

# another run: the same requests a day later; and half of them so
python3 - "$TMP" <<'PY'
import json, sys
t = sys.argv[1]
lines = [json.loads(l) for l in open(t + "/mono.jsonl")]
def shift(l):
    l = dict(l)
    for k in ("start", "first_token", "end"):
        if l.get(k) is not None:
            l[k] += 86400
    l["id"] = "other-" + str(l.get("id"))
    return l
with open(t + "/other.jsonl", "w") as f:
    for l in lines:
        f.write(json.dumps(shift(l)) + "\n")
with open(t + "/half.jsonl", "w") as f:
    for i, l in enumerate(lines):
        f.write(json.dumps(shift(l) if i % 2 else l) + "\n")
PY

# rep NAME ARGS...: report --requests; sets RC, output in $TMP/NAME.out and .err.
rep() {
	local name=$1
	shift
	"$FL" report -i "$TMP/r.data" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	RC=$?
	note "$name: exit $RC, stderr: $(head -c 300 "$TMP/$name.err")"
}

rep other --requests "$TMP/other.jsonl"
check_eq "report --requests with a file from another run: exit status" "$RC" 1
grep -q 'none of its 6 requests fall inside the recording' "$TMP/other.err" ||
	fail "no message saying why the file from another run was refused"
[ -s "$TMP/other.out" ] && fail "a report was printed for a file that matches nothing"

rep clock --requests "$TMP/real.jsonl"
check_eq "report --requests with realtime lines read as monotonic: exit status" "$RC" 1
grep -q 'its lines name another clock' "$TMP/clock.err" || fail "the error does not point at the lines' clock"

rep half --requests "$TMP/half.jsonl"
check_eq "report --requests with half the requests from another run: exit status" "$RC" 0
grep -q 'WARNING: .*3 of its 6 requests fall outside the recording' "$TMP/half.out" ||
	fail "the text report does not carry the partial-match warning: $(grep -A3 '^Requests' "$TMP/half.out")"
note "half: $(grep 'WARNING' "$TMP/half.out")"
rep halfjson --requests "$TMP/half.jsonl" --json
check_eq "JSON requests.warnings mention the 3 outside" \
	"$(json 'sum("3 of its 6 requests fall outside" in w for w in j["requests"]["warnings"])' "$TMP/halfjson.out")" 1
rep mono --requests "$TMP/mono.jsonl" --json
check_eq "JSON requests.warnings for the run's own log" "$(json 'j["requests"]["warnings"]' "$TMP/mono.out")" "[]"
rep realok --requests "$TMP/real.jsonl" --clock realtime --json
check_eq "realtime lines read with --clock realtime: exit status" "$RC" 0

# --wire=off: the report says the probe was off
start_record -p "$SPID" -o "$TMP/off.data" --wire=off
loadgen -n 2 -c 1 --max-tokens 2 --prompt-len 10
stop_record
"$FL" report -i "$TMP/off.data" >"$TMP/off.txt" 2>/dev/null || fail "report of the --wire=off recording failed"
note "wire off: $(grep -A1 '^Requests' "$TMP/off.txt" | tail -1)"
grep -q 'the requests probe was off (turned off with --wire=off)' "$TMP/off.txt" ||
	fail "the --wire=off report does not say the probe was off"
grep -q 'none seen on the wire' "$TMP/off.txt" && fail "the --wire=off report says 'none seen on the wire'"
echo "ok"
