#!/usr/bin/env bash
# Times `faultline report` (text and --json) on one recording with one or more faultline
# binaries, interleaved run by run so that a busy machine slows all of them alike.
# Usage: scripts/report-speed.sh FILE RUNS BINARY...
# Prints, per binary and format: median wall seconds, events/s at that median, median max RSS
# (from /usr/bin/time, the Debian package "time") and bytes of peak RSS per event.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 FILE RUNS BINARY..." >&2; exit 2; }
file=$1 runs=$2
shift 2
[ -x /usr/bin/time ] || { echo "report-speed: /usr/bin/time not found (apt install time)" >&2; exit 1; }
events=$("$1" report -i "$file" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"]["total"])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= runs; r++)); do
	for fmt in text json; do
		for ((b = 1; b <= $#; b++)); do
			args=(report -i "$file")
			[ "$fmt" = json ] && args+=(--json)
			/usr/bin/time -f '%e %M' -a -o "$tmp/$b.$fmt" "${!b}" "${args[@]}" >/dev/null
		done
	done
done
echo "file=$file events=$events runs=$runs"
for ((b = 1; b <= $#; b++)); do
	for fmt in text json; do
		ms=$(cut -d' ' -f1 "$tmp/$b.$fmt" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
		mm=$(cut -d' ' -f2 "$tmp/$b.$fmt" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
		awk -v bin="${!b}" -v fmt="$fmt" -v ev="$events" -v ms="$ms" -v mm="$mm" 'BEGIN {
			printf "%-32s %-4s median %.2f s  %.1f M events/s  max RSS %d kB (%.1f B/event)\n",
			       bin, fmt, ms, ev / ms / 1e6, mm, mm * 1024 / ev }'
	done
done
