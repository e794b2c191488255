#!/usr/bin/env bash
# faultline serve cannot be stalled by its clients: with 100 (then 200, past its cap of 128)
# idle TCP connections held open, /metrics still answers at once; a client that sends nothing
# is closed after its 5 s deadline; 10 000 short connections (a tenth of them scrapes, the rest
# closed at once or mid-request) leave its memory flat and a scrape still answers; /metrics counts
# the clients serve closed unanswered.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
need_root

start_workload fault_steady 1
# Under ASan freed memory waits in a quarantine (256 MiB by default) before it is reused, so RSS
# grows with every scrape's buffers whatever serve does: a small quarantine keeps the churn
# bound below about serve, not about the sanitizer.
if [ "${FAULTLINE_SAN:-}" = 1 ]; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
fi
start_serve -p "$WPID"
note "serve pid $SPID on $SERVE_ADDR"

python3 - "$SERVE_ADDR" "$(scaled 1)" "$(scaled 10)" "$SPID" <<'PY' || fail "see above"
import socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
addr, limit, deadline_wait, spid = (host, int(port)), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

def rss():
    for line in open(f"/proc/{spid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def scrape(path="/metrics"):
    """(seconds, status line, body) of one GET; generous socket timeout, timed by the caller."""
    t = time.monotonic()
    s = socket.create_connection(addr, timeout=30)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return time.monotonic() - t, head.split(b"\r\n")[0].decode(), body.decode()

def check_scrape(what):
    try:
        secs, status, body = scrape()
    except OSError as e:
        sys.exit(f"FAIL: {what}: no answer from /metrics: {e}")
    print(f"  {what}: /metrics answered '{status}' in {secs:.3f} s (limit {limit:.1f} s), "
          f"faultline_up present: {'faultline_up{' in body}")
    if status != "HTTP/1.1 200 OK" or "faultline_up{" not in body:
        sys.exit("FAIL: " + what + ": no metrics")
    if secs > limit:
        sys.exit(f"FAIL: {what}: {secs:.3f} s > {limit:.1f} s")
    return body

def closed(body, reason):
    for line in body.splitlines():
        if line.startswith("faultline_serve_clients_closed_total{") and f'reason="{reason}"' in line:
            return int(line.split()[-1])
    sys.exit(f"FAIL: no faultline_serve_clients_closed_total{{reason={reason}}} in /metrics")

def idle(n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=30)
        socks.append(s)
    return socks

held = idle(100)
time.sleep(0.2)  # let serve accept them all (not needed for correctness: the scrape polls)
check_scrape("100 idle connections open")
more = idle(100)
opened = time.monotonic()
check_scrape("200 idle connections open (cap 128: the oldest idle ones are dropped)")

# The newest idle connection (not dropped for a newer one): closed at its 5 s deadline.
s = more[-1]
s.settimeout(deadline_wait + 5)
try:
    got = s.recv(100)
except socket.timeout:
    sys.exit(f"FAIL: an idle connection was still open after {deadline_wait + 5:.0f} s")
except ConnectionResetError:
    got = b""
waited = time.monotonic() - opened
print(f"  an idle connection was closed by serve {waited:.1f} s after it connected "
      f"(deadline 5 s; read {len(got)} bytes; closed no earlier than 4.5 s: {waited >= 4.5})")
if waited < 4.5:
    sys.exit("FAIL: closed before its deadline")
for s in held + more:
    s.close()

# Churn: warm up, then 10 000 short connections; serve's RSS must stay flat.
def churn(n):
    for i in range(n):
        s = socket.create_connection(addr, timeout=30)
        if i % 10 == 0:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass
        elif i % 10 == 1:
            s.sendall(b"GET /metr")  # half a request, then gone
        elif i % 10 == 2:
            s.sendall(b"\x00\xff garbage\r\n\r\n")
            while s.recv(65536):
                pass
        s.close()

churn(500)
before = rss()
t = time.monotonic()
churn(10000)
after = rss()
print(f"  10000 short connections in {time.monotonic() - t:.1f} s: serve VmRSS {before} KiB -> "
      f"{after} KiB ({after - before:+d} KiB, bound +8192 KiB)")
if after - before > 8192:
    sys.exit("FAIL: serve's memory grew with connection churn")
body = check_scrape("after the churn")
dropped, timeout = closed(body, "dropped"), closed(body, "timeout")
print(f"  faultline_serve_clients_closed_total: dropped {dropped} + timeout {timeout} = "
      f"{dropped + timeout} (at least 200 idle - 128 slots = 72; timeout at least 1: {timeout >= 1})")
if dropped + timeout < 72 or timeout < 1:
    sys.exit("FAIL: serve's count of the clients it closed is off")
PY
kill -0 "$SPID" 2>/dev/null || fail "serve is gone: $(tail -3 "$TMP/serve.err")"
note "serve still running; stderr: $(tail -1 "$TMP/serve.err")"
echo "ok"
