#!/usr/bin/env python3
"""Pins host memory with cudaHostRegister from 4 KiB-page memory and from MADV_HUGEPAGE memory,
the way inference servers stage weights and KV blocks for DMA, and prints what each call cost.

Usage: pin_check.py [--sizes-gib 1,4] [--repeat 2] [--cudart PATH] [--json OUT]

Each case: mmap anonymous private memory, madvise it (NOHUGEPAGE or HUGEPAGE), touch every page,
read how much of it is backed by huge pages (smaps AnonHugePages), then time cudaHostRegister and
cudaHostUnregister. Without a GPU the calls fail at once with an error code; that is still a call
faultline must see with its size and return code.
"""
import argparse
import ctypes
import ctypes.util
import glob
import json
import mmap
import os
import sys
import time

MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
CUDA_HOST_REGISTER_DEFAULT = 0


def find_cudart(explicit):
    if explicit:
        return explicit
    candidates = []
    for d in sys.path:
        candidates += glob.glob(os.path.join(d, "nvidia", "*", "lib", "libcudart.so.*"))
        candidates += glob.glob(os.path.join(d, "nvidia", "cuda_runtime", "lib", "libcudart.so.*"))
        candidates += glob.glob(os.path.join(d, "torch", "lib", "libcudart*.so*"))
    candidates += glob.glob("/usr/local/cuda/lib64/libcudart.so.*")
    found = ctypes.util.find_library("cudart")
    if found:
        candidates.append(found)
    return candidates[0] if candidates else None


def huge_bytes(addr, length):
    """Bytes of [addr, addr+length) in VMAs whose AnonHugePages is non-zero (smaps)."""
    total = 0
    cur = None
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = (lo, hi) if lo < addr + length and hi > addr else None
            elif cur and parts[0] == "AnonHugePages:":
                total += int(parts[1]) * 1024
    return min(total, length)


def one_case(libc, cudart, size, huge):
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    libc.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(size),
                 MADV_HUGEPAGE if huge else MADV_NOHUGEPAGE)
    t0 = time.perf_counter()
    for off in range(0, size, 4096):
        buf[off] = 1
    touch_s = time.perf_counter() - t0
    hb = huge_bytes(addr, size)
    t0 = time.perf_counter()
    rc = cudart.cudaHostRegister(ctypes.c_void_p(addr), ctypes.c_size_t(size),
                                 ctypes.c_uint(CUDA_HOST_REGISTER_DEFAULT))
    reg_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    urc = cudart.cudaHostUnregister(ctypes.c_void_p(addr)) if rc == 0 else None
    unreg_s = time.perf_counter() - t0
    name = cudart.cudaGetErrorName(rc).decode() if rc else "cudaSuccess"
    del buf
    return {"size_bytes": size, "pages": "huge (MADV_HUGEPAGE)" if huge else "4 KiB (MADV_NOHUGEPAGE)",
            "huge_share": hb / size, "touch_s": touch_s, "register_s": reg_s,
            "register_gb_s": size / reg_s / 1e9 if reg_s > 0 else None, "register_rc": rc,
            "register_rc_name": name, "unregister_s": unreg_s if urc is not None else None,
            "unregister_rc": urc}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-gib", default="1,4")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--cudart")
    ap.add_argument("--json")
    a = ap.parse_args()
    path = find_cudart(a.cudart)
    if not path:
        print("pin_check: no libcudart found (pip wheel, torch, /usr/local/cuda)", file=sys.stderr)
        return 2
    cudart = ctypes.CDLL(path)
    cudart.cudaGetErrorName.restype = ctypes.c_char_p
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    print(f"pin_check: pid {os.getpid()} libcudart {path}", flush=True)
    results = []
    for gib in (float(x) for x in a.sizes_gib.split(",")):
        size = int(gib * (1 << 30))
        for r in range(a.repeat):
            for huge in (False, True):
                res = one_case(libc, cudart, size, huge)
                res["repeat"] = r
                results.append(res)
                gbs = res["register_gb_s"]
                print(f"{gib:5.1f} GiB {res['pages']:24s} huge {res['huge_share']*100:5.1f}%  "
                      f"register {res['register_s']*1e3:9.2f} ms "
                      f"({gbs if gbs is None else round(gbs, 2)} GB/s) rc {res['register_rc']} "
                      f"{res['register_rc_name']}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cudart": path, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
