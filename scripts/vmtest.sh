#!/usr/bin/env bash
# Runs faultline's integration tests on a second kernel: fetches a Debian kernel package, builds an
# initramfs holding the built binary, the workloads and the tests, boots it under qemu and collects
# one result per test. See docs/vmtest.md.
#
# Usage: scripts/vmtest.sh [options] [--] [TEST_PATTERN...]
#   --kernel PKG|FILE  Debian kernel package (default: the newest linux-image-6.1.0-*-cloud-amd64-unsigned),
#                      a .deb file, or a bzImage/vmlinuz file
#   --results FILE     write "PASS name" / "FAIL name" / "SKIP name" lines to FILE
#   --shell            boot to an interactive shell instead of running the tests (Ctrl-A X quits)
#   --mem SIZE         guest memory (default 2G; small sizes provoke reclaim and compaction)
#   --smp N            guest CPUs (default 1: two TCG vCPUs on this 2-core host hung with soft
#                      lockups now and then; one never did, and is as fast)
#   --timeout SECS     limit for the whole VM run (default 900)
#   --test-timeout SECS  limit for each test inside the guest (default 300)
#   --accel auto|kvm|tcg  (default auto: KVM when a probe boot shows it works, else TCG)
#   --append ARGS      extra kernel command-line arguments
#   --log FILE         console log (default .output/vmtest/console-KERNEL.log, the last run's)
#   --marked           run only the tests that have a '# vm: yes' line (what tests/run.sh runs)
#   --list             print the tests that would run and exit
#   --kernel-release   print the release (uname -r) of the kernel that would boot, and exit
# A TEST_PATTERN selects tests whose name (file name without .sh) contains it, or matches it as a
# glob when it has *, ? or [. The guest gets a 256 MiB ext4 scratch disk (NVMe) at $FAULTLINE_DISK
# (/mnt/disk) for tests that need a disk-backed file (major faults).
# Exit status: 0 all selected tests passed or skipped; 1 a test failed;
# 2 usage; 3 the guest did not reach the test runner or did not finish; 4 setup failed (kernel
# fetch, initramfs).
# Development overrides (environment): VMTEST_TESTS_DIR (instead of tests/integration),
# VMTEST_OUTPUT (instead of .output, where faultline and workloads/ are), VMTEST_CACHE (kernel cache),
# VMTEST_EXTRA (space-separated host files or directories to add to the initramfs at the same path).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG=vmtest
DEFAULT_KERNEL_RE='^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$'

tests=() # the selected tests, by name (select_tests)
kernel='' results='' shell_mode=0 mem=2G smp=1 timeout_s=900 test_timeout=300 accel=auto append='' log='' list_only=0
marked=0 print_release=0
patterns=()

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
die() { echo "$PROG: $*" >&2; exit 2; }
setup_fail() { echo "$PROG: $*" >&2; exit 4; }
info() { echo "$PROG: $*" >&2; }

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=${2:?--kernel needs a value}; shift ;;
		--kernel=*) kernel=${1#*=} ;;
		--results) results=${2:?--results needs a file}; shift ;;
		--results=*) results=${1#*=} ;;
		--shell) shell_mode=1 ;;
		--mem) mem=${2:?}; shift ;;
		--mem=*) mem=${1#*=} ;;
		--smp) smp=${2:?}; shift ;;
		--smp=*) smp=${1#*=} ;;
		--timeout) timeout_s=${2:?}; shift ;;
		--timeout=*) timeout_s=${1#*=} ;;
		--test-timeout) test_timeout=${2:?}; shift ;;
		--test-timeout=*) test_timeout=${1#*=} ;;
		--accel) accel=${2:?}; shift ;;
		--accel=*) accel=${1#*=} ;;
		--append) append=${2:?}; shift ;;
		--append=*) append=${1#*=} ;;
		--log) log=${2:?}; shift ;;
		--log=*) log=${1#*=} ;;
		--list) list_only=1 ;;
		--marked) marked=1 ;;
		--kernel-release) print_release=1 ;;
		-h | --help) usage; exit 0 ;;
		--) shift; patterns+=("$@"); break ;;
		-*) die "unknown option $1 (see --help)" ;;
		*) patterns+=("$1") ;;
		esac
		shift
	done
	case $accel in auto | kvm | tcg) ;; *) die "--accel must be auto, kvm or tcg" ;; esac
	[[ $timeout_s =~ ^[0-9]+$ && $test_timeout =~ ^[0-9]+$ && $smp =~ ^[0-9]+$ ]] || die "--timeout, --test-timeout and --smp take whole numbers"
	[ -z "$results" ] || : >"$results" || die "cannot write $results"
}

