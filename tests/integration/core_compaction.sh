#!/usr/bin/env bash
# Direct compaction provoked for real: the workload scatters free memory into 4K holes, then
# faults MADV_HUGEPAGE memory with THP defrag=always (set here, restored on exit), so its
# huge-page faults compact memory in its own thread. faultline's direct_compaction count matches
# /proc/vmstat compact_stall for the traced period (system-wide: another process compacting at
# the same time would show as a difference), each stall has a duration.
#
# What makes it deterministic: nothing else compacts or frees 2 MiB blocks meanwhile (proactive
# compaction, watermark boosting and khugepaged's compaction are off, restored on exit); the free
# 2 MiB blocks the THP faults could still take without compacting are counted from
# /proc/buddyinfo and /proc/zoneinfo just before the start, and the workload faults that many
# plus EXTRA huge pages, so at least EXTRA faults must compact. Should the kernel still not
# compact (compact_stall, the ground truth, rose by under 10: something outside the test freed or
# compacted memory), or should other processes fault huge pages meanwhile (their compactions would
# count in compact_stall too: thp_fault_alloc + thp_fault_fallback rose by more than the
# workload's faults), the provocation is tried again, at most 3 times.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
thp=/sys/kernel/mm/transparent_hugepage
[ -e $thp/defrag ] || { echo "skip: no THP in this kernel"; exit 77; }
grep -q '^compact_stall ' /proc/vmstat || { echo "skip: kernel without CONFIG_COMPACTION"; exit 77; }
# One run at a time on a machine: the hugetlb pool and the knobs below are global, a second run
# (another checkout's suite) would undo them under this one.
exec 9>/tmp/faultline-core_compaction.lock
flock -w 120 9 || fail "another core_compaction run held /tmp/faultline-core_compaction.lock for 120 s"

set_knob $thp/defrag always
grep -q '\[never\]' $thp/enabled && set_knob $thp/enabled madvise
# kcompactd's proactive compaction and the compaction kswapd starts after a watermark boost would
# merge the holes back into 2 MiB blocks; khugepaged's own compaction would count in compact_stall.
[ -e /proc/sys/vm/compaction_proactiveness ] && set_knob /proc/sys/vm/compaction_proactiveness 0
[ -e /proc/sys/vm/watermark_boost_factor ] && set_knob /proc/sys/vm/watermark_boost_factor 0
[ -e $thp/khugepaged/defrag ] && set_knob $thp/khugepaged/defrag 0
meminfo() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' /proc/meminfo; }

