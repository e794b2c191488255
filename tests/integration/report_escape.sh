#!/usr/bin/env bash
# What a remote client sends reaches the operator's terminal only escaped. A client sends a request
# with "X-Request-Id: ESC ] 0 ; x BEL" (an xterm title change) to a path that holds a 0xff byte.
# The text report must show the id as \x1b]0;x\x07 with no raw ESC or BEL anywhere, and
# `report --json` must be strict UTF-8 JSON in which the id and the path come back (the 0xff byte
# as U+00FF, see docs/json-schema.md).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

start_server -q --kv-mb 1
start_record -p "$SPID" -o "$TMP/r.data"
python3 - "$PORT" >"$TMP/client.out" <<'PY' || fail "client failed: $(cat "$TMP/client.out")"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = b'{"prompt": "hi", "max_tokens": 2}'
s.sendall(b"POST /v1/nope\xff HTTP/1.1\r\nHost: x\r\nX-Request-Id: \x1b]0;x\x07\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
print(buf.split(b"\r\n")[0].decode("latin-1"))
s.close()
PY
note "server answered: $(cat "$TMP/client.out")"
stop_record
"$FL" report -i "$TMP/r.data" >"$TMP/r.txt" 2>"$TMP/r.err" || fail "report failed: $(cat "$TMP/r.err")"
"$FL" report -i "$TMP/r.data" --json >"$TMP/r.json" 2>"$TMP/r.err" || fail "report --json failed: $(cat "$TMP/r.err")"
python3 - "$TMP/r.txt" "$TMP/r.json" <<'PY' || fail "output not escaped"
import json, sys
text = open(sys.argv[1], "rb").read()
raw = open(sys.argv[2], "rb").read()
ok = True
ctl = sorted({b for b in text if (b < 0x20 and b not in (9, 10)) or b == 0x7f})
print(f"  text report: control bytes other than tab and newline: {ctl or 'none'} (want none)")
ok &= not ctl
shown = text.count(rb"\x1b]0;x\x07")
print(f"  text report: the id shown escaped as \\x1b]0;x\\x07: {shown} time(s) (want >= 1)")
ok &= shown >= 1
try:
    j = json.loads(raw.decode("utf-8"))  # strict: invalid UTF-8 raises
except (UnicodeDecodeError, json.JSONDecodeError) as e:
    print(f"  report --json: not strict UTF-8 JSON: {e}")
    sys.exit(1)
print(f"  report --json: {len(raw)} bytes, strict UTF-8, parses")
found = []
def walk(v):
    if isinstance(v, dict):
        if v.get("x_request_id") == "\x1b]0;x\x07" or v.get("xrid") == "\x1b]0;x\x07":
            found.append(v)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(j)
print(f"  report --json: requests carrying the id: {len(found)} (want 1)")
ok &= len(found) == 1
if found:
    path = found[0].get("path")
    print(f"  report --json: its path {path!r} (want '/v1/nope\\xff')")
    ok &= path == "/v1/nope\xff"
sys.exit(0 if ok else 1)
PY
echo "ok"
