#!/usr/bin/env bash
# vm: yes
# faultline doctor reports the node's THP settings, huge page pool and compaction count exactly as
# the kernel's own files say; with -p it names the allocator a workload really maps (jemalloc via
# LD_PRELOAD, glibc otherwise, with the jemalloc advice); a missing pid is a clear error (exit 1),
# bad usage exits 2, and another user's process is reported as unreadable, not as a failure.
# Needs no root; a run as root also checks the unprivileged view (util-linux setpriv).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"

JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
THP=/sys/kernel/mm/transparent_hugepage

# check JSON ID FIELD: the field of the check with that id in doctor's JSON.
check() {
	python3 -c "import json,sys; print(next(c[sys.argv[3]] for c in
		json.load(open(sys.argv[1]))['checks'] if c['id'] == sys.argv[2]))" "$1" "$2" "$3"
}
thp_sel() { sed 's/.*\[\(.*\)\].*/\1/' "$1"; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

# Node: ground truth read before and after doctor; a value that moved meanwhile may be either.
node_case() {
	local en0 df0 nr0 cs0 en1 df1 nr1 cs1 got want
	en0=$(thp_sel $THP/enabled) df0=$(thp_sel $THP/defrag)
	nr0=$(cat /proc/sys/vm/nr_hugepages) cs0=$(vmstat compact_stall)
	"$FL" doctor --json >"$TMP/node.json" || fail "doctor --json exited $?"
	en1=$(thp_sel $THP/enabled) df1=$(thp_sel $THP/defrag)
	nr1=$(cat /proc/sys/vm/nr_hugepages) cs1=$(vmstat compact_stall)
	[ "$en0$df0$nr0" = "$en1$df1$nr1" ] || fail "THP settings or nr_hugepages changed during the run"
	check_eq "THP enabled ($THP/enabled)" "$(check "$TMP/node.json" thp_enabled value)" "$en0"
	check_eq "THP defrag ($THP/defrag)" "$(check "$TMP/node.json" thp_defrag value)" "$df0"
	check_eq "nr_hugepages (/proc/sys/vm/nr_hugepages)" \
		"$(check "$TMP/node.json" nr_hugepages value)" "$nr0"
	got=$(check "$TMP/node.json" compact_stall value | awk '{ print $1 }')
	note "compact_stall (/proc/vmstat): doctor=$got ground-truth=$cs0 before, $cs1 after"
	{ [ "$got" -ge "$cs0" ] && [ "$got" -le "$cs1" ]; } || fail "compact_stall $got not in [$cs0, $cs1]"
	if [ "$en0" = always ]; then
		check_eq "status of THP enabled=always" "$(check "$TMP/node.json" thp_enabled status)" warn
	else
		check_eq "status of THP enabled=$en0" "$(check "$TMP/node.json" thp_enabled status)" ok
	fi
	want=unavailable
	[ -e /sys/bus/event_source/devices/kprobe/type ] && want=available
	check_eq "kprobe (kprobe PMU in /sys/bus/event_source/devices)" \
		"$(check "$TMP/node.json" kprobe value)" "$want"
	note "tracing: btf $(check "$TMP/node.json" btf value), tp_btf" \
		"$(check "$TMP/node.json" tp_btf value), fentry $(check "$TMP/node.json" fentry value)"
	"$FL" doctor >"$TMP/node.txt" || fail "doctor exited $?"
	for g in Node 'Huge pages' Memory 'History since boot' Tracing; do
		grep -qx "$g" "$TMP/node.txt" || fail "text output has no '$g' group"
	done
	note "text output has the groups Node, Huge pages, Memory, History since boot, Tracing"
}

# process_case WANT_ALLOCATOR: doctor -p on the running workload ($WPID).
process_case() {
	local j=$TMP/proc.json
	"$FL" doctor -p "$WPID" --json >"$j" || fail "doctor -p exited $?"
	check_eq "allocator of pid $WPID" "$(check "$j" allocator value | awk '{ print $1 }')" "$1"
	grep -qx Process <("$FL" doctor -p "$WPID") || fail "text output has no 'Process' group"
}

jemalloc_case() {
	local env
	[ -e "$JEMALLOC" ] || fail "$JEMALLOC missing: install libjemalloc2 (scripts/install-deps.sh)"
	LD_PRELOAD=$JEMALLOC start_workload touch_pages 10
	process_case jemalloc
	env=$(check "$TMP/proc.json" env value)
	note "env hint: $env"
	[[ $env == *"LD_PRELOAD=$JEMALLOC"* ]] || fail "env hint lacks LD_PRELOAD=$JEMALLOC"
	check_eq "allocator status with jemalloc" "$(check "$TMP/proc.json" allocator status)" ok
	[ "$(id -u)" -eq 0 ] && unprivileged_case
	go
	finish_workload || fail "touch_pages (jemalloc) failed"
}

# As nobody, root's workload cannot be read: doctor says so and still exits 0.
unprivileged_case() {
	if ! setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		note "no setpriv --reuid here (busybox's lacks it): unprivileged view not checked"
		return
	fi
	setpriv --reuid=65534 --regid=65534 --clear-groups "$FL" doctor -p "$WPID" --json \
		>"$TMP/nobody.json" || fail "doctor as uid 65534 exited $?"
	check_eq "env of root's pid $WPID as uid 65534" "$(check "$TMP/nobody.json" env value)" \
		unreadable
	check_eq "privileges as uid 65534" "$(check "$TMP/nobody.json" privileges value)" "uid 65534"
}

glibc_case() {
	local advice
	start_workload touch_pages 10
	process_case glibc
	check_eq "allocator status with glibc" "$(check "$TMP/proc.json" allocator status)" warn
	advice=$(check "$TMP/proc.json" allocator advice)
	note "advice: $advice"
	[[ $advice == *"LD_PRELOAD="*jemalloc* ]] || fail "glibc advice does not suggest jemalloc"
	go
	finish_workload || fail "touch_pages (glibc) failed"
}

errors_case() {
	local pid rc
	pid=$(($(cat /proc/sys/kernel/pid_max) + 1))
	"$FL" doctor -p "$pid" >"$TMP/err.out" 2>"$TMP/err.txt"
	rc=$?
	check_eq "exit status for missing pid $pid" "$rc" 1
	check_eq "message" "$(cat "$TMP/err.txt")" "faultline: pid $pid does not exist"
	"$FL" doctor -p abc >/dev/null 2>&1
	check_eq "exit status for -p abc" "$?" 2
	"$FL" doctor --bogus >/dev/null 2>&1
	check_eq "exit status for --bogus" "$?" 2
}

node_case
jemalloc_case
glibc_case
errors_case
echo "ok"