# free_blocks: "N DETAIL": N free 2 MiB blocks (order >= 9, from /proc/buddyinfo) that a THP
# fault can take without compacting, zone by zone no more than the zone's free pages above its
# min watermark plus its reserve against allocations that could use a higher zone (the DMA32
# blocks below that reserve are out of a THP's reach).
free_blocks() {
	python3 - <<'PY'
import re
large, usable, detail = {}, {}, []
for line in open("/proc/buddyinfo"):
    f = line.split()
    large[(f[1].rstrip(","), f[3])] = sum(int(c) << (o - 9) for o, c in enumerate(f[4:]) if o >= 9)
for block in open("/proc/zoneinfo").read().split("Node ")[1:]:
    m = re.match(r"(\d+), zone\s+(\S+)", block)
    key = (m.group(1), m.group(2))
    free = int(re.search(r"pages free\s+(\d+)", block).group(1))
    wmin = int(re.search(r"\n\s+min\s+(\d+)", block).group(1))
    prot = max(map(int, re.search(r"protection: \(([^)]*)\)", block).group(1).split(",")))
    usable[key] = min(large.get(key, 0), max(0, (free - wmin - prot) // 512))
    if large.get(key):
        detail.append("%s %d of %d" % (key[1], usable[key], large[key]))
print(sum(usable.values()), "; ".join(detail) or "none")
PY
}
# thp_tries: anonymous huge-page faults so far, system-wide (a huge page or a fallback each).
thp_tries() { echo $(($(vmstat thp_fault_alloc) + $(vmstat thp_fault_fallback))); }
buddy() {
	awk '$4 == "Normal" || $4 == "DMA32" { printf "%s%s:", sep, $4; sep = "; "
		for (i = 5; i <= NF; i++) printf " %s", $i }' /proc/buddyinfo
}

# Filling 20 GiB by hand is slow: compact free memory now (setup, before tracing), park most of
# its 2 MiB blocks in the hugetlb pool (restored on exit), and fragment only what is left. What is
# left stays large enough for the rest of the machine: a third of it is never filled, and the
# holes (half the fill) stay free for 4K allocations to the end.
sync
echo 3 >/proc/sys/vm/drop_caches # page cache reclaimed later would refill the holes
echo 1 >/proc/sys/vm/compact_memory
free_mb=$(meminfo MemFree)
keep_mb=$((free_mb / 2 < 1536 ? free_mb / 2 : 1536))
parked=$(((free_mb - keep_mb) / 2))
set_knob /proc/sys/vm/nr_hugepages $parked
note "MemFree $free_mb MiB; $(awk '$1 == "HugePages_Total:" { print $2 }' /proc/meminfo) hugetlb pages parked, $(meminfo MemFree) MiB left free"

# attempt N: fragments, traces the THP faults; sets STALLS (compact_stall delta) and J (report).
attempt() {
	local blocks detail left_mb fill_mb extra thp_mb d0 d1 stall0 t0 t1 huge faults rc
	if [ "$(cat /proc/sys/vm/nr_hugepages)" != $parked ]; then
		note "the hugetlb pool was changed from outside the test to $(cat /proc/sys/vm/nr_hugepages) pages: back to $parked"
		echo $parked >/proc/sys/vm/nr_hugepages
	fi
	left_mb=$(meminfo MemFree)
	fill_mb=$((left_mb * 2 / 3))
	extra=$((left_mb / 8 < 150 ? left_mb / 8 : 150)) # huge pages beyond the free blocks: each compacts
	note "attempt $1: $left_mb MiB free; fill $fill_mb MiB with 4K pages, free every other one"
	start_workload fragment "$fill_mb" "$left_mb" 2
	note "fragmented ($SECONDS s into the test); buddyinfo: $(buddy)"
	start_record -p "$WPID" -o "$TMP/compact$1.data"
	read -r blocks detail < <(free_blocks)
	thp_mb=$(((blocks + extra) * 2))
	[ "$thp_mb" -le "$left_mb" ] || thp_mb=$left_mb
	note "free 2 MiB blocks a THP fault can take: $blocks ($detail); faulting $thp_mb MiB of THP"
	d0=$(vmstat compact_daemon_wake) stall0=$(vmstat compact_stall) t0=$(thp_tries)
	echo "go $thp_mb" >&7
	# Nothing forked while it runs (a fork's own order-1 allocations could compact too and count
	# in compact_stall); fragment ends itself after 60 s (SIGALRM, status 142).
	finish_workload
	rc=$?
	STALLS=$(($(vmstat compact_stall) - stall0)) d1=$(vmstat compact_daemon_wake) t1=$(thp_tries)
	[ $rc -eq 0 ] || fail "fragment failed, status $rc: $(cat "$TMP/fragment.err")"
	wait_record 30
	read -r _ faults < <(grep '^thp_faults ' "$WOUT")
	read -r _ huge < <(grep '^huge_bytes ' "$WOUT")
	note "workload got $((huge >> 20)) MiB of $thp_mb MiB ($faults faults) in huge pages;" \
		"compact_stall +$STALLS, kcompactd woken $((d1 - d0)) times; $SECONDS s in all"
	OTHERS=$((t1 - t0 - faults))
	note "huge-page faults system-wide meanwhile: $((t1 - t0)), $OTHERS of them by other processes"
	J=$TMP/compact$1.json
	report_json "$TMP/compact$1.data" "$J"
}
for n in 1 2 3; do
	attempt $n
	if [ "$STALLS" -lt 10 ]; then
		note "the kernel compacted $STALLS times only, faultline saw" \
			"$(json 'j["stalls"]["direct_compaction"]["count"]' "$J"): 2 MiB blocks freed or" \
			"compacted outside the test meanwhile? (kcompactd, compact_memory, a process exiting)"
	elif [ "$OTHERS" -gt 0 ]; then
		note "other processes' huge-page faults may have compacted too (compact_stall is" \
			"system-wide): not a clean ground truth"
	else
		break
	fi
	{ [ "$n" -lt 3 ] && [ $SECONDS -lt 40 ]; } || break
	note "trying again"
done

j=$J
count=$(json 'j["stalls"]["direct_compaction"]["count"]' "$j")
p50=$(json 'j["stalls"]["direct_compaction"]["p50_ns"]' "$j")
total=$(json 'j["stalls"]["direct_compaction"]["total_ns"]' "$j")
note "faultline direct_compaction: $count stalls, $total ns in total, p50 $p50 ns"
check_ge "compact_stall delta (the workload really compacted)" "$STALLS" 10
check_within "direct compaction stalls vs /proc/vmstat compact_stall delta" "$count" "$STALLS" 3
# Tries that found the zone deferred take under a microsecond; those that compacted take longer.
check_ge "longest direct compaction (ns)" "$(json 'j["stalls"]["direct_compaction"]["max_ns"]' "$j")" 10000
check_eq "thp-defrag-compaction finding" \
	"$(json "any(f['id'] == 'thp-defrag-compaction' for f in j['findings'])" "$j")" True
echo "ok"
