#!/usr/bin/env bash
# Runs every test: unit tests, fuzz smoke runs, root integration tests on this kernel, and (when
# qemu is available) the integration tests again on a second kernel in a VM.
# Ends with one line: "N passed, N failed, N skipped". Under CI=true a skipped test is a failure.
# Usage: tests/run.sh [PATTERN]   (runs only integration tests whose name contains PATTERN)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${FAULTLINE_OUTPUT:-.output}
if [ "${FAULTLINE_SAN:-}" = 1 ]; then
	# Leaks at exit are not what this pass looks for (libbpf and ncurses keep some by design);
	# any ASan or UBSan error ends the process with a failure.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:exitcode=99}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}
	echo "== sanitizer pass: $out/faultline built with ASan+UBSan"
fi
pattern=${1:-}
passed=0 failed=0 skipped=0 failures=()

record() { # name rc
	case $2 in
	0) passed=$((passed + 1)); echo "PASS $1" ;;
	77) if [ "${CI:-}" = true ]; then
		failed=$((failed + 1)); failures+=("$1 (skipped under CI=true)"); echo "FAIL $1 (skip is a failure under CI=true)"
	    else
		skipped=$((skipped + 1)); echo "SKIP $1"
	    fi ;;
	*) failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1 (exit $2)" ;;
	esac
}

if [ -z "$pattern" ]; then
	echo "== unit tests (no root needed)"
	while read -r status name; do
		case $status in PASS) record "unit/$name" 0 ;; FAIL) record "unit/$name" 1 ;; esac
	done < <("$out"/unit/unit_tests 2>&1 | tee /dev/stderr | grep -E '^(PASS|FAIL) ')

	echo "== fuzz smoke runs"
	[ "${FAULTLINE_NO_FUZZ:-}" = 1 ] && echo "(in the plain pass only)"
	for f in .output/fuzz/*; do
		[ "${FAULTLINE_NO_FUZZ:-}" = 1 ] && break
		[ -x "$f" ] || continue
		n=$(basename "$f")
		scripts/fuzz.sh "$n" 15 >"/tmp/faultline-fuzz-$n.log" 2>&1
		rc=$?; [ $rc -ne 0 ] && tail -30 "/tmp/faultline-fuzz-$n.log"
		record "fuzz/$n" $rc
	done
fi

echo "== integration tests on the host (kernel $(uname -r), $(uname -m))"
for t in tests/integration/*.sh; do
	n=$(basename "$t" .sh)
	[ -n "$pattern" ] && [[ $n != *"$pattern"* ]] && continue
	echo "-- $n"
	timeout 600 bash "$t"
	record "host/$n" $?
done

if [ -z "$pattern" ] && [ -x scripts/vmtest.sh ] && [ "${FAULTLINE_NO_VM:-}" != 1 ]; then
	if command -v qemu-system-x86_64 >/dev/null; then
		# Only the tests marked '# vm: yes' (a TCG guest is 5-20x slower), within 10 minutes.
		vm_start=$(date +%s) vm_results=$(mktemp /tmp/faultline-vm-results.XXXXXX)
		echo "== integration tests in a VM (kernel $(scripts/vmtest.sh --kernel-release 2>/dev/null || echo '?'))"
		scripts/vmtest.sh --marked --timeout 600 --test-timeout 150 --results "$vm_results"
		rc=$?
		# An emulated guest can hang (soft lockups under TCG) and take the tests after it down
		# with it: those get one more try in a fresh VM. A test that really fails, fails twice.
		if [ $rc = 3 ] && grep -q '^FAIL ' "$vm_results"; then
			mapfile -t again < <(awk '$1 == "FAIL" { print $2 }' "$vm_results")
			echo "== the guest crashed or timed out: again in a fresh VM: ${again[*]}"
			retry_results=$(mktemp /tmp/faultline-vm-results.XXXXXX)
			scripts/vmtest.sh --timeout 600 --test-timeout 150 --results "$retry_results" -- "${again[@]}"
			rc=$?
			grep -v '^FAIL ' "$vm_results" >"$vm_results.keep"
			cat "$vm_results.keep" "$retry_results" >"$vm_results"
			rm -f "$vm_results.keep" "$retry_results"
		fi
		echo "== VM block: $(($(date +%s) - vm_start)) s"
		if [ -s "$vm_results" ]; then
			while read -r status name; do
				case $status in PASS) record "vm/$name" 0 ;; FAIL) record "vm/$name" 1 ;; SKIP) record "vm/$name" 77 ;; esac
			done <"$vm_results"
		fi
		rm -f "$vm_results"
		# 1 (a test failed) is already counted above; 2, 3, 4: the run itself went wrong
		case $rc in 2 | 3 | 4) record "vm/boot-and-run" $rc ;; esac
	else
		record "vm/qemu-missing" 77
	fi
fi

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
