#!/usr/bin/env bash
# faultline opens the libraries a target maps as root: what is at a path of /proc/PID/maps is the
# target's to change. Three targets map a copy of libcudart, then a tmpfs mounted over its
# directory (maps still name the old path, not "(deleted)") puts something else there: a FIFO
# (opening it for reading would block faultline for ever), a symbolic link, another regular file.
# record must start and stop as usual, probe none of them, and the report must say why for each;
# the allocator (libc, untouched) is still probed.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
CUDART=${FAULTLINE_CUDART:-/usr/local/cuda/lib64/libcudart.so.13}
[ -e "$CUDART" ] || { echo "skip: $CUDART not present (CUDA runtime not installed)"; exit 77; }

# start_target NAME: python mapping $TMP/NAME/libcudart.so.13; sets PID[NAME].
declare -A PID
start_target() {
	mkdir -p "$TMP/$1"
	cp "$CUDART" "$TMP/$1/libcudart.so.13"
	python3 -c '
import ctypes, os, sys
ctypes.CDLL(sys.argv[1])
print("pid", os.getpid(), flush=True)
sys.stdin.readline()
' "$TMP/$1/libcudart.so.13" <"$TMP/$1.in" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	local bg=$!
	on_exit "kill -9 $bg 2>/dev/null"
	wait_line "$TMP/$1.out" '^pid ' 60 || fail "$1: target did not start: $(cat "$TMP/$1.err")"
	PID[$1]=$(awk '$1 == "pid" { print $2 }' "$TMP/$1.out")
}

for t in fifo link other; do
	mkfifo "$TMP/$t.in"
done
exec 7<>"$TMP/fifo.in" 8<>"$TMP/link.in" 9<>"$TMP/other.in"
for t in fifo link other; do
	start_target $t
	mount -t tmpfs -o size=4m fl-test "$TMP/$t" || fail "cannot mount a tmpfs on $TMP/$t"
	on_exit "umount -l '$TMP/$t'"
done
mkfifo "$TMP/fifo/libcudart.so.13"
ln -s "$CUDART" "$TMP/link/libcudart.so.13"
echo "not the mapped file" >"$TMP/other/libcudart.so.13"
for t in fifo link other; do
	note "$t target ${PID[$t]}: $(grep -c "$TMP/$t/libcudart.so.13\$" "/proc/${PID[$t]}/maps") mappings of a path that is now a $(stat -c %F "$TMP/$t/libcudart.so.13")"
done

start_record -p "${PID[fifo]},${PID[link]},${PID[other]}" -o "$TMP/t.data" --alloc=full
sleep 1
kill -INT "$RPID"
for _ in $(seq 300); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$RPID" 2>/dev/null && { kill -9 "$RPID"; cat "$TMP/rec.err"; fail "record did not stop within 30 s of SIGINT"; }
wait "$RPID" || { cat "$TMP/rec.err"; fail "record exited non-zero"; }
grep -q "probed .* in .*libcudart" "$TMP/rec.err" && { cat "$TMP/rec.err"; fail "a replaced libcudart was probed"; }
"$FL" report -i "$TMP/t.data" >"$TMP/r.txt" 2>"$TMP/r.err" || fail "report failed: $(cat "$TMP/r.err")"
grep 'libcudart' "$TMP/r.txt" | sed 's/^/  report: /'
fifo_line=$(grep "pid ${PID[fifo]} .*libcudart" "$TMP/r.txt")
link_line=$(grep "pid ${PID[link]} .*libcudart" "$TMP/r.txt")
case $fifo_line in *"not a regular file (a FIFO)"*) ;; *) fail "FIFO: want 'not a regular file (a FIFO)' in the report: '$fifo_line'" ;; esac
other_line=$(grep "pid ${PID[other]} .*libcudart" "$TMP/r.txt")
case $link_line in *"symbolic link"*) ;; *) fail "symlink: want 'symbolic link' in the report: '$link_line'" ;; esac
case $other_line in *"not the mapped one"*) ;; *) fail "other file: want 'not the mapped one' in the report: '$other_line'" ;; esac
libc=$(grep -c "pid \(${PID[fifo]}\|${PID[link]}\|${PID[other]}\) .*libc\.so" "$TMP/r.txt")
check_eq "allocator libraries still probed (libc of the three targets)" "$libc" 3
echo "ok"
