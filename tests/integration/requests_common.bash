# Helpers for the requests_*.sh tests (sourced after tests/lib.sh; not a test itself). They start
# examples/server.py, record it with faultline, drive examples/loadgen.py and compare.
# shellcheck disable=SC2034 # CHECKS_PY, TOL_MS and the helpers are for the tests that source this file

EX=$ROOT/examples
CHECKS_PY=$ROOT/tests/integration # checks.py: check() for the tests' Python comparisons
# Client and server run at a real-time priority when chrt is there: the comparison is with the
# client's own clock, which a busy 2-core machine would otherwise delay by milliseconds. Not in
# the emulated VM (scripts/vmtest.sh), where real-time Python can starve the guest's kernel.
RT=()
[ -z "${FAULTLINE_IN_VM:-}" ] && command -v chrt >/dev/null && chrt -f 10 true 2>/dev/null &&
	RT=(chrt -f 10)

# start_server ARGS...: examples/server.py on a free port; sets SPID, PORT. Killed on exit.
# One process (--layout single): these tests record SPID alone; example_v1.sh tests the V1 layout.
start_server() {
	: >"$TMP/server.out"
	"${RT[@]}" python3 "$EX/server.py" --layout single --port 0 --weights "$TMP/weights.bin" \
		--weights-mb 8 "$@" >"$TMP/server.out" 2>&1 &
	SPID=$!
	on_exit "kill -TERM $SPID 2>/dev/null; wait $SPID 2>/dev/null"
	wait_listening 30
}

# wait_listening SECONDS: waits (scaled) for server.py (SPID) to print its port in
# $TMP/server.out; sets PORT. Fails when it exits first or does not print it in time.
wait_listening() {
	local i
	for i in $(seq "$(printf %.0f "$(scaled "$1")")0"); do
		grep -q '^listening on' "$TMP/server.out" && break
		kill -0 "$SPID" 2>/dev/null || fail "server.py exited early: $(tail -5 "$TMP/server.out")"
		sleep 0.1
	done
	PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/server.out")
	[ -n "$PORT" ] || fail "server.py did not print 'listening on' in time: $(tail -5 "$TMP/server.out")"
}

# start_record ARGS...: faultline record in the background, returns once it is recording.
start_record() {
	: >"$TMP/rec.err" # a second recording must not see the first one's 'recording to'
	"$FL" record "$@" 2>"$TMP/rec.err" &
	RPID=$!
	on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
	for _ in $(seq 300); do
		grep -q 'recording to' "$TMP/rec.err" && return 0
		kill -0 "$RPID" 2>/dev/null || fail "faultline record exited: $(cat "$TMP/rec.err")"
		sleep 0.1
	done
	fail "faultline record did not start within 30 s: $(cat "$TMP/rec.err")"
}

stop_record() {
	kill -INT "$RPID"
	wait "$RPID" || fail "faultline record failed: $(cat "$TMP/rec.err")"
}

# loadgen ARGS...: examples/loadgen.py against the server.
loadgen() {
	"${RT[@]}" python3 "$EX/loadgen.py" --url "http://127.0.0.1:$PORT" -q "$@" >>"$TMP/loadgen.out" 2>&1 ||
		fail "loadgen failed: $(tail -5 "$TMP/loadgen.out")"
}

# record_stalled DATA JSONL: a server whose requests #3 and #7 (loadgen indices 2 and 6, one
# request at a time) stall in the kernel in their prefill, recorded into DATA while loadgen sends
# ten requests (the client's view in JSONL). Sets KIND: "collapse" (MADV_COLLAPSE of 16 MiB), or
# "faults" where THP is "always" and fresh memory is huge already (8000 4 KiB faults instead).
# Sets SPID and PORT as start_server does; the server is left running.
record_stalled() {
	KIND=collapse
	if grep -q '\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
		KIND=faults
		note "THP enabled=always: using --stall-kind faults"
	fi
	start_server -q --kv-mb 1 --stall-requests 3,7 --stall-kind "$KIND" --stall-mb 16 \
		--stall-faults 8000
	start_record -p "$SPID" -o "$1"
	loadgen -n 10 -c 1 --max-tokens 4 --prompt-len 20 --jsonl "$2"
	stop_record
}

# The timing tolerance on real hardware; the Python checks widen it in the emulated VM through
# checks.bound() (tests/integration/checks.py, the one VM policy).
TOL_MS=2
