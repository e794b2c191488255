#!/usr/bin/env bash
# record --flight with a full disk at dump time: the dump fails with a message naming the
# directory and the error, leaves no partial file, recording continues, and the next trigger
# (SIGUSR1 once space is back) writes a whole dump that reads back.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root

M=$TMP/full
mkdir -p "$M"
mount -t tmpfs -o size=8m faultline-test "$M" || { [ "${CI:-}" = true ] && fail "cannot mount a tmpfs"; echo "skip: cannot mount a tmpfs"; exit 77; }
on_exit "umount -l '$M'"
mkdir "$M/d"

start_workload fault_steady 2 --rate 5000
"$FL" record -p "$WPID" --flight 30s -o "$M/d" 2>"$TMP/rec.err" &
RPID=$!
on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
# wait_for PATTERN WHAT: polls rec.err
wait_for() {
	local n=$(($(scaled 60 | cut -d. -f1) * 10))
	for _ in $(seq "$n"); do
		grep -q -- "$1" "$TMP/rec.err" && return 0
		kill -0 "$RPID" 2>/dev/null || fail "record exited: $(cat "$TMP/rec.err")"
		sleep 0.1
	done
	fail "$2 (no '$1' in: $(cat "$TMP/rec.err"))"
}
wait_for 'flight recording:' "record --flight did not start"
sleep 2 # some events in the ring
dd if=/dev/zero of="$M/filler" bs=64k 2>/dev/null || true # fills the tmpfs
kill -USR1 "$RPID"
wait_for 'cannot write the dump' "a dump onto a full disk was not reported"
grep 'cannot write the dump' "$TMP/rec.err"
grep -q 'No space left on device' "$TMP/rec.err" || fail "the message does not say the disk is full"
check_eq "files in the directory after the failed dump" 0 "$(find "$M/d" -mindepth 1 | wc -l)"
kill -0 "$RPID" 2>/dev/null || fail "record stopped after the failed dump"

rm -f "$M/filler"
kill -USR1 "$RPID"
wait_for 'flight: wrote' "no dump once space was back"
mapfile -t dumps < <(find "$M/d" -mindepth 1)
check_eq "files after the second trigger" 1 "${#dumps[@]}"
kill -INT "$RPID"
wait "$RPID" || fail "record --flight failed: $(cat "$TMP/rec.err")"
cat "$TMP/rec.err"
grep -q '1 dumps, 0 triggers suppressed, 1 dumps failed' "$TMP/rec.err" || fail "the summary does not count 1 dump and 1 failure"
"$FL" report -i "${dumps[0]}" --json >"$TMP/r.json" 2>"$TMP/r.err" || fail "report on the dump failed"
grep -qi 'truncated\|cut short' "$TMP/r.err" && fail "the dump reads as cut short: $(cat "$TMP/r.err")"
ev=$(json 'j["events"]["total"]' "$TMP/r.json")
note "dump: $(basename "${dumps[0]}"), $ev events"
[ "$ev" -gt 0 ] || fail "the dump holds no events"
