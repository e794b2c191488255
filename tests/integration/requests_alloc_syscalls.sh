#!/usr/bin/env bash
# The memory syscalls (--alloc=lite) and the requests on the wire come from the same two syscall
# programs (bpf/sys.bpf.c): one session records both exactly, whichever program runs which part.
# memsys_n makes an exact set of memory syscalls while examples/server.py answers R requests, both
# traced by one `record -p`. Per probe plan: both parts in the tp_btf programs (the default), both
# in the raw_tp ones, split (memory syscalls raw_tp, requests tp_btf: each program runs one part),
# and each part alone (--wire=off, --alloc=off): the calls memsys_n counted itself and the R
# requests, neither lost nor counted twice, and the plan as asked.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
source "$(dirname "$0")/requests_common.bash"
need_root
N=40 M=10 R=12

start_server --kv-mb 1 -q

# sys_links: "NAME:LINKS" for each syscall program faultline (RPID) has attached, from its link fds'
# fdinfo (prog_id); a program attached twice (once per concern) would run twice on every syscall.
sys_links() {
	local f id
	for f in /proc/"$RPID"/fdinfo/*; do
		grep -q '^link_type:' "$f" 2>/dev/null || continue
		id=$(awk '$1 == "prog_id:" { print $2 }' "$f")
		bpftool prog show id "$id" 2>/dev/null | sed -n 's/.* name \(fl_sys_[a-z_]*\) .*/\1/p' |
			cut -c1-15 # the kernel's name; bpftool may show the full one
	done | sort | uniq -c | awk '{print $2 ":" $1}' | paste -sd ' '
}

# run NAME ARGS...: one session with record ARGS; checks the counts against memsys_n's own.
run() {
	local name=$1 out=$TMP/$1.json want_alloc want_req
	shift
	start_workload memsys_n $N $M
	start_record -p "$WPID,$SPID" -o "$TMP/$name.data" "$@"
	LINKS=$(sys_links)
	go
	loadgen -n $R -c 1 --max-tokens 4 --prompt-len 20
	finish_workload || fail "memsys_n exited non-zero"
	stop_record
	"$FL" report -i "$TMP/$name.data" --json >"$out" || fail "$name: report failed"
	read -r _ mm_c _ _ un_c _ _ ad_c _ _ _ _ < <(grep '^mmap' "$WOUT")
	want_alloc=$((mm_c + un_c + ad_c)) want_req=$R
	case " $* " in *" --alloc=off "*) want_alloc=0 ;; esac
	case " $* " in *" --wire=off "*) want_req=0 ;; esac
	note "$name (record $*): plan alloc_syscalls=$(json 'j["probes"]["alloc_syscalls"]["attach"]' "$out")" \
		"requests=$(json 'j["probes"]["requests"]["attach"]' "$out")"
	check_eq "$name: mmap+munmap+madvise calls by memsys_n" \
		"$(json 'sum(c["calls"] for c in (j["alloc"] or {}).get("by_caller", []) if c["library"] == "memsys_n")' "$out")" \
		"$want_alloc"
	check_eq "$name: requests on the wire" \
		"$(json 'len((j["requests"] or {}).get("list", []))' "$out")" "$want_req"
}

command -v bpftool >/dev/null || fail "bpftool not found (Debian package bpftool; the build needs it too)"
run both_btf
check_eq "both_btf: syscall programs attached (name:links)" "$LINKS" "fl_sys_enter:1 fl_sys_exit:1"
check_eq "both_btf: alloc_syscalls attach" "$(json 'j["probes"]["alloc_syscalls"]["attach"]' "$TMP/both_btf.json")" tp_btf
check_eq "both_btf: requests attach" "$(json 'j["probes"]["requests"]["attach"]' "$TMP/both_btf.json")" tp_btf
run both_raw --probes alloc-syscalls=raw_tp,requests=raw_tp
check_eq "both_raw: alloc_syscalls attach" "$(json 'j["probes"]["alloc_syscalls"]["attach"]' "$TMP/both_raw.json")" raw_tp
check_eq "both_raw: requests attach" "$(json 'j["probes"]["requests"]["attach"]' "$TMP/both_raw.json")" raw_tp
run split --probes alloc-syscalls=raw_tp
# names cut to the kernel's 15 characters: fl_sys_enter_raw is fl_sys_enter_ra
check_eq "split: syscall programs attached (name:links)" "$LINKS" \
	"fl_sys_enter:1 fl_sys_enter_ra:1 fl_sys_exit:1 fl_sys_exit_raw:1"
check_eq "split: alloc_syscalls attach" "$(json 'j["probes"]["alloc_syscalls"]["attach"]' "$TMP/split.json")" raw_tp
check_eq "split: requests attach" "$(json 'j["probes"]["requests"]["attach"]' "$TMP/split.json")" tp_btf
run wire_off --wire=off
check_eq "wire_off: requests status" "$(json 'j["probes"]["requests"]["status"]' "$TMP/wire_off.json")" off
run alloc_off --alloc=off
check_eq "alloc_off: alloc_syscalls status" "$(json 'j["probes"]["alloc_syscalls"]["status"]' "$TMP/alloc_off.json")" off
echo "ok"
