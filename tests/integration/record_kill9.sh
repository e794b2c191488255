#!/usr/bin/env bash
# kill -9 of record mid-session: the temporary file record named at startup (.NAME.XXXXXX next to
# the output) reads back with report (as truncated); afterwards none of the BPF programs or links
# record held remains (bpftool prog/link, by id), and no probe event of its pid in tracefs.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
command -v bpftool >/dev/null || { [ "${CI:-}" = true ] && fail "bpftool missing"; echo "skip: no bpftool"; exit 77; }

# ids prog|link PID: ids of the BPF programs or links PID holds (from /proc/PID/fdinfo: this
# bpftool may be built without its "pids" column)
ids() {
	python3 - "$1" "$2" <<'PY'
import os, sys
key, d = sys.argv[1] + "_id:", "/proc/%s/fdinfo" % sys.argv[2]
ids = set()
for fd in os.listdir(d):
    try:
        for line in open(os.path.join(d, fd)):
            if line.startswith(key):
                ids.add(int(line.split()[1]))
    except OSError:
        pass
print(" ".join(str(i) for i in sorted(ids)))
PY
}
# alive PROG|LINK IDS...: those of IDS that still exist
alive() {
	local kind=$1
	shift
	bpftool "$kind" show --json 2>/dev/null | python3 -c '
import json, sys
want = set(int(x) for x in sys.argv[1:])
print(" ".join(str(o["id"]) for o in json.load(sys.stdin) if o["id"] in want))' "$@"
}

start_workload fault_steady 2 --rate 5000
start_record -p "$WPID" -o "$TMP/k.data" --alloc=full
tmpfile=$(sed -n 's/.*recording to .* (as \(.*\) until the end.*/\1/p' "$TMP/rec.err")
note "record says it writes to $tmpfile"
{ [ -n "$tmpfile" ] && [ -f "$tmpfile" ]; } || fail "no temporary file named in: $(cat "$TMP/rec.err")"
case $tmpfile in "$TMP/.k.data."*) ;; *) fail "the temporary file $tmpfile is not .k.data.XXXXXX next to the output" ;; esac
# wait for at least one whole chunk past the metadata (a chunk is handed over after 1 s)
meta_end=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(24 + struct.unpack("<Q", d[16:24])[0])' "$tmpfile")
for _ in $(seq $((10 * $(printf %.0f "$(scaled 10)")))); do
	[ "$(stat -c %s "$tmpfile")" -gt $((meta_end + 40)) ] && break
	sleep 0.1
done
sleep 0.3 # the chunk is written with one write(): let it finish
note "metadata ends at byte $meta_end; file now $(stat -c %s "$tmpfile") bytes"
progs=$(ids prog "$RPID")
links=$(ids link "$RPID")
note "record holds BPF programs [$progs] and links [$links]"
[ -n "$progs" ] || fail "no BPF program fd in /proc/$RPID/fdinfo"
kill -9 "$RPID"
wait "$RPID" 2>/dev/null
note "record killed (-9); file $(stat -c %s "$tmpfile") bytes, mode $(stat -c %a "$tmpfile")"
check_eq "mode of the temporary file" "$(stat -c %a "$tmpfile")" 600
[ ! -e "$TMP/k.data" ] || fail "$TMP/k.data exists although record never finished"

"$FL" report -i "$tmpfile" --json >"$TMP/k.json" 2>"$TMP/k.err" || fail "report of the killed record's file failed: $(cat "$TMP/k.err")"
note "report: $(cat "$TMP/k.err")"
check_eq "session.truncated" "$(json 'j["session"]["truncated"]' "$TMP/k.json")" True
check_ge "events read back" "$(json 'j["events"]["total"]' "$TMP/k.json")" 1

# the kernel frees what a dead process held; give it a moment
left_p=$progs left_l=$links
for _ in $(seq $((10 * $(printf %.0f "$(scaled 10)")))); do
	# shellcheck disable=SC2086 # id lists, split on purpose
	left_p=$(alive prog $progs)
	# shellcheck disable=SC2086
	left_l=$([ -n "$links" ] && alive link $links)
	[ -z "$left_p$left_l" ] && break
	sleep 0.1
done
check_eq "record's BPF programs left" "${left_p:-none}" none
check_eq "record's BPF links left" "${left_l:-none}" none
events=0
for f in /sys/kernel/tracing/uprobe_events /sys/kernel/tracing/kprobe_events \
	/sys/kernel/debug/tracing/uprobe_events /sys/kernel/debug/tracing/kprobe_events; do
	[ -r "$f" ] && events=$((events + $(grep -c "libbpf_${RPID}_" "$f" || true)))
done
check_eq "tracefs probe events of record's pid" "$events" 0
echo ok
