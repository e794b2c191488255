#!/usr/bin/env bash
# No payload on disk by default: a streaming request with an Authorization key, a cookie, a query
# secret and a prompt holding a marker word goes through examples/server.py while record runs.
# Every chunk of the file is inflated here (tests/integration/inflate_record.py, following
# docs/record-format.md): by default none of them is in it, only a parsed request record
# (FL_EV_REQ: path without query, status, X-Request-Id, the response id); with --capture-payload
# the key and the marker are there and the report says payload was captured. The file is 0600;
# a secret on a target's command line is <redacted> unless --keep-cmdline.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

INFLATE=$ROOT/tests/integration/inflate_record.py
MARKER=zebraquokka$$
KEY=sk-AUTHKEY${RANDOM}x
CMDKEY=sk-CMDLINE${RANDOM}y
DBPASS=hunter${RANDOM}z

start_server --kv-mb 1 -q
# a second target whose command line carries secrets (python ignores the extra arguments)
python3 -c 'import time; time.sleep(600)' --api-key "$CMDKEY" --db-password="$DBPASS" &
DPID=$!
on_exit "kill $DPID 2>/dev/null; wait $DPID 2>/dev/null"

# one streaming request on a raw socket, so the headers and the prompt fit the 256 captured bytes
request() {
	python3 - "$PORT" "$KEY" "$MARKER" "$1" >"$TMP/resp-$1.txt" <<'PY' || fail "request failed"
import socket, sys
port, key, marker, xrid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
body = ('{"prompt":"say %s","stream":true,"max_tokens":6}' % marker).encode()
head = ("POST /v1/completions?api_key=QSECRET%s HTTP/1.1\r\nHost: l\r\n"
        "Authorization: Bearer %s\r\nCookie: c=CK%s\r\nX-Request-Id: %s\r\n"
        "Content-Length: %d\r\nConnection: close\r\n\r\n" % (marker, key, marker, xrid, len(body)))
s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
s.sendall(head.encode() + body)
resp = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    resp += b
sys.stdout.write(resp.decode())
assert b"data: [DONE]" in resp, "no end of stream"
PY
}

# record_one NAME RECORD-ARGS...: records the request XRID-NAME into $TMP/NAME.data
record_one() {
	local name=$1
	shift
	start_record -p "$SPID,$DPID" -o "$TMP/$name.data" "$@"
	request "xrid-$name"
	stop_record
	python3 "$INFLATE" "$TMP/$name.data" "$TMP/$name.raw" >"$TMP/$name.sum" ||
		fail "cannot inflate $TMP/$name.data"
	note "$name: inflated $(cat "$TMP/$name.sum")"
}

count() { grep -c -a -F -- "$1" "$2" || true; }

# --- default: parsed requests only ------------------------------------------------------------
record_one plain
check_eq "file mode" "$(stat -c %a "$TMP/plain.data")" 600
check_eq "format version" "$(json 'j["version"]' "$TMP/plain.sum")" 4
check_eq "FL_EV_NET (raw payload) records" "$(json 'j["types"].get("12", 0)' "$TMP/plain.sum")" 0
check_ge "FL_EV_REQ (parsed request) records" "$(json 'j["types"].get("13", 0)' "$TMP/plain.sum")" 1
for s in "$MARKER" "$KEY" "Bearer" "CK$MARKER" "QSECRET" '"choices"' "data: " "$CMDKEY" "$DBPASS"; do
	check_eq "occurrences of '$s' in the inflated file" "$(count "$s" "$TMP/plain.raw")" 0
done
check_ge "<redacted> in the header's command lines" "$(count '<redacted>' "$TMP/plain.raw")" 2
"$FL" report -i "$TMP/plain.data" --json >"$TMP/plain.json" 2>"$TMP/plain.err" ||
	fail "report failed: $(cat "$TMP/plain.err")"
"$FL" report -i "$TMP/plain.data" >"$TMP/plain.txt" 2>&1 || fail "text report failed"
check_eq "report: session.payload_captured" "$(json 'j["session"]["payload_captured"]' "$TMP/plain.json")" False
check_eq "text report: 'payload captured' lines" "$(count 'payload captured' "$TMP/plain.txt")" 0
PYTHONPATH=$CHECKS_PY python3 - "$TMP/plain.json" "$TMP/resp-xrid-plain.txt" <<'PY' || fail "see above"
import json, re, sys
from checks import check
reqs = json.load(open(sys.argv[1]))["requests"]["list"]
resp = open(sys.argv[2]).read()
rid = re.search(r'"id": ?"([^"]+)"', resp).group(1)
mine = [r for r in reqs if r.get("x_request_id") == "xrid-plain"]
check("requests with X-Request-Id xrid-plain", len(mine) == 1, len(mine), 1)
r = mine[0]
check("its path (no query string)", r.get("path") == "/v1/completions", r.get("path"), "/v1/completions")
check("its status", r.get("status") == 200, r.get("status"), 200)
check("its response id", r.get("id") == rid, r.get("id"), rid)
check("it has a time to first token", r.get("ttft_ns") is not None, r.get("ttft_ns"), "a number")
PY

# --- --capture-payload --keep-cmdline: today's raw capture, on request ----------------------
record_one capture --capture-payload --keep-cmdline
check_eq "file mode" "$(stat -c %a "$TMP/capture.data")" 600
check_ge "FL_EV_NET records with --capture-payload" "$(json 'j["types"].get("12", 0)' "$TMP/capture.sum")" 1
check_eq "FL_EV_REQ records with --capture-payload" "$(json 'j["types"].get("13", 0)' "$TMP/capture.sum")" 0
for s in "$MARKER" "$KEY" "$CMDKEY" "$DBPASS"; do
	check_ge "occurrences of '$s' with --capture-payload --keep-cmdline" "$(count "$s" "$TMP/capture.raw")" 1
done
"$FL" report -i "$TMP/capture.data" --json >"$TMP/capture.json" 2>/dev/null || fail "report failed"
"$FL" report -i "$TMP/capture.data" >"$TMP/capture.txt" 2>&1 || fail "text report failed"
check_eq "report: session.payload_captured" "$(json 'j["session"]["payload_captured"]' "$TMP/capture.json")" True
check_eq "text report: 'payload captured' lines" "$(count 'payload captured' "$TMP/capture.txt")" 1
check_eq "the request is still found with --capture-payload" \
	"$(json 'sum(r.get("x_request_id") == "xrid-capture" for r in j["requests"]["list"])' "$TMP/capture.json")" 1
echo ok
