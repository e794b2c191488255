#!/usr/bin/env bash
# vm: yes
# --alloc=lite (the default) sees exactly the mmap/munmap/madvise/mremap calls memsys_n makes:
# counts and bytes against the workload's own tally, DONTNEED bytes, and the calling library.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
N=200 M=50
out=$TMP/lite.json

start_workload memsys_n $N $M
start_record -p "$WPID" -o "$TMP/lite.data"
go
finish_workload || fail "memsys_n exited non-zero"
wait_record 30
report_json "$TMP/lite.data" "$out"
read -r _ mm_c mm_b _ un_c un_b _ ad_c ad_b _ re_c re_b < <(grep '^mmap' "$WOUT")
note "workload says: $(grep '^mmap' "$WOUT")"
check_eq "mode" "$(json 'j["alloc"]["mode"]' "$out")" lite
check_eq "mmap calls" "$(json 'j["alloc"]["syscalls"]["mmap"]["count"]' "$out")" "$mm_c"
check_eq "mmap bytes" "$(json 'j["alloc"]["syscalls"]["mmap"]["bytes"]' "$out")" "$mm_b"
check_eq "munmap calls" "$(json 'j["alloc"]["syscalls"]["munmap"]["count"]' "$out")" "$un_c"
check_eq "munmap bytes" "$(json 'j["alloc"]["syscalls"]["munmap"]["bytes"]' "$out")" "$un_b"
check_eq "madvise calls" "$(json 'j["alloc"]["syscalls"]["madvise"]["count"]' "$out")" "$ad_c"
check_eq "madvise(DONTNEED) bytes returned" "$(json 'j["alloc"]["dontneed_bytes_returned"]' "$out")" "$ad_b"
check_eq "mremap calls" "$(json 'j["alloc"]["syscalls"]["mremap"]["count"]' "$out")" "$re_c"
check_eq "mremap new bytes" "$(json 'j["alloc"]["syscalls"]["mremap"]["bytes"]' "$out")" "$re_b"
check_eq "errors" "$(json 'sum(s["errors"] for s in j["alloc"]["syscalls"].values())' "$out")" 0
# glibc's mmap/munmap/madvise wrappers are leaf functions: the return address on the stack names
# the caller. Its mremap wrapper has a stack frame, so those calls are put on libc itself.
check_eq "mmap+munmap+madvise calls attributed to memsys_n" \
	"$(json 'sum(c["calls"] for c in j["alloc"]["by_caller"] if c["library"] == "memsys_n")' "$out")" \
	$((mm_c + un_c + ad_c))
check_eq "all calls attributed" "$(json 'sum(c["calls"] for c in j["alloc"]["by_caller"])' "$out")" \
	$((mm_c + un_c + ad_c + re_c))
check_eq "no per-call uprobes in lite mode" "$(json 'j["probes"]["alloc_calls"]["status"]' "$out")" off
echo "ok"
