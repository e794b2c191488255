#!/usr/bin/env python3
"""Rewrites a version 2 faultline record file as version 3 (docs/record-format.md, Versions), so
that `report` of the same events can be compared across the format change.

Usage: scripts/record-v2-to-v3.py IN OUT
Version 3 decides in BPF what version 2 left to user space; this does the same from the raw
values version 2 kept: FL_F_WRITE from the x86 page-fault error code (bit 1) and from
FAULT_FLAG_WRITE (bit 0), fl_fault_dur.outcome as mm_account_fault() counts it (VM_FAULT_ERROR
is 0x873 on every kernel faultline supports; MAJOR 0x4, FAULT_FLAG_TRIED 0x20), fl_memsys.op
and .advice from the x86-64 or arm64 syscall number. Everything else is copied as it is.
"""
import struct
import sys
import zlib

NR_OP = {9: 1, 222: 1, 11: 2, 215: 2, 12: 3, 214: 3, 25: 4, 216: 4, 28: 5, 233: 5}
F_WRITE = 8


def event(ev):
    t, flags = struct.unpack_from("<HH", ev, 0)
    if t == 1 and len(ev) >= 40 and struct.unpack_from("<I", ev, 20)[0] & 2:
        struct.pack_into("<H", ev, 2, flags | F_WRITE)
    elif t == 2 and len(ev) == 56:
        vmf, fflags = struct.unpack_from("<I", ev, 20)[0], struct.unpack_from("<I", ev, 48)[0]
        outcome = 3 if vmf & 0x873 else 2 if (vmf & 0x4 or fflags & 0x20) else 1
        if fflags & 0x1:
            struct.pack_into("<H", ev, 2, flags | F_WRITE)
        ev += struct.pack("<II", outcome, 0)
    elif t == 9 and len(ev) >= 48:
        op = NR_OP.get(struct.unpack_from("<I", ev, 20)[0], 0)
        arg = struct.unpack_from("<Q", ev, 40)[0]
        struct.pack_into("<HH", ev, 20, op, (arg if arg < 32 else 32) if op == 5 else 0)
    return ev


def chunk(d, pos):
    raw_len, comp_len = struct.unpack_from("<II", d, pos + 4)
    raw = zlib.decompress(d[pos + 40:pos + 40 + comp_len])
    out, off, n = bytearray(), 0, 0
    while off < len(raw):
        (ln,) = struct.unpack_from("<H", raw, off)
        ev = event(bytearray(raw[off + 2:off + 2 + ln]))
        out += struct.pack("<H", len(ev)) + ev
        off += 2 + ln
        n += 1
    comp = zlib.compress(bytes(out), 1)
    hdr = bytearray(d[pos:pos + 40])
    struct.pack_into("<III", hdr, 4, len(out), len(comp), 0)
    struct.pack_into("<I", hdr, 12, zlib.crc32(comp, zlib.crc32(bytes(hdr))))
    return bytes(hdr) + comp, pos + 40 + comp_len


def main():
    d = open(sys.argv[1], "rb").read()
    if d[:8] != b"FLTLINE\0" or struct.unpack_from("<I", d, 8)[0] != 2:
        sys.exit(f"{sys.argv[1]}: not a version 2 faultline record file")
    meta_len = struct.unpack_from("<Q", d, 16)[0]
    out = bytearray(d[:24 + meta_len])
    struct.pack_into("<I", out, 8, 3)
    pos = 24 + meta_len
    while d[pos:pos + 4] == b"FLCK" and pos + 40 <= len(d):
        c, pos = chunk(d, pos)
        out += c
    if d[pos:pos + 4] == b"FLTR":  # trailer record, JSON, end marker
        json_len = struct.unpack_from("<Q", d, pos + 8)[0]
        tr = d[pos:pos + 16 + json_len]
        end = bytearray(d[pos + 16 + json_len:pos + 48 + json_len])
        if len(end) == 32:
            struct.pack_into("<Q", end, 8, len(out))
        out += tr + end
    open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
