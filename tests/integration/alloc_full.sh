#!/usr/bin/env bash
# vm: yes
# --alloc=full counts every malloc and free exactly: malloc_n makes N mallocs of known sizes and N
# frees, under glibc and again with Debian's libjemalloc LD_PRELOADed (detected as jemalloc).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JEMALLOC" ] || { echo "skip: $JEMALLOC not installed (apt-get install libjemalloc2)"; exit 77; }
N=20000

# run_case LABEL [LD_PRELOAD]: records malloc_n with --alloc=full; checks counts and bytes.
run_case() {
	local label=$1 preload=${2:-} want_alloc=$3 out=$TMP/$1.json bytes
	if [ -n "$preload" ]; then
		LD_PRELOAD=$preload start_workload malloc_n $N
	else
		start_workload malloc_n $N
	fi
	start_record -p "$WPID" --alloc=full -o "$TMP/$label.data"
	go
	finish_workload || fail "malloc_n exited non-zero"
	wait_record 30
	report_json "$TMP/$label.data" "$out"
	bytes=$(awk '$1 == "done" { print $6 }' "$WOUT")
	note "$label: workload says: $(tail -1 "$WOUT")"
	check_eq "$label: allocator" "$(json 'j["alloc"]["libraries"][0]["allocator"]' "$out")" "$want_alloc"
	check_eq "$label: malloc calls" "$(json 'j["alloc"]["functions"]["malloc"]["count"]' "$out")" $N
	check_eq "$label: free calls" "$(json 'j["alloc"]["functions"]["free"]["count"]' "$out")" $N
	check_eq "$label: malloc bytes asked" "$(json 'j["alloc"]["functions"]["malloc"]["bytes"]' "$out")" "$bytes"
	check_eq "$label: per-thread calls" \
		"$(json 'sum(t["calls"] for t in j["alloc"]["threads"] if t["pid"] == '"$WPID"')' "$out")" $((2 * N))
	check_eq "$label: histogram total = count" \
		"$(json 'sum(b["count"] for b in j["alloc"]["functions"]["malloc"]["hist"])' "$out")" $N
	check_eq "$label: mode" "$(json 'j["alloc"]["mode"]' "$out")" full
}

run_case glibc "" glibc
"$FL" report -i "$TMP/glibc.data" | sed -n '/^Allocator/,/latency/p' | head -12
run_case jemalloc "$JEMALLOC" jemalloc
check_eq "jemalloc: mallocx probed" \
	"$(json '[s["status"] for s in j["alloc"]["libraries"][0]["symbols"] if s["name"] == "mallocx"][0]' "$TMP/jemalloc.json")" probed
# A process that execs keeps its probes (they follow libc into the new image) and is counted from
# its first call: sh execs malloc_n, whose N mallocs and frees must all be there (plus the few
# the shell and the loader make).
"$FL" record --alloc=full -o "$TMP/exec.data" -- sh -c "exec $WL/malloc_n $N </dev/null" \
	>"$TMP/exec.out" 2>"$TMP/exec.err" || { cat "$TMP/exec.err"; fail "record -- sh -c exec failed"; }
report_json "$TMP/exec.data" "$TMP/exec.json"
for fn in malloc free; do
	got=$(json 'j["alloc"]["functions"]["'$fn'"]["count"]' "$TMP/exec.json")
	check_ge "exec'd: $fn calls" "$got" $N
	check_ge "exec'd: $fn calls at most N + 200 (the shell and the loader make a few)" $((N + 200)) "$got"
done
echo "ok"
