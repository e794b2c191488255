#!/usr/bin/env bash
# record -- CMD exits with CMD's status, like time(1) and perf record (issue #14): 7 for
# 'exit 7', 128+N for a command killed by signal N, 0 for success; the file is written and
# complete (it has its trailer) in every case.
. "$(dirname "$0")/../lib.sh"
need_root

# run WANT DESC CMD...: record -- CMD must exit WANT and leave a complete file.
run() {
	local want=$1 desc=$2 rc stop
	shift 2
	"$FL" record -o "$TMP/r.data" -- "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	check_eq "record -- $desc: exit status" "$rc" "$want"
	"$FL" report -i "$TMP/r.data" --json >"$TMP/r.json" 2>"$TMP/rep.err" ||
		fail "$desc: report of the file failed: $(cat "$TMP/rep.err")"
	stop=$(json 'j["session"]["stop_reason"]' "$TMP/r.json")
	# the stop reason lives in the trailer: present only when the file was closed properly
	check_eq "$desc: the file's stop reason (trailer written)" "$stop" "targets exited"
	rm -f "$TMP/r.data"
}

run 7 "sh -c 'exit 7'" sh -c 'exit 7'
run 0 "true" true
run $((128 + 10)) "sh -c 'kill -USR1 \$\$' (signal 10)" sh -c 'kill -USR1 $$'
grep -q "killed by signal 10" "$TMP/err" || fail "record does not say the command was killed: $(cat "$TMP/err")"
echo "ok"
