#!/usr/bin/env python3
"""Makes a fuzz_model seed (tests/fuzz/fuzz_model.c) from a real recording.

Usage: scripts/fuzz-model-seed.py RECORDING OUT [MAX_EVENTS [TYPES]]
Writes u16 meta_len + metadata JSON, u16 trailer_len + trailer JSON, then the first MAX_EVENTS
(default 200) records of the recording (of the comma-separated event TYPES only, if given),
as docs/record-format.md lays them out. Long maps texts are cut so the JSON fits in 64 KiB.
"""
import json
import struct
import sys
import zlib


def read(path):
    d = open(path, "rb").read()
    meta_len = struct.unpack_from("<Q", d, 16)[0]
    meta = d[24:24 + meta_len]
    off = 24 + meta_len
    records, trailer = [], b"{}"
    while off + 4 <= len(d):
        magic = d[off:off + 4]
        if magic == b"FLCK":
            raw_len, comp_len = struct.unpack_from("<II", d, off + 4)
            raw = zlib.decompress(d[off + 40:off + 40 + comp_len])
            pos = 0
            while pos < raw_len:
                n = struct.unpack_from("<H", raw, pos)[0]
                records.append(raw[pos:pos + 2 + n])
                pos += 2 + n
            off += 40 + comp_len
        elif magic == b"FLTR":
            n = struct.unpack_from("<Q", d, off + 8)[0]
            trailer = d[off + 16:off + 16 + n]
            break
        else:
            break
    return meta, trailer, records


def shrink(text, limit=60000):
    """Cuts the longest strings (maps, code_maps) until the JSON fits."""
    j = json.loads(text)
    lines = 40
    out = json.dumps(j, separators=(",", ":")).encode()
    while len(out) > limit and lines > 1:
        def cut(v):
            if isinstance(v, dict):
                return {k: cut(x) for k, x in v.items()}
            if isinstance(v, list):
                return [cut(x) for x in v[:64]]
            if isinstance(v, str) and v.count("\n") > lines:
                return "\n".join(v.split("\n")[:lines]) + "\n"
            return v
        out = json.dumps(cut(j), separators=(",", ":")).encode()
        lines //= 2
    return out[:65535]


def main():
    path, out = sys.argv[1], sys.argv[2]
    max_events = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    types = {int(t) for t in sys.argv[4].split(",")} if len(sys.argv) > 4 else None
    meta, trailer, records = read(path)
    meta, trailer = shrink(meta), shrink(trailer)
    if types:
        records = [r for r in records if struct.unpack_from("<H", r, 2)[0] in types]
    with open(out, "wb") as f:
        f.write(struct.pack("<H", len(meta)) + meta)
        f.write(struct.pack("<H", len(trailer)) + trailer)
        f.write(b"".join(records[:max_events]))


if __name__ == "__main__":
    main()
