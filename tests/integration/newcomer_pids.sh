#!/usr/bin/env bash
# The wrong pid (issue #14): a pyenv-style shim (a bash script running python3 without exec) is
# named as a launcher whose child does the work, on stderr and in the report header; a kernel
# thread is refused by record, doctor and top; -p with -a is refused. Each refusal: a message, a
# non-zero exit, no file.
. "$(dirname "$0")/../lib.sh"
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
exec 7> >("$TMP/python3-shim" server.py >/dev/null 2>&1)
SHIM=$!
on_exit "exec 7>&-"
child=
for _ in $(seq 100); do
	child=$(pgrep -P "$SHIM" python3 | head -1)
	[ -n "$child" ] && break
	sleep 0.1
done
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
"$FL" report -i "$TMP/shim.data" --json >"$TMP/shim.json" 2>&1 || fail "report --json failed"
echo "ok"
