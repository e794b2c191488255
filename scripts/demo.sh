#!/usr/bin/env bash
# make demo: start the example inference server in vLLM V1's shape (an API process that owns the
# HTTP socket and an engine process that holds the memory), attach `faultline record --children`
# to the API process as a user would to `vllm serve`, drive it with the load generator while
# memory is under pressure and a few requests stall in the kernel (in the engine), stop faultline
# with SIGINT and print the report with its requests section.
# Bounded (about a minute); everything it starts is stopped on exit. Needs root (BPF).
set -euo pipefail
cd "$(dirname "$0")/.."
FL=./.output/faultline
N=${DEMO_REQUESTS:-200}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: faultline needs root (or CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN): run 'sudo make demo'" >&2
	exit 1
fi
[ -x "$FL" ] || { echo "demo: $FL is not built (run make)" >&2; exit 1; }
OUT=$(mktemp -d /tmp/faultline-demo.XXXXXX)
SPID='' RPID=''
cleanup() {
	[ -n "$RPID" ] && kill -INT "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	[ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE REGEX SECONDS PID: until FILE has a line matching REGEX while PID lives.
wait_for() {
	for _ in $(seq $(($3 * 10))); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || { echo "demo: exited early:" >&2; tail -5 "$1" >&2; exit 1; }
		sleep 0.1
	done
	echo "demo: timed out waiting for '$2' in $1" >&2
	exit 1
}

echo "== starting examples/server.py: API process + engine process (KV in MADV_HUGEPAGE memory, memory pressure thread)"
python3 examples/server.py --port 0 -q --kv-mb 16 --thp madvise --pressure --pressure-mb 128 \
	--stall-header --weights "$OUT/weights.bin" --weights-mb 32 >"$OUT/server.out" 2>&1 &
SPID=$!
wait_for "$OUT/server.out" '^listening on' 60 "$SPID"
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/server.out")
grep '^engine: ' "$OUT/server.out" || true
# As a user finds `vllm serve`: the oldest process whose command line matches is the API
# process (the engine is its child, with the same command line); $OUT keeps other servers out.
API=$(pgrep -o -f "server.py .*$OUT/weights.bin")
[ "$API" = "$SPID" ] || { echo "demo: pgrep found pid '$API', not the server's $SPID" >&2; exit 1; }

echo "== faultline record -p $API --children -o $OUT/demo.data  (pgrep -o -f server.py: the API process)"
"$FL" record -p "$API" --children -o "$OUT/demo.data" 2>"$OUT/record.err" &
RPID=$!
wait_for "$OUT/record.err" 'recording to' 30 "$RPID"

echo "== loadgen: $N requests, 4 at a time; requests 20, 90 and 160 ask for a MADV_COLLAPSE stall (in the engine)"
python3 examples/loadgen.py --url "http://127.0.0.1:$PORT" -n "$N" -c 4 --max-tokens 16 \
	--prompt-len 200 --stall-index 20,90,160 --stall-kind collapse --max-seconds 40 \
	--save-result "$OUT/bench.json" --jsonl "$OUT/reqs.jsonl" -q || true

kill -INT "$RPID"
wait "$RPID" || true
RPID=
tail -1 "$OUT/record.err"
grep '^INFO .*Stall in request' "$OUT/server.out" | sed 's/^.*\] /server: /' || true
echo
"$FL" report -i "$OUT/demo.data" --requests "$OUT/bench.json"
echo
echo "demo: files in $OUT (demo.data, bench.json, reqs.jsonl); try:"
echo "  $FL report -i $OUT/demo.data                # requests as seen on the wire"
echo "  $FL report -i $OUT/demo.data --json | python3 -m json.tool | less"
