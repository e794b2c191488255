#!/usr/bin/env bash
# The wrong pid (issue #14): a pyenv-style shim (a bash script running python3 without exec) is
# named as a launcher whose child does the work, on stderr and in the report header; with
# --children the header and diff describe the child (comm, allocator, command line); a pid that
# exec's during the recording is described as the new program; a kernel
# thread is refused by record, doctor and top; -p with -a is refused. Each refusal: a message, a
# non-zero exit, no file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
need_root

# refused DESC REGEX CMD...: CMD exits 1..125 with stderr matching REGEX, leaving no never.data.
refused() {
	local desc=$1 re=$2 rc
	shift 2
	timeout "$(scaled 60)" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	note "$desc: exit $rc, stderr: $(head -c 200 "$TMP/err" | tr '\n' ' ')"
	if [ $rc -lt 1 ] || [ $rc -gt 123 ]; then fail "$desc: exit $rc (want a refusal)"; fi
	grep -qE -e "$re" "$TMP/err" || fail "$desc: stderr does not match /$re/"
	[ -e "$TMP/never.data" ] && fail "$desc: left $TMP/never.data behind"
	return 0
}

# shim_child PID: prints the python3 that the shim PID started, once there is one (up to 10 s).
shim_child() {
	local c
	for _ in $(seq 100); do
		c=$(pgrep -P "$1" python3 | head -1)
		[ -n "$c" ] && break
		sleep 0.1
	done
	echo "$c"
}

o=(-o "$TMP/never.data")
refused "record -p \$\$ -a" '-p and -a exclude each other' "$FL" record -p $$ -a -d 1 "${o[@]}"
kt=$(awk '{ print $1 }' /proc/2/stat 2>/dev/null)
flags=$(sed 's/.*) //' /proc/2/stat | awk '{ print $7 }')
note "pid 2: comm $(cat /proc/2/comm), flags $flags (PF_KTHREAD 0x200000: $(((flags & 0x200000) != 0)))"
if [ "$kt" != 2 ] || [ $((flags & 0x200000)) -eq 0 ]; then fail "pid 2 is not a kernel thread here"; fi
refused "record -p 2" 'pid 2 is a kernel thread' "$FL" record -p 2 -d 1 "${o[@]}"
refused "doctor -p 2" 'pid 2 is a kernel thread' "$FL" doctor -p 2
refused "top -p 2" 'pid 2 is a kernel thread' "$FL" top -p 2 --batch -n 1

# The shim: bash runs python3 as its child (no exec), as pyenv's shims do.
printf '#!/bin/bash\npython3 -c "import sys; sys.stdin.readline()" "$@"\n' >"$TMP/python3-shim"
chmod +x "$TMP/python3-shim"
exec 7> >("$TMP/python3-shim" server.py --mark "fl-shim-$$" >/dev/null 2>&1)
SHIM=$!
on_exit "exec 7>&-"
child=$(shim_child "$SHIM")
[ -n "$child" ] || fail "the shim's python3 never started"
note "shim pid $SHIM ($(cat "/proc/$SHIM/comm")), its child pid $child ($(cat "/proc/$child/comm"))"
"$FL" record -p "$SHIM" -d 1 -o "$TMP/shim.data" >/dev/null 2>"$TMP/shim.err" ||
	fail "record -p shim failed: $(cat "$TMP/shim.err")"
note "record said: $(grep warning "$TMP/shim.err")"
grep -q "pid $SHIM is a launcher.*child pid $child (python3).*-p $child.*--children" "$TMP/shim.err" ||
	fail "record did not name the shim's child and suggest -p $child or --children"
"$FL" report -i "$TMP/shim.data" >"$TMP/shim.txt" 2>&1 || fail "report failed"
line=$(grep -E "^    \(pid $SHIM is a launcher" "$TMP/shim.txt")
note "report header: $line"
grep -q "child pid $child python3 does the work" <<<"$line" || fail "the report header does not name the child"
timeout "$(scaled 60)" "$FL" top -p "$SHIM" --batch -n 1 -i 0.2 >/dev/null 2>"$TMP/top.err"
note "top -p shim said: $(grep warning "$TMP/top.err")"
grep -q "pid $SHIM is a launcher.*child pid $child" "$TMP/top.err" || fail "top did not name the shim's child"
# serve --match: the shim's command line matches too and it is older; the child is the target.
start_serve --match "fl-shim-$$"
wait_line "$TMP/serve.err" 'attached to pid' 30 || fail "serve --match never attached: $(cat "$TMP/serve.err")"
note "serve said: $(grep 'attached to pid' "$TMP/serve.err")"
grep -q "attached to pid $child " "$TMP/serve.err" || fail "serve --match attached to the shim, not its child pid $child"
kill -INT "$SPID"
wait "$SPID" 2>/dev/null
# With --children the shim's child is the target described, in the header and in diff: a glibc
# run against a jemalloc run (LD_PRELOAD in the child's environment) says glibc → jemalloc.
JE=
for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
	[ -e "$d/libjemalloc.so.2" ] && JE=$d/libjemalloc.so.2 && break
