#!/usr/bin/env bash
# Runs the libFuzzer targets built in .output/fuzz (make fuzz builds them), one after another.
# Usage: scripts/fuzz.sh [NAME [SECONDS]]   every fuzzer by default, 60 seconds each by default
#
# Inputs: tests/fuzz/seeds/NAME/ (committed seeds, optional) and tests/fuzz/seeds/NAME.dict
# (libFuzzer dictionary, optional). The corpus a run grows is kept in .output/fuzz-corpus/NAME/
# so the next run starts from it; crashes are written to .output/fuzz-crashes/NAME/.
# Exits 1 if a fuzzer finds a crash, leak, timeout or out-of-memory, or NAME is not built.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

secs=${2:-60}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
	echo "fuzz: SECONDS must be a positive whole number, not '$secs'" >&2
	exit 2
fi

names=()
if [ -n "${1:-}" ]; then
	names=("$1")
else
	for f in .output/fuzz/*; do
		[ -f "$f" ] && [ -x "$f" ] && names+=("$(basename "$f")")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "fuzz: no fuzzers built in .output/fuzz (make fuzz builds them)"
	exit 0
fi

# run_one NAME: fuzzes NAME for $secs seconds; returns 0 when nothing was found.
run_one() {
	local n=$1 bin=.output/fuzz/$1 seeds=tests/fuzz/seeds/$1
	local corpus=.output/fuzz-corpus/$1 crashes=.output/fuzz-crashes/$1
	local dirs opts rc

	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		echo "fuzz: $bin is not built (make $bin)" >&2
		return 1
	fi
	mkdir -p "$corpus" "$crashes" || return 1
	dirs=("$corpus")
	[ -d "$seeds" ] && dirs+=("$seeds") # read-only: new inputs go to the first directory
	# libFuzzer's own exit codes (77 for a crash) would read as "skipped" to tests/run.sh.
	opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1
	      -timeout_exitcode=1 -artifact_prefix="$crashes/" -print_final_stats=1)
	[ -f "$seeds.dict" ] && opts+=(-dict="$seeds.dict")

	echo "fuzz: $n for ${secs}s (corpus $corpus${dirs[1]:+, seeds ${dirs[1]}})"
	"$bin" "${opts[@]}" "${dirs[@]}"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "fuzz: $n FAILED (exit $rc); reproduce with: $bin $crashes/<file>" >&2
		ls -1 "$crashes" >&2
		return 1
	fi
	echo "fuzz: $n ok"
}

failed=()
for n in "${names[@]}"; do
	run_one "$n" || failed+=("$n")
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
