#!/usr/bin/env bash
# make demo: start the example inference server, attach `faultline record --children` to it,
# drive it with the load generator while memory is under pressure and a few requests stall in
# the kernel, stop faultline with SIGINT and print the report with its requests section.
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

echo "== starting examples/server.py (KV in MADV_HUGEPAGE memory, memory pressure thread)"
python3 examples/server.py --port 0 -q --kv-mb 16 --thp madvise --pressure --pressure-mb 128 \
	--stall-header --weights "$OUT/weights.bin" --weights-mb 32 >"$OUT/server.out" 2>&1 &
SPID=$!
wait_for "$OUT/server.out" '^listening on' 60 "$SPID"
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/server.out")

echo "== faultline record -p $SPID --children -o $OUT/demo.data"
"$FL" record -p "$SPID" --children -o "$OUT/demo.data" 2>"$OUT/record.err" &
RPID=$!
wait_for "$OUT/record.err" 'recording to' 30 "$RPID"

echo "== loadgen: $N requests, 4 at a time; requests 20, 90 and 160 ask for a MADV_COLLAPSE stall"
python3 examples/loadgen.py --url "http://127.0.0.1:$PORT" -n "$N" -c 4 --max-tokens 16 \
	--prompt-len 200 --stall-index 20,90,160 --stall-kind collapse --max-seconds 40 \
	--save-result "$OUT/bench.json" --jsonl "$OUT/reqs.jsonl" -q || true

kill -INT "$RPID"
wait "$RPID" || true
RPID=
tail -1 "$OUT/record.err"
echo
"$FL" report -i "$OUT/demo.data" --requests "$OUT/bench.json"
echo
echo "demo: files in $OUT (demo.data, bench.json, reqs.jsonl); try:"
echo "  $FL report -i $OUT/demo.data                # requests as seen on the wire"
echo "  $FL report -i $OUT/demo.data --json | python3 -m json.tool | less"
