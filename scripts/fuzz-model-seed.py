#!/usr/bin/env python3
"""Makes a fuzz_model seed (tests/fuzz/fuzz_model.c) from a real recording.

Usage: scripts/fuzz-model-seed.py [--crafted-runs] RECORDING OUT [MAX_EVENTS [TYPES]]
Writes u16 meta_len + metadata JSON, u16 trailer_len + trailer JSON, then the first MAX_EVENTS
(default 200) records of the recording (of the comma-separated event TYPES only, if given),
as docs/record-format.md lays them out. Long maps texts are cut so the JSON fits in 64 KiB.
--crafted-runs appends FL_EV_FAULT_RUN records no kernel makes (no faults, 2^32-1 faults, one
over FL_RUN_MAX_COUNT, a span over 1 ms, a huge stride) and one at the limit, after the first
run of the recording: the model must skip them and say so, within its memory budget.
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


FL_EV_FAULT_RUN = 15
RUN = struct.Struct("<HHIQIIQQQII")  # struct fl_fault_run, 56 bytes


def crafted_runs(records):
    """Runs a crafted file could hold, built on the recording's first run (or a made-up one)."""
    base = next((r for r in records if struct.unpack_from("<H", r, 2)[0] == FL_EV_FAULT_RUN),
                None)
    if base:
        f = list(RUN.unpack_from(base, 2))
    else:
        f = [FL_EV_FAULT_RUN, 0, 1, 10**12, 1, 1, 0x7f0000000000, 4096, 0x401000, 0, 0]
    out = []
    # count, stride, span_ns: 0 faults; 2^32-1; one over the limit; 1 ms; at the limit, 1 TiB steps
    for count, stride, span in ((0, 4096, 0), (2**32 - 1, 4096, 999), (65537, 4096, 999),
                                (2, 4096, 1000000), (65536, 1 << 40, 999999)):
        g = list(f)
        g[4], g[7], g[9] = count, stride, span
        g[3] = g[3] // 1000000 * 1000000  # the start of its millisecond: span fits in it
        out.append(struct.pack("<H", RUN.size) + RUN.pack(*g))
    return out


def main():
    crafted = "--crafted-runs" in sys.argv
    if crafted:
        sys.argv.remove("--crafted-runs")
    path, out = sys.argv[1], sys.argv[2]
    max_events = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    types = {int(t) for t in sys.argv[4].split(",")} if len(sys.argv) > 4 else None
    meta, trailer, records = read(path)
    meta, trailer = shrink(meta), shrink(trailer)
    if types:
        records = [r for r in records if struct.unpack_from("<H", r, 2)[0] in types]
    if crafted:
        records = records[:max_events] + crafted_runs(records)
        max_events = len(records)
    with open(out, "wb") as f:
        f.write(struct.pack("<H", len(meta)) + meta)
        f.write(struct.pack("<H", len(trailer)) + trailer)
        f.write(b"".join(records[:max_events]))


if __name__ == "__main__":
    main()
