#!/usr/bin/env bash
# CUDA pinned-memory calls through ctypes on the real libcudart (no GPU: every call returns an
# error code at once). Case 1: the process loaded libcudart before faultline attached. Case 2: it
# dlopens libcudart while recording. Every call must be recorded with its true size, the return
# code the caller saw and that code's CUDA name; a register call with the huge-page bytes smaps saw.
# An unregister/free carries the size of the successful register/alloc of its pointer (none without
# a GPU: null), and only a successful register/alloc has a GB/s; the text shows "-" for the others.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/core_common.bash"
need_root
CUDART=${FAULTLINE_CUDART:-/usr/local/cuda/lib64/libcudart.so.13}
[ -e "$CUDART" ] || { echo "skip: $CUDART not present (CUDA runtime not installed)"; exit 77; }
PYW=$ROOT/tests/workloads/cuda_calls.py

# start_py MODE: cuda_calls.py on a fifo; sets WPID, WBG, WOUT.
start_py() {
	WOUT=$TMP/cuda$1.out
	rm -f "$TMP/cuda.in" && mkfifo "$TMP/cuda.in"
	python3 "$PYW" "$CUDART" "$1" <"$TMP/cuda.in" >"$WOUT" 2>"$TMP/cuda.err" &
	WBG=$!
	on_exit "kill -9 $WBG 2>/dev/null"
	exec 7>"$TMP/cuda.in"
	wait_line "$WOUT" '^pid ' 60 || fail "cuda_calls.py did not start: $(cat "$TMP/cuda.err")"
	WPID=$(awk '$1 == "pid" { print $2 }' "$WOUT")
}

# compare LABEL JSON: faultline's calls for WPID against the workload's own lines.
compare() {
	python3 - "$WOUT" "$2" "$WPID" "$CUDART" "$1" <<'PY' || fail "$1: pinned calls differ"
import ctypes, json, sys
wout, rep, pid, lib, label = sys.argv[1:]
want = [json.loads(l) for l in open(wout) if l.startswith("{")]
got = [c for c in json.load(open(rep))["pinned"]["calls"] if c["pid"] == int(pid)]
# ground truth for the size an unregister/free shows: the register/alloc it undoes, if it succeeded
live = {}
for w in want:
    if w["func"] in ("cudaHostRegister", "cudaHostAlloc", "cudaMallocHost"):
        w["want_size"] = w["size"]
        if w["rc"] == 0 and w["ptr"]:
            live[(w["func"] == "cudaHostRegister", w["ptr"])] = w["size"]
    else:
        w["want_size"] = live.pop((w["func"] == "cudaHostUnregister", w["ptr"]), None)
    w["want_rate"] = w["rc"] == 0 and w["func"] in ("cudaHostRegister", "cudaHostAlloc",
                                                    "cudaMallocHost")
cudart = ctypes.CDLL(lib)
cudart.cudaGetErrorName.restype = ctypes.c_char_p
ok = len(got) == len(want)
print(f"  {label}: calls: faultline={len(got)} ground-truth={len(want)}")
for w, g in zip(want, got):
    name = cudart.cudaGetErrorName(w["rc"]).decode()
    line = (f"  {label}: {w['func']}: faultline size={g['size']} ret={g['ret']} {g['ret_name']}"
            f" GB/s={g['gb_per_s']} / ground-truth size={w['want_size']} ret={w['rc']} {name}"
            f" GB/s {'a number' if w['want_rate'] else 'null'}")
    same = g["func"] == w["func"] and g["size"] == w["want_size"] and g["ret"] == w["rc"] \
        and g["ret_name"] == name and g["dur_ns"] > 0 \
        and (g["gb_per_s"] is not None) == w["want_rate"]
    if w["huge_bytes"] is not None:
        line += f"; huge bytes faultline={g['huge_bytes']} smaps={w['huge_bytes']}"
        same = same and g["huge_bytes"] == w["huge_bytes"]
    print(line)
    ok = ok and same
sys.exit(0 if ok else 1)
PY
}

# Case 1: libcudart mapped before faultline starts.
start_py --preload
start_record -p "$WPID" -o "$TMP/pre.data"
grep -q "probed 5 functions in .*libcudart" "$TMP/rec.err" || { cat "$TMP/rec.err"; fail "libcudart not probed at start"; }
go
wait_line "$WOUT" '^done' 60 || fail "cuda_calls.py did not finish: $(cat "$TMP/cuda.err")"
sleep 1 # faultline reads the registered range's huge pages when it takes the event
go
finish_workload
wait_record 30
report_json "$TMP/pre.data" "$TMP/pre.json"
compare preloaded "$TMP/pre.json"
"$FL" report -i "$TMP/pre.data" | sed -n '/^Pinned memory/,/^faultline overhead/p' >"$TMP/pinned.txt"
cat "$TMP/pinned.txt"
# the text: a failed call shows no rate and an unregister/free no "0 B" (JSON has the truth)
python3 - "$TMP/pre.json" "$WPID" "$TMP/pinned.txt" <<'PY' || fail "text and JSON disagree on rates/sizes"
import json, sys
calls = [c for c in json.load(open(sys.argv[1]))["pinned"]["calls"] if c["pid"] == int(sys.argv[2])]
rows = []
for line in open(sys.argv[3]):
    t = line.split()
    if len(t) > 3 and t[1] == sys.argv[2] and t[2].startswith("cu"):
        k = 3
        size = t[k] if t[k] == "-" else t[k] + " " + t[k + 1]
        k += 1 if t[k] == "-" else 2
        rows.append((t[2], size, t[k + 2]))  # function, size, GB/s (after the duration)
want = [(c["func"], "-" if c["size"] is None else None,
         "-" if c["gb_per_s"] is None else None) for c in calls]
ok = len(rows) == len(want)
for r, w in zip(rows, want):
    print(f"  text: {r[0]} size={r[1]} GB/s={r[2]} / JSON size {'null' if w[1] else 'known'},"
          f" GB/s {'null' if w[2] else 'a number'}")
    ok = ok and r[0] == w[0] and (r[1] == "-") == (w[1] == "-") and (r[2] == "-") == (w[2] == "-")
    ok = ok and r[1] != "0 B" and r[2] != "0.00"
sys.exit(0 if ok else 1)
PY

# Case 2: libcudart dlopened while faultline records; it is found by the rescan.
start_py --dlopen
start_record -p "$WPID" -o "$TMP/dl.data"
go
wait_line "$WOUT" '^loaded' 60 || fail "cuda_calls.py did not load libcudart"
wait_line "$TMP/rec.err" "probed 5 functions in .*libcudart" 10 || { cat "$TMP/rec.err"; fail "dlopened libcudart not probed within 10 s"; }
note "dlopen: $(grep 'libcudart' "$TMP/rec.err")"
go
wait_line "$WOUT" '^done' 60 || fail "cuda_calls.py did not finish: $(cat "$TMP/cuda.err")"
sleep 1 # faultline reads the registered range's huge pages when it takes the event
go
finish_workload
wait_record 30
report_json "$TMP/dl.data" "$TMP/dl.json"
compare dlopened "$TMP/dl.json"
echo "ok"
