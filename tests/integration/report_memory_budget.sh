#!/usr/bin/env bash
# report's memory budget. Crafted recordings of highly compressible events (a 64 MiB chunk
# deflates ~1000:1), written here with Python's zlib following docs/record-format.md:
#  1. one declaring twice as many events as half of MemAvailable can hold: report (default
#     budget) refuses before reading, exit 1, with the figure and --max-memory in the message;
#  2. one whose events cost more than the chunk headers suggest (stalls): --max-memory 128M
#     passes the check before reading and stops while reading, exit 1, memory stays bounded;
#  3. an allocation that fails is an error with nothing printed (ulimit -v);
#  4. --max-memory bad values are a usage error; 5. a real recording reports with the default.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

# craft OUT EVENTS [short]: a valid file of EVENTS identical direct-reclaim stalls in 64 MiB
# chunks; "short": bare 16-byte event headers instead (the smallest record the format allows),
# so that the file on disk is small.
craft() {
	python3 - "$1" "$2" "${3:-}" "$ROOT/user/recfile.h" <<'EOF'
import re, struct, sys, zlib
out, want, short = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "short"
# the format version this faultline reads
version = int(re.search(r"#define FL_FORMAT_VERSION (\d+)", open(sys.argv[4]).read())[1])
# struct fl_stall: fl_hdr {type=4 (FL_EV_STALL), flags, tid, ts_ns}, pid, cause=1
# (direct_reclaim), order, dur_ns, arg0, arg1: 48 bytes, behind a u16 length.
ev = struct.pack("<HHIQIHhQQQ", 4, 0, 7, 1000, 7, 1, 0, 5000, 0, 0)
if short:
    ev = ev[:16]
rec = struct.pack("<H", len(ev)) + ev
per_chunk = (64 << 20) // len(rec)
meta = b'{"host":"crafted"}'
with open(out, "wb") as f:
    f.write(b"FLTLINE\0" + struct.pack("<IIQ", version, 0, len(meta)) + meta)
    cache = {}
    left = want
    while left > 0:
        n = min(left, per_chunk)
        if n not in cache:
            comp = zlib.compress(rec * n, 9)
            hdr = struct.pack("<4sIIIQQII", b"FLCK", len(rec) * n, len(comp), 0, 1000, 1000, n, 0)
            crc = zlib.crc32(comp, zlib.crc32(hdr))
            cache[n] = hdr[:12] + struct.pack("<I", crc) + hdr[16:] + comp
        f.write(cache[n])
        left -= n
EOF
}

# run_report NAME ARGS...: report with a time limit; sets rc, err (stderr) and rss (KiB, or "?").
run_report() {
	local name=$1
	shift
	if [ -x /usr/bin/time ]; then
		timeout "$(scaled 120)" /usr/bin/time -o "$TMP/$name.time" -f %M \
			"$FL" report "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
		rc=$?
		rss=$(tail -n1 "$TMP/$name.time")
	else
		timeout "$(scaled 120)" "$FL" report "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
		rc=$?
		rss="?"
	fi
	err=$(grep -v '^Command exited' "$TMP/$name.err")
	note "$name: exit $rc, max RSS ${rss} KiB, stderr: $err"
}

# Sanitizer builds keep freed blocks in quarantine and shadow memory: RSS bounds are looser.
rss_mult=1
[ "${FAULTLINE_SAN:-0}" = 1 ] && rss_mult=4
avail_kb=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
[ -n "$avail_kb" ] || fail "no MemAvailable in /proc/meminfo"
# The check before reading counts 24 bytes per event: 1.5 times what half of MemAvailable holds
# (MemAvailable may grow a little before faultline reads it).
huge=$((avail_kb * 1024 * 3 / 2 / 2 / 24))
craft "$TMP/huge.data" "$huge" short || fail "could not write the crafted file"
note "huge.data: $(stat -c %s "$TMP/huge.data") bytes on disk declaring $huge events" \
	"($((huge * 18 >> 30)) GiB of events); MemAvailable ${avail_kb} kB"

run_report huge -i "$TMP/huge.data"
check_eq "huge: exit status" "$rc" 1
grep -q 'needs about .* to report (.* M events); the budget is .* (half of MemAvailable); raise it with --max-memory' \
	<<<"$err" || fail "huge: the message lacks the figure, the budget or the way out: $err"
