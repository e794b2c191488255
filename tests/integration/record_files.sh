#!/usr/bin/env bash
# Files like perf: -o to a symlink, a directory or an unwritable place is a one-line error before
# anything is started or attached (the command does not run, the symlink's target is untouched);
# an existing recording is kept as NAME.old, -f overwrites it; files are 0600 and no temporary
# .NAME.XXXXXX file is left behind.
source "$(dirname "$0")/../lib.sh"
need_root

D=$TMP/out
mkdir -p "$D"

# refused OUTPUT WHAT: record -o OUTPUT must fail at once with one line naming OUTPUT
refused() {
	rm -f "$TMP/ran"
	"$FL" record -o "$1" -- touch "$TMP/ran" >"$TMP/ref.out" 2>"$TMP/ref.err"
	local rc=$?
	note "-o $2: exit $rc, stderr: $(cat "$TMP/ref.err")"
	[ $rc -ne 0 ] || fail "record -o $2 succeeded"
	check_eq "  stderr lines for -o $2" "$(wc -l <"$TMP/ref.err")" 1
	grep -qF -- "$1" "$TMP/ref.err" || fail "the message does not name $1"
	[ ! -e "$TMP/ran" ] || fail "the command ran although -o $2 was refused"
}

echo precious >"$TMP/victim"
ln -s "$TMP/victim" "$D/link.data"
refused "$D/link.data" "a symlink"
check_eq "symlink target after the refusal" "$(cat "$TMP/victim")" precious
[ -L "$D/link.data" ] || fail "the symlink was replaced"
refused "$D" "a directory"
refused /proc/faultline-test.data "an unwritable place (/proc)"
refused "$D/no/such/dir/f.data" "a missing directory"

# rec ARGS...: a short recording of `true`
rec() { "$FL" record "$@" -- true >"$TMP/rec.out" 2>"$TMP/rec.err" || fail "record $* failed: $(cat "$TMP/rec.err")"; }

echo "not a recording" >"$D/r.data"
rec -o "$D/r.data"
check_eq "the previous file, now r.data.old" "$(cat "$D/r.data.old")" "not a recording"
grep -q "r.data.old" "$TMP/rec.err" || fail "record does not say where the previous file went"
check_eq "mode of r.data" "$(stat -c %a "$D/r.data")" 600
"$FL" report -i "$D/r.data" >/dev/null 2>&1 || fail "the new recording does not read back"
first=$(md5sum <"$D/r.data")
rec -o "$D/r.data"
check_eq "r.data.old after a second recording is the first recording" "$(md5sum <"$D/r.data.old")" "$first"
second=$(md5sum <"$D/r.data")
rec -f -o "$D/r.data"
check_eq "r.data.old after -f (untouched)" "$(md5sum <"$D/r.data.old")" "$first"
[ "$(md5sum <"$D/r.data")" != "$second" ] || fail "-f did not replace r.data"
note "-f replaced r.data and kept r.data.old as it was"

# the default name, in the current directory
mkdir "$D/cwd"
(cd "$D/cwd" && "$FL" record -- true >/dev/null 2>"$TMP/rec.err") || fail "record (default -o) failed"
check_eq "mode of ./faultline.data" "$(stat -c %a "$D/cwd/faultline.data")" 600
check_eq "temporary files left behind" "$(find "$D" -name '.*.data.*' | wc -l)" 0
echo ok
