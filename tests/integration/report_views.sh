#!/usr/bin/env bash
# faultline report --perfetto and --html against the report's own JSON. examples/server.py with 4
# concurrent requests (they overlap: async slices, not X slices on one thread) of which two do a
# MADV_COLLAPSE; the same server recorded idle (no requests); the first recording cut in half.
# The trace must follow the rules of Perfetto's JSON importer (tests/integration/trace_check.py)
# and hold as many stall slices, requests and faults as the JSON says.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

start_server -q --kv-mb 1 --stall-requests 5,12 --stall-kind collapse --stall-mb 8
start_record -p "$SPID" -o "$TMP/idle.data"
stop_record
start_record -p "$SPID" -o "$TMP/busy.data" --alloc=full --alloc-slow=2us
loadgen -n 20 -c 4 --max-tokens 8 --prompt-len 20
stop_record
size=$(stat -c %s "$TMP/busy.data")
head -c $((size * 3 / 4)) "$TMP/busy.data" >"$TMP/cut.data"

for r in busy idle cut; do
	"$FL" report -i "$TMP/$r.data" --json >"$TMP/$r.json" 2>"$TMP/$r.err" ||
		fail "report --json ($r) failed: $(cat "$TMP/$r.err")"
	"$FL" report -i "$TMP/$r.data" --perfetto "$TMP/$r.trace.json" 2>"$TMP/$r.err" ||
		fail "report --perfetto ($r) failed: $(cat "$TMP/$r.err")"
	[ -s "$TMP/$r.trace.json" ] || fail "report --perfetto ($r) wrote nothing"
	PYTHONPATH=$CHECKS_PY python3 "$CHECKS_PY/trace_check.py" "$TMP/$r.trace.json" \
		"$TMP/$r.json" "$r" || fail "trace of $r: see above"
done
# the overlapping requests really overlap: the reason they are async slices
PYTHONPATH=$CHECKS_PY python3 - "$TMP/busy.json" <<'PY' || fail "see above"
import json, sys
import checks
from checks import check
rep = json.load(open(sys.argv[1]))
rs = sorted((q["start_ns"], q["end_ns"]) for q in rep["requests"]["list"])
over = sum(1 for a, b in zip(rs, rs[1:]) if b[0] < a[1])
check("busy: requests that overlap the one before", over > 0, over, "> 0")
sys.exit(0 if checks.ok else 1)
PY

# The HTML page: self-contained, and as many request bars and stall marks as the JSON has
# requests and stalls. Opened in headless Chromium when it is installed (scripts/install-deps.sh
# installs it): no console errors, the DOM it built counted, a screenshot kept.
SHOTS=${FAULTLINE_ARTIFACTS:-/tmp/faultline-artifacts}
mkdir -p "$SHOTS"
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || note "chromium not installed: the page is checked as written, not as rendered"
for r in busy idle cut; do
	"$FL" report -i "$TMP/$r.data" --html "$TMP/$r.html" 2>"$TMP/$r.err" ||
		fail "report --html ($r) failed: $(cat "$TMP/$r.err")"
	dom=$TMP/$r.html
	if [ -n "$CHROME" ]; then
		timeout "$(scaled 120)" "$CHROME" --headless --no-sandbox --disable-gpu \
			--user-data-dir="$TMP/chrome" --enable-logging=stderr --virtual-time-budget=2000 \
			--dump-dom "file://$TMP/$r.html" >"$TMP/$r.dom.html" 2>"$TMP/$r.chrome.err" ||
			fail "chromium --dump-dom ($r) failed: $(tail -5 "$TMP/$r.chrome.err")"
		dom=$TMP/$r.dom.html
		errs=$(grep -c ':CONSOLE' "$TMP/$r.chrome.err" || true)
		check_eq "$r: console messages of the page" "$errs" 0
		[ "$errs" = 0 ] || grep ':CONSOLE' "$TMP/$r.chrome.err"
		timeout "$(scaled 120)" "$CHROME" --headless --no-sandbox --disable-gpu \
			--user-data-dir="$TMP/chrome" --hide-scrollbars --window-size=1200,1600 \
			--screenshot="$SHOTS/report-$r.png" "file://$TMP/$r.html" >/dev/null 2>&1 ||
			fail "chromium --screenshot ($r) failed"
		note "$r: screenshot $SHOTS/report-$r.png"
	fi
	PYTHONPATH=$CHECKS_PY python3 - "$dom" "$TMP/$r.json" "$r" <<'PY' || fail "page of $r: see above"
