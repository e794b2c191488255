#!/usr/bin/env bash
# Long command lines (issue #14): the report header shows the whole command line (wrapped), and
# diff (text and JSON) names the arguments that differ even when they come after the 8th, as a
# "--thp none" at the end of a long line does.
. "$(dirname "$0")/../lib.sh"
need_root

# sh waits for a line on stdin, so its command line is read while it runs; it takes any arguments.
CMD=(sh -c 'read -r _' server.py --port 8000 a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 k11 l12 m13 n14 o15 p16 q17 r18 s19 t20 --thp)
for v in always none; do
	(sleep 0.5; echo go) | "$FL" record -o "$TMP/$v.data" -- "${CMD[@]}" "$v" \
		>"$TMP/$v.out" 2>"$TMP/$v.err" || fail "record ($v): $(cat "$TMP/$v.err")"
done

"$FL" report -i "$TMP/none.data" >"$TMP/r.txt" 2>&1 || fail "report failed"
# the header's target lines, continuation lines included, joined back into one line
hdr=$(awk '/^  target pid/ { on = 1 } on && /^  (THP|events)/ { exit } on' "$TMP/r.txt" | tr -s ' \n' '  ')
note "report header: $hdr"
want="${CMD[*]} none"
grep -qF -- "$want" <<<"$hdr" || fail "the header does not hold the whole command line '$want'"
check_eq "longest header line <= 100 columns" \
	"$(awk '/^  target pid/ { on = 1 } on && /^  (THP|events)/ { exit } on { if (length > m) m = length } END { print (m <= 100) }' "$TMP/r.txt")" 1

"$FL" diff "$TMP/always.data" "$TMP/none.data" >"$TMP/d.txt" 2>&1 || fail "diff failed"
line=$(grep -E '^  command ' "$TMP/d.txt" | head -1)
note "text diff: $line"
grep -qE -- '--thp always → .*--thp none' <<<"$line" || fail "text diff does not show '--thp always → --thp none'"

"$FL" diff --json "$TMP/always.data" "$TMP/none.data" >"$TMP/d.json" 2>&1 || fail "diff --json failed"
got=$(json '[(c["base"], c["new"]) for c in j["changes"] if c["metric"] == "settings.command"]' "$TMP/d.json")
note "JSON diff: $got"
python3 - "$TMP/d.json" <<'PY' || fail "JSON diff does not name --thp always / --thp none"
import json, sys
c = [x for x in json.load(open(sys.argv[1]))["changes"] if x["metric"] == "settings.command"]
sys.exit(0 if c and c[0]["base"].endswith("--thp always") and c[0]["new"].endswith("--thp none") else 1)
PY
echo "ok"
