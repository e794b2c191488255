#!/usr/bin/env bash
# A full disk stops record at once: onto a 2 MiB tmpfs, a steady flow of faults fills it in a few
# seconds; record must exit non-zero soon after the file stops growing (the failed chunk is due
# within 1 s of the last whole one: FL_CHUNK_TARGET_MS), with a message naming the path, and the
# file must read back as truncated.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root

M=$TMP/full
mkdir -p "$M"
mount -t tmpfs -o size=2m faultline-test "$M" || { [ "${CI:-}" = true ] && fail "cannot mount a tmpfs"; echo "skip: cannot mount a tmpfs"; exit 77; }
on_exit "umount -l '$M'"

start_workload fault_steady 2 --rate 50000
# one event per fault (--fault-events=all): as runs the same faults take minutes to fill 2 MiB
"$FL" record -p "$WPID" --fault-events=all -o "$M/r.data" 2>"$TMP/rec.err" &
RPID=$!
on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
# Polls the file's size until record exits: when the file last grew, and when record was gone.
python3 - "$RPID" "$M" "$(scaled 60)" >"$TMP/poll.out" <<'PY'
import os, sys, time
pid, d, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
t0 = time.monotonic()
last_size, last_grow = -1, None
while time.monotonic() - t0 < limit:
    size = sum(os.stat(os.path.join(d, f)).st_size for f in os.listdir(d)) if os.path.isdir(d) else 0
    now = time.monotonic()
    if size > last_size:
        last_size, last_grow = size, now
    try:
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                raise ProcessLookupError
    except (ProcessLookupError, FileNotFoundError):
        print("exited %.3f s after the file last grew (%d bytes)" % (now - last_grow, last_size))
        print("%.3f" % (now - last_grow))
        sys.exit(0)
    time.sleep(0.02)
print("record still running after %g s" % limit)
sys.exit(1)
PY
poll_rc=$?
[ $poll_rc -eq 0 ] || kill -INT "$RPID" 2>/dev/null # still running: stop it, then fail below
wait "$RPID"
rc=$?
note "record: exit $rc; $(head -1 "$TMP/poll.out")"
note "record's stderr: $(cat "$TMP/rec.err")"
[ $poll_rc -eq 0 ] || fail "record did not stop on a full disk: $(cat "$TMP/poll.out")"
[ $rc -ne 0 ] || fail "record exited 0 on a full disk"
limit=$(python3 -c "print($(scaled 1) + 1.0)")
delay=$(tail -1 "$TMP/poll.out")
note "exit after the last growth: $delay s (limit $limit s: the next chunk is due within 1 s, then $(scaled 1) s to stop)"
python3 -c "import sys; sys.exit(0 if $delay <= $limit else 1)" || fail "record took $delay s to stop after the disk filled"
grep -q "$M/r.data.*No space left" "$TMP/rec.err" || fail "the message does not name $M/r.data and the error"
"$FL" report -i "$M/r.data" >"$TMP/rep.txt" 2>"$TMP/rep.err" || fail "report of the cut file failed: $(cat "$TMP/rep.err")"
note "report: $(grep truncated "$TMP/rep.err")"
grep -q "truncated after chunk" "$TMP/rep.err" || fail "report does not read the file as truncated"
echo ok