import html.parser, json, sys
import checks
from checks import check
dom, rep, name = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]

class Count(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.req = self.stalled = self.stall = 0
        self.external = []
        self.ids = set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        self.req += tag == "rect" and "req" in cls
        self.stalled += tag == "rect" and "stalled" in cls
        self.stall += tag == "rect" and "stall" in cls
        if a.get("id"):
            self.ids.add(a["id"])
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.external.append(a[k])
        if tag == "link":
            self.external.append(str(a))

c = Count()
c.feed(open(dom).read())
want_req = rep["requests"]["count"] if rep["requests"] else 0
want_stall = sum(s["count"] for s in rep["stalls"].values() if s)
check(name + ": request bars", c.req == want_req, c.req, want_req)
check(name + ": stall marks", c.stall == want_stall, c.stall, want_stall)
with_stall = sum(1 for q in (rep["requests"] or {}).get("list", [])
                 if q["prefill"] and q["prefill"]["stalls"] > 0)
check(name + ": bars coloured stalled", c.stalled == with_stall, c.stalled, with_stall)
check(name + ": external resources", not c.external, c.external, [])
want = {"verdict", "timeline", "histograms", "faults", "pinned", "slowest"}
check(name + ": sections", want <= c.ids, sorted(want & c.ids), sorted(want))
sys.exit(0 if checks.ok else 1)
PY
done

# The trace read by a real consumer of the format: speedscope's web app (npm package speedscope,
# installed by scripts/install-deps.sh under /var/cache/faultline-npm) in headless Chromium, the
# way its command line opens a file. It must import the trace as Trace Event Format and show a
# profile per thread with slices.
SS=${FAULTLINE_NPM:-/var/cache/faultline-npm}/node_modules/speedscope/dist/release/index.html
if [ -n "$CHROME" ] && [ -f "$SS" ]; then
	python3 - "$TMP/busy.trace.json" "$TMP/ss.js" <<'PY'
import base64, json, sys
b = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
open(sys.argv[2], "w").write("speedscope.loadFileFromBase64(%s, %s)" % (json.dumps("trace.json"), json.dumps(b)))
PY
	url="file://$SS#localProfilePath=$TMP/ss.js"
	timeout "$(scaled 120)" "$CHROME" --headless --no-sandbox --disable-gpu \
		--user-data-dir="$TMP/chrome" --allow-file-access-from-files --enable-logging=stderr \
		--virtual-time-budget=10000 --dump-dom "$url" >"$TMP/ss.dom" 2>"$TMP/ss.err" ||
		fail "chromium with speedscope failed: $(tail -5 "$TMP/ss.err")"
	grep ':CONSOLE' "$TMP/ss.err" | grep -iE 'import|error|fail' | sed 's/^[^"]*/  speedscope:/'
	grep -q ':CONSOLE.*"Importing as Trace Event Format profile"' "$TMP/ss.err" ||
		fail "speedscope did not import the trace as Trace Event Format"
	grep -q ':CONSOLE.*"import: ' "$TMP/ss.err" || fail "speedscope did not finish the import"
	! grep ':CONSOLE' "$TMP/ss.err" | grep -qiE 'uncaught|failed|error' ||
		fail "speedscope reported an error"
	got=$(grep -o '([0-9]*/[0-9]*)' "$TMP/ss.dom" | head -1 | sed 's|.*/||; s|)||')
	want=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1])); print(len({(e['pid'], e['tid']) for e in t['traceEvents'] if e['ph'] == 'X'}))" "$TMP/busy.trace.json")
	check_eq "speedscope: thread profiles" "$got" "$want"
	timeout "$(scaled 120)" "$CHROME" --headless --no-sandbox --disable-gpu \
		--user-data-dir="$TMP/chrome" --allow-file-access-from-files --hide-scrollbars \
		--window-size=1200,800 --virtual-time-budget=10000 --screenshot="$SHOTS/speedscope-busy.png" \
		"$url" >/dev/null 2>&1 || fail "chromium --screenshot (speedscope) failed"
	note "speedscope screenshot $SHOTS/speedscope-busy.png"
else
	note "chromium or speedscope ($SS) not installed: the trace is checked by rules, not opened"
fi
