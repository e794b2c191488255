#!/usr/bin/env bash
# vm: yes
# Reclaim under a memory cgroup limit: a workload in a 64 MiB cgroup writes 384 MiB of memory it
# gives back with MADV_FREE, so its own thread reclaims (memcg reclaim) without swap. faultline's
# memcg_reclaim stalls have durations, and the pages they reclaimed match the kernel's counters:
# /proc/vmstat pglazyfreed (lazily freed pages discarded by reclaim, system-wide; nothing else
# reclaims on an idle machine) and, on cgroup v2, the cgroup's own pgsteal and the number of
# reclaims in memory.events "max" (one per failed charge that reclaimed).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

limit_mb=64 total_mb=384
make_memcg fl-reclaim $((limit_mb << 20))
start_workload lazyfree $total_mb 8
echo "$WPID" >"$CG/cgroup.procs" || fail "cannot move $WPID into $CG"
note "workload $WPID in $CG (cgroup v$CGV, limit $limit_mb MiB), writing $total_mb MiB"
start_record -p "$WPID" -o "$TMP/reclaim.data"
lazy0=$(vmstat pglazyfreed) steal0=$(memcg_stat pgsteal) max0=$(memcg_stat max)
go
wait_line "$WOUT" '^touched ' 60 || fail "lazyfree did not finish: $(cat "$TMP/lazyfree.err")"
lazy1=$(vmstat pglazyfreed) steal1=$(memcg_stat pgsteal) max1=$(memcg_stat max)
finish_workload || fail "lazyfree failed: $(cat "$TMP/lazyfree.err")"
wait_record 30
report_json "$TMP/reclaim.data" "$TMP/reclaim.json"
j=$TMP/reclaim.json
count=$(json 'j["stalls"]["memcg_reclaim"]["count"]' "$j")
total=$(json 'j["stalls"]["memcg_reclaim"]["total_ns"]' "$j")
p50=$(json 'j["stalls"]["memcg_reclaim"]["p50_ns"]' "$j")
pages=$(json 'j["stalls"]["memcg_reclaim"]["reclaimed_pages"]' "$j")
note "faultline memcg_reclaim: $count stalls, $total ns in total, p50 $p50 ns, $pages pages reclaimed"
check_ge "memcg reclaim stalls" "$count" 10
check_ge "memcg reclaim p50 duration (ns)" "$p50" 100
# At least everything beyond the limit had to be reclaimed.
check_ge "pages reclaimed vs pages written beyond the limit" "$pages" $(((total_mb - limit_mb) * 256 * 9 / 10))
check_within "pages reclaimed vs /proc/vmstat pglazyfreed delta" "$pages" $((lazy1 - lazy0)) 5
if [ "$CGV" = 2 ]; then
	check_within "pages reclaimed vs the cgroup's pgsteal delta" "$pages" $((steal1 - steal0)) 5
	check_within "reclaims vs the cgroup's memory.events max delta" "$count" $((max1 - max0)) 2
else
	note "cgroup v1: memory.stat has no pgsteal or reclaim count; pglazyfreed is the ground truth"
fi
check_eq "direct (global) reclaim stalls" "$(json 'j["stalls"]["direct_reclaim"]["count"]' "$j")" 0
echo "ok"
