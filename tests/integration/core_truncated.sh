#!/usr/bin/env bash
# A real recording cut at arbitrary bytes (as by kill -9 or a full disk) is read up to its last
# whole chunk: the report says so on stderr, still prints text and JSON, and exits 0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

start_workload touch_pages 300000 2 --nohuge
# one event per fault: a file of many chunks to cut (runs would fit the storm in a few)
start_record -p "$WPID" -o "$TMP/full.data" --fault-events=all
go
finish_workload || fail "touch_pages failed"
wait_record 30
report_json "$TMP/full.data" "$TMP/full.json"
full_events=$(json 'j["events"]["total"]' "$TMP/full.json")
size=$(stat -c %s "$TMP/full.data")
meta_end=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(24 + struct.unpack("<Q", d[16:24])[0])' "$TMP/full.data")
note "whole file: $size bytes, metadata ends at $meta_end, $full_events events"

# Cut points: inside the first chunk's header, a third of the way, 60% plus an odd byte, and
# one byte short of the end (inside the end marker: every chunk is whole, the trailer is lost).
for cut in $((meta_end + 7)) $((size / 3)) $((size * 6 / 10 + 13)) $((size - 1)); do
	cp "$TMP/full.data" "$TMP/cut.data"
	truncate -s "$cut" "$TMP/cut.data"
	"$FL" report -i "$TMP/cut.data" >"$TMP/cut.txt" 2>"$TMP/cut.err"
	rc=$?
	note "cut at byte $cut: exit $rc, stderr: $(head -c 300 "$TMP/cut.err")"
	[ $rc -eq 0 ] || fail "report of a file cut at byte $cut exited $rc"
	grep -q 'truncated' "$TMP/cut.err" || fail "no 'truncated' message on stderr for a cut at $cut"
	{ grep -q '^Stalls' "$TMP/cut.txt" && grep -q '^Findings' "$TMP/cut.txt"; } ||
		fail "text report of a file cut at $cut is incomplete"
	grep -q 'WARNING: .*truncated' "$TMP/cut.txt" || fail "text report does not warn of the cut"
	"$FL" report -i "$TMP/cut.data" --json >"$TMP/cut.json" 2>/dev/null || fail "JSON report of a cut file failed"
	events=$(json 'j["events"]["total"]' "$TMP/cut.json")
	check_eq "  session.truncated at $cut" "$(json 'j["session"]["truncated"]' "$TMP/cut.json")" True
	note "  events read $events of $full_events"
	[ "$events" -le "$full_events" ] || fail "more events read from the cut file than the whole one"
	if [ "$cut" -ge $((size / 3)) ]; then
		check_ge "  events read from whole chunks before byte $cut" "$events" 1
	fi
	if [ "$cut" -eq $((size - 1)) ]; then
		check_eq "  every event read when only the end marker is cut" "$events" "$full_events"
	fi
done
echo "ok"
