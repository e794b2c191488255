#!/usr/bin/env bash
# record --flight --flight-bytes: under a fault storm the byte cap holds. Every few seconds a
# SIGUSR1 dump: each one's file stays within the cap (plus header and trailer), and once the
# storm has made more than the cap, a dump's header says the window was bound by bytes (and it
# is shorter than --flight).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root

CAP=$((1 << 20))
start_workload fault_steady 2 --rate 50000
mkdir "$TMP/d"
"$FL" record -p "$WPID" --flight 60s --flight-bytes 1M -o "$TMP/d" 2>"$TMP/rec.err" &
RPID=$!
on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
for _ in $(seq 300); do
	grep -q 'flight recording:' "$TMP/rec.err" && break
	kill -0 "$RPID" 2>/dev/null || fail "record exited: $(cat "$TMP/rec.err")"
	sleep 0.1
done
bound=none
for i in $(seq "$(scaled 20 | cut -d. -f1)"); do
	sleep 2
	kill -USR1 "$RPID"
	for _ in $(seq 300); do
		[ "$(grep -c 'flight: wrote' "$TMP/rec.err")" -ge "$i" ] && break
		kill -0 "$RPID" 2>/dev/null || fail "record exited: $(cat "$TMP/rec.err")"
		sleep 0.1
	done
	# shellcheck disable=SC2012 # our own names: faultline-DATE-signal[-N].data
	f=$(ls -t "$TMP"/d/*.data | head -1)
	size=$(stat -c %s "$f")
	bound=$(python3 - "$f" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack_from("<Q", raw, 16)[0]
fl = json.loads(raw[24:24 + n])["flight"]
span = (fl["last_event_ns"] - fl["first_event_ns"]) / 1e9
print(fl["bound"], "%.1f" % span)
PY
)
	note "dump $i: $size bytes, bound ${bound% *}, ${bound#* } s of events"
	[ "$size" -le $((CAP + 65536)) ] || fail "dump $i is $size bytes, over the 1 MiB cap"
	[ "${bound% *}" = bytes ] && break
done
check_eq "window bound once the storm passed the cap" bytes "${bound% *}"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 60 else 1)" "${bound#* }" ||
	fail "a byte-bound window spans ${bound#* } s, not less than --flight 60s"
"$FL" report -i "$f" >/dev/null || fail "report on the byte-bound dump failed"
kill -INT "$RPID"
wait "$RPID" || fail "record --flight failed: $(cat "$TMP/rec.err")"