done
# shim_run NAME [ENV...]: records a fresh shim with --children into NAME.data.
shim_run() {
	local name=$1 s c
	shift
	exec 8> >(env "$@" "$TMP/python3-shim" server.py --name "$name" >/dev/null 2>&1)
	s=$!
	c=$(shim_child "$s")
	[ -n "$c" ] || fail "$name: the shim's python3 never started"
	"$FL" record -p "$s" --children -d 1 -o "$TMP/$name.data" >/dev/null 2>"$TMP/$name.err" ||
		fail "record -p shim --children ($name): $(cat "$TMP/$name.err")"
	exec 8>&-
	"$FL" report -i "$TMP/$name.data" >"$TMP/$name.txt" 2>&1 || fail "report $name failed"
	line=$(grep -E '^  target pid' "$TMP/$name.txt")
	note "$name header: $line | $(grep -E '^    \(the child of launcher' "$TMP/$name.txt")"
	grep -qE "^  target pid $c python3, allocator " <<<"$line" || fail "$name: the header does not describe the child pid $c python3"
	grep -qE "^    \(the child of launcher pid $s " "$TMP/$name.txt" || fail "$name: the header does not name the launcher pid $s"
}
shim_run glibc
if [ -n "$JE" ]; then
	shim_run jemalloc LD_PRELOAD="$JE"
	grep -q "allocator jemalloc" "$TMP/jemalloc.txt" || fail "jemalloc run: the header does not say jemalloc"
	"$FL" diff "$TMP/glibc.data" "$TMP/jemalloc.data" >"$TMP/d.txt" 2>&1 || fail "diff failed"
	line=$(grep -E '^  allocator ' "$TMP/d.txt")
	note "diff: $line | $(grep -E '^  command ' "$TMP/d.txt")"
	grep -qE 'glibc → jemalloc' <<<"$line" || fail "diff does not compare the children's allocators"
	grep -qE '^  command .*python3 .*--name glibc → .*--name jemalloc' "$TMP/d.txt" ||
		fail "diff does not compare the children's command lines"
else
	note "no libjemalloc.so.2 here: the allocator diff is not checked"
fi

# A pid that exec's during the recording: said on stderr, and the header describes the new program.
exec 9> >(exec bash -c 'read -r _; exec python3 -c "import sys; sys.stdin.readline()"' >/dev/null 2>&1)
E=$!
on_exit "exec 9>&-"
"$FL" record -p "$E" -o "$TMP/exec.data" >/dev/null 2>"$TMP/exec.err" &
R=$!
on_exit "kill $R 2>/dev/null"
for _ in $(seq 300); do grep -q 'recording to' "$TMP/exec.err" && break; sleep 0.1; done
grep -q 'recording to' "$TMP/exec.err" || fail "record -p $E never started: $(cat "$TMP/exec.err")"
echo go >&9
for _ in $(seq 300); do [[ $(readlink "/proc/$E/exe") == *python3* ]] && break; sleep 0.1; done
note "pid $E now runs $(readlink "/proc/$E/exe")"
kill -INT $R
wait $R || fail "record -p $E failed: $(cat "$TMP/exec.err")"
note "record said: $(grep "exec'd" "$TMP/exec.err")"
grep -q "pid $E exec'd .*python3.* during the recording" "$TMP/exec.err" || fail "record did not say pid $E exec'd"
"$FL" report -i "$TMP/exec.data" >"$TMP/exec.txt" 2>&1 || fail "report exec.data failed"
note "header: $(grep -A1 -E '^  target pid' "$TMP/exec.txt" | paste -sd '|')"
grep -qE "^  target pid $E python3" "$TMP/exec.txt" || fail "the header does not describe pid $E as python3"
grep -qE "^    \(exec'd during the recording: at the start it was .*bash" "$TMP/exec.txt" ||
	fail "the header does not say the pid exec'd"
echo "ok"