[ "$rss" = "?" ] || [ "$rss" -lt $((512 * 1024 * rss_mult)) ] || fail "huge: report took $rss KiB before refusing"
[ -s "$TMP/huge.out" ] && fail "huge: a report was printed: $(head -c 200 "$TMP/huge.out")"
run_report huge-json -i "$TMP/huge.data" --json
check_eq "huge --json: exit status" "$rc" 1

# 3 M stalls: 72 MB by the headers' count plus one 64 MiB chunk inflated (under the budget),
# but 40 bytes of stall record each once read, in an array that doubles (168 MB at 2.1 M), so
# the heap check while reading has to stop it.
craft "$TMP/stalls.data" 3000000 || fail "could not write the crafted file"
note "stalls.data: $(stat -c %s "$TMP/stalls.data") bytes declaring 3000000 stalls"
run_report stalls -i "$TMP/stalls.data" --max-memory 200M
check_eq "stalls --max-memory 200M: exit status" "$rc" 1
grep -q 'stopped reading at chunk [0-9]* (.* M events): the report already takes .*, over the budget of 200.0 MiB (--max-memory 200M); raise it with --max-memory' \
	<<<"$err" || fail "stalls: the message lacks the figure, the budget or the way out: $err"
[ "$rss" = "?" ] || [ "$rss" -lt $((500 * 1024 * rss_mult)) ] || fail "stalls: report took $rss KiB"
run_report stalls-1G -i "$TMP/stalls.data" --max-memory 1G --json
check_eq "stalls --max-memory 1G: exit status" "$rc" 0
check_eq "stalls --max-memory 1G: direct_reclaim stalls reported" \
	"$(json 'j["stalls"]["direct_reclaim"]["count"]' "$TMP/stalls-1G.out")" 3000000

# An allocation that fails (address space capped below what the stalls need, budget off) is an
# error, not a report with a hole in it. ASan reserves terabytes of address space: not there.
if [ "${FAULTLINE_SAN:-0}" != 1 ]; then
	(
		ulimit -v 160000
		exec "$FL" report -i "$TMP/stalls.data" --max-memory unlimited
	) >"$TMP/oom.out" 2>"$TMP/oom.err"
	rc=$?
	note "ulimit -v 160000, --max-memory unlimited: exit $rc, stderr: $(cat "$TMP/oom.err")"
	check_eq "out of memory: exit status" "$rc" 1
	grep -q 'out of memory while building the report' "$TMP/oom.err" || fail "no 'out of memory' message"
	check_eq "out of memory: bytes of report printed" "$(wc -c <"$TMP/oom.out")" 0
fi

for bad in 12Q -1 0 1e9 ""; do
	run_report "bad-value-'$bad'" -i "$TMP/stalls.data" --max-memory "$bad"
	check_eq "--max-memory '$bad': exit status" "$rc" 2
	grep -q -- "--max-memory '$bad': expected a size such as 512M, 2G" <<<"$err" ||
		fail "--max-memory '$bad': unclear error: $err"
done
"$FL" diff --max-memory 12Q "$TMP/stalls.data" "$TMP/stalls.data" >/dev/null 2>"$TMP/diff.err"
check_eq "diff --max-memory 12Q: exit status" "$?" 2
"$FL" diff --max-memory 64M "$TMP/stalls.data" "$TMP/huge.data" >/dev/null 2>"$TMP/diff.err"
rc=$?
note "diff over the budget: exit $rc, stderr: $(cat "$TMP/diff.err")"
check_eq "diff over the budget: exit status" "$rc" 1
grep -q 'raise it with --max-memory' "$TMP/diff.err" || fail "diff: no way out in the message"

# A real recording reports with the default budget, and says nothing on stderr.
start_workload mmap_churn 2 1 1
start_record -p "$WPID" -o "$TMP/real.data"
go
finish_workload || fail "mmap_churn failed"
wait_record 30
run_report real -i "$TMP/real.data"
check_eq "real recording, default budget: exit status" "$rc" 0
[ -z "$err" ] || fail "real recording: report wrote to stderr: $err"
grep -q '^  events [0-9]*, dropped' "$TMP/real.out" || fail "real recording: no report printed"
note "real: $(grep -m1 '^  events' "$TMP/real.out")"
