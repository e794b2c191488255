#!/usr/bin/env bash
# SIGHUP (a terminal closed, an ssh session dropped) stops record as Ctrl-C does: exit 0 and a
# complete file, trailer included, that reports "hangup (SIGHUP)" as its stop reason. Both for
# -p PID and for a command record started (which record then stops itself); and top --batch.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

# hup_and_check LABEL: SIGHUP to the running record ($RPID), then checks its status and file.
hup_and_check() {
	local label=$1 data=$2 rc limit
	limit=$(scaled 300)
	kill -HUP "$RPID"
	for _ in $(seq "${limit%.*}"); do
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$RPID" 2>/dev/null && { cat "$TMP/rec.err"; fail "$label: record still running 30 s after SIGHUP"; }
	wait "$RPID"
	rc=$?
	note "$label: record stderr: $(tr '\r' '\n' <"$TMP/rec.err" | grep -v '^ *$' | tail -2 | paste -sd '|')"
	# A started command is stopped with SIGTERM: record may pass its status on (143).
	[ "$label" = cmd ] && [ "$rc" = 143 ] && rc=0
	check_eq "$label: record's exit status after SIGHUP (0, or 143 from the command it stopped)" "$rc" 0
	report_json "$data" "$TMP/$label.json"
	check_eq "$label: session.truncated (no trailer)" "$(json 'j["session"]["truncated"]' "$TMP/$label.json")" False
	check_eq "$label: stop_reason" "$(json 'j["session"]["stop_reason"]' "$TMP/$label.json")" "hangup (SIGHUP)"
	"$FL" report -i "$data" >"$TMP/$label.txt" 2>"$TMP/$label.rep.err" || fail "$label: report failed"
	grep -q 'WARNING: .*truncated' "$TMP/$label.txt" && fail "$label: the text report says the file is truncated"
	note "$label: $(grep -m1 'stopped:' "$TMP/$label.txt")"
}

start_workload fault_steady 1 --rate 2000
start_record -p "$WPID" -o "$TMP/pid.data"
go
hup_and_check pid "$TMP/pid.data"

# record -- COMMAND: the command keeps running until record stops it, as after Ctrl-C.
start_record -o "$TMP/cmd.data" -- sleep 6007
hup_and_check cmd "$TMP/cmd.data"
pgrep -f '^sleep 6007$' >/dev/null && fail "cmd: the command outlived record"

# top --batch stops on SIGHUP as on Ctrl-C too (exit 0), once it has drawn a frame.
"$FL" top -p "$WPID" --batch -i 0.2 >"$TMP/top.out" 2>"$TMP/top.err" &
TPID=$!
on_exit "kill -INT $TPID 2>/dev/null; wait $TPID 2>/dev/null"
wait_line "$TMP/top.out" 'faultline top' 60 || { cat "$TMP/top.err"; fail "top --batch drew no frame"; }
kill -HUP "$TPID"
limit=$(scaled 300)
for _ in $(seq "${limit%.*}"); do
	kill -0 "$TPID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$TPID" 2>/dev/null && fail "top --batch still running 30 s after SIGHUP"
wait "$TPID"
check_eq "top --batch's exit status after SIGHUP" "$?" 0
echo "ok"
