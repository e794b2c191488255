#!/usr/bin/env python3
"""Inflates a faultline record file the way docs/record-format.md describes it (not with
faultline's reader): prints a JSON summary and writes the metadata, every chunk's inflated
records and the trailer to OUT, so a test can grep the bytes that reached the disk. "faults" counts FL_EV_FAULT records and
the faults of FL_EV_FAULT_RUN records (format 4).
Usage: inflate_record.py FILE OUT"""
import json
import struct
import sys
import zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"FLTLINE\0", "bad magic"
version, _flags, meta_len = struct.unpack_from("<IIQ", data, 8)
out = bytearray(data[24:24 + meta_len])
pos = 24 + meta_len
chunks, types, faults = 0, {}, 0
FL_EV_FAULT, FL_EV_FAULT_RUN = 1, 15
while pos + 40 <= len(data) and data[pos:pos + 4] == b"FLCK":
    raw_len, comp_len = struct.unpack_from("<II", data, pos + 4)
    if pos + 40 + comp_len > len(data):
        break  # a partial chunk: the file was cut
    raw = zlib.decompress(data[pos + 40:pos + 40 + comp_len])
    assert len(raw) == raw_len, "raw_len mismatch"
    off = 0
    while off + 2 <= len(raw):
        (n,) = struct.unpack_from("<H", raw, off)
        (t,) = struct.unpack_from("<H", raw, off + 2)
        types[t] = types.get(t, 0) + 1
        if t == FL_EV_FAULT:
            faults += 1
        elif t == FL_EV_FAULT_RUN and n >= 56:  # struct fl_fault_run: u32 count at 20
            faults += struct.unpack_from("<I", raw, off + 2 + 20)[0]
        off += 2 + n
    out += raw
    chunks += 1
    pos += 40 + comp_len
out += data[pos:]  # trailer (JSON text) or what is left of a cut chunk
open(sys.argv[2], "wb").write(out)
print(json.dumps({"version": version, "chunks": chunks, "faults": faults,
                  "types": {str(k): v for k, v in sorted(types.items())}}))
