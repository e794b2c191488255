#!/usr/bin/env bash
# vm: yes
# faultline diff: two recordings of touch_pages (20000 and 60000 pages) compared. The faults on
# each side equal each file's own report and the workload's own minflt+majflt; delta = new - base;
# the changed command is named as the setting that differs. A file diffed with itself shows no
# change. Missing, corrupt and truncated files, and a wrong number of arguments.
. "$(dirname "$0")/../lib.sh"
need_root

# record_pages PAGES NAME: records touch_pages from its exec; its "minflt majflt" line in NAME.out.
record_pages() {
	(sleep 0.5; echo go) | "$FL" record -o "$TMP/$2.data" -- "$WL/touch_pages" "$1" --nohuge \
		>"$TMP/$2.out" 2>"$TMP/$2.err" || fail "record of touch_pages $1: $(cat "$TMP/$2.err")"
	"$FL" report -i "$TMP/$2.data" --json >"$TMP/$2.json" || fail "report of $2.data failed"
}

# change FIELD METRIC FILE: FIELD (base, new, delta, pct) of METRIC in the diff's changes.
change() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[3]))
c=[x for x in j["changes"] if x["metric"] == sys.argv[2]]
print(c[0][sys.argv[1]] if c else "absent")' "$1" "$2" "$3"
}

workload_faults() { awk 'NF == 2 && $1 ~ /^[0-9]+$/ { print $1 + $2 }' "$TMP/$1.out"; }

record_pages 20000 a
record_pages 60000 b
"$FL" diff --json "$TMP/a.data" "$TMP/b.data" >"$TMP/d.json" 2>"$TMP/d.err" ||
	fail "diff --json exited $?: $(cat "$TMP/d.err")"
base=$(change base faults.total "$TMP/d.json")
new=$(change new faults.total "$TMP/d.json")
report_faults() { json 'j["faults"]["total"]' "$TMP/$1.json"; }
check_eq "diff base faults = report a faults.total" "$base" "$(report_faults a)"
check_eq "diff new faults = report b faults.total" "$new" "$(report_faults b)"
check_within "diff base faults vs touch_pages 20000's minflt+majflt" "$base" "$(workload_faults a)" 1
check_within "diff new faults vs touch_pages 60000's minflt+majflt" "$new" "$(workload_faults b)" 1
check_eq "delta = new - base" "$(change delta faults.total "$TMP/d.json")" $((new - base))
check_eq "base.metrics faults.total" "$(json 'j["base"]["metrics"]["faults.total"]' "$TMP/d.json")" \
	"$base"
pct=$(change pct faults.total "$TMP/d.json")
check_within "pct = 100 * delta / base" "$pct" "$(python3 -c "print(100 * ($new - $base) / $base)")" \
	0.1
check_eq "setting that differs" "$(change new settings.command "$TMP/d.json")" \
	"touch_pages 60000 --nohuge"
check_eq "THP enabled unchanged" "$(change base settings.thp.enabled "$TMP/d.json")" absent
# (a variable, not a pipe into grep -q: under pipefail its early exit fails the writer)
verdict_lines=$(json '"\n".join(j["verdicts"])' "$TMP/d.json")
grep -q '^faults: ' <<<"$verdict_lines" ||
	fail "no verdict line for faults: $(json 'j["verdicts"]' "$TMP/d.json")"
# the settings behind it said once, at the end, without repeating both command lines
check_eq "last verdict line" "$(json 'j["verdicts"][-1]' "$TMP/d.json")" \
	"settings that differ: the command (see Settings)"
check_eq "verdict lines that repeat the command lines" \
	"$(json 'sum("touch_pages" in v for v in j["verdicts"])' "$TMP/d.json")" 0

"$FL" diff "$TMP/a.data" "$TMP/b.data" >"$TMP/d.txt" 2>"$TMP/d.err" || fail "text diff failed"
for want in '^Settings that differ' '^  command +touch_pages 20000 --nohuge → touch_pages 60000' \
	"^  total +$base +$new +\\+$((new - base)) \\(" '^Stalls' '^Verdict'; do
	grep -qE "$want" "$TMP/d.txt" || { cat "$TMP/d.txt"; fail "text diff has no line /$want/"; }
done
note "text diff: $(grep -E '^  total ' "$TMP/d.txt")"

"$FL" diff --json "$TMP/a.data" "$TMP/a.data" >"$TMP/self.json" ||
	fail "diff of a file with itself failed"
check_eq "changes when a file is diffed with itself" "$(json 'len(j["changes"])' "$TMP/self.json")" 0
check_eq "verdicts when a file is diffed with itself" "$(json 'len(j["verdicts"])' "$TMP/self.json")" \
	0

# expect_error DESC WANT_RC REGEX ARGS...: diff exits WANT_RC with REGEX on stderr.
expect_error() {
	local desc=$1 want=$2 re=$3 rc
	shift 3
	"$FL" diff "$@" >"$TMP/e.out" 2>"$TMP/e.err"
	rc=$?
	note "$desc: exit $rc, stderr: $(head -c 300 "$TMP/e.err" | tr '\n' ' ')"
	[ $rc -eq "$want" ] || fail "$desc: exit $rc, want $want"
	tr "\n" " " <"$TMP/e.err" | grep -qE "$re" || fail "$desc: stderr does not match /$re/"
	[ -s "$TMP/e.out" ] && fail "$desc: printed a comparison anyway"
	return 0
}
expect_error "missing base" 1 "nope.data: cannot open: No such file.*diff: cannot read the base" \
	"$TMP/nope.data" "$TMP/b.data"
printf 'not a recording at all' >"$TMP/garbage.data"
expect_error "corrupt new" 1 "garbage.data: not a faultline file.*diff: cannot read the new" \
	"$TMP/a.data" "$TMP/garbage.data"
head -c 100 "$TMP/a.data" >"$TMP/header.data"
expect_error "file cut in its header" 1 "header.data: truncated in the" "$TMP/header.data" \
	"$TMP/b.data"
expect_error "one argument" 2 "expected two recordings.*got 1 argument" "$TMP/a.data"
expect_error "three arguments" 2 "got 3 arguments" "$TMP/a.data" "$TMP/b.data" "$TMP/b.data"

size=$(stat -c %s "$TMP/b.data")
cp "$TMP/b.data" "$TMP/cut.data"
truncate -s $((size * 6 / 10 + 13)) "$TMP/cut.data"
"$FL" diff --json "$TMP/a.data" "$TMP/cut.data" >"$TMP/cut.json" 2>"$TMP/cut.err" ||
	fail "diff with a truncated file exited $?"
note "truncated new file: stderr $(head -c 200 "$TMP/cut.err")"
grep -q 'truncated' "$TMP/cut.err" || fail "no truncation warning on stderr"
check_eq "new.truncated" "$(json 'j["new"]["truncated"]' "$TMP/cut.json")" True
# (into a file first: grep -q stops reading at its match, and under pipefail the writer's SIGPIPE fails)
"$FL" diff "$TMP/a.data" "$TMP/cut.data" >"$TMP/cutdiff.txt" 2>/dev/null
grep -q "WARNING: new .*truncated" "$TMP/cutdiff.txt" ||
	fail "text diff does not warn of the truncated file"
echo "ok"
