#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""An inference-like HTTP server to try faultline on (a stand-in for vLLM).

Python 3 standard library only. Like vLLM (V1) it is two long-lived Python
processes: the API process (the pid you start) serves an OpenAI-style POST
/v1/completions (SSE streaming or not) over HTTP/1.1 with keep-alive, and
before it listens starts an engine process (multiprocessing, fork; named
EngineCore_0) that holds the memory and runs every request's prefill and
decode, sending the tokens back over a pipe. --layout single keeps all of it
in one process. The model is fake; the memory behaviour is real, in the
engine:

  * a "weights" file is mmapped and every page read at start-up;
  * each request allocates its own KV buffer (anonymous mmap), touches every
    4 KiB page (real page faults), optionally madvise(MADV_HUGEPAGE), and
    unmaps it at the end;
  * every decode step churns the allocator with bytearrays of many sizes;
  * --pin-mb registers a staging buffer with cudaHostRegister (libcudart via
    ctypes) when the library is present (without a GPU it returns an error,
    which still makes a real call);
  * --pressure runs a thread that fragments memory so compaction and reclaim
    have work to do;
  * --stall-requests (or the X-Faultline-Stall header with --stall-header)
    makes chosen requests stall in the kernel during their prefill, so tests
    can check that those requests, and only those, show the stall; each
    forced stall is logged (even with -q): "Stall in request #N ID: kind=K
    MS ms, ...; pid P tid T start=S end=E" (CLOCK_MONOTONIC seconds).

Wire behaviour follows vLLM behind uvicorn: the status line and headers of a
streaming response are written as soon as the request is accepted (before
prefill), every SSE event is one HTTP chunk, the response ends with
"data: [DONE]" and the zero-length chunk. --headers with-first-token holds the
headers back and writes them in the same write as the first token.

Readiness: the line "listening on HOST:PORT" on stdout (PORT is the real
port when --port 0). Logs go to stdout (and --log FILE) in vLLM's format.
"""

import argparse
import ctypes
import ctypes.util
import glob
import hashlib
import ipaddress
import json
import logging
import mmap
import multiprocessing
import os
import queue
import random
import resource
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = mmap.PAGESIZE
HPAGE = 2 << 20
MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", 14)
MADV_NOHUGEPAGE = getattr(mmap, "MADV_NOHUGEPAGE", 15)
MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)
MADV_PAGEOUT = getattr(mmap, "MADV_PAGEOUT", 21)
MADV_COLLAPSE = 25  # Linux 6.1+; not in Python 3.11's mmap module
STALL_KINDS = ("faults", "compaction", "thp", "collapse", "majfault", "sleep")
MAX_BODY = 4 << 20
MAX_TOKENS_CAP = 8192
WORDS = ("the", "model", "said", "that", "memory", "is", "a", "page", "of", "time",
         "and", "first", "token", "arrives", "late", "when", "kernel", "stalls",
         "on", "compaction", "fault", "huge", "reclaim", "cache")

log = logging.getLogger("server")
STOP = threading.Event()
STATE = None  # the Server singleton (API side), set in main()
ENGINE = None  # the Engine, in the process that holds the memory
stall_log = logging.getLogger("server.stall")


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def mono():
    """CLOCK_MONOTONIC seconds (what time.perf_counter() also reads on Linux)."""
    return time.monotonic()


def thread_faults():
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_minflt, r.ru_majflt


def buf_addr(m):
    """Start address of an mmap object (for logs and ctypes calls)."""
    c = ctypes.c_char.from_buffer(m)
    try:
        return ctypes.addressof(c)
    finally:
        del c


def anon(n):
    """Private anonymous memory, what malloc and PyTorch's CPU allocator get (never
    mmap.mmap(-1, n) alone: that is MAP_SHARED, i.e. shmem, with other THP and fault paths)."""
    return mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def mapping_addr(path):
    """Start address of this process's mapping of a file (read-only maps have no ctypes address)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].rstrip("\n") == real and int(parts[2], 16) == 0:
                    return int(parts[0].split("-")[0], 16)
    except (OSError, ValueError):
        pass
    return 0


def touch_pages(m, start=0, end=None, value=1):
    """Write one byte in every page of m[start:end]; real page faults on fresh memory."""
    if end is None:
        end = len(m)
    start -= start % PAGE
    if end <= start:
        return 0
    mv = memoryview(m)
    try:
        n = len(range(start, end, PAGE))
        mv[start:end:PAGE] = bytes([value & 0xFF]) * n
        return n
    finally:
        mv.release()


def read_pages(m, start=0, end=None):
    """Read one byte in every page of m[start:end]."""
    if end is None:
        end = len(m)
    mv = memoryview(m)
    try:
        return len(mv[start:end:PAGE].tobytes())
    finally:
        mv.release()


def madvise(m, advice, start=0, length=None):
    """madvise() on an mmap object; returns None on success or the error text."""
    try:
        if length is None:
            m.madvise(advice, start)
        else:
            m.madvise(advice, start, length)
        return None
    except (OSError, ValueError) as e:
        return str(e)


def vmstat(keys):
    out = dict.fromkeys(keys, 0)
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k in out:
                    out[k] = int(v)
    except OSError:
        pass
    return out


def zone_free_bytes():
    """Free memory the buddy allocator really has (sum of zones' 'pages free')."""
    total = 0
    try:
        with open("/proc/zoneinfo") as f:
            for line in f:
                s = line.split()
                if len(s) == 3 and s[0] == "pages" and s[1] == "free":
                    total += int(s[2]) * PAGE
    except OSError:
        return None
    return total


def is_loopback(host):
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


# --------------------------------------------------------------------------
# CUDA pinned memory through libcudart (optional)
# --------------------------------------------------------------------------

class Cudart:
    def __init__(self, path=None):
        self.lib = None
        self.path = None
        cands = [path] if path else []
        if not path:
            for pat in ("/usr/local/cuda/lib64/libcudart.so*",
                        "/usr/local/cuda/targets/*/lib/libcudart.so*",
                        "/usr/local/cuda-*/lib64/libcudart.so*"):
                cands += sorted(glob.glob(pat), key=len)
            found = ctypes.util.find_library("cudart")
            if found:
                cands.append(found)
        for c in cands:
            try:
                self.lib = ctypes.CDLL(c)
                self.path = c
                break
            except OSError:
                continue
        if not self.lib:
            return
        L = self.lib
        L.cudaHostRegister.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
        L.cudaHostRegister.restype = ctypes.c_int
        L.cudaHostUnregister.argtypes = [ctypes.c_void_p]
        L.cudaHostUnregister.restype = ctypes.c_int
        try:
            L.cudaGetErrorName.argtypes = [ctypes.c_int]
            L.cudaGetErrorName.restype = ctypes.c_char_p
        except AttributeError:
            pass

    def errname(self, rc):
        try:
            return self.lib.cudaGetErrorName(rc).decode()
        except Exception:
            return "?"

    def register(self, addr, size, flags=0):
        t = time.perf_counter()
        rc = self.lib.cudaHostRegister(addr, size, flags)
        return rc, (time.perf_counter() - t) * 1e3

    def unregister(self, addr):
        t = time.perf_counter()
        rc = self.lib.cudaHostUnregister(addr)
        return rc, (time.perf_counter() - t) * 1e3


