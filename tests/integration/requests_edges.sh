#!/usr/bin/env bash
# vm: yes
# Wire edge cases against the client: pipelined requests, requests split in two writes, a client
# that disconnects mid-stream, and HTTP-looking traffic on a unix socket (which must be ignored).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/requests_common.bash"
need_root

start_server -q --kv-mb 1
# a traced process that speaks HTTP over a unix socketpair, as vLLM's processes talk over unix
cat >"$TMP/unix.py" <<'PY'
import socket, sys, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
print("ready", flush=True)
for i in range(1000):
    a.sendall(b"POST /unix HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
    b.recv(4096)
    b.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    a.recv(4096)
    time.sleep(0.01)
PY
python3 "$TMP/unix.py" >"$TMP/unix.out" &
UPID=$!
on_exit "kill $UPID 2>/dev/null; wait $UPID 2>/dev/null"
start_record -p "$SPID,$UPID" -o "$TMP/r.data"
loadgen -n 12 --pipeline 4 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/pipe.jsonl"
loadgen -n 5 --split --split-ms 20 --max-tokens 4 --prompt-len 20 --jsonl "$TMP/split.jsonl"
# the client reads the first token of a long stream, then goes away
python3 - "$PORT" >"$TMP/abort.out" <<'PY' || fail "abort client failed"
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = json.dumps({"prompt": "hello there", "max_tokens": 400, "stream": True}).encode()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Request-Id: abort-me\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
buf = b""
while b"data:" not in buf:
    buf += s.recv(4096)
s.close()
print("closed after the first token")
PY
sleep 0.5 # the server notices on its next write
stop_record
"$FL" report -i "$TMP/r.data" --json >"$TMP/rep.json" || fail "report failed"

# These cases check what is found (pipelined, split, aborted, unix); the 2 ms timing promise is
# requests_wire's, over 200 requests. Here one late sample of a few on a loaded host is no bug:
# 10 ms on the host, widened in the VM by checks.bound().
PYTHONPATH=$CHECKS_PY python3 - "$TMP" 10 <<'PY' || fail "see above"
import json, sys
import checks
from checks import check
tmp, tol = sys.argv[1], checks.bound(float(sys.argv[2]))
r = json.load(open(tmp + "/rep.json"))["requests"]
byid = {q["id"]: q for q in r["list"]}
unix = [q for q in r["list"] if q["path"] == "/unix"]
check("requests on the unix socket counted", not unix, len(unix), 0)
# A pipelined request starts, on the wire, when the server reads it, which can be after the
# response to the one before it: only the first token and the count are compared there.
for name in ("pipe", "split"):
    client = [json.loads(l) for l in open("%s/%s.jsonl" % (tmp, name))]
    seen = [c for c in client if c["id"] in byid]
    check(name + ": requests seen on the wire", len(seen) == len(client), len(seen), len(client))
    worst = max([abs(byid[c["id"]]["start_ns"] / 1e9 - c["start"]) * 1e3 for c in seen] + [0])
    worst_ft = max([abs(byid[c["id"]]["first_token_ns"] / 1e9 - c["first_token"]) * 1e3 for c in seen] + [0])
    if name == "pipe":
        check(name + ": worst first-token difference (ms)", worst_ft <= tol, "%.3f" % worst_ft, "<= %g" % tol, timing=True)
        # the wire sees a request after the client sent it: how far before the client's start
        # (ms, positive = earlier) the wire's start is, worst case over the requests
        early = max([(c["start"] - byid[c["id"]]["start_ns"] / 1e9) * 1e3 for c in seen] + [float("-inf")])
        check(name + ": wire start never more than %g ms before the client's (worst, ms)" % tol,
              bool(seen) and early <= tol, "%.3f" % early, "<= %g" % tol, timing=True)
    else:
        check(name + ": worst start / first-token difference (ms)", worst <= tol and worst_ft <= tol,
              "%.3f / %.3f" % (worst, worst_ft), "<= %g" % tol, timing=True)
a = [q for q in r["list"] if q["x_request_id"] == "abort-me"]
check("disconnected client's request found", len(a) == 1, len(a), 1)
if a:
    check("  ... marked aborted, with its first token", a[0]["aborted"] and a[0]["first_token_ns"],
          "aborted=%s first_token=%s" % (a[0]["aborted"], bool(a[0]["first_token_ns"])), "aborted=True first_token=True")
check("total requests on the wire", r["count"] == 12 + 5 + 1, r["count"], 18)
sys.exit(0 if checks.ok else 1)
PY
