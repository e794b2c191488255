#!/usr/bin/env bash
# faultline report --perfetto and --html against the report's own JSON. examples/server.py with 4
# concurrent requests (they overlap: async slices, not X slices on one thread) of which two do a
# MADV_COLLAPSE; the same server recorded idle (no requests); the first recording cut in half.
# The trace must follow the rules of Perfetto's JSON importer (tests/integration/trace_check.py)
# and hold as many stall slices, requests and faults as the JSON says.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

start_server -q --kv-mb 1 --stall-requests 5,12 --stall-kind collapse --stall-mb 8
start_record -p "$SPID" -o "$TMP/idle.data"
stop_record
start_record -p "$SPID" -o "$TMP/busy.data" --alloc=full --alloc-slow=2us
loadgen -n 20 -c 4 --max-tokens 8 --prompt-len 20
stop_record
size=$(stat -c %s "$TMP/busy.data")
head -c $((size * 3 / 4)) "$TMP/busy.data" >"$TMP/cut.data"

for r in busy idle cut; do
	"$FL" report -i "$TMP/$r.data" --json >"$TMP/$r.json" 2>"$TMP/$r.err" ||
		fail "report --json ($r) failed: $(cat "$TMP/$r.err")"
	"$FL" report -i "$TMP/$r.data" --perfetto "$TMP/$r.trace.json" 2>"$TMP/$r.err" ||
		fail "report --perfetto ($r) failed: $(cat "$TMP/$r.err")"
	[ -s "$TMP/$r.trace.json" ] || fail "report --perfetto ($r) wrote nothing"
	PYTHONPATH=$CHECKS_PY python3 "$CHECKS_PY/trace_check.py" "$TMP/$r.trace.json" \
		"$TMP/$r.json" "$r" || fail "trace of $r: see above"
done
# the overlapping requests really overlap: the reason they are async slices
PYTHONPATH=$CHECKS_PY python3 - "$TMP/busy.json" <<'PY' || fail "see above"
import json, sys
import checks
from checks import check
rep = json.load(open(sys.argv[1]))
rs = sorted((q["start_ns"], q["end_ns"]) for q in rep["requests"]["list"])
over = sum(1 for a, b in zip(rs, rs[1:]) if b[0] < a[1])
check("busy: requests that overlap the one before", over > 0, over, "> 0")
sys.exit(0 if checks.ok else 1)
PY