# --------------------------------------------------------------------------
# stalls: real kernel work on purpose, during a chosen request's prefill
# --------------------------------------------------------------------------

def stall_faults(pages):
    """A burst of `pages` 4 KiB anonymous page faults: mmap + touch + munmap."""
    done = 0
    chunk = 4096  # 16 MiB at a time keeps RSS bounded
    while done < pages and not STOP.is_set():
        n = min(chunk, pages - done)
        m = anon(n * PAGE)
        madvise(m, MADV_NOHUGEPAGE)  # 4 KiB faults even with THP enabled=always
        touch_pages(m)
        m.close()
        done += n
    return "faults=%d" % done


def fragment(mb):
    """Touch mb MiB of 4 KiB pages, then free every other page: a fragmented region."""
    n = max(1, mb) << 20
    m = anon(n)
    madvise(m, MADV_NOHUGEPAGE)
    touch_pages(m)
    for off in range(0, n, 2 * PAGE):
        madvise(m, MADV_DONTNEED, off, PAGE)
    return m


def stall_compaction(mb):
    """Fragment memory, then compact it from this thread (compaction work in our context)."""
    t0 = time.perf_counter()
    frag = fragment(mb)
    t1 = time.perf_counter()
    how = "compact_memory"
    try:
        with open("/proc/sys/vm/compact_memory", "w") as f:
            f.write("1")
    except OSError as e:
        # Not root: ask for huge pages on top of the fragmentation instead, which
        # needs order-9 blocks and so compacts when none are free.
        how = "thp(compact_memory: %s)" % e.strerror
        stall_thp(mb)
    t2 = time.perf_counter()
    frag.close()
    return "fragment_ms=%.1f %s_ms=%.1f" % ((t1 - t0) * 1e3, how, (t2 - t1) * 1e3)


def stall_thp(mb):
    """Fault in mb MiB of MADV_HUGEPAGE memory: 2 MiB THP faults (compaction when fragmented)."""
    n = max(2, mb) << 20
    n += -n % HPAGE
    m = anon(n)
    err = madvise(m, MADV_HUGEPAGE)
    touch_pages(m)
    m.close()
    return "thp_bytes=%d%s" % (n, "" if err is None else " madvise_err=%s" % err)


# --------------------------------------------------------------------------
# the example's native KV operations (examples/kvops.c), as vLLM's _C.so
# --------------------------------------------------------------------------

class KvOps:
    """libkvops.so (make builds it into .output/examples) through ctypes: the forced collapse
    then runs in native code the example owns, kv_collapse(), which a stall's user stack names.
    Without it, Python's mmap.madvise does the same call (its stack shows only libc and python
    frames)."""

    def __init__(self, path=None):
        self.lib = self.path = None
        self.why = None
        here = os.path.dirname(os.path.abspath(__file__))
        cands = [path] if path else [
            os.environ.get("FAULTLINE_KVOPS"),
            os.path.join(here, "..", ".output", "examples", "libkvops.so"),
            os.path.join(here, "..", ".output-san", "examples", "libkvops.so")]
        for c in filter(None, cands):
            try:
                self.lib = ctypes.CDLL(os.path.realpath(c))
                self.path = os.path.realpath(c)
                break
            except OSError as e:
                self.why = str(e)
        if not self.lib:
            self.why = self.why or "not built (make builds .output/examples/libkvops.so)"
            return
        self.lib.kv_collapse.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.lib.kv_collapse.restype = ctypes.c_int

    def collapse(self, m):
        """kv_collapse() of all of mmap M: None on success or the error text, as madvise()."""
        rc = self.lib.kv_collapse(buf_addr(m), len(m))
        return None if rc == 0 else os.strerror(rc)


KVOPS = None  # the KvOps of the process that holds the memory (Engine.start)


def stall_collapse(mb):
    """Touch mb MiB as 4 KiB pages, then MADV_COLLAPSE it into huge pages synchronously (in
    libkvops's kv_collapse when it is loaded)."""
    n = max(2, mb) << 20
    n += -n % HPAGE
    m = anon(n)
    touch_pages(m)
    native = KVOPS is not None and KVOPS.lib is not None
    t = mono()
    err = KVOPS.collapse(m) if native else madvise(m, MADV_COLLAPSE)
    dt = (mono() - t) * 1e3
    m.close()
    return "collapse_ms=%.1f collapse_start=%.6f via=%s%s" % (
        dt, t, "kv_collapse" if native else "mmap.madvise",
        "" if err is None else " madvise_err=%s" % err)


