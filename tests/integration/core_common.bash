# Helpers for the core_*.sh tests (sourced after tests/lib.sh; not a test itself: no .sh suffix).
# A workload runs in the background reading its start line from a fifo; faultline records it with
# -p once it is ready. Everything started here is killed on exit.
# shellcheck disable=SC2034 # CG, CGV and the helpers are for the tests that source this file

# start_workload NAME ARGS...: starts $WL/NAME with stdin on a fifo; sets WPID (its pid, from its
# "pid N" line) and WOUT (its stdout file). The fifo stays open on fd 7 until go/stop_workload.
start_workload() {
	local name=$1 i
	shift
	WOUT=$TMP/$name.out
	rm -f "$TMP/$name.in"
	mkfifo "$TMP/$name.in"
	"$WL/$name" "$@" <"$TMP/$name.in" >"$WOUT" 2>"$TMP/$name.err" &
	WBG=$!
	on_exit "kill -9 $WBG 2>/dev/null; wait $WBG 2>/dev/null"
	exec 7>"$TMP/$name.in"
	WPID=
	for i in $(seq 600); do
		WPID=$(awk '$1 == "pid" { print $2; exit }' "$WOUT")
		[ -n "$WPID" ] && break
		kill -0 "$WBG" 2>/dev/null || workload_died "$name"
		sleep 0.1
	done
	[ -n "$WPID" ] || fail "$name did not print its pid within 60 s"
}

# workload_died NAME: fails saying how the workload that exited before its "pid" line ended.
workload_died() {
	local rc
	wait "$WBG"
	rc=$?
	[ $rc -eq 137 ] && fail "$1 was killed (SIGKILL) before it was ready: by the OOM killer?" \
		"MemFree now $(awk '$1 == "MemFree:" { print int($2 / 1024) }' /proc/meminfo) MiB"
	[ $rc -gt 128 ] && fail "$1 was killed by signal $((rc - 128)) before it was ready"
	fail "$1 exited early, status $rc: $(cat "$TMP/$1.err")"
}

# wait_line FILE REGEX SECONDS: waits until FILE has a line matching REGEX.
wait_line() {
	local i
	for i in $(seq $(($3 * 10))); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# go: lets the workload start (a line on its stdin).
go() { echo go >&7; }
# finish_workload: closes its stdin and waits for it; its exit status is returned.
finish_workload() {
	exec 7>&-
	wait "$WBG"
}

# start_record ARGS...: faultline record in the background (stderr in $TMP/rec.err), returns once
# it says it is recording (its probes are attached). Sets RPID. $FL_WRAP (e.g. "nice -n 19")
# prefixes the command.
start_record() {
	${FL_WRAP:-} "$FL" record "$@" 2>"$TMP/rec.err" >"$TMP/rec.out" &
	RPID=$!
	on_exit "kill -INT $RPID 2>/dev/null; wait $RPID 2>/dev/null"
	for i in $(seq 600); do
		grep -q 'faultline: recording to' "$TMP/rec.err" && return 0
		if ! kill -0 "$RPID" 2>/dev/null; then
			cat "$TMP/rec.err"
			fail "faultline record exited before recording"
		fi
		sleep 0.1
	done
	cat "$TMP/rec.err"
	fail "faultline record did not start within 60 s"
}

# wait_record [SECONDS]: waits for faultline record to end by itself; fails on a non-zero exit.
wait_record() {
	local rc
	for _ in $(seq $((${1:-30} * 10))); do
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$RPID" 2>/dev/null; then
		kill -INT "$RPID"
		wait "$RPID"
		cat "$TMP/rec.err"
		fail "faultline record did not stop by itself within ${1:-30} s"
	fi
	wait "$RPID"
	rc=$?
	[ $rc -eq 0 ] || { cat "$TMP/rec.err"; fail "faultline record exited $rc"; }
	note "record: $(grep 'faultline: wrote' "$TMP/rec.err")"
}

# stop_record: SIGINT, then waits as above.
stop_record() {
	kill -INT "$RPID" 2>/dev/null
	wait_record 30
}

# report_json FILE OUT: faultline report --json, checked to parse.
report_json() {
	"$FL" report -i "$1" --json >"$2" 2>"$TMP/report.err" || {
		cat "$TMP/report.err"
		fail "faultline report --json -i $1 failed"
	}
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$2" || fail "report --json is not valid JSON"
}

# proc_faults PID: minflt + majflt from /proc/PID/stat.
proc_faults() {
	python3 - "$1" <<'PY'
import sys
s = open("/proc/%s/stat" % sys.argv[1]).read()
f = s[s.rindex(")") + 2:].split()
print(int(f[7]) + int(f[9]))
PY
}

# vmstat NAME: a counter from /proc/vmstat (0 when the kernel has no such counter).
vmstat() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' /proc/vmstat; }

# set_knob FILE VALUE: writes a sysfs/procfs knob and restores its current value on exit.
set_knob() {
	local old
	old=$(cat "$1") || fail "cannot read $1"
	case $old in *"["*) old=${old##*\[}; old=${old%\]*} ;; esac
	on_exit "echo '$old' >'$1'"
	echo "$2" >"$1" || fail "cannot set $1 to $2"
}

# thp_madvise: skips (77) without THP in the kernel; else THP "enabled" is madvise for the test
# (restored on exit): MADV_COLLAPSE works, faults take no huge page by themselves and khugepaged
# leaves regions without MADV_HUGEPAGE alone, so every collapse is one the workload asked for.
thp_madvise() {
	local f=/sys/kernel/mm/transparent_hugepage/enabled
	[ -e "$f" ] || { echo "skip: no THP in this kernel"; exit 77; }
	grep -q '\[madvise\]' "$f" || set_knob "$f" madvise
}

# make_memcg NAME LIMIT_BYTES: a memory cgroup with that hard limit, cgroup v2 where the memory
# controller is there, else v1. Sets CG (its directory) and CGV (1 or 2); removed on exit.
make_memcg() {
	local v2=
	v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -n "$v2" ] && grep -qw memory "$v2/cgroup.controllers" 2>/dev/null; then
		grep -qw memory "$v2/cgroup.subtree_control" || echo +memory >"$v2/cgroup.subtree_control" ||
			fail "cannot enable the memory controller in $v2"
		CG=$v2/$1.$$ CGV=2
		mkdir "$CG" || fail "cannot create $CG"
		echo "$2" >"$CG/memory.max" || fail "cannot set $CG/memory.max"
		echo 0 >"$CG/memory.swap.max" 2>/dev/null
	else
		v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
		[ -n "$v1" ] || { echo "skip: no memory cgroup controller (v1 or v2) mounted"; exit 77; }
		CG=$v1/$1.$$ CGV=1
		mkdir "$CG" || fail "cannot create $CG"
		echo "$2" >"$CG/memory.limit_in_bytes" || fail "cannot set $CG/memory.limit_in_bytes"
	fi
	on_exit "rmdir '$CG' 2>/dev/null"
}

# memcg_stat KEY: a value from $CG/memory.stat (v2: also memory.events), 0 when absent.
memcg_stat() {
	cat "$CG/memory.stat" "$CG/memory.events" 2>/dev/null |
		awk -v k="$1" '$1 == k { print $2; found = 1; exit } END { if (!found) print 0 }'
}
