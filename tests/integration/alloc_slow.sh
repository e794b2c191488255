#!/usr/bin/env bash
# --alloc=slow counts the allocator's slow paths exactly: heap_grow makes LARGE 2 MiB mallocs
# (freed) and SMALL 4000-byte ones, and counts itself, under glibc, the mallocs that moved the
# break or returned an mmapped chunk (each one sysmalloc call) and the frees of mmapped chunks
# (each one munmap_chunk call); malloc and free themselves are not probed. Then with Debian's
# tcmalloc LD_PRELOADed, each 2 MiB block is one PageHeap::GrowHeap.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
SMALL=3000 LARGE=8
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4

# record LABEL [--not-glibc]: heap_grow under --alloc=slow, LD_PRELOAD=$PRELOAD for the workload
# only (an ASan faultline refuses a preloaded library ahead of its runtime).
record() {
	local label=$1
	shift
	LD_PRELOAD=${PRELOAD:-} start_workload heap_grow $SMALL $LARGE "$@"
	start_record -p "$WPID" --alloc=slow -o "$TMP/$label.data"
	go
	finish_workload || fail "heap_grow exited non-zero"
	wait_record "$(scaled 60 | cut -d. -f1)"
	report_json "$TMP/$label.data" "$TMP/$label.json"
	"$FL" report -i "$TMP/$label.data" >"$TMP/$label.txt" || fail "report failed"
	note "$label: workload says: $(tail -1 "$WOUT")"
	read -r _ _ GROWS _ MMAPPED _ FREED_MMAPPED _ <<<"$(tail -1 "$WOUT")"
	[ -n "$FREED_MMAPPED" ] || fail "heap_grow printed no result"
	check_eq "$label: mode" "$(json 'j["alloc"]["mode"]' "$TMP/$label.json")" slow
}

# fn_count FILE FUNC: calls of FUNC in the report's JSON, 0 when absent.
fn_count() { json 'j["alloc"]["functions"].get("'"$2"'", {}).get("count", 0)' "$1"; }

libc=$(ldd "$WL/heap_grow" | awk '/libc.so/ {print $3}')
id=$(readelf -n "$libc" | awk '/Build ID/ {print $3}')
record glibc
if [ -e "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ]; then
	sed -n '/^Allocator/,/probe cost per call/p' "$TMP/glibc.txt"
	check_eq "glibc: sysmalloc calls (grew the break + mmapped)" \
		"$(fn_count "$TMP/glibc.json" sysmalloc)" $((GROWS + MMAPPED))
	check_eq "glibc: munmap_chunk calls (frees of mmapped chunks)" \
		"$(fn_count "$TMP/glibc.json" munmap_chunk)" "$FREED_MMAPPED"
	check_eq "glibc: malloc not probed" "$(fn_count "$TMP/glibc.json" malloc)" 0
	# the caller: the first return address on the stack past libc's code (a scan, not an unwind)
	sed -n '/slow-path calls by caller/,/^$/p' "$TMP/glibc.txt"
	check_eq "glibc: sysmalloc's main caller" "$(json '[c["caller"] for c in j["alloc"]["slow_path_callers"] if c["func"] == "sysmalloc"][0]' "$TMP/glibc.json")" "main (heap_grow)"
	check_eq "glibc: brk calls timed (lite's syscalls still on)" \
		"$(json 'j["alloc"]["syscalls"]["brk"]["count"] >= '"$GROWS" "$TMP/glibc.json")" True
else
	# without libc6-dbg: the report says why and what is still timed
	grep -q "glibc slow path not probed: .*install libc6-dbg" "$TMP/glibc.txt" ||
		fail "no 'install libc6-dbg' line in the report"
	note "no debug file for $libc: the report says: $(grep -o 'glibc slow path not probed.*' "$TMP/glibc.txt")"
fi

if [ ! -e "$TCMALLOC" ]; then
	[ "${CI:-}" = true ] && fail "$TCMALLOC not installed (scripts/install-deps.sh)"
	echo "ok (tcmalloc part skipped: $TCMALLOC not installed; apt-get install libtcmalloc-minimal4)"
	exit 0
fi
PRELOAD=$TCMALLOC record tcmalloc --not-glibc
sed -n '/^  function/,/^  (p50/p' "$TMP/tcmalloc.txt"
check_eq "tcmalloc: allocator" "$(json 'j["alloc"]["libraries"][0]["allocator"]' "$TMP/tcmalloc.json")" tcmalloc
check_eq "tcmalloc: PageHeap::GrowHeap calls (one per 2 MiB block)" \
	"$(fn_count "$TMP/tcmalloc.json" GrowHeap)" "$LARGE"
check_eq "tcmalloc: GrowHeap's main caller" "$(json '[c["caller"] for c in j["alloc"]["slow_path_callers"] if c["func"] == "GrowHeap"][0]' "$TMP/tcmalloc.json")" "main (heap_grow)"
check_ge "tcmalloc: FetchFromCentralCache calls (small blocks)" \
	"$(fn_count "$TMP/tcmalloc.json" FetchFromCentralCache)" 1
echo "ok"
