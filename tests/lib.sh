# shellcheck shell=bash
# Sourced by the integration tests. Each test is a bash script that exits 0 (pass), 1 (fail) or
# 77 (skip), and prints what it compared with what, so a failure explains itself.
# shellcheck disable=SC2034 # FL, WL and the helpers are for the tests that source this file
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FL=${FAULTLINE:-$ROOT/${FAULTLINE_OUTPUT:-.output}/faultline}
WL=${FAULTLINE_WORKLOADS:-$ROOT/${FAULTLINE_OUTPUT:-.output}/workloads}
TMP=$(mktemp -d /tmp/faultline-test.XXXXXX)
trap 'cleanup_test' EXIT
CLEANUPS=()
cleanup_test() {
	local c
	for c in "${CLEANUPS[@]}"; do eval "$c" || true; done
	rm -rf "$TMP"
}
on_exit() { CLEANUPS+=("$1"); }

# Sanitizer builds (FAULTLINE_SAN=1) run 2-5x slower: time limits a test enforces are scaled by SLOW.
SLOW=${FAULTLINE_SLOW:-1}
[ "${FAULTLINE_SAN:-}" = 1 ] && [ -z "${FAULTLINE_SLOW:-}" ] && SLOW=3
# scaled SECONDS: SECONDS times SLOW (fractions kept).
scaled() { python3 -c "import sys; print(float(sys.argv[1]) * float(sys.argv[2]))" "$1" "$SLOW"; }

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "skip: needs root (BPF)"
		exit 77
	fi
}
fail() { echo "FAIL: $*"; exit 1; }
note() { echo "  $*"; }

# json QUERY FILE: evaluates a Python expression on the JSON document bound to `j`.
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[2])); print($1)" "$1" "$2"; }

# within A B PCT: true when A is within PCT percent of B.
within() { python3 -c "import sys; a,b,p=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b) <= max(b,1)*p/100 else 1)" "$1" "$2" "$3"; }

# check_eq DESC GOT WANT
check_eq() { note "$1: faultline=$2 ground-truth=$3"; [ "$2" = "$3" ] || fail "$1: $2 != $3"; }
# check_within DESC GOT WANT PCT
check_within() {
	note "$1: faultline=$2 ground-truth=$3 (tolerance $4%)"
	within "$2" "$3" "$4" || fail "$1: $2 not within $4% of $3"
}
# check_ge DESC GOT MIN
check_ge() {
	note "$1: $2 (must be >= $3)"
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$2" "$3" || fail "$1: $2 < $3"
}

# The host may start with tracefs/bpffs unmounted; faultline must cope, tests must not rely on them.
