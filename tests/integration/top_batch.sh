#!/usr/bin/env bash
# faultline top --batch -n 3: three plain-text frames whose fault counts add up to the kernel's own
# count (/proc/PID/stat minflt+majflt) for the same period, with the workload's faulting threads
# listed by name; plus top's clear errors (missing pid, bad -i).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

# Errors first: they need no BPF.
true & gone=$!
wait $gone
out=$("$FL" top -p $gone --batch -n 1 2>&1); rc=$?
note "top -p $gone (exited): exit $rc: $out"
{ [ $rc -ne 0 ] && grep -q "pid $gone does not exist" <<<"$out"; } || fail "missing pid: no clear error"
out=$("$FL" top -p 1 -i abc 2>&1); rc=$?
note "top -i abc: exit $rc: $out"
{ [ $rc -ne 0 ] && grep -q "\-i 'abc'" <<<"$out"; } || fail "bad -i: no clear error"

start_workload fault_steady 2
"$FL" top -p "$WPID" --batch -n 3 -i 2 >"$TMP/top.out" 2>"$TMP/top.err" 7>&- &
TPID=$!
on_exit "kill -INT $TPID 2>/dev/null; wait $TPID 2>/dev/null"
wait_line "$TMP/top.err" 'faultline: watching pid' 60 || { cat "$TMP/top.err"; fail "top did not start"; }
before=$(proc_faults "$WPID")
# Three bursts of 20000 faults, done well within the 6 s of the three frames even on a busy
# machine; the workload is idle before and after, so the frames must hold every one of them.
for i in 1 2 3; do
	echo 20000 >&7
	for _ in $(seq 300); do
		[ "$(grep -c '^done' "$WOUT")" -ge $i ] && break
		sleep 0.1
	done
	[ "$(grep -c '^done' "$WOUT")" -ge $i ] || fail "fault_steady did not finish burst $i"
	[ $i -lt 3 ] && sleep 0.3
done
wait "$TPID"
rc=$?
after=$(proc_faults "$WPID")
[ $rc -eq 0 ] || { cat "$TMP/top.err"; fail "top --batch exited $rc"; }
frames=$(grep -c '^faultline top - ' "$TMP/top.out")
check_eq "frames printed" "$frames" 3
got=$(awk '/^Faults: / { s += $2 } END { print s + 0 }' "$TMP/top.out")
note "per frame: $(awk '/^Faults: / { printf "%s ", $2 }' "$TMP/top.out")"
check_within "faults in the 3 frames vs /proc/$WPID/stat delta ($before -> $after)" "$got" \
	$((after - before)) 1
check_ge "faults at least the pages touched" "$got" 60000
# The thread table lists both touchers with faults; each frame's rows add up to its header.
for t in toucher-0 toucher-1; do
	n=$(awk -v t="$t" '$3 == t && $4 != "0" { n++ } END { print n + 0 }' "$TMP/top.out")
	check_ge "frames listing $t with non-zero FLT/s" "$n" 1
done
grep -q '^CAUSE ' "$TMP/top.out" || fail "no cause table in the frames"
# Each frame's footer: faultline's own BPF time, per program (root: BPF_ENABLE_STATS is granted).
check_eq "frames with a BPF-time footer" "$(grep -c '^BPF time [0-9.]*% of a core:' "$TMP/top.out")" 3
note "last footer: $(grep '^BPF time' "$TMP/top.out" | tail -1)"
grep '^BPF time' "$TMP/top.out" | grep -q ' fl_pf_user_[a-z]* [0-9.]* [nu]s x [0-9.]*[kM]*/s' ||
	fail "no page-fault program in the BPF-time footer while the workload faulted"
echo "ok"
