#!/usr/bin/env bash
# faultline serve --match: waits for a matching process, attaches, reports faultline_up 0 when it
# exits, re-attaches to the next one, and its counters never go backwards (Prometheus counters).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
need_root

MARK=fl-match-$$
scrape() { http_get "$SERVE_URL/metrics" >"$TMP/m.txt" || fail "GET /metrics failed"; }
faults() { awk '$1 ~ /^faultline_page_faults_total[{]/ { s += $2 } END { print s + 0 }' "$TMP/m.txt"; }
up_pid() { sed -n 's/^faultline_up{pid="\([0-9]*\)".*} \([01]\)$/\2 \1/p' "$TMP/m.txt"; }
# wait_up STATE PID: until /metrics says faultline_up{pid=PID} STATE.
wait_up() {
	local i
	for i in $(seq 150); do
		scrape
		[ "$(up_pid)" = "$1 $2" ] && return 0
		sleep 0.1
	done
	cat "$TMP/serve.err"
	fail "faultline_up never became '$1' for pid $2 (last: $(up_pid))"
}
# start_marked NAME: fault_steady at 5000 faults/s with $MARK-NAME as its argv[0]; sets MPID.
start_marked() {
	(exec -a "$MARK-$1" "$WL/fault_steady" 1 --rate 5000 </dev/null >"$TMP/$1.out") &
	MPID=$!
	on_exit "kill -9 $MPID 2>/dev/null; wait $MPID 2>/dev/null"
}

start_serve --match "$MARK"
grep -q "no process matches '$MARK' yet" "$TMP/serve.err" || fail "no 'waiting' message"
scrape
check_eq "faultline_up before any match" "$(metric "$TMP/m.txt" '^faultline_up')" 0

start_marked A
A=$MPID
wait_up 1 "$A"
sleep 1
scrape
c1=$(faults)
check_ge "faults counted for the first process" "$c1" 1000

kill $A
wait $A 2>/dev/null
wait_up 0 "$A"
c2=$(faults)
check_ge "counter after it exited (was $c1)" "$c2" "$c1"

start_marked B
B=$MPID
wait_up 1 "$B"
c3=$(faults)
check_ge "counter after re-attaching (was $c2)" "$c3" "$c2"
sleep 1.5
scrape
c4=$(faults)
check_ge "faults of the second process counted on top ($c3 + 5000/s)" "$c4" $((c3 + 2000))
for m in "attached to pid $A" "pid $A exited; waiting" "attached to pid $B"; do
	grep -q "$m" "$TMP/serve.err" || fail "serve did not say '$m'"
done
note "serve said: $(paste -sd '|' "$TMP/serve.err")"
echo "ok"
