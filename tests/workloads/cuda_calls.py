#!/usr/bin/env python3
"""Calls CUDA's pinned-memory functions through ctypes on a real libcudart, for faultline's tests.

Usage: cuda_calls.py LIBCUDART (--preload | --dlopen)

Prints "pid N" and waits for a line on stdin. With --preload libcudart is loaded before that;
with --dlopen it is loaded after the first line, then "loaded" is printed and a second line is
awaited. Then: cudaHostRegister of a 3 MiB buffer and of an 8 MiB MADV_HUGEPAGE buffer (touched;
its huge-page bytes read from smaps just before), cudaHostUnregister of each, cudaHostAlloc of
1 MiB, cudaMallocHost of 2 MiB, cudaFreeHost. Each call prints one JSON line {"func", "size",
"ptr", "rc", "huge_bytes"} (ptr: passed, or returned; 0 when an allocation failed) with the return code the caller saw (without a GPU, an error), then "done";
it exits after one more line (its buffers stay mapped until then).
"""
import ctypes
import json
import mmap
import os
import sys

MADV_HUGEPAGE = 14


def wait_line():
    sys.stdin.readline()


def smaps_huge(addr, length):
    total, cur = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = lo < addr + length and hi > addr
            elif cur and parts[0] == "AnonHugePages:":
                total += int(parts[1]) * 1024
    return total


def say(**kw):
    print(json.dumps(kw), flush=True)


def main():
    lib, mode = sys.argv[1], sys.argv[2]
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    cudart = ctypes.CDLL(lib) if mode == "--preload" else None
    print(f"pid {os.getpid()}", flush=True)
    wait_line()
    if cudart is None:
        cudart = ctypes.CDLL(lib)
        print("loaded", flush=True)
        wait_line()
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    small = ctypes.create_string_buffer(3 << 20)
    rc = cudart.cudaHostRegister(vp(ctypes.addressof(small)), sz(3 << 20), ctypes.c_uint(0))
    say(func="cudaHostRegister", size=3 << 20, ptr=ctypes.addressof(small), rc=rc, huge_bytes=None)
    big = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(big))
    libc.madvise(vp(addr), sz(8 << 20), MADV_HUGEPAGE)
    for off in range(0, 8 << 20, 4096):
        big[off] = 1
    huge = smaps_huge(addr, 8 << 20)
    rc = cudart.cudaHostRegister(vp(addr), sz(8 << 20), ctypes.c_uint(0))
    say(func="cudaHostRegister", size=8 << 20, ptr=addr, rc=rc, huge_bytes=huge)
    rc = cudart.cudaHostUnregister(vp(ctypes.addressof(small)))
    say(func="cudaHostUnregister", size=0, ptr=ctypes.addressof(small), rc=rc, huge_bytes=None)
    rc = cudart.cudaHostUnregister(vp(addr))
    say(func="cudaHostUnregister", size=0, ptr=addr, rc=rc, huge_bytes=None)
    p = vp()
    rc = cudart.cudaHostAlloc(ctypes.byref(p), sz(1 << 20), ctypes.c_uint(0))
    say(func="cudaHostAlloc", size=1 << 20, ptr=p.value or 0, rc=rc, huge_bytes=None)
    rc = cudart.cudaMallocHost(ctypes.byref(p), sz(2 << 20))
    say(func="cudaMallocHost", size=2 << 20, ptr=p.value or 0, rc=rc, huge_bytes=None)
    rc = cudart.cudaFreeHost(p)
    say(func="cudaFreeHost", size=0, ptr=p.value or 0, rc=rc, huge_bytes=None)
    print("done", flush=True)
    wait_line()  # the pinned ranges stay mapped until then: a tracer may look at them
    return 0


if __name__ == "__main__":
    sys.exit(main())
