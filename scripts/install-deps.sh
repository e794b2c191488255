#!/usr/bin/env bash
# Installs the Debian packages faultline's build, tests, demo and benchmarks need. Idempotent:
# when every package is already installed it only checks and exits.
set -euo pipefail

BUILD=(clang llvm make gcc pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev libdeflate-dev libncurses-dev libjansson-dev)
TEST=(python3 qemu-system-x86 busybox-static cpio e2fsprogs prometheus tmux libjemalloc2 libjemalloc-dev
      libgoogle-perftools4 libc6-dbg iproute2 curl procps util-linux # libc6-dbg: alloc_slow (glibc's sysmalloc...)
      chromium nodejs) # chromium, node's npm: report_views.sh opens the HTML page and the trace
BENCH=(linux-perf bpftrace time)
CHECK=(clang-format shellcheck) # make check

missing=()
for p in "${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}" "${CHECK[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# speedscope's web app (npm), which report_views.sh opens the --perfetto trace with
NPM_DIR=${FAULTLINE_NPM:-/var/cache/faultline-npm}
need_speedscope() { [ ! -f "$NPM_DIR/node_modules/speedscope/dist/release/index.html" ]; }
[ ${#missing[@]} -eq 0 ] && ! need_speedscope && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]}" >&2
	echo "install-deps: run 'sudo scripts/install-deps.sh' (or apt-get install them) and retry" >&2
	exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if need_speedscope && ! command -v npm >/dev/null; then
	echo "install-deps: no npm (Debian: apt-get install npm): report_views.sh will not open the trace in speedscope" >&2
elif need_speedscope; then
	echo "install-deps: npm install speedscope into $NPM_DIR"
	mkdir -p "$NPM_DIR"
	# not fatal: without it report_views.sh runs its own checks of the trace and says so
	npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" speedscope >/dev/null ||
		echo "install-deps: npm install speedscope failed: report_views.sh will not open the trace in speedscope" >&2
fi