OUT=${VMTEST_OUTPUT:-$ROOT/.output}
TESTS_DIR=${VMTEST_TESTS_DIR:-$ROOT/tests/integration}
WORKDIR=$ROOT/.output/vmtest

# ---------------------------------------------------------------------------------------------
# Which tests
select_tests() {
	local t n p
	for t in "$TESTS_DIR"/*.sh; do
		[ -f "$t" ] || continue
		n=$(basename "$t" .sh)
		[ $marked -eq 0 ] || grep -q '^# vm: yes' "$t" || continue
		if [ ${#patterns[@]} -gt 0 ]; then
			local hit=0
			for p in "${patterns[@]}"; do
				# shellcheck disable=SC2053 # $p is a glob on purpose
				case $p in
				*[*?[]*) [[ $n == $p ]] && hit=1 ;;
				*) [[ $n == *"$p"* ]] && hit=1 ;;
				esac
			done
			[ $hit -eq 1 ] || continue
		fi
		echo "$n"
	done
}

pick_tests() {
	mapfile -t tests < <(select_tests)
	if [ $list_only -eq 1 ]; then
		printf '%s\n' "${tests[@]}"
		exit 0
	fi
	if [ $shell_mode -eq 0 ] && [ $print_release -eq 0 ] && [ ${#tests[@]} -eq 0 ]; then
		if [ ${#patterns[@]} -gt 0 ]; then
			echo "$PROG: no test in $TESTS_DIR matches: ${patterns[*]}" >&2
			exit 2
		fi
		echo "$PROG: no tests in $TESTS_DIR; nothing to run"
		exit 0
	fi
}

# ---------------------------------------------------------------------------------------------
# Tools
check_tools() {
	for t in qemu-system-x86_64 dpkg-deb cpio busybox; do
		command -v "$t" >/dev/null || setup_fail "$t is missing; run scripts/install-deps.sh"
	done
	[ -x "$OUT/faultline" ] || [ $print_release -eq 1 ] || setup_fail "$OUT/faultline is missing; build it first (make)"
}

# ---------------------------------------------------------------------------------------------
# Kernel: fetched once with apt-get download, vmlinuz and config kept in the cache
newest_cached_deb() { # pkg-regex
	local f
	for f in "$CACHE"/debs/*.deb; do
		[ -f "$f" ] || continue
		basename "$f" | cut -d_ -f1 | grep -qE "$1" && echo "$f"
	done | sort -V | tail -1
}

default_kernel_pkg() {
	local l
	l=$(apt-cache search --names-only "$DEFAULT_KERNEL_RE" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
	if [ -z "$l" ] && [ "$(id -u)" -eq 0 ]; then
		info "apt-cache knows no $DEFAULT_KERNEL_RE; running apt-get update"
		apt-get update -qq >&2 || true
		l=$(apt-cache search --names-only "$DEFAULT_KERNEL_RE" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
	fi
	echo "$l"
}

first_file() { # glob matches...: prints the first that is a file (a glob that matched none is not)
	local f
	for f in "$@"; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 0
}

fetch_deb() { # pkg -> prints the .deb path
	local pkg=$1 ver f
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
		f=$(first_file "$CACHE/debs/${pkg}_${ver//:/%3a}_"*.deb)
		if [ -z "$f" ]; then
			info "downloading $pkg $ver into $CACHE/debs"
			local sandbox=()
			[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
			(cd "$CACHE/debs" && apt-get -q download "${sandbox[@]}" "$pkg=$ver" >&2) ||
				setup_fail "apt-get download $pkg=$ver failed"
			f=$(first_file "$CACHE/debs/${pkg}_${ver//:/%3a}_"*.deb)
		fi
	else
		# apt does not know it (offline, or the list is stale): use a cached copy
		f=$(newest_cached_deb "^${pkg//./\\.}\$")
		[ -n "$f" ] && info "apt-cache has no candidate for $pkg; using cached $(basename "$f")"
	fi
	[ -f "$f" ] || setup_fail "cannot get kernel package $pkg (apt-cache policy $pkg shows no candidate; try apt-get update)"
	echo "$f"
}

extract_deb() { # deb -> prints kernel dir holding vmlinuz, config, release
	local deb=$1 kdir tmp
	kdir=$CACHE/kernels/$(basename "$deb" .deb)
	if [ ! -f "$kdir/vmlinuz" ]; then
		tmp=$(mktemp -d "$CACHE/extract.XXXXXX")
		dpkg-deb -x "$deb" "$tmp" || { rm -rf "$tmp"; setup_fail "dpkg-deb -x $deb failed"; }
		local vz
		vz=$(first_file "$tmp"/boot/vmlinuz-*)
		[ -n "$vz" ] || { rm -rf "$tmp"; setup_fail "$deb holds no boot/vmlinuz-*"; }
		mkdir -p "$kdir"
		cp "$vz" "$kdir/vmlinuz.tmp"
		cp "$tmp"/boot/config-* "$kdir/config" 2>/dev/null || true
		basename "$vz" | sed 's/^vmlinuz-//' >"$kdir/release"
		mv "$kdir/vmlinuz.tmp" "$kdir/vmlinuz"
		rm -rf "$tmp"
	fi
	echo "$kdir"
}

# Fetch (or take) the kernel; sets CACHE, KDIR, KREL and kernel_desc.
fetch_kernel() {
	if [ -n "${VMTEST_CACHE:-}" ]; then
		CACHE=$VMTEST_CACHE
	elif [ "$(id -u)" -eq 0 ] && { [ -w /var/cache/faultline-vm ] || mkdir -p /var/cache/faultline-vm 2>/dev/null; }; then
		CACHE=/var/cache/faultline-vm
	else
		CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/faultline-vm
	fi
	mkdir -p "$CACHE/debs" "$CACHE/kernels" || setup_fail "cannot create $CACHE"
	exec 9>"$CACHE/.lock"
	flock 9

	TMPK=
	if [ -n "$kernel" ] && [ -f "$kernel" ] && [[ $kernel != *.deb ]]; then
		KDIR=$(mktemp -d)
		TMPK=$KDIR
		cp "$kernel" "$KDIR/vmlinuz"
		basename "$kernel" >"$KDIR/release"
		[ -f "$(dirname "$kernel")/config-${kernel##*vmlinuz-}" ] && cp "$(dirname "$kernel")/config-${kernel##*vmlinuz-}" "$KDIR/config"
		kernel_desc=$kernel
	elif [ -n "$kernel" ] && [ -f "$kernel" ]; then
		KDIR=$(extract_deb "$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")")
		kernel_desc=$(basename "$kernel")
	else
		if [ -z "$kernel" ]; then
			kernel=$(default_kernel_pkg)
			if [ -z "$kernel" ]; then
				f=$(newest_cached_deb "$DEFAULT_KERNEL_RE")
				[ -n "$f" ] || setup_fail "no package matches $DEFAULT_KERNEL_RE (apt-cache search) and none is cached in $CACHE/debs"
				kernel=$(basename "$f" | cut -d_ -f1)
			fi
		fi
		deb=$(fetch_deb "$kernel")
		KDIR=$(extract_deb "$deb")
		kernel_desc=$(basename "$deb" .deb)
	fi
	flock -u 9
	KREL=$(cat "$KDIR/release")
	if [ $print_release -eq 1 ]; then
		echo "$KREL"
		exit 0
	fi
	info "kernel: $kernel_desc ($KDIR/vmlinuz)"
	if [ -f "$KDIR/config" ]; then
		feats=
		for c in DEBUG_INFO_BTF KPROBES FPROBE FUNCTION_TRACER DYNAMIC_FTRACE_WITH_DIRECT_CALLS UPROBES BPF_JIT \
			TRANSPARENT_HUGEPAGE_ALWAYS TRANSPARENT_HUGEPAGE_MADVISE COMPACTION MEMCG; do
			v=$(grep -E "^CONFIG_$c=" "$KDIR/config" | cut -d= -f2 || true)
			feats+=" $c=${v:-n}"
		done
		info "kernel config:$feats"
	fi
}

# ---------------------------------------------------------------------------------------------
# Initramfs
# shellcheck disable=SC2317 # run by the EXIT trap, which shellcheck does not follow
cleanup() {
	# killed (Ctrl-C, a CI timeout): take qemu down too (timeout, its parent, forwards the signal)
	if [ -n "${QPID:-}" ] && [ -f "$QPID" ]; then
		kill -TERM "$(cat "$QPID")" 2>/dev/null
		wait 2>/dev/null # the console pipeline ends with qemu
		rm -f "$QPID" "$QRC"
	fi
	rm -rf "$STAGE" "$DISK" ${TMPK:+"$TMPK"}
	# keep the last image for inspection (cpio -t <.output/vmtest/initramfs.cpio)
	[ -f "$INITRD" ] && mv -f "$INITRD" "$WORKDIR/initramfs.cpio"
	[ -n "$run_log" ] && [ -f "$run_log" ] && mv -f "$run_log" "$WORKDIR/console-$KREL.log"
	return 0
}

canon() { # host path -> the same path with its directory resolved (merged /usr), not the file
	local d
	d=$(realpath "$(dirname "$1")")
	echo "$d/$(basename "$1")"
}
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
mirror_links() { # host path: recreate the directory symlinks on its way (/usr/local/cuda -> cuda-13.0)
	local p='' part
	local -a parts
	IFS=/ read -ra parts <<<"$(dirname "$1")"
	for part in "${parts[@]}"; do
		[ -n "$part" ] || continue
		p=$p/$part
		[ -L "$p" ] || continue
		# where the link lives in the image: its parent's real path (the image mirrors real paths)
		local l
		l=$R$(realpath "$(dirname "$p")")/$part
		if [ ! -L "$l" ] && [ ! -e "$l" ]; then
			mkdir -p "$(dirname "$l")" "$R$(realpath "$p")"
			ln -s "$(readlink "$p")" "$l"
		fi
	done
}
add_file() { # host path [dest in root]: copies the file (following links); keeps a link name as a link
	local src=$1 dst=${2:-} real
	real=$(readlink -f "$src") || return 1
	[ -f "$real" ] || return 1
	if [ -n "$dst" ]; then
		mkdir -p "$R$(dirname "$dst")"
		cp -p "$real" "$R$dst"
		is_elf "$real" && elfs+=("$R$dst")
		return 0
	fi
	if [ ! -e "$R$real" ]; then
		mkdir -p "$R$(dirname "$real")"
		cp -p "$real" "$R$real"
		is_elf "$real" && elfs+=("$R$real")
	fi
	mirror_links "$src"
	local c
	c=$(canon "$src")
	if [ "$c" != "$real" ] && [ ! -e "$R$c" ] && [ ! -L "$R$c" ]; then
		mkdir -p "$R$(dirname "$c")"
		ln -s "$real" "$R$c"
	fi
}
SYSPATH=/usr/sbin:/usr/bin:/sbin:/bin # the distribution's tools, not pyenv shims or /usr/local
add_tool() { # name: the host's tool, when it has it
	local p
	p=$(PATH=$SYSPATH command -v "$1" 2>/dev/null) || return 0
	[[ $p == /* ]] && add_file "$p"
	return 0
}

# Builds $INITRD: the tools, python3, the built binary, the workloads, the tests and scripts/vm/init.sh.
build_initramfs() {
	build_start=$(date +%s)
	mkdir -p "$WORKDIR"
	STAGE=$(mktemp -d "$WORKDIR/root.XXXXXX")
	INITRD=$WORKDIR/initramfs-$$.cpio # per run, so parallel runs do not boot each other's tests
	DISK=$WORKDIR/disk-$$.img          # the guest's scratch disk, per run too
	# Per run as well: parallel runs must not read each other's VMRESULT lines. The last run's log is
	# kept as console-KERNEL.log.
	run_log=
	[ -n "$log" ] || { run_log=$WORKDIR/console-$KREL.$$.log; log=$run_log; }
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	R=$STAGE
	mkdir -p "$R"/usr/bin "$R"/usr/sbin "$R"/usr/lib "$R"/usr/lib64
	ln -s usr/bin "$R/bin"
	ln -s usr/sbin "$R/sbin"
	ln -s usr/lib "$R/lib"
	ln -s usr/lib64 "$R/lib64"
	mkdir -p "$R"/{proc,sys,dev,tmp,run,etc,root,mnt,var/tmp} "$R/faultline"
	elfs=()

	# The shell, python3 and the GNU tools whose busybox versions differ most (options, exit codes);
	# busybox fills in the rest. Left out to keep the image small: curl (a dozen TLS/LDAP/Kerberos
	# libraries; use python3's urllib), python's ssl/hashlib-openssl/sqlite3 (libcrypto, libsqlite3).
	add_tool bash
	for t in timeout date stat sort mktemp numfmt seq env nproc head tail cut tr wc dd od stdbuf realpath \
		readlink du df printf sleep tee touch id basename dirname uniq comm paste split md5sum sha256sum \
		truncate nice nohup cat cp mv rm mkdir rmdir ln chmod shuf tac yes install sync uname \
		grep sed awk find xargs ps pgrep pkill pidof free taskset setsid flock nsenter unshare prlimit chrt numactl \
		ldconfig; do # ldconfig: python's ctypes.util.find_library
		add_tool "$t"
	done
	PY=${VMTEST_PYTHON:-/usr/bin/python3} # Debian's, with its stdlib in /usr/lib/python3.X
	if [ -x "$PY" ]; then
		add_file "$PY"
		PY=$(readlink -f "$PY")
		pyver=$(basename "$PY") # python3.11
		[ -e "$R/usr/bin/python3" ] || ln -s "$PY" "$R/usr/bin/python3"
		if [ -d "/usr/lib/$pyver" ]; then
			# The stdlib without tests, GUI, packaging, databases, TLS and CJK codecs; .pyc kept (no
			# compiling under emulation). Tests use json, subprocess, http.server, urllib, asyncio...
			ex=()
			for x in test '*/test' '*/tests' idlelib tkinter turtledemo turtle.py ensurepip lib2to3 pydoc_data \
				distutils 'config-*' site-packages dist-packages sqlite3 dbm curses venv ssl.py \
				'encodings/big5*' 'encodings/cp93*' 'encodings/cp949*' 'encodings/cp950*' 'encodings/euc_*' \
				'encodings/gb*' 'encodings/hz*' 'encodings/iso2022*' 'encodings/johab*' 'encodings/shift_jis*' \
				'__pycache__/turtle*' '__pycache__/pydoc*' '__pycache__/ssl.*' '__pycache__/_pydecimal*' \
				'lib-dynload/_tkinter*' 'lib-dynload/_test*' 'lib-dynload/xxlimited*' 'lib-dynload/_xx*' \
				'lib-dynload/_ctypes_test*' 'lib-dynload/_dbm*' 'lib-dynload/_gdbm*' 'lib-dynload/_sqlite3*' \
				'lib-dynload/_codecs_*' 'lib-dynload/nis*' 'lib-dynload/ossaudiodev*' 'lib-dynload/audioop*' \
				'lib-dynload/_curses*' 'lib-dynload/readline*' 'lib-dynload/_crypt*' 'lib-dynload/_ssl*' \
				'lib-dynload/_hashlib*'; do
				ex+=(--exclude="$pyver/$x")
			done
			tar -C /usr/lib -chf - "${ex[@]}" --exclude='*.opt-1.pyc' --exclude='*.opt-2.pyc' "$pyver" 2>/dev/null |
				tar -C "$R/usr/lib" -xf -
			for so in "$R/usr/lib/$pyver"/lib-dynload/*.so; do elfs+=("$so"); done
		fi
	fi
	# Allocators and the CUDA runtime the tests may preload or probe (small; only when present).
	for f in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4 \
		/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/local/cuda/lib64/libcudart.so.13; do
		[ -e "$f" ] && add_file "$f"
	done
	for f in ${VMTEST_EXTRA:-}; do
		case $(realpath -m "$f") in
		/tmp/* | /run/* | /dev/* | /proc/* | /sys/*) setup_fail "VMTEST_EXTRA: $f would be hidden by a mount in the guest; put it elsewhere (e.g. /var/tmp)" ;;
		esac
		if [ -d "$f" ]; then
			while IFS= read -r g; do add_file "$g"; done < <(find "$f" -type f)
		else
			add_file "$f" || setup_fail "VMTEST_EXTRA: no such file $f"
		fi
	done

	# busybox for everything else (mount, ip, poweroff, ...); GNU tools copied above win.
	BB=$(readlink -f "$(PATH=$SYSPATH:$PATH command -v busybox)")
	add_file "$BB" /usr/bin/busybox
	while read -r a; do
		n=$(basename "$a")
		case $a in *sbin/*) d=/usr/sbin ;; *) d=/usr/bin ;; esac
		[ -e "$R/usr/bin/$n" ] || [ -e "$R/usr/sbin/$n" ] || [ -L "$R/usr/bin/$n" ] || ln -s /usr/bin/busybox "$R$d/$n"
	done < <(busybox --list-full)
	[ -e "$R/usr/bin/sh" ] || ln -s busybox "$R/usr/bin/sh"

	# The repo subset, in the repo's layout, so tests/lib.sh finds ROOT=/faultline.
	F=$R/faultline
	add_file "$OUT/faultline" /faultline/.output/faultline
	if [ -d "$OUT/workloads" ]; then
		for w in "$OUT"/workloads/*; do
			[ -f "$w" ] && add_file "$w" "/faultline/.output/workloads/$(basename "$w")"
		done
	fi
	mkdir -p "$F/.output/workloads" "$F/tests/integration" "$F/examples"
	cp -p "$ROOT/tests/lib.sh" "$F/tests/lib.sh"
	cp -rp "$TESTS_DIR"/. "$F/tests/integration/"
	[ -d "$ROOT/examples" ] && cp -rp "$ROOT/examples"/. "$F/examples/"
	find "$F" -name __pycache__ -prune -exec rm -rf {} +

	# Every shared library the ELF files need (ldd lists the whole closure).
	while read -r lib; do
		add_file "$lib"
	done < <(ldd "${elfs[@]}" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]*\/[^ ]+ \(/ {print $1}' | sort -u)
	for f in /etc/ld.so.conf /etc/ld.so.cache; do [ -f "$f" ] && cp -p "$f" "$R/etc/"; done
	[ -d /etc/ld.so.conf.d ] && cp -rp /etc/ld.so.conf.d "$R/etc/"
	[ -d /usr/lib/terminfo ] && mkdir -p "$R/usr/lib/terminfo" && for d in l v x d; do
		[ -d "/usr/lib/terminfo/$d" ] && cp -rp "/usr/lib/terminfo/$d" "$R/usr/lib/terminfo/"
	done
	printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$R/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$R/etc/hosts"
	printf 'passwd: files\ngroup: files\nhosts: files\n' >"$R/etc/nsswitch.conf"
	echo faultline-vm >"$R/etc/hostname"
	for f in /etc/services /etc/protocols; do [ -f "$f" ] && cp -p "$f" "$R/etc/"; done
	ln -s /proc/self/mounts "$R/etc/mtab"

	# What to run
	mkdir -p "$R/etc/vmtest"
	printf '%s\n' "${tests[@]}" >"$R/etc/vmtest/tests"
	{
		echo "VMTEST_MODE=$([ $shell_mode -eq 1 ] && echo shell || echo test)"
		echo "VMTEST_TEST_TIMEOUT=$test_timeout"
		echo "VMTEST_CI=${CI:-}"
	} >"$R/etc/vmtest/conf"

	[ -x "$R/usr/bin/bash" ] || setup_fail "bash is missing from the initramfs"
	install -m 755 "$ROOT/scripts/vm/init.sh" "$R/init" || setup_fail "cannot copy scripts/vm/init.sh into the initramfs"

	# Uncompressed: under TCG the kernel unpacks a plain cpio faster than it inflates a small one.
	(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) >"$INITRD" ||
		setup_fail "building the initramfs failed"
	info "initramfs: $INITRD ($(($(stat -c %s "$INITRD") / 1048576)) MiB, built in $(($(date +%s) - build_start))s)"
	rm -rf "$STAGE"
}

# ---------------------------------------------------------------------------------------------
# Scratch disk: an ext4 image on an emulated NVMe drive (the cloud kernels build NVMe and ext4 in;
# virtio is a module). tmpfs pages are always in memory, so major faults need a real block device.
make_disk() {
	{ truncate -s 256M "$DISK" && PATH=$SYSPATH:$PATH mkfs.ext4 -q -F -L fl-scratch "$DISK"; } ||
		setup_fail "cannot make the scratch disk $DISK (mkfs.ext4 from e2fsprogs; run scripts/install-deps.sh)"
}

# ---------------------------------------------------------------------------------------------
# Boot
kvm_ok() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	local key stamp
	key=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)-$(qemu-system-x86_64 --version | head -1 | tr -cd '0-9.')
	stamp=$CACHE/kvm-probe-$key
	if [ ! -f "$stamp" ]; then
		# /dev/kvm can exist and still not run a guest (nested hosts): boot once to find out.
		local p
		p=$(mktemp -d)
		mkdir -p "$p/r/bin"
		cp "$BB" "$p/r/bin/busybox"
		printf '#!/bin/busybox sh\n/bin/busybox echo KVMPROBE-OK\n/bin/busybox poweroff -f\n' >"$p/r/init"
		chmod +x "$p/r/init"
		(cd "$p/r" && find . | cpio -o -H newc --quiet) >"$p/i.cpio"
		if timeout -k 2 20 qemu-system-x86_64 -accel kvm -cpu host -m 256M -nographic -no-reboot -net none \
			-kernel "$KDIR/vmlinuz" -initrd "$p/i.cpio" -append "console=ttyS0 panic=-1 quiet" </dev/null 2>&1 |
			grep -qa KVMPROBE-OK; then
			echo yes >"$stamp"
		else
			echo no >"$stamp"
		fi
		rm -rf "$p"
	fi
	[ "$(cat "$stamp")" = yes ]
}

# Boots the image under qemu: the console goes to $log; sets accel, qrc and elapsed.
boot() {
	QEMU=(qemu-system-x86_64 -M pc -m "$mem" -smp "$smp" -nographic -no-reboot -net none
		-kernel "$KDIR/vmlinuz" -initrd "$INITRD"
		-drive "file=$DISK,if=none,id=scratch,format=raw,cache=unsafe" -device "nvme,drive=scratch,serial=flscratch"
		-append "console=ttyS0 panic=-1 quiet rdinit=/init $append")
	[ -f /usr/share/qemu/qboot.rom ] && QEMU+=(-bios /usr/share/qemu/qboot.rom) # faster, quiet firmware

	case $accel in
	kvm) QEMU+=(-accel kvm -cpu host) ;;
	tcg) QEMU+=(-accel tcg) ;;
	auto) if kvm_ok; then accel=kvm; QEMU+=(-accel kvm -cpu host); else accel=tcg; QEMU+=(-accel tcg); fi ;;
	esac

	if [ $shell_mode -eq 1 ]; then
		info "booting $KREL ($accel, $mem, $smp CPUs) to a shell; Ctrl-A X quits qemu"
		"${QEMU[@]}"
		exit $?
	fi

	mkdir -p "$(dirname "$log")"
	: >"$log"
	info "booting $KREL ($accel, $mem, $smp CPUs, ${#tests[@]} tests, limit ${timeout_s}s); console log: ${run_log:+$WORKDIR/console-$KREL.log after the run, }$log"
	start=$(date +%s)
	set +e
	# In the background with wait: bash runs the INT/TERM traps (cleanup kills qemu) only between
	# commands, and wait is interruptible where a foreground pipeline is not.
	QRC=$WORKDIR/qemu-rc.$$ QPID=$WORKDIR/qemu-pid.$$
	{
		timeout -k 10 "$timeout_s" "${QEMU[@]}" </dev/null 2>&1 &
		echo $! >"$QPID"
		wait $!
		echo $? >"$QRC"
	} | sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee -a "$log" &
	wait $!
	set -e
	qrc=$(cat "$QRC" 2>/dev/null || echo '?')
	rm -f "$QRC" "$QPID"
	elapsed=$(($(date +%s) - start))
}

# ---------------------------------------------------------------------------------------------
# Results
# One result per test from the console log; exits with the status the header describes.
collect() {
	declare -A res=()
	while read -r _ r n _; do res[$n]=$r; done < <(grep -a '^VMRESULT ' "$log" || true)
	started=$(grep -ac '^VMTEST RUNNER START' "$log" || true)
	finished=$(grep -ac '^VMTEST RUNNER DONE' "$log" || true)
	current=$(grep -a '^VMTEST BEGIN ' "$log" | tail -1 | awk '{print $3}' || true)
	guest_kernel=$(grep -a '^VMINFO kernel ' "$log" | head -1 | awk '{print $3}' || true)

	echo
	echo "== vmtest summary: kernel ${guest_kernel:-?} (package $kernel_desc), $accel, $mem, ${elapsed}s"
	grep -a '^VMINFO ' "$log" | sed 's/^VMINFO /   /' || true
	rc=0
	if [ "$started" -eq 0 ]; then
		echo "$PROG: the guest never reached the test runner (qemu exit $qrc$([ "$qrc" = 124 ] && echo ', timed out')). Last console lines:"
		grep -av '^$' "$log" | tail -25 | sed 's/^/   | /'
		exit 3
	fi
	npass=0 nfail=0 nskip=0
	for t in "${tests[@]}"; do
		r=${res[$t]:-}
		if [ -z "$r" ]; then
			r=FAIL
			if [ "$t" = "$current" ]; then
				echo "$PROG: $t started but never reported (guest crashed or the VM timed out)"
			else
				echo "$PROG: $t did not run"
			fi
		fi
		case $r in PASS) npass=$((npass + 1)) ;; SKIP) nskip=$((nskip + 1)) ;; *) nfail=$((nfail + 1)) ;; esac
		echo "$r $t"
		[ -z "$results" ] || echo "$r $t" >>"$results"
	done
	echo "$npass passed, $nfail failed, $nskip skipped (on ${guest_kernel:-?})"
	if [ "$finished" -eq 0 ]; then
		echo "$PROG: the guest did not finish the run (qemu exit $qrc$([ "$qrc" = 124 ] && echo ", VM limit ${timeout_s}s reached")). Last console lines:"
		grep -av '^$' "$log" | tail -15 | sed 's/^/   | /'
		rc=3
	elif [ $nfail -gt 0 ]; then
		rc=1
	fi
	exit $rc
}

main() {
	parse_args "$@"
	pick_tests
	check_tools
	fetch_kernel
	build_initramfs
	make_disk
	boot
	collect
}

main "$@"
