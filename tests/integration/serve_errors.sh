#!/usr/bin/env bash
# faultline serve's clear errors: a malformed --listen, a port in use, a target that does not
# exist or exits; and its small HTTP surface (/, /metrics, 404).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
need_root

# expect_error DESC REGEX ARGS...: faultline serve ARGS fails (non-zero) with a message matching REGEX.
expect_error() {
	local desc=$1 re=$2 out rc
	shift 2
	out=$(timeout 60 "$FL" serve "$@" 2>&1 </dev/null)
	rc=$?
	note "$desc: exit $rc: $(head -c 300 <<<"$out")"
	{ [ $rc -ne 0 ] && [ $rc -ne 124 ]; } || fail "$desc: exit status $rc"
	grep -qE -e "$re" <<<"$out" || fail "$desc: message does not match /$re/"
}

true & gone=$!
wait $gone
expect_error "--listen x" "--listen 'x': expected HOST:PORT" -p $$ --listen x
expect_error "--listen 127.0.0.1:99999" "expected HOST:PORT" -p $$ --listen 127.0.0.1:99999
expect_error "--listen 127.0.0.1:" "expected HOST:PORT" -p $$ --listen 127.0.0.1:
expect_error "--listen nosuchhost.invalid:9464" "cannot resolve" -p $$ --listen nosuchhost.invalid:9464
expect_error "no target" "give either -p PID or --match PATTERN"
expect_error "pid that is gone" "pid $gone does not exist" -p $gone

start_workload fault_steady 1
start_serve -p "$WPID"
expect_error "port in use" "address $SERVE_ADDR is in use" -p $$ --listen "$SERVE_ADDR"

http_get "$SERVE_URL/" >"$TMP/root.txt" || fail "GET / failed"
grep -q '/metrics' "$TMP/root.txt" || fail "GET / does not point at /metrics"
http_get "$SERVE_URL/nope" >/dev/null && fail "GET /nope did not fail"
http_get "$SERVE_URL/metrics" >"$TMP/m.txt" || fail "GET /metrics failed"
check_eq "faultline_up while the target lives" "$(metric "$TMP/m.txt" "^faultline_up[{]pid=\"$WPID\"")" 1
note "GET / and /metrics answer, /nope is a 404"

# The target exits: serve -p says so and stops with an error.
finish_workload
for _ in $(seq 100); do kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
kill -0 $SPID 2>/dev/null && fail "serve -p kept running after its target exited"
wait $SPID
rc=$?
note "after the target exited: exit $rc: $(tail -1 "$TMP/serve.err")"
[ $rc -ne 0 ] || fail "serve exited 0 after losing its target"
grep -q 'every target has exited' "$TMP/serve.err" || fail "no clear message when the target exited"
echo "ok"
