#!/usr/bin/env bash
# faultline serve --match: waits for a matching process, attaches, reports faultline_up 0 when it
# exits, re-attaches to the next one. Counters never go backwards within a target's series (its
# pid label), and a new target's series start at 0 (issue #14: the old server's counts must not
# appear under the new pid): the second process's count is at most its own faults (/proc).
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
	for _ in $(seq 150); do
		scrape
		[ "$(up_pid)" = "$1 $2" ] && return 0
		sleep 0.1
	done
	cat "$TMP/serve.err"
	fail "faultline_up never became '$1' for pid $2 (last: $(up_pid))"
}
# wait_faults MIN: until the scraped fault counters reach MIN.
wait_faults() {
	for _ in $(seq 300); do
		scrape
		[ "$(faults)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "the fault counters never reached $1 (last: $(faults))"
}
# proc_faults PID: minflt + majflt of PID so far.
proc_faults() {
	local s
	s=$(<"/proc/$1/stat") || fail "cannot read /proc/$1/stat"
	# shellcheck disable=SC2086 # split on purpose
	set -- ${s##*) }
	echo $(($8 + ${10}))
}
# start_marked NAME RATE: fault_steady at RATE faults/s with $MARK-NAME as its argv[0]; sets MPID.
start_marked() {
	(exec -a "$MARK-$1" "$WL/fault_steady" 1 --rate "$2" </dev/null >"$TMP/$1.out") &
	MPID=$!
	on_exit "kill -9 $MPID 2>/dev/null; wait $MPID 2>/dev/null"
}

start_serve --match "$MARK"
grep -q "no process matches '$MARK' yet" "$TMP/serve.err" || fail "no 'waiting' message"
scrape
check_eq "faultline_up before any match" "$(metric "$TMP/m.txt" '^faultline_up')" 0

start_marked A 5000
A=$MPID
wait_up 1 "$A"
wait_faults 20000
c1=$(faults)
check_ge "faults counted for the first process" "$c1" 20000

kill $A
wait $A 2>/dev/null
wait_up 0 "$A"
c2=$(faults)
check_ge "counter after it exited (was $c1)" "$c2" "$c1"

# B faults slowly: its own total stays far below A's count, however long the attach takes.
start_marked B 500
B=$MPID
wait_up 1 "$B"
c3=$(faults)
own=$(proc_faults "$B")
note "pid $B (new series): faultline says $c3, the kernel counted $own for it in all"
[ "$c3" -le "$own" ] || fail "the new pid's series starts with the old one's counts: $c3 > $own faults pid $B made"
grep -q "faultline_page_faults_total{pid=\"$B\"" "$TMP/m.txt" || fail "no series labelled pid $B"
wait_faults $((c3 + 200))
c4=$(faults)
check_ge "faults of the second process counted on in its series" "$c4" $((c3 + 200))
for m in "attached to pid $A" "pid $A exited; waiting" "attached to pid $B"; do
	grep -q "$m" "$TMP/serve.err" || fail "serve did not say '$m'"
done
note "serve said: $(paste -sd '|' "$TMP/serve.err")"
echo "ok"
