#!/usr/bin/env bash
# doctor -p looks at the process's MADV_HUGEPAGE regions over a window (--window, default 2s), so
# a server that madvises per request is seen whatever the moment: here a process that has a
# madvised region for 250 ms of every 500 ms. With THP defrag=madvise every run warns and says in
# how many looks it saw regions; --window 0 looks once. Also: NUMA nodes is a count, and the help
# says "Examples:" like the other commands.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
THP=/sys/kernel/mm/transparent_hugepage
[ -w $THP/defrag ] || { echo "skip: no $THP/defrag (kernel without THP)"; exit 77; }
set_knob $THP/defrag madvise

python3 -u - >"$TMP/py.out" 2>"$TMP/py.err" <<'PY' &
import mmap, os, time
print("pid", os.getpid())
while True:
    m = mmap.mmap(-1, 4 << 20)
    m.madvise(mmap.MADV_HUGEPAGE)
    time.sleep(0.25)
    m.close()
    time.sleep(0.25)
PY
PY_PID=$!
on_exit "kill $PY_PID 2>/dev/null; wait $PY_PID 2>/dev/null"
wait_line "$TMP/py.out" '^pid ' 30 || fail "the madvising process did not start: $(cat "$TMP/py.err")"

check() {
	python3 -c "import json,sys; print(next(c[sys.argv[3]] for c in
		json.load(open(sys.argv[1]))['checks'] if c['id'] == sys.argv[2]))" "$1" "$2" "$3"
}
for run in 1 2 3; do
	"$FL" doctor -p "$PY_PID" --json >"$TMP/d.json" || fail "doctor -p exited $?"
	note "run $run: thp_process: $(check "$TMP/d.json" thp_process value)"
	check_eq "run $run: THP defrag status (madvise, regions seen in the window)" \
		"$(check "$TMP/d.json" thp_defrag status)" warn
	grep -qE 'had some in [0-9]+ of [0-9]+ looks over 2\.0 s' <<<"$(check "$TMP/d.json" thp_defrag advice)" ||
		fail "run $run: the advice does not say what it saw when: $(check "$TMP/d.json" thp_defrag advice)"
done
"$FL" doctor -p "$PY_PID" --window 0 --json >"$TMP/d0.json" || fail "doctor --window 0 exited $?"
grep -q 'of 1 looks' <<<"$(check "$TMP/d0.json" thp_process value)" || fail "--window 0 took more than one look"
"$FL" doctor -p "$PY_PID" --window 1.5x >/dev/null 2>"$TMP/bad.err"
check_eq "doctor --window 1.5x exit status" "$?" 2

"$FL" doctor --json >"$TMP/n.json" || fail "doctor exited $?"
nodes=$(python3 -c 'import sys
n = 0
for part in open("/sys/devices/system/node/online").read().strip().split(","):
    lo, _, hi = part.partition("-")
    n += int(hi or lo) - int(lo) + 1
print(n)')
check_eq "NUMA nodes: a count (of /sys/devices/system/node/online: $(cat /sys/devices/system/node/online))" \
	"$(check "$TMP/n.json" numa_nodes value | awk '{ print $1 }')" "$nodes"
check_eq "doctor --help has an 'Examples:' line" "$("$FL" doctor --help | grep -c '^Examples:$')" 1
echo "ok"