def stall_majfault(mb):
    """Drop mb MiB of the mmapped weights from memory, then read them back with readahead
    off (MADV_RANDOM): one major fault, and one disk read, per 4 KiB page."""
    w = ENGINE.weights if ENGINE else None
    if w is None:
        return "no weights (use --weights-mb > 0)"
    n = min(len(w.map), max(1, mb) << 20)
    err = madvise(w.map, MADV_PAGEOUT, 0, n)
    madvise(w.map, MADV_DONTNEED, 0, n)
    try:
        os.posix_fadvise(w.fd, 0, n, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    madvise(w.map, mmap.MADV_RANDOM, 0, n)
    read_pages(w.map, 0, n)
    madvise(w.map, mmap.MADV_NORMAL, 0, n)
    return "weights_bytes=%d%s" % (n, "" if err is None else " pageout_err=%s" % err)


def do_stall(kind, args):
    t0 = time.perf_counter()
    f0 = thread_faults()
    v0 = vmstat(("compact_stall", "thp_fault_alloc", "thp_collapse_alloc", "pgmajfault"))
    if kind == "faults":
        detail = stall_faults(args.stall_faults)
    elif kind == "compaction":
        detail = stall_compaction(args.stall_mb)
    elif kind == "thp":
        detail = stall_thp(args.stall_mb)
    elif kind == "collapse":
        detail = stall_collapse(args.stall_mb)
    elif kind == "majfault":
        detail = stall_majfault(args.stall_majfault_mb)
    else:
        STOP.wait(args.stall_ms / 1e3)
        detail = "sleep_ms=%d" % args.stall_ms
    f1 = thread_faults()
    v1 = vmstat(v0.keys())
    dv = " ".join("%s=+%d" % (k, v1[k] - v0[k]) for k in v0)
    return (time.perf_counter() - t0) * 1e3, f1[0] - f0[0], f1[1] - f0[1], detail + " " + dv


# --------------------------------------------------------------------------
# background pressure: fragment memory continuously
# --------------------------------------------------------------------------

def pressure_loop(args):
    cap = args.pressure_mb << 20
    chunk = 4 << 20
    held = []
    cycles = 0
    rng = random.Random(12345)
    keys = ("compact_stall", "compact_success", "compact_fail", "compact_migrate_scanned",
            "allocstall_normal", "allocstall_movable", "pgscan_direct", "thp_fault_alloc",
            "thp_fault_fallback", "pgmigrate_success")
    v0 = vmstat(keys)
    last = time.monotonic()
    now_c = time.monotonic
    last_c = last
    log.info("pressure: fragmenting up to %d MiB (4 MiB chunks, every other page freed), "
             "THP probe %d MiB, every %d ms, compact_memory every %s s", args.pressure_mb,
             args.pressure_thp_mb, args.pressure_interval_ms, args.pressure_compact_s or "-")
    while not STOP.wait(args.pressure_interval_ms / 1e3):
        cycles += 1
        # 1. a new fragmented chunk; the oldest goes once over the cap (churn)
        m = anon(chunk)
        madvise(m, MADV_NOHUGEPAGE)
        touch_pages(m, value=cycles)
        for off in range(0, chunk, 2 * PAGE):
            madvise(m, MADV_DONTNEED, off, PAGE)
        held.append(m)
        while len(held) * chunk > cap:
            held.pop(rng.randrange(len(held))).close()
        # 2. ask for huge pages: needs order-9 blocks, so compacts when there are none
        if args.pressure_thp_mb > 0:
            t = anon(args.pressure_thp_mb << 20)
            madvise(t, MADV_HUGEPAGE)
            touch_pages(t)
            t.close()
        # 3. compact from this thread now and then (root): migrates the fragmented pages
        if args.pressure_compact_s > 0 and now_c() - last_c >= args.pressure_compact_s:
            last_c = now_c()
            try:
                with open("/proc/sys/vm/compact_memory", "w") as f:
                    f.write("1")
            except OSError:
                args.pressure_compact_s = 0  # not root: stop trying
        # 4. allocator churn
        junk = [bytearray(rng.choice((64, 256, 1024, 8192, 65536, 300000))) for _ in range(256)]
        del junk[::2]
        del junk
        now = time.monotonic()
        if now - last >= 5:
            v1 = vmstat(keys)
            log.info("pressure: %d cycles, holding %d MiB (%d MiB resident); %s", cycles,
                     len(held) * chunk >> 20, len(held) * chunk >> 21,
                     " ".join("%s=+%d" % (k, v1[k] - v0[k]) for k in keys))
            last = now
    for m in held:
        m.close()


class Memcg:
    """A child memory cgroup of our own, with a limit: reclaim in our context under load."""

    def __init__(self, limit_mb):
        self.dir = self.parent = None
        self.error = None
        path, kind = None, None
        try:
            with open("/proc/self/cgroup") as f:
                lines = [ln.rstrip("\n").split(":", 2) for ln in f]
        except OSError as e:
            self.error = str(e)
            return
        for hid, ctrls, p in lines:
            if "memory" in ctrls.split(","):
                path, kind = os.path.join("/sys/fs/cgroup/memory", p.lstrip("/")), 1
        if path is None:
            for hid, ctrls, p in lines:
                if hid == "0":
                    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                        cand = os.path.join(root, p.lstrip("/"))
                        if os.path.exists(os.path.join(root, "cgroup.controllers")):
                            path, kind = cand, 2
                            break
        if path is None:
            self.error = "no memory cgroup controller found"
            return
        child = os.path.join(path, "faultline-example-%d" % os.getpid())
        try:
            if kind == 2:
                with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory")
            os.mkdir(child)
            lim = os.path.join(child, "memory.max" if kind == 2 else "memory.limit_in_bytes")
            with open(lim, "w") as f:
                f.write(str(limit_mb << 20))
            with open(os.path.join(child, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            self.dir, self.parent, self.kind = child, path, kind
        except OSError as e:
            self.error = "%s: %s" % (e.filename or child, e.strerror or e)
            try:
                os.rmdir(child)
            except OSError:
                pass

    def close(self):
        if not self.dir:
            return
        try:
            with open(os.path.join(self.parent, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            for _ in range(50):
                try:
                    os.rmdir(self.dir)
                    break
                except OSError:
                    time.sleep(0.02)
        except OSError:
            pass
        self.dir = None


# --------------------------------------------------------------------------
# the "model"
# --------------------------------------------------------------------------

class Weights:
    def __init__(self, path, mb, cold):
        self.path = path
        if not os.path.exists(path):
            if mb <= 0:
                raise SystemExit("server: --weights %s does not exist and --weights-mb is 0" % path)
            d = os.path.dirname(os.path.abspath(path))
            os.makedirs(d, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".weights-")
            try:
                with os.fdopen(fd, "wb") as f:
                    block = os.urandom(1 << 20)
                    for i in range(mb):
                        f.write(block[i % 251:] + block[:i % 251])
                os.replace(tmp, path)  # atomic: concurrent servers never see a half file
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        self.fd = os.open(path, os.O_RDONLY)
        size = os.fstat(self.fd).st_size
        if size == 0:
            raise SystemExit("server: weights file %s is empty" % path)
        if cold:
            try:
                os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        self.map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        f0 = thread_faults()
        t = time.perf_counter()
        self.pages = read_pages(self.map)
        self.load_ms = (time.perf_counter() - t) * 1e3
        f1 = thread_faults()
        self.minflt, self.majflt = f1[0] - f0[0], f1[1] - f0[1]
        self.addr = mapping_addr(path)
        self.mv = memoryview(self.map)
        self.size = size

    def compute(self, deadline, seed):
        """Busy CPU until deadline, hashing windows of the weights (reads them)."""
        h = hashlib.blake2b(digest_size=16)
        win = 16384
        off = (seed * 7919 * PAGE) % max(1, self.size - win)
        n = 0
        while True:
            h.update(self.mv[off:off + win])
            off += win
            if off + win > self.size:
                off = 0
            n += 1
            if n % 4 == 0 and time.perf_counter() >= deadline:
                return h.digest()


def busy(deadline, buf=None):
    h = hashlib.blake2b(digest_size=16)
    data = b"x" * 16384 if buf is None else buf
    while time.perf_counter() < deadline:
        h.update(data)
    return h.digest()


# --------------------------------------------------------------------------
# the engine: the memory and the model's work (a process of its own in the V1 layout)
# --------------------------------------------------------------------------

def churn(rng, n):
    """Allocator churn: n allocations of many sizes, half of them freed at once."""
    if n <= 0:
        return
    keep = []
    for _ in range(n):
        size = int(2 ** rng.uniform(5, 19))  # 32 B .. 512 KiB
        b = bytearray(size)
        b[0] = 1
        keep.append(b)
        if len(keep) > 8:
            keep.pop(rng.randrange(len(keep)))
    del keep


class Engine:
    """Holds the weights mapping, the KV buffers, the allocator churn, the pinned memory and
    the pressure thread, and runs each request's prefill and decode. With --layout v1 (the
    default) it lives in a process of its own, like vLLM V1's EngineCore; with --layout single
    in the API process, run by the thread that answers the request."""

    def __init__(self, args):
        self.args = args
        self.weights = None
        self.cuda = None
        self.pin = None  # (mmap, addr, size, rc) registered at start-up
        self.pth = None

    def start(self, memcg):
        """Loads the weights, pins the staging buffer, starts the pressure thread: 0 or an
        exit status (the reason printed)."""
        global KVOPS
        args = self.args
        KVOPS = KvOps(args.kvops)
        if KVOPS.lib:
            say("kvops: using %s (kv_collapse for the forced collapse stalls)" % KVOPS.path)
        else:
            say("kvops: %s; forced collapse stalls call Python's mmap.madvise" % KVOPS.why)
        if args.weights or args.weights_mb > 0:
            path = args.weights or os.path.join(tempfile.gettempdir(), "faultline-example",
                                                "model-%dmb.safetensors" % args.weights_mb)
            try:
                # under --memcg-limit-mb, drop the cached weights first so that reading them
                # charges the page cache to our cgroup (pages keep the cgroup that read them)
                self.weights = Weights(path, args.weights_mb,
                                       args.weights_cold or bool(memcg and memcg.dir))
            except OSError as e:
                print("server: weights %s: %s" % (path, e.strerror or e), file=sys.stderr)
                return 1
            w = self.weights
            say("weights: %s mmapped at 0x%x, %d bytes, %d pages read in %.1f ms (minflt %d, "
                "majflt %d)" % (w.path, w.addr, w.size, w.pages, w.load_ms, w.minflt, w.majflt))
        if args.pin_mb > 0 or args.pin_per_request:
            self.cuda = Cudart(args.cudart)
            if not self.cuda.lib:
                say("cuda: libcudart not found; --pin-mb/--pin-per-request do nothing")
            else:
                say("cuda: using %s" % self.cuda.path)
                if args.pin_mb > 0:
                    size = args.pin_mb << 20
                    m = anon(size)
                    touch_pages(m)
                    addr = buf_addr(m)
                    rc, ms = self.cuda.register(addr, size, 0)
                    self.pin = (m, addr, size, rc)
                    say("cudaHostRegister(0x%x, %d, 0) = %d (%s) in %.3f ms"
                        % (addr, size, rc, self.cuda.errname(rc), ms))
        if args.pressure:
            free = zone_free_bytes()
            if free and (args.pressure_mb << 20) > free // 2 and not args.pressure_force:
                print("server: --pressure-mb %d is more than half of the buddy allocator's free "
                      "memory (%d MiB); use --pressure-force to insist"
                      % (args.pressure_mb, free >> 20), file=sys.stderr)
                return 2
            self.pth = threading.Thread(target=pressure_loop, args=(args,), name="pressure",
                                        daemon=True)
            self.pth.start()
        return 0

    def stop(self):
        if self.pth:
            self.pth.join(2)
        if self.pin:
            m, addr, size, rc = self.pin
            rc2, ms = self.cuda.unregister(addr)
            say("cudaHostUnregister(0x%x) = %d (%s) in %.3f ms"
                % (addr, rc2, self.cuda.errname(rc2), ms))
            self.pin = None

    def generate(self, job, info):
        """Prefill and decode of one request: yields its output words, one per --itl-ms,
        and leaves what the request's log line and JSON line need in INFO."""
        a = self.args
        num, engine_id = job["num"], job["engine_id"]
        n_prompt, max_tokens, stall = job["n_prompt"], job["max_tokens"], job["stall"]
        rng = random.Random(num)
        kv = pinned = None
        info["engine_pid"] = os.getpid()
        info["engine_tid"] = threading.get_native_id()
        try:
            # ---- prefill: KV allocation + touch, optional stall, compute ----
            f0 = thread_faults()
            kv_bytes = a.kv_mb << 20
            total_tok = n_prompt + max_tokens
            if kv_bytes > 0:
                if a.thp != "none":
                    kv_bytes += -kv_bytes % HPAGE
                kv = anon(kv_bytes)
                if a.thp in ("madvise", "collapse"):
                    madvise(kv, MADV_HUGEPAGE)
                elif a.thp == "nohuge":
                    madvise(kv, MADV_NOHUGEPAGE)
                kv_addr = buf_addr(kv)
                info["kv"] = "0x%x+%d" % (kv_addr, kv_bytes)
                pre_end = kv_bytes * n_prompt // total_tok
                touch_pages(kv, 0, max(PAGE, pre_end), num)
                if a.thp == "collapse":
                    madvise(kv, MADV_COLLAPSE, 0, (pre_end // HPAGE) * HPAGE or HPAGE)
                if a.pin_per_request and self.cuda and self.cuda.lib:
                    rc, ms = self.cuda.register(kv_addr, kv_bytes, 0)
                    pinned = kv_addr
                    info["pin_rc"] = rc
                    log.info("cudaHostRegister(0x%x, %d, 0) = %d (%s) in %.3f ms for %s",
                             kv_addr, kv_bytes, rc, self.cuda.errname(rc), ms, engine_id)
            else:
                pre_end = 0
            if stall:
                t0 = mono()
                sms, sminflt, smajflt, detail = do_stall(stall, a)
                t1 = mono()
                info.update(stall_ms=round(sms, 3), stall_minflt=sminflt, stall_majflt=smajflt,
                            stall_start=t0, stall_end=t1)
                # whatever -q says: tests count faultline's figures against this line
                stall_log.info("Stall in request #%d %s: kind=%s %.1f ms, thread minflt +%d "
                               "majflt +%d; %s; pid %d tid %d start=%.6f end=%.6f", num,
                               engine_id, stall, sms, sminflt, smajflt, detail, os.getpid(),
                               threading.get_native_id(), t0, t1)
            deadline = time.perf_counter() + n_prompt * a.prefill_us_per_token / 1e6
            if self.weights:
                self.weights.compute(deadline, num)
            else:
                busy(deadline)
            churn(rng, a.churn * 4)
            f1 = thread_faults()
            info["prefill_minflt"], info["prefill_majflt"] = f1[0] - f0[0], f1[1] - f0[1]

            # ---- decode ----
            kv_off = pre_end
            step = (kv_bytes - pre_end) // max_tokens if kv_bytes else 0
            for i in range(max_tokens):
                t_tok = time.perf_counter()
                if STOP.is_set():
                    info["status"] = "Aborted"
                    break
                yield " " + WORDS[rng.randrange(len(WORDS))]
                if kv is not None and step:
                    end = kv_bytes if i == max_tokens - 1 else kv_off + step
                    touch_pages(kv, kv_off, end, num + i)
                    kv_off = end
                churn(rng, a.churn)
                if i < max_tokens - 1:
                    left = a.itl_ms / 1e3 - (time.perf_counter() - t_tok)
                    if left > 0:
                        STOP.wait(left)
        finally:
            if pinned is not None:
                rc, ms = self.cuda.unregister(pinned)
                log.info("cudaHostUnregister(0x%x) = %d (%s) in %.3f ms for %s",
                         pinned, rc, self.cuda.errname(rc), ms, engine_id)
            if kv is not None:
                kv.close()


def set_comm(name):
    """The thread's name in /proc (what ps -o comm and faultline show), as setproctitle would."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def engine_main(args, conn, api_end, memcg):
    """The engine process (V1): loads the memory, then runs the requests the API process sends
    over CONN, each in a thread of its own, and sends their tokens back. It ends when the API
    process says stop or goes away (end of file on the pipe)."""
    global ENGINE
    api_end.close()
    set_comm("EngineCore_0")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the API process shuts it down, as in vLLM
    signal.signal(signal.SIGTERM, lambda s, f: STOP.set())
    send_lock = threading.Lock()

    def send(msg):
        with send_lock:
            conn.send(msg)

    ENGINE = Engine(args)
    rc = ENGINE.start(memcg)
    send(("ready", rc, os.getpid()))
    if rc:
        return
    aborts = {}
    threads = []

    def run(job):
        rid, info = job["num"], {}
        gen = ENGINE.generate(job, info)
        try:
            for word in gen:
                if aborts[rid].is_set():
                    info["status"] = "Aborted"
                    break
                send(("tok", rid, word))
        except Exception as e:  # keep the engine serving the other requests
            log.error("engine: request %s: %r", job["engine_id"], e)
            info["status"] = "Aborted"
        finally:
            gen.close()
            try:
                send(("done", rid, info))
            except OSError:
                pass
            aborts.pop(rid, None)

    while not STOP.is_set():
        try:
            if not conn.poll(0.2):
                continue
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg[0] == "req":
            aborts[msg[1]["num"]] = threading.Event()
            t = threading.Thread(target=run, args=(msg[1],), name="engine-%d" % msg[1]["num"],
                                 daemon=True)
            t.start()
            threads = [x for x in threads if x.is_alive()] + [t]
        elif msg[0] == "abort" and msg[1] in aborts:
            aborts[msg[1]].set()
        elif msg[0] == "stop":
            break
    STOP.set()
    for t in threads:
        t.join(3)
    ENGINE.stop()
    conn.close()


class EngineClient:
    """The API process's side of the engine process (V1): sends each request over the pipe and
    hands its tokens, read by one reader thread, to the thread answering it."""

    def __init__(self, conn, proc):
        self.conn, self.proc = conn, proc
        self.lock = threading.Lock()
        self.queues = {}
        self.gone = False
        self.reader = threading.Thread(target=self.read_loop, name="engine-reader", daemon=True)
        self.reader.start()

    def send(self, msg):
        with self.lock:
            self.conn.send(msg)

    def read_loop(self):
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                q = self.queues.get(msg[1])
            if q:
                q.put(msg)
        self.gone = True
        with self.lock:
            for q in self.queues.values():
                q.put(("gone", None))
        if not STOP.is_set():
            log.error("engine process %d exited; stopping", self.proc.pid)
            STOP.set()

    def generate(self, job, info):
        rid = job["num"]
        q = queue.Queue()
        done = False
        with self.lock:
            self.queues[rid] = q
        try:
            try:
                self.send(("req", job))
            except OSError:
                info["status"] = "Aborted"
                return
            while True:
                try:
                    msg = q.get(timeout=0.5)
                except queue.Empty:
                    if self.gone:
                        info["status"] = "Aborted"
                        return
                    continue
                if msg[0] == "tok":
                    if STOP.is_set():
                        info["status"] = "Aborted"
                        return
                    yield msg[2]
                else:  # "done", or "gone" when the engine process went away
                    if msg[0] == "done":
                        info.update(msg[2])
                    else:
                        info["status"] = "Aborted"
                    done = True
                    return
        finally:
            with self.lock:
                self.queues.pop(rid, None)
            if not done and not self.gone:
                try:
                    self.send(("abort", rid))
                except OSError:
                    pass

    def stop(self, wait_s):
        try:
            self.send(("stop",))
        except OSError:
            pass
        self.proc.join(wait_s)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""

    def setup(self):
        self.timeout = STATE.args.keepalive_timeout
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # quiet the stdlib's own stderr logging; we log like vLLM/uvicorn instead
    def log_message(self, fmt, *a):
        log.debug("http: " + fmt, *a)

    def log_request(self, code="-", size="-"):
        pass

    def access_log(self, code):
        if STATE.args.access_log:
            logging.getLogger("uvicorn.access").info(
                '%s:%d - "%s %s %s" %d', self.client_address[0], self.client_address[1],
                self.command, self.path, self.request_version, code)

    # -- raw response writing (one write per logical piece, like uvicorn) --
    def write(self, data):
        try:
            self.wfile.write(data)
        except (OSError, ValueError) as e:
            self.close_connection = True
            raise ClientGone(str(e))

    def head_bytes(self, code, reason, headers):
        lines = ["HTTP/1.1 %d %s" % (code, reason),
                 "date: " + self.date_time_string(),
                 "server: uvicorn"]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if self.close_connection:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_json(self, code, obj, reason=None, extra=()):
        body = json.dumps(obj, separators=(",", ":")).encode()
        reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   411: "Length Required", 413: "Payload Too Large", 503: "Service Unavailable"}
        hdr = [("content-length", str(len(body))), ("content-type", "application/json")]
        hdr += list(extra)
        self.write(self.head_bytes(code, reason or reasons.get(code, "Error"), hdr) + body)
        self.access_log(code)

    def send_error_json(self, code, msg, etype="BadRequestError"):
        self.close_connection = self.close_connection or code >= 500
        try:
            self.send_json(code, {"object": "error", "message": msg, "type": etype,
                                  "param": None, "code": code})
        except ClientGone:
            pass

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            for _ in range(100000):
                line = self.rfile.readline(1024)
                if not line:
                    raise ClientGone("eof in chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)
            return None
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        n = int(cl)
        if n < 0 or n > MAX_BODY:
            return None
        data = self.rfile.read(n)
        if len(data) != n:
            raise ClientGone("short body")
        return data

    def do_GET(self):
        path = self.path.split("?")[0]
        try:
            if path in ("/health", "/ping"):
                self.write(self.head_bytes(200, "OK", [("content-length", "0")]))
                self.access_log(200)
            elif path == "/v1/models":
                self.send_json(200, {"object": "list", "data": [{
                    "id": STATE.args.model, "object": "model", "created": int(STATE.started),
                    "owned_by": "faultline", "root": STATE.args.model, "parent": None,
                    "max_model_len": 8192}]})
            elif path == "/version":
                self.send_json(200, {"version": "0.0.0-faultline-example"})
            else:
                self.send_error_json(404, "Not Found", "NotFoundError")
        except ClientGone:
            pass

    def do_POST(self):
        t_start = mono()
        path = self.path.split("?")[0]
        try:
            body = self.read_body()
        except (ClientGone, ValueError, OSError):
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            return self.send_error_json(413, "request body too large")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            return self.send_error_json(404, "Not Found", "NotFoundError")
        try:
            req = json.loads(body or b"{}")
            if not isinstance(req, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            return self.send_error_json(400, "invalid JSON body: %s" % e)
        try:
            STATE.complete(self, req, t_start, chat=(path == "/v1/chat/completions"))
        except ClientGone:
            self.close_connection = True


class Server:
    def __init__(self, args):
        self.args = args
        self.started = time.time()
        self.lock = threading.Lock()
        self.n_received = 0
        self.n_finished = 0
        self.active = 0
        self.stall_set = set(args.stall_requests)
        self.engine = None  # an Engine (--layout single) or an EngineClient (v1)
        self.jsonl = open(args.requests_jsonl, "a", buffering=1) if args.requests_jsonl else None
        self.jsonl_lock = threading.Lock()

    # -- request parsing ------------------------------------------------------
    @staticmethod
    def prompt_of(req, chat):
        if chat:
            msgs = req.get("messages")
            if not isinstance(msgs, list) or not msgs:
                raise ValueError("'messages' must be a non-empty list")
            text = " ".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
            return text, None
        p = req.get("prompt", "")
        if isinstance(p, list):
            if len(p) == 1 and isinstance(p[0], (str, list)):
                p = p[0]
            elif p and all(isinstance(x, int) for x in p):
                return None, p
            else:
                raise ValueError("only one prompt per request is supported")
        if isinstance(p, list):
            if not all(isinstance(x, int) for x in p):
                raise ValueError("token id prompts must be integers")
            return None, p
        if not isinstance(p, str):
            raise ValueError("'prompt' must be a string or a list of token ids")
        return p, None

    def complete(self, h, req, t_start, chat):
        a = self.args
        try:
            prompt, token_ids = self.prompt_of(req, chat)
            max_tokens = req.get("max_tokens", req.get("max_completion_tokens"))
            max_tokens = 16 if max_tokens is None else int(max_tokens)
            if not 1 <= max_tokens <= MAX_TOKENS_CAP:
                raise ValueError("max_tokens must be in 1..%d" % MAX_TOKENS_CAP)
            stream = bool(req.get("stream", False))
            so = req.get("stream_options") or {}
            include_usage = bool(so.get("include_usage")) if isinstance(so, dict) else False
            temperature = float(req.get("temperature", 1.0) or 0.0)
        except (ValueError, TypeError, AttributeError) as e:
            return h.send_error_json(400, str(e))
        n_prompt = len(token_ids) if token_ids is not None else max(1, len(prompt.split()))

        hk = h.headers.get("X-Faultline-Stall") if a.stall_header else None
        if hk:
            hk = hk.strip().lower()
            if hk not in STALL_KINDS:
                return h.send_error_json(400, "X-Faultline-Stall must be one of %s" % ",".join(STALL_KINDS))
        xrid = h.headers.get("X-Request-Id")
        if xrid is not None:
            xrid = "".join(c for c in xrid.strip() if 32 < ord(c) < 127)[:128] or None
        with self.lock:
            self.n_received += 1
            num = self.n_received
            self.active += 1
        stall = hk or (a.stall_kind if num in self.stall_set else None)
        # vLLM: request_id = "cmpl-" + (X-Request-Id or random uuid hex); the
        # engine (and its log lines) use request_id + "-<prompt index>".
        request_id = ("chatcmpl-" if chat else "cmpl-") + (xrid or uuid.uuid4().hex)
        engine_id = request_id + "-0"
        shown = prompt if prompt is not None else None
        if shown is not None and len(shown) > a.max_log_len:
            shown = shown[:a.max_log_len]
        log.info("Received request %s: prompt: %r, params: SamplingParams(n=1, temperature=%s, "
                 "max_tokens=%d, stream=%s), prompt_token_ids: %s, lora_request: None, "
                 "prompt_adapter_request: None.", engine_id, shown, temperature, max_tokens,
                 stream, (token_ids[:a.max_log_len] if token_ids is not None else None))

        close_delim = stream and (a.sse_framing == "close" or h.request_version == "HTTP/1.0")
        if close_delim:
            h.close_connection = True
        extra = []
        if xrid is not None:
            extra.append(("x-request-id", xrid))
        if stall:
            extra.append(("x-faultline-stall", stall))
        created = int(time.time())
        model = str(req.get("model") or a.model)[:200]
        obj = "chat.completion.chunk" if chat else "text_completion"

        def head():
            hdr = [("content-type", "text/event-stream; charset=utf-8")]
            if not close_delim:
                hdr.append(("transfer-encoding", "chunked"))
            return h.head_bytes(200, "OK", hdr + extra)

        def frame(payload):
            data = payload.encode()
            if close_delim:
                return data
            return b"%x\r\n" % len(data) + data + b"\r\n"

        def event(d):
            return frame("data: " + json.dumps(d, separators=(",", ":")) + "\n\n")

        def chunk(text, finish):
            if chat:
                ch = {"index": 0, "delta": {"content": text}, "logprobs": None,
                      "finish_reason": finish}
            else:
                ch = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish,
                      "stop_reason": None}
            d = {"id": request_id, "object": obj, "created": created, "model": model,
                 "choices": [ch]}
            if include_usage:
                d["usage"] = None
            return event(d)

        job = {"num": num, "engine_id": engine_id, "n_prompt": n_prompt,
               "max_tokens": max_tokens, "stall": stall}
        rec = {"n": num, "id": request_id, "x_request_id": xrid, "start": t_start,
               "first_token": None, "end": None, "stall": stall}
        info = {}
        gen = self.engine.generate(job, info)
        headers_sent = False
        out_text = []
        status = "Finished"
        try:
            if stream and a.headers == "early":
                h.write(head())  # uvicorn writes the headers before the body starts
                h.access_log(200)
                headers_sent = True

            # ---- prefill and decode, in the engine: each token is written as it comes ----
            for i, word in enumerate(gen):
                out_text.append(word)
                finish = "length" if i == max_tokens - 1 else None
                if stream:
                    data = chunk(word, finish)
                    if not headers_sent:
                        data = head() + data  # --headers with-first-token
                        headers_sent = True
                        h.access_log(200)
                    h.write(data)
                if i == 0:
                    rec["first_token"] = mono()
            status = info.get("status", "Finished")
            if stream and status == "Finished":
                tail = b""
                if include_usage:
                    u = {"id": request_id, "object": obj, "created": created, "model": model,
                         "choices": [], "usage": {"prompt_tokens": n_prompt,
                                                  "total_tokens": n_prompt + len(out_text),
                                                  "completion_tokens": len(out_text)}}
                    tail += event(u)
                tail += frame("data: [DONE]\n\n")
                h.write(tail)
                if not close_delim:
                    h.write(b"0\r\n\r\n")  # Starlette's final empty body -> its own write
            elif stream and headers_sent and not close_delim:
                h.write(b"0\r\n\r\n")
            if not stream:
                text = "".join(out_text)
                if chat:
                    choice = {"index": 0, "message": {"role": "assistant", "content": text},
                              "logprobs": None, "finish_reason": "length"}
                else:
                    choice = {"index": 0, "text": text, "logprobs": None,
                              "finish_reason": "length", "stop_reason": None,
                              "prompt_logprobs": None}
                resp = {"id": request_id, "object": "chat.completion" if chat else "text_completion",
                        "created": created, "model": model, "choices": [choice],
                        "usage": {"prompt_tokens": n_prompt, "total_tokens": n_prompt + len(out_text),
                                  "completion_tokens": len(out_text), "prompt_tokens_details": None}}
                rec["first_token"] = rec["first_token"] or mono()
                h.send_json(200, resp, extra=extra)
        except ClientGone as e:
            status = "Aborted"
            log.debug("client went away during %s: %s", engine_id, e)
        finally:
            gen.close()  # single layout: unmaps the KV buffer; V1: tells the engine to abort
            for k in ("kv", "pin_rc", "stall_ms", "stall_minflt", "stall_majflt", "stall_start",
                      "stall_end", "engine_pid", "engine_tid", "prefill_minflt",
                      "prefill_majflt"):
                if k in info:
                    rec[k] = info[k]
            rec["end"] = mono()
            with self.lock:
                self.active -= 1
                self.n_finished += 1
                finished = self.n_finished
            log.info("%s request %s.", status, engine_id)
            ft = rec["first_token"]
            log.info("Request %s timing: n=%d tid=%d start=%.6f first_token=%s end=%.6f "
                     "ttft_ms=%s prompt_tokens=%d output_tokens=%d stall=%s prefill_minflt=%s kv=%s",
                     request_id, num, threading.get_native_id(), t_start,
                     "%.6f" % ft if ft else "-", rec["end"],
                     "%.3f" % ((ft - t_start) * 1e3) if ft else "-", n_prompt, len(out_text),
                     stall or "-", rec.get("prefill_minflt", "-"), rec.get("kv", "-"))
            if self.jsonl:
                rec["status"] = status
                with self.jsonl_lock:
                    self.jsonl.write(json.dumps(rec, separators=(",", ":")) + "\n")
            if a.max_requests and finished >= a.max_requests:
                STOP.set()


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, max_conn):
        self.sem = threading.BoundedSemaphore(max_conn)
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        if not self.sem.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
                                b"connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.sem.release()

    def handle_error(self, request, client_address):
        log.debug("connection %s: %s", client_address, sys.exc_info()[1])


class HTTPServer6(HTTPServer):
    address_family = socket.AF_INET6


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_int_list(s):
    out = set()
    for part in (s or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            lo, hi = int(lo), int(hi)
            if hi - lo > 100000:
                raise argparse.ArgumentTypeError("range too large: %s" % part)
            out.update(range(lo, hi + 1))
        else:
            out.add(int(part))
    if any(x < 1 for x in out):
        raise argparse.ArgumentTypeError("request numbers count from 1")
    return out


def build_parser():
    p = argparse.ArgumentParser(
        description="Inference-like server (a vLLM stand-in) for trying faultline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("serving")
    g.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    g.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    g.add_argument("--model", default="faultline-example", help="served model name")
    g.add_argument("--itl-ms", type=float, default=5.0, help="delay between output tokens")
    g.add_argument("--prefill-us-per-token", type=float, default=50.0,
                   help="busy CPU per prompt token during prefill")
    g.add_argument("--headers", choices=("early", "with-first-token"), default="early",
                   help="when a streaming response's headers are written: early = before prefill "
                        "(what uvicorn/vLLM do), with-first-token = in the first token's write")
    g.add_argument("--sse-framing", choices=("chunked", "close"), default="chunked",
                   help="SSE body framing: chunked (vLLM) or close-delimited")
    g.add_argument("--keepalive-timeout", type=float, default=30.0,
                   help="seconds an idle keep-alive connection is kept")
    g.add_argument("--max-connections", type=int, default=256)
    g.add_argument("--max-requests", type=int, default=0, help="exit after N requests (0 = never)")
    g.add_argument("--max-seconds", type=float, default=0, help="exit after S seconds (0 = never)")
    g.add_argument("--log", help="also append the log to this file")
    g.add_argument("--requests-jsonl", help="append one JSON line per request (server-side times, "
                   "CLOCK_MONOTONIC seconds)")
    g.add_argument("--max-log-len", type=int, default=64, help="prompt characters shown in logs")
    g.add_argument("--no-access-log", dest="access_log", action="store_false")
    g.add_argument("-q", "--quiet", action="store_true", help="no per-request log lines")
    g.add_argument("--layout", choices=("v1", "single"), default="v1",
                   help="v1 = vLLM V1's shape: this (API) process owns the HTTP socket and "
                        "starts an engine process (multiprocessing, before it listens) that "
                        "holds the memory and runs the requests; single = one process")
    g = p.add_argument_group("memory")
    g.add_argument("--weights", help="weights file to mmap (created if missing; default "
                   "$TMPDIR/faultline-example/model-<MB>mb.safetensors)")
    g.add_argument("--weights-mb", type=int, default=64, help="size of a created weights file "
                   "(0 = no weights)")
    g.add_argument("--weights-cold", action="store_true",
                   help="drop the weights from the page cache first (start-up reads fault from disk)")
    g.add_argument("--kv-mb", type=int, default=16, help="KV buffer per request, MiB (0 = none)")
    g.add_argument("--thp", choices=("none", "madvise", "nohuge", "collapse"), default="none",
                   help="KV buffers: madvise(MADV_HUGEPAGE), MADV_NOHUGEPAGE, or MADV_HUGEPAGE "
                        "plus MADV_COLLAPSE after prefill")
    g.add_argument("--churn", type=int, default=32, help="allocations per decode step (x4 in prefill)")
    g.add_argument("--pin-mb", type=int, default=0,
                   help="cudaHostRegister a staging buffer of N MiB at start-up (needs libcudart)")
    g.add_argument("--pin-per-request", action="store_true",
                   help="also cudaHostRegister/Unregister each request's KV buffer")
    g.add_argument("--cudart", help="path of libcudart.so to use")
    g.add_argument("--kvops", help="path of the example's libkvops.so (default: $FAULTLINE_KVOPS, "
                   "else the one make built in .output/examples)")
    g.add_argument("--pressure", action="store_true", help="background thread fragmenting memory")
    g.add_argument("--pressure-mb", type=int, default=256, help="memory the pressure thread cycles")
    g.add_argument("--pressure-thp-mb", type=int, default=4,
                   help="MADV_HUGEPAGE memory faulted per pressure cycle")
    g.add_argument("--pressure-interval-ms", type=int, default=20)
    g.add_argument("--pressure-compact-s", type=float, default=2.0,
                   help="the pressure thread writes /proc/sys/vm/compact_memory every S seconds "
                        "(root only; 0 = never)")
    g.add_argument("--memcg-limit-mb", type=int, default=0,
                   help="move the server into a child memory cgroup with this limit (root; "
                        "cgroup v1 or v2), so the page cache (weights) is reclaimed under load")
    g.add_argument("--pressure-force", action="store_true",
                   help="allow --pressure-mb above half of the buddy allocator's free memory")
    g = p.add_argument_group("test stalls")
    g.add_argument("--stall-requests", type=parse_int_list, default="",
                   help="request numbers (1 = first request received) that stall in prefill, "
                        "e.g. 3,7 or 3-5")
    g.add_argument("--stall-kind", choices=STALL_KINDS, default="faults")
    g.add_argument("--stall-header", action="store_true",
                   help="honour 'X-Faultline-Stall: KIND' on a request")
    g.add_argument("--stall-faults", type=int, default=25000, help="pages faulted by kind faults")
    g.add_argument("--stall-mb", type=int, default=64,
                   help="MiB used by kinds compaction, thp, collapse")
    g.add_argument("--stall-majfault-mb", type=int, default=4,
                   help="MiB of weights re-read by kind majfault (256 major faults per MiB; "
                        "a weights file no other process maps)")
    g.add_argument("--stall-ms", type=int, default=200, help="length of kind sleep")
    return p


def setup_logging(args):
    fmt = logging.Formatter("%(levelname)s %(asctime)s [%(filename)s:%(lineno)d] %(message)s",
                            "%m-%d %H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.WARNING if args.quiet else logging.INFO)
    stall_log.setLevel(logging.INFO)  # the forced stalls are logged even with -q
    sh = logging.StreamHandler(sys.stdout)
    sh.setFormatter(fmt)
    root.addHandler(sh)
    if args.log:
        fh = logging.FileHandler(args.log)
        fh.setFormatter(fmt)
        root.addHandler(fh)


def say(msg):
    """Start-up lines: always on stdout (and in --log), whatever --quiet says."""
    print(msg, flush=True)
    for hd in logging.getLogger().handlers:
        if isinstance(hd, logging.FileHandler):
            hd.stream.write(msg + "\n")
            hd.flush()


def main(argv=None):
    global STATE
    args = build_parser().parse_args(argv)
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except AttributeError:
        pass
    setup_logging(args)
    if not is_loopback(args.host):
        print("server: refusing to listen on %s: loopback addresses only (127.0.0.1, ::1)"
              % args.host, file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("server: --port must be 0..65535", file=sys.stderr)
        return 2
    if args.kv_mb < 0 or args.kv_mb > 4096 or args.stall_faults < 0 or args.stall_mb > 4096:
        print("server: --kv-mb and --stall-mb must be 0..4096", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, lambda s, f: STOP.set())
    signal.signal(signal.SIGINT, lambda s, f: STOP.set())

    STATE = Server(args)
    say("faultline-example server: pid %d, python %s, model %s" %
        (os.getpid(), sys.version.split()[0], args.model))

    memcg = None
    if args.memcg_limit_mb > 0:
        memcg = Memcg(args.memcg_limit_mb)
        if memcg.dir:
            say("memcg: moved into %s (cgroup v%d), limit %d MiB"
                % (memcg.dir, memcg.kind, args.memcg_limit_mb))
        else:
            say("memcg: not used (%s)" % memcg.error)

    try:
        return serve(args, memcg)
    finally:
        if memcg:
            memcg.close()


def start_engine(args, memcg):
    """The engine: in this process (--layout single), or started as a process of its own with
    multiprocessing (V1), which loads the memory before this process listens. Returns the
    engine, or an exit status."""
    global ENGINE
    if args.layout == "single":
        ENGINE = Engine(args)
        rc = ENGINE.start(memcg)
        return rc or ENGINE
    # fork, as vLLM does where CUDA is not initialised yet: before any thread of ours starts
    ctx = multiprocessing.get_context("fork")
    api_end, engine_end = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=engine_main, args=(args, engine_end, api_end, memcg),
                       name="EngineCore_0", daemon=True)
    proc.start()
    engine_end.close()
    # the weights may be created first: wait while the engine process lives
    while not api_end.poll(0.2):
        if not proc.is_alive():
            print("server: the engine process exited during start-up (status %s)"
                  % proc.exitcode, file=sys.stderr)
            return 1
    try:
        _, rc, pid = api_end.recv()
    except (EOFError, OSError):
        rc = 1
    if rc:
        proc.join(5)
        return rc
    say("engine: pid %d (EngineCore_0, started by pid %d with multiprocessing) holds the "
        "memory (weights, KV buffers, allocator churn, pinned memory, pressure) and runs the "
        "requests" % (pid, os.getpid()))
    return EngineClient(api_end, proc)


def serve(args, memcg):
    eng = start_engine(args, memcg)
    if isinstance(eng, int):
        return eng
    STATE.engine = eng

    say("kv: %d MiB per request, thp=%s, churn=%d/token, itl=%.1f ms, prefill=%.0f us/token, "
        "headers=%s, framing=%s, layout=%s" % (args.kv_mb, args.thp, args.churn, args.itl_ms,
                                               args.prefill_us_per_token, args.headers,
                                               args.sse_framing, args.layout))
    if args.stall_requests or args.stall_header:
        say("stalls: requests %s kind %s%s" % (
            ",".join(str(x) for x in sorted(args.stall_requests)) or "-", args.stall_kind,
            ", X-Faultline-Stall header honoured" if args.stall_header else ""))

    fam = HTTPServer6 if ":" in args.host else HTTPServer
    try:
        httpd = fam((args.host, args.port), Handler, args.max_connections)
    except OSError as e:
        print("server: cannot listen on %s:%d: %s" % (args.host, args.port, e.strerror or e),
              file=sys.stderr)
        stop_engine(eng)
        return 1
    host, port = httpd.server_address[:2]
    st = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                          name="http", daemon=True)
    st.start()
    say("listening on %s:%d" % (host if ":" not in host else "[%s]" % host, port))

    t_end = time.monotonic() + args.max_seconds if args.max_seconds > 0 else None
    while not STOP.wait(0.2):
        if t_end and time.monotonic() >= t_end:
            say("server: --max-seconds reached")
            break
    STOP.set()
    httpd.shutdown()
    httpd.server_close()
    deadline = time.monotonic() + 3
    while STATE.active and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_engine(eng)
    say("server: shut down after %d requests (%d finished)" % (STATE.n_received, STATE.n_finished))
    sys.stdout.flush()
    return 0


def stop_engine(eng):
    if isinstance(eng, EngineClient):
        eng.stop(5)
    else:
        eng.stop()


if __name__ == "__main__":
    sys.exit(main())
