#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A streaming load generator for OpenAI-style /v1/completions servers.

Python 3 standard library only. It measures each request's time to first
token (TTFT) and inter-token latencies (ITL) the way `vllm bench serve` does
and writes the same JSON as `vllm bench serve --save-result --save-detailed`
(`start_times` are time.perf_counter() seconds, which on Linux is
CLOCK_MONOTONIC), so faultline's `--requests bench.json` import path can be
exercised with the real format. `--jsonl` writes one line per request
({"id", "start", "first_token", "end"}) in CLOCK_MONOTONIC or, with
`--clock realtime`, CLOCK_REALTIME seconds.

HTTP/1.1 is spoken on raw sockets: one keep-alive connection per worker
thread (or a new connection per request with --new-connection), optional
X-Request-Id headers, requests split in two writes (--split) and pipelined
requests (--pipeline) for testing a tracer's wire parser. Traffic goes to
loopback addresses only.

Exit status: 0 when every request succeeded, 1 when some failed, 2 on bad
usage or a non-loopback URL, 130 when interrupted (results are still
written for the requests that were sent).
"""

import argparse
import datetime
import ipaddress
import json
import math
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse

STOP = threading.Event()    # stop sending new requests
ABORT = threading.Event()   # also abandon requests in flight
LIVE = set()                # sockets in use, closed on abort
LIVE_LOCK = threading.Lock()
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo")


class RequestError(Exception):
    pass


# --------------------------------------------------------------------------
# HTTP/1.1 over a raw socket, timestamping every recv()
# --------------------------------------------------------------------------

class Conn:
    def __init__(self, host, port, timeout, stats):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.buf = b""
        self.ts = 0.0          # perf_counter() right after the recv() that filled buf
        self.eof = False
        self.used = 0          # responses read on this connection
        self.stats = stats

    def connect(self):
        self.close()
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.buf, self.eof, self.used = b"", False, 0
        with LIVE_LOCK:
            LIVE.add(s)
            self.stats["connections"] += 1

    def close(self):
        if self.sock is not None:
            with LIVE_LOCK:
                LIVE.discard(self.sock)
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def send(self, data):
        self.sock.sendall(data)

    def fill(self, deadline):
        """One recv() into buf; False at EOF."""
        if self.eof:
            return False
        left = deadline - time.perf_counter()
        if left <= 0:
            raise socket.timeout("request deadline")
        self.sock.settimeout(min(self.timeout, left))
        data = self.sock.recv(65536)
        self.ts = time.perf_counter()
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_head(self, deadline):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise RequestError("response header too large")
            if not self.fill(deadline):
                if self.buf:
                    raise RequestError("connection closed inside response headers")
                raise EOFError("connection closed before the response")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise RequestError("bad status line %r" % lines[0][:80])
        try:
            status = int(parts[1])
        except ValueError:
            raise RequestError("bad status line %r" % lines[0][:80])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return parts[0], status, headers

    def body(self, version, headers, deadline):
        """Yield (bytes, timestamp) pieces of the body as they arrive."""
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            while True:
                while b"\r\n" not in self.buf:
                    if len(self.buf) > 1024:
                        raise RequestError("bad chunk size line")
                    if not self.fill(deadline):
                        raise RequestError("connection closed inside a chunked body")
                line, rest = self.buf.split(b"\r\n", 1)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise RequestError("bad chunk size %r" % line[:40])
                self.buf = rest
                if size == 0:
                    # trailers end with an empty line
                    while True:
                        while b"\r\n" not in self.buf:
                            if not self.fill(deadline):
                                return
                        line, self.buf = self.buf.split(b"\r\n", 1)
                        if not line:
                            return
                while len(self.buf) < size + 2:
                    if not self.fill(deadline):
                        raise RequestError("connection closed inside a chunk")
                data, self.buf = self.buf[:size], self.buf[size + 2:]
                yield data, self.ts
        elif "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                if not self.fill(deadline):
                    raise RequestError("connection closed before content-length bytes")
            data, self.buf = self.buf[:n], self.buf[n:]
            yield data, self.ts
        else:  # close-delimited
            if self.buf:
                data, self.buf = self.buf, b""
                yield data, self.ts
            while self.fill(deadline):
                data, self.buf = self.buf, b""
                yield data, self.ts
            self.eof = True


# --------------------------------------------------------------------------
# one request
# --------------------------------------------------------------------------

class Result:
    __slots__ = ("index", "prompt_len", "start", "first", "end", "ttft", "itl", "output_len",
                 "text", "error", "id", "xrid", "status", "success")

    def __init__(self, index, prompt_len, xrid):
        self.index, self.prompt_len, self.xrid = index, prompt_len, xrid
        self.start = self.first = self.end = None
        self.ttft, self.itl, self.output_len, self.text = 0.0, [], 0, ""
        self.error, self.id, self.status, self.success = "", "", 0, False


def build_request(args, host_hdr, prompt, xrid, stall):
    body = {"model": args.model, "prompt": prompt, "temperature": 0.0,
            "max_tokens": args.max_tokens, "ignore_eos": True}
    if args.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    data = json.dumps(body).encode()
    hdr = ["POST %s HTTP/1.1" % args.path, "Host: %s" % host_hdr, "User-Agent: faultline-loadgen",
           "Content-Type: application/json", "Accept: */*", "Content-Length: %d" % len(data)]
    if xrid is not None:
        hdr.append("X-Request-Id: %s" % xrid)
    if stall:
        hdr.append("X-Faultline-Stall: %s" % stall)
    hdr.append("Connection: %s" % ("close" if args.new_connection else "keep-alive"))
    return ("\r\n".join(hdr) + "\r\n\r\n").encode(), data


def send_request(conn, args, head, data, res):
    res.start = time.perf_counter()
    if args.split:
        conn.send(head)
        time.sleep(args.split_ms / 1e3)
        conn.send(data)
    else:
        conn.send(head + data)


def read_response(conn, args, res, deadline):
    version, status, headers = conn.read_head(deadline)
    res.status = status
    xr = headers.get("x-request-id")
    if xr:
        res.id = xr
    got_done = False
    usage_tokens = None
    last = None
    raw = []
    pending = b""
    n_tokens = 0
    text = []
    for data, ts in conn.body(version, headers, deadline):
        if status != 200 or not args.stream:
            raw.append(data)
            last = ts
            continue
        pending += data
        while True:
            cut = pending.find(b"\n\n")
            if cut < 0:
                break
            ev, pending = pending[:cut], pending[cut + 2:]
            for line in ev.replace(b"\r", b"").split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    got_done = True
                    continue
                try:
                    d = json.loads(payload)
                except ValueError:
                    raise RequestError("bad SSE data %r" % payload[:60])
                if d.get("id"):
                    res.id = d["id"]
                choices = d.get("choices")
                if choices:
                    if res.first is None:
                        res.first = ts
                        res.ttft = ts - res.start
                    else:
                        res.itl.append(ts - last)
                    last = ts
                    n_tokens += 1
                    c = choices[0]
                    text.append(c.get("text") or (c.get("delta") or {}).get("content") or "")
                elif d.get("usage"):
                    usage_tokens = d["usage"].get("completion_tokens")
                if d.get("object") == "error" or "error" in d:
                    raise RequestError("server error event: %s" % str(d)[:200])
    if headers.get("connection", "").lower() == "close" or conn.eof or \
            ("content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")):
        conn.close()
    conn.used += 1
    res.end = last if last is not None else time.perf_counter()
    if status != 200:
        raise RequestError("HTTP %d: %s" % (status, b"".join(raw)[:200].decode("utf-8", "replace")))
    if not args.stream:
        try:
            d = json.loads(b"".join(raw))
            res.id = d.get("id") or res.id
            c = (d.get("choices") or [{}])[0]
            res.text = c.get("text") or (c.get("message") or {}).get("content") or ""
            res.output_len = (d.get("usage") or {}).get("completion_tokens") or 0
        except ValueError:
            raise RequestError("bad JSON response")
        res.first = res.end
        res.ttft = res.end - res.start
        res.success = True
        return
    if res.first is None:
        raise RequestError("no token in the response")
    if not got_done:
        raise RequestError("stream ended before data: [DONE]")
    res.text = "".join(text)
    res.output_len = usage_tokens if usage_tokens is not None else n_tokens
    res.success = True


def fail(res, e, conn):
    if isinstance(e, socket.timeout):
        msg = "timeout: %s" % (e or "no data")
    elif isinstance(e, RequestError):
        msg = str(e)
    elif ABORT.is_set():
        msg = "interrupted"
    else:
        msg = "%s: %s" % (type(e).__name__, e)
    res.error = msg or type(e).__name__
    res.success = False
    if res.end is None:
        res.end = time.perf_counter()
    if res.start is None:
        res.start = res.end
    conn.close()


def run_one(conn, args, req, res):
    """Send one request (reconnecting once if a reused keep-alive connection was closed)."""
    head, data = req
    for attempt in (0, 1):
        fresh = conn.sock is None or args.new_connection
        try:
            if fresh:
                conn.connect()
            deadline = time.perf_counter() + args.timeout
            send_request(conn, args, head, data, res)
            read_response(conn, args, res, deadline)
            if args.new_connection:
                conn.close()
            return
        except (EOFError, ConnectionResetError, BrokenPipeError) as e:
            # the server may close an idle keep-alive connection just as we reuse it
            if not fresh and attempt == 0 and res.first is None and not ABORT.is_set():
                conn.close()
                res.start = res.first = None
                res.itl = []
                continue
            fail(res, e, conn)
            return
        except (OSError, RequestError, ValueError) as e:
            fail(res, e, conn)
            return


def run_pipelined(conn, args, reqs, results):
    """Write every request before reading any response, on one connection."""
    try:
        if conn.sock is None or args.new_connection:
            conn.connect()
        for (head, data), res in zip(reqs, results):
            send_request(conn, args, head, data, res)
        deadline = time.perf_counter() + args.timeout * len(reqs)
    except OSError as e:
        for res in results:
            fail(res, e, conn)
        return
    for i, res in enumerate(results):
        try:
            read_response(conn, args, res, deadline)
        except (OSError, RequestError, ValueError, EOFError) as e:
            fail(res, e, conn)
            for r in results[i + 1:]:
                fail(r, RequestError("pipelined behind a failed request"), conn)
            return
    if args.new_connection:
        conn.close()


# --------------------------------------------------------------------------
# statistics, vLLM style
# --------------------------------------------------------------------------

def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def std(xs):  # numpy's default (population)
    if not xs:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def percentile(xs, p):  # numpy's default (linear interpolation)
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def p_word(p):
    return str(int(p)) if int(p) == p else str(p)


def metrics(args, results, duration):
    completed = 0
    total_in = total_out = 0
    ttfts, tpots, itls, e2els, out_lens = [], [], [], [], []
    for r in results:
        if r.success:
            out_lens.append(r.output_len)
            total_in += r.prompt_len
            total_out += r.output_len
            if r.output_len > 1:
                tpots.append((r.end - r.start - r.ttft) / (r.output_len - 1))
            itls += r.itl
            ttfts.append(r.ttft)
            e2els.append(r.end - r.start)
            completed += 1
        else:
            out_lens.append(0)
    m = {"duration": duration, "completed": completed, "failed": len(results) - completed,
         "total_input_tokens": total_in, "total_output_tokens": total_out,
         "request_throughput": completed / duration if duration else 0.0,
         "request_goodput": None,
         "output_throughput": total_out / duration if duration else 0.0,
         "total_token_throughput": (total_in + total_out) / duration if duration else 0.0}
    # peak output tokens per second and peak concurrency, as recent vLLM reports them
    if results:
        t0 = min(r.start for r in results)
        buckets = {}
        for r in results:
            if r.success and r.first is not None:
                t = r.first
                buckets[int(t - t0)] = buckets.get(int(t - t0), 0) + 1
                for g in r.itl:
                    t += g
                    buckets[int(t - t0)] = buckets.get(int(t - t0), 0) + 1
        m["max_output_tokens_per_s"] = float(max(buckets.values())) if buckets else 0.0
        ev = sorted([(r.start, 1) for r in results] + [(r.end, -1) for r in results])
        cur = peak = 0
        for _, d in ev:
            cur += d
            peak = max(peak, cur)
        m["max_concurrent_requests"] = peak
    sel = [x.strip() for x in args.percentile_metrics.split(",") if x.strip()]
    pcts = [float(x) for x in args.metric_percentiles.split(",") if x.strip()]
    series = {"ttft": ttfts, "tpot": tpots, "itl": itls, "e2el": e2els}
    for name in ("ttft", "tpot", "itl", "e2el"):
        if name not in sel:
            continue
        xs = [x * 1e3 for x in series[name]]
        m["mean_%s_ms" % name] = mean(xs)
        m["median_%s_ms" % name] = percentile(xs, 50)
        m["std_%s_ms" % name] = std(xs)
        for p in pcts:
            m["p%s_%s_ms" % (p_word(p), name)] = percentile(xs, p)
    return m, out_lens


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_index_list(s):
    out = set()
    for part in (s or "").split(","):
        part = part.strip()
        if part:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                out.update(range(lo, min(hi, lo + 100000) + 1))
            else:
                out.add(int(part))
    return out


def build_parser():
    p = argparse.ArgumentParser(
        description="Streaming load generator writing vllm bench serve JSON.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--url", "--base-url", dest="url", default="http://127.0.0.1:8000",
                   help="server URL; a path in it replaces --endpoint")
    p.add_argument("--endpoint", default="/v1/completions")
    p.add_argument("--model", default="faultline-example")
    p.add_argument("-n", "--num-prompts", type=int, default=50, help="requests to send")
    p.add_argument("-c", "--concurrency", "--max-concurrency", dest="concurrency", type=int,
                   default=1, help="requests in flight at most (0 = one worker per request, up to 512)")
    p.add_argument("--rate", "--request-rate", dest="rate", type=float, default=float("inf"),
                   help="requests per second, Poisson arrivals (inf = all at once)")
    p.add_argument("--burstiness", type=float, default=1.0,
                   help="gamma shape of the arrivals (1 = Poisson)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt-len", "--random-input-len", dest="prompt_len", type=int, default=200,
                   help="prompt length in words (the server counts one token per word)")
    p.add_argument("--random-range-ratio", type=float, default=0.0,
                   help="prompt lengths uniform in [L*(1-r), L*(1+r)]")
    p.add_argument("--max-tokens", "--random-output-len", dest="max_tokens", type=int, default=16)
    p.add_argument("--no-stream", dest="stream", action="store_false",
                   help="non-streaming requests (TTFT = whole response)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--max-seconds", type=float, default=0,
                   help="stop sending new requests after S seconds (0 = no limit)")
    p.add_argument("--save-result", metavar="PATH", help="write vllm bench serve JSON (detailed)")
    p.add_argument("--jsonl", metavar="PATH", help="write one JSON line per request")
    p.add_argument("--clock", choices=("monotonic", "realtime"), default="monotonic",
                   help="clock of the --jsonl times")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--request-id-prefix", default=None,
                   help="send X-Request-Id: PREFIX<index> (default: lg-<random>-)")
    g.add_argument("--no-request-id", action="store_true", help="send no X-Request-Id header")
    p.add_argument("--new-connection", action="store_true",
                   help="a new TCP connection per request (Connection: close), no keep-alive")
    p.add_argument("--split", action="store_true",
                   help="send each request in two writes: headers, then the body after --split-ms")
    p.add_argument("--split-ms", type=float, default=20.0)
    p.add_argument("--pipeline", type=int, default=0, metavar="DEPTH",
                   help="HTTP pipelining: write DEPTH requests on a connection before reading "
                        "their responses (start times are when each was written)")
    p.add_argument("--stall-index", type=parse_index_list, default="",
                   help="request indices (0-based, as in the JSON arrays) sent with "
                        "'X-Faultline-Stall: KIND' (server needs --stall-header)")
    p.add_argument("--stall-kind", default="faults")
    p.add_argument("--percentile-metrics", default="ttft,tpot,itl,e2el")
    p.add_argument("--metric-percentiles", default="50,90,99")
    p.add_argument("-q", "--quiet", action="store_true", help="summary only")
    return p


def resolve(args):
    u = urllib.parse.urlsplit(args.url if "://" in args.url else "http://" + args.url)
    if u.scheme != "http":
        raise SystemExit("loadgen: only http:// URLs are supported")
    host = u.hostname or "127.0.0.1"
    port = u.port or 80
    if u.path and u.path != "/":
        args.path = u.path + ("?" + u.query if u.query else "")
    else:
        args.path = args.endpoint
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise SystemExit("loadgen: cannot resolve %s: %s" % (host, e))
    addrs = [i[4][0] for i in infos]
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                         for a in addrs):
        raise SystemExit("loadgen: refusing to send traffic to %s (%s): loopback only"
                         % (host, ", ".join(sorted(set(addrs)))))
    host_hdr = ("[%s]" % host if ":" in host else host) + ("" if port == 80 else ":%d" % port)
    return host, port, host_hdr


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num_prompts < 1 or args.max_tokens < 1 or args.prompt_len < 1:
        print("loadgen: -n, --max-tokens and --prompt-len must be at least 1", file=sys.stderr)
        return 2
    if args.concurrency < 0 or args.pipeline < 0 or not args.rate > 0:
        print("loadgen: --concurrency/--pipeline must be >= 0 and --rate > 0", file=sys.stderr)
        return 2
    try:
        host, port, host_hdr = resolve(args)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except AttributeError:
        pass

    def on_signal(signum, frame):
        if STOP.is_set():
            ABORT.set()
            with LIVE_LOCK:
                for s in list(LIVE):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        STOP.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    rng = random.Random(args.seed)
    n = args.num_prompts
    prefix = args.request_id_prefix
    if prefix is None and not args.no_request_id:
        prefix = "lg-%06x-" % random.Random().getrandbits(24)
    prompts, lens = [], []
    for i in range(n):
        lo = max(1, int(args.prompt_len * (1 - args.random_range_ratio)))
        hi = max(lo, int(args.prompt_len * (1 + args.random_range_ratio)))
        L = rng.randint(lo, hi)
        prompts.append(" ".join(WORDS[rng.randrange(len(WORDS))] for _ in range(L)))
        lens.append(L)
    reqs, results = [], []
    for i in range(n):
        xrid = None if args.no_request_id else "%s%d" % (prefix, i)
        stall = args.stall_kind if i in args.stall_index else None
        reqs.append(build_request(args, host_hdr, prompts[i], xrid, stall))
        results.append(Result(i, lens[i], xrid))

    # arrival times
    delays = []
    t = 0.0
    for i in range(n):
        delays.append(t)
        if math.isfinite(args.rate):
            theta = 1.0 / (args.rate * args.burstiness)
            t += rng.gammavariate(args.burstiness, theta)

    workers = args.concurrency if args.concurrency > 0 else min(n, 512)
    workers = max(1, min(workers, n))
    stats = {"connections": 0}
    q = queue.Queue()
    started = [False] * n

    pc0, rt0 = time.perf_counter(), time.time()
    bench_start = time.perf_counter()
    stop_at = bench_start + args.max_seconds if args.max_seconds > 0 else None

    def dispatcher():
        for i in range(n):
            when = bench_start + delays[i]
            while not STOP.is_set():
                left = when - time.perf_counter()
                if left <= 0:
                    break
                STOP.wait(min(left, 0.1))
            if STOP.is_set() or (stop_at and time.perf_counter() >= stop_at):
                break
            q.put(i)
        for _ in range(workers):
            q.put(None)

    def worker():
        conn = Conn(host, port, args.timeout, stats)
        try:
            while not STOP.is_set():
                i = q.get()
                if i is None:
                    return
                batch = [i]
                if args.pipeline > 1:
                    while len(batch) < args.pipeline:
                        try:
                            j = q.get_nowait()
                        except queue.Empty:
                            break
                        if j is None:
                            q.put(None)
                            break
                        batch.append(j)
                for j in batch:
                    started[j] = True
                if len(batch) > 1:
                    run_pipelined(conn, args, [reqs[j] for j in batch], [results[j] for j in batch])
                else:
                    run_one(conn, args, reqs[i], results[i])
                if not args.quiet:
                    for j in batch:
                        r = results[j]
                        print("req %d %s %s ttft %.2f ms%s" % (
                            j, r.id or r.xrid or "-", "ok" if r.success else "FAILED",
                            r.ttft * 1e3, "" if r.success else " (%s)" % r.error))
        finally:
            conn.close()

    print("loadgen: %d requests to http://%s%s, concurrency %s, rate %s, %s%s%s" % (
        n, host_hdr, args.path, args.concurrency or "unlimited", args.rate,
        "new connection per request" if args.new_connection else "keep-alive",
        ", split writes" if args.split else "",
        ", pipeline depth %d" % args.pipeline if args.pipeline > 1 else ""))
    dt = threading.Thread(target=dispatcher, daemon=True)
    dt.start()
    ths = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for th in ths:
        th.start()
    abort_at = None
    while any(th.is_alive() for th in ths):
        for th in ths:
            th.join(0.2)
        if STOP.is_set() and abort_at is None:
            abort_at = time.monotonic() + 5
        if abort_at and time.monotonic() > abort_at and not ABORT.is_set():
            on_signal(None, None)  # second stage: abandon requests in flight
            on_signal(None, None)
        if ABORT.is_set() and abort_at and time.monotonic() > abort_at + 5:
            break  # workers stuck beyond all timeouts: leave them (daemon threads)
    duration = time.perf_counter() - bench_start
    interrupted = STOP.is_set()

    done = [r for r, s in zip(results, started) if s and r.start is not None]
    m, out_lens = metrics(args, done, duration)
    off = rt0 - pc0
    if args.save_result:
        res = {"date": datetime.datetime.now().strftime("%Y%m%d-%H%M%S"),
               "backend": "vllm", "endpoint_type": "vllm", "label": None,
               "model_id": args.model, "tokenizer_id": args.model,
               "num_prompts": len(done),
               "request_rate": args.rate if math.isfinite(args.rate) else "inf",
               "burstiness": args.burstiness,
               "max_concurrency": args.concurrency if args.concurrency > 0 else None}
        res.update(m)
        res.update({
            "input_lens": [r.prompt_len for r in done],
            "output_lens": out_lens,
            "ttfts": [r.ttft if r.success else 0.0 for r in done],
            "itls": [r.itl if r.success else [] for r in done],
            "start_times": [r.start for r in done],
            "generated_texts": [r.text for r in done],
            "errors": [r.error for r in done],
            # additions (not in vLLM's file): ids that join with server logs, end-to-end
            # latencies, and the clock pair read together at the start
            "request_ids": [r.id or (r.xrid or "") for r in done],
            "e2els": [r.end - r.start for r in done],
            "clocks": {"perf_counter": pc0, "time": rt0},
            "connections": stats["connections"],
        })
        if interrupted:
            res["interrupted"] = True
        tmp = args.save_result + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f)
        os.replace(tmp, args.save_result)
    if args.jsonl:
        tmp = args.jsonl + ".tmp"
        with open(tmp, "w") as f:
            for r in done:
                def c(x):
                    if x is None:
                        return None
                    return x + off if args.clock == "realtime" else x
                f.write(json.dumps({"id": r.id or r.xrid, "start": c(r.start),
                                    "first_token": c(r.first) if r.success else None,
                                    "end": c(r.end), "index": r.index, "x_request_id": r.xrid,
                                    "ttft": r.ttft if r.success else None,
                                    "output_len": r.output_len, "error": r.error,
                                    "clock": args.clock}) + "\n")
        os.replace(tmp, args.jsonl)

    ok = [r for r in done if r.success]
    tt = [r.ttft * 1e3 for r in ok]
    print("completed %d/%d, errors %d, duration %.3f s, %.1f req/s, %d connection(s)%s" % (
        len(ok), n, len(done) - len(ok), duration, m["request_throughput"], stats["connections"],
        ", INTERRUPTED" if interrupted else ""))
    if tt:
        print("TTFT ms: p50 %.2f p90 %.2f p99 %.2f max %.2f mean %.2f" % (
            percentile(tt, 50), percentile(tt, 90), percentile(tt, 99), max(tt), mean(tt)))
        its = [x * 1e3 for r in ok for x in r.itl]
        print("ITL ms: mean %.2f p50 %.2f p99 %.2f; output tokens %d" % (
            mean(its), percentile(its, 50), percentile(its, 99), m["total_output_tokens"]))
    if args.stall_index:
        st = [r.ttft * 1e3 for r in ok if r.index in args.stall_index]
        other = [r.ttft * 1e3 for r in ok if r.index not in args.stall_index]
        print("stalled requests %s: TTFT ms %s; others p50 %.2f max %.2f" % (
            ",".join(str(i) for i in sorted(args.stall_index)),
            " ".join("%.2f" % x for x in st) or "-",
            percentile(other, 50), max(other) if other else 0.0))
    errs = {}
    for r in done:
        if r.error:
            errs[r.error] = errs.get(r.error, 0) + 1
    for e, k in sorted(errs.items(), key=lambda x: -x[1])[:5]:
        print("error x%d: %s" % (k, e))
    if args.save_result:
        print("wrote %s" % args.save_result)
    if args.jsonl:
        print("wrote %s" % args.jsonl)
    if interrupted:
        return 130
    return 0 if len(ok) == n else 1


if __name__ == "__main__":
    sys.exit(main())
