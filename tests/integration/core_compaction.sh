#!/usr/bin/env bash
# Direct compaction provoked for real: the workload scatters free memory into 4K holes, then
# faults MADV_HUGEPAGE memory with THP defrag=always (set here, restored on exit), so its
# huge-page faults compact memory in its own thread. faultline's direct_compaction count matches
# /proc/vmstat compact_stall for the traced period (system-wide: another process compacting at
# the same time would show as a difference), each stall has a duration.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
thp=/sys/kernel/mm/transparent_hugepage
[ -e $thp/defrag ] || { echo "skip: no THP in this kernel"; exit 77; }
grep -q '^compact_stall ' /proc/vmstat || { echo "skip: kernel without CONFIG_COMPACTION"; exit 77; }

set_knob $thp/defrag always
grep -q '\[never\]' $thp/enabled && set_knob $thp/enabled madvise
meminfo() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' /proc/meminfo; }

# Filling 20 GiB by hand is slow: compact free memory now (setup, before tracing), park most of
# its 2 MiB blocks in the hugetlb pool (restored on exit), and fragment only what is left.
sync
echo 3 >/proc/sys/vm/drop_caches # page cache reclaimed later would refill the holes
echo 1 >/proc/sys/vm/compact_memory
free_mb=$(meminfo MemFree)
keep_mb=$((free_mb / 2 < 768 ? free_mb / 2 : 768))
set_knob /proc/sys/vm/nr_hugepages $(((free_mb - keep_mb) / 2))
left_mb=$(meminfo MemFree)
fill_mb=$((left_mb * 3 / 4))
thp_mb=$((left_mb / 2))
note "MemFree $free_mb MiB; $(awk '$1 == "HugePages_Total:" { print $2 }' /proc/meminfo) hugetlb pages parked, $left_mb MiB left free"
note "workload: fill $fill_mb MiB with 4K pages, free every other one, then fault $thp_mb MiB of THP"
start_workload fragment $fill_mb $thp_mb 2
note "fragmented in $SECONDS s; buddyinfo: $(awk '$4 == "Normal" || $4 == "DMA32" { printf "%s:", $4; for (i = 5; i <= NF; i++) printf " %s", $i; printf "; " }' /proc/buddyinfo)"
start_record -p "$WPID" -o "$TMP/compact.data"
stall0=$(vmstat compact_stall)
go
wait_line "$WOUT" '^huge_bytes ' 120 || fail "fragment did not finish: $(cat "$TMP/fragment.err")"
stall1=$(vmstat compact_stall)
finish_workload || fail "fragment failed: $(cat "$TMP/fragment.err")"
wait_record 30
read -r _ huge < <(grep '^huge_bytes ' "$WOUT")
note "workload got $((huge >> 20)) MiB of $thp_mb MiB in huge pages, $SECONDS s in all"
report_json "$TMP/compact.data" "$TMP/compact.json"
j=$TMP/compact.json
count=$(json 'j["stalls"]["direct_compaction"]["count"]' "$j")
p50=$(json 'j["stalls"]["direct_compaction"]["p50_ns"]' "$j")
total=$(json 'j["stalls"]["direct_compaction"]["total_ns"]' "$j")
note "faultline direct_compaction: $count stalls, $total ns in total, p50 $p50 ns"
check_ge "compact_stall delta (the workload really compacted)" $((stall1 - stall0)) 10
check_within "direct compaction stalls vs /proc/vmstat compact_stall delta" "$count" $((stall1 - stall0)) 3
# Tries that found the zone deferred take under a microsecond; those that compacted take longer.
check_ge "longest direct compaction (ns)" "$(json 'j["stalls"]["direct_compaction"]["max_ns"]' "$j")" 10000
check_eq "thp-defrag-compaction finding" \
	"$(json "any(f['id'] == 'thp-defrag-compaction' for f in j['findings'])" "$j")" True
echo "ok"
