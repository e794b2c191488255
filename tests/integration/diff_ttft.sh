#!/usr/bin/env bash
# diff's verdict weighs the request figures first when both recordings saw requests: the same
# server with a 4x slower prefill (--prefill-us-per-token 200 vs 50, 200-token prompts: about
# 40 ms vs 10 ms to first token) gives a first verdict line on TTFT p99 with the right direction,
# whatever the faults and stalls did. The lines do not repeat the two command lines.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

# run NAME PREFILL_US: records the server answering 20 requests.
run() {
	start_server --kv-mb 1 -q --prefill-us-per-token "$2"
	start_record -p "$SPID" -o "$TMP/$1.data"
	loadgen -n 20 -c 1 --max-tokens 2 --prompt-len 200
	stop_record
	kill -TERM "$SPID"
	wait "$SPID" 2>/dev/null
	"$FL" report -i "$TMP/$1.data" --json >"$TMP/$1.json" || fail "report of $1 failed"
	note "$1: TTFT p99 $(json 'j["requests"]["prefill"]["p99_ns"]' "$TMP/$1.json") ns over" \
		"$(json 'j["requests"]["count"]' "$TMP/$1.json") requests"
}
run slow 200
run fast 50

"$FL" diff --json "$TMP/slow.data" "$TMP/fast.data" >"$TMP/d.json" || fail "diff --json failed"
json '"\n".join(j["verdicts"])' "$TMP/d.json" | sed 's/^/    /'
first=$(json 'j["verdicts"][0] if j["verdicts"] else ""' "$TMP/d.json")
grep -qE '^TTFT p99: .* \(-[0-9]+%\): first tokens came sooner$' <<<"$first" ||
	fail "the first verdict line is not the TTFT p99 drop: '$first'"
"$FL" diff --json "$TMP/fast.data" "$TMP/slow.data" >"$TMP/r.json" || fail "diff --json (reversed) failed"
first=$(json 'j["verdicts"][0] if j["verdicts"] else ""' "$TMP/r.json")
grep -qE '^TTFT p99: .* \(\+[0-9]+%\): first tokens came later$' <<<"$first" ||
	fail "reversed: the first verdict line is not the TTFT p99 rise: '$first'"
check_eq "verdict lines naming server.py (the command lines)" \
	"$(json 'sum("server.py" in v for v in j["verdicts"])' "$TMP/d.json")" 0
"$FL" diff "$TMP/slow.data" "$TMP/fast.data" >"$TMP/d.txt" || fail "text diff failed"
check_eq "text: first line after Verdict" "$(sed -n '/^Verdict$/{n;p;q}' "$TMP/d.txt" | sed 's/ (.*//')" \
	"  TTFT p99: $(json 'j["verdicts"][0]' "$TMP/d.json" | sed 's/ (.*//; s/^TTFT p99: //')"
echo "ok"
