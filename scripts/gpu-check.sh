#!/usr/bin/env bash
# The check only a GPU machine can make: real cudaHostRegister pinning of 1 and 4 GiB from 4 KiB
# pages and from MADV_HUGEPAGE memory, traced by faultline. Writes under OUT (default ./gpu-out):
# pin.json (the workload's own timings), pin.data (the recording), report.txt, report.json.
# Usage: scripts/gpu-check.sh [SIZES_GIB (default 1,4)] [REPEAT (default 2)]
# faultline and its libraries may be carried in .gpu/ (bin/faultline, lib/*.so*).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
sizes=${1:-1,4}
repeat=${2:-2}
FL=.output/faultline
if [ -x .gpu/bin/faultline ]; then
	FL=.gpu/bin/faultline
	export LD_LIBRARY_PATH=$PWD/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

echo "== machine"
uname -r
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
python3 -c 'import sys; print("python", sys.version.split()[0])'
thp=/sys/kernel/mm/transparent_hugepage
echo "THP enabled: $(cat $thp/enabled 2>/dev/null)  defrag: $(cat $thp/defrag 2>/dev/null)"
old_enabled=$(sed 's/.*\[\(.*\)\].*/\1/' $thp/enabled 2>/dev/null)
if [ "$old_enabled" = never ]; then
	echo madvise >$thp/enabled && echo "THP set to madvise for this check (was never)"
	trap 'echo "$old_enabled" >$thp/enabled' EXIT
fi

echo "== faultline can trace here?"
if "$FL" record -o "$OUT/probe.data" -d 1 -p $$ >"$OUT/probe.log" 2>&1; then
	traced=1
	echo "yes"
else
	traced=0
	echo "no:"; tail -5 "$OUT/probe.log"
fi

echo "== pinning"
if [ $traced = 1 ]; then
	"$FL" record -o "$OUT/pin.data" -- python3 tests/workloads/pin_check.py \
		--sizes-gib "$sizes" --repeat "$repeat" --json "$OUT/pin.json"
	"$FL" report -i "$OUT/pin.data" >"$OUT/report.txt" 2>&1
	"$FL" report -i "$OUT/pin.data" --json >"$OUT/report.json" 2>/dev/null
	sed -n '/^Pinned memory/,/^faultline overhead/p' "$OUT/report.txt"
else
	python3 tests/workloads/pin_check.py --sizes-gib "$sizes" --repeat "$repeat" \
		--json "$OUT/pin.json"
fi
