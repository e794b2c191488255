#!/usr/bin/env bash
# Uprobes are per process and go away with it: two malloc_n targets under --alloc=full; while
# probed, malloc's first byte in each is an int3 (0xcc). When target A exits mid-session its
# probes are dropped (the kernel's list of faultline's perf events halves) and the session goes
# on counting B exactly. After faultline stops, B (still running) has its original instruction
# back and the kernel lists no perf event of faultline's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
N=5000

# first_byte PID: the byte at glibc's malloc in PID (the address computed from this python's
# own libc and the target's mapping of the same file).
first_byte() {
	python3 - "$1" <<'PY'
import ctypes, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL("libc.so.6")
addr = ctypes.cast(libc.malloc, ctypes.c_void_p).value
def base(maps, path_match):
    for line in maps:
        f = line.split()
        if len(f) >= 6 and int(f[2], 16) == 0 and path_match(f[5]):
            return int(f[0].split("-")[0], 16), f[5]
    return None, None
own = open("/proc/self/maps").read().splitlines()
self_base, path = None, None
for line in own:
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    if lo <= addr < hi and len(f) >= 6:
        path = f[5]
        self_base, _ = base(own, lambda p: p == path)
tgt_base, _ = base(open(f"/proc/{pid}/maps").read().splitlines(), lambda p: p == path)
with open(f"/proc/{pid}/mem", "rb") as m:
    m.seek(tgt_base + addr - self_base)
    print("0x%02x" % m.read(1)[0])
PY
}

# perf_events: faultline's uprobe perf events as the kernel lists them (bpftool perf).
perf_events() { bpftool perf show 2>/dev/null | grep -cE "^pid $RPID .*(uprobe|uretprobe) " || true; }
HAVE_BPFTOOL=1
command -v bpftool >/dev/null || { HAVE_BPFTOOL=0; note "bpftool not here: the kernel's perf-event list is not checked"; }

start_workload malloc_n $N --wait
A=$WPID ABG=$WBG
exec 8>&7 # keep A's stdin; start_workload reuses fd 7
# start_workload names the output file after the workload: B's would truncate A's and B's wait
# for '^done' would see A's line and stop the session in the middle of B's calls. A keeps
# writing to its file under the new name.
A_OUT=$TMP/malloc_n-A.out
mv "$WOUT" "$A_OUT"
start_workload malloc_n $N --wait
B=$WPID
start_record -p "$A,$B" --alloc=full -o "$TMP/exit.data"
check_eq "A: malloc's first byte while probed" "$(first_byte "$A")" 0xcc
check_eq "B: malloc's first byte while probed" "$(first_byte "$B")" 0xcc
if [ $HAVE_BPFTOOL = 1 ]; then
	before=$(perf_events)
	check_ge "faultline's uprobe perf events with 2 targets" "$before" 4
fi

# A works and exits; its probes must go, the session must go on.
echo go >&8
wait_line "$A_OUT" '^done' 30 || fail "A did not finish"
echo exit >&8
exec 8>&-
wait "$ABG"
# faultline sees the exit (its event, or the 500 ms rescan); a loaded machine may take longer.
for _ in $(seq 100); do
	[ $HAVE_BPFTOOL = 1 ] && [ "$(perf_events)" = $((before / 2)) ] && break
	[ $HAVE_BPFTOOL = 0 ] && break
	sleep 0.1
done
[ $HAVE_BPFTOOL = 0 ] && sleep 1.5
kill -0 "$RPID" 2>/dev/null || fail "faultline stopped when one of two targets exited"
if [ $HAVE_BPFTOOL = 1 ]; then
	now=$(perf_events)
	[ "$now" = $((before / 2)) ] || bpftool perf show | grep -E "^pid $RPID .*probe "
	check_eq "uprobe perf events after A exited (half of $before)" "$now" $((before / 2))
fi
check_eq "B: still probed" "$(first_byte "$B")" 0xcc

go
wait_line "$WOUT" "^done $N mallocs" 30 || fail "B did not finish"
note "B: $(tail -1 "$WOUT")"
stop_record
after=$(first_byte "$B")
check_eq "B: malloc's first byte after faultline stopped (not int3)" "$([ "$after" != 0xcc ] && echo restored || echo "$after")" restored
if [ $HAVE_BPFTOOL = 1 ]; then
	check_eq "faultline's perf events left in the kernel" "$(bpftool perf show 2>/dev/null | grep -c "pid $RPID " || true)" 0
fi
go
finish_workload

report_json "$TMP/exit.data" "$TMP/exit.json"
for p in $A $B; do
	check_eq "pid $p: malloc+free calls" \
		"$(json 'sum(t["calls"] for t in j["alloc"]["threads"] if t["pid"] == '"$p"')' "$TMP/exit.json")" $((2 * N))
done
check_eq "A's library marked" \
	"$(json '[l["detached"] for l in j["alloc"]["libraries"] if l["pid"] == '"$A"'][0]' "$TMP/exit.json")" "process exited"
echo "ok"
