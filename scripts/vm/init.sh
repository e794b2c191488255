#!/usr/bin/bash
# faultline vmtest init (scripts/vmtest.sh copies it into the initramfs as /init): set up a bare
# machine (tracefs, debugfs and bpffs left unmounted, as on a fresh host), print what the kernel
# offers, run the tests listed in /etc/vmtest/tests, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp LANG=C.UTF-8 TERM=${TERM:-vt100}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# devtmpfs lacks udev's links; bash needs /dev/fd for <(...) process substitution
ln -sfn /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ip link set lo up
mkdir -p /mnt/disk
disk_wait=$(cut -d' ' -f1 /proc/uptime)
for _ in $(seq 100); do [ -b /dev/nvme0n1 ] && break; sleep 0.1; done
disk_wait="waited from ${disk_wait}s to $(cut -d' ' -f1 /proc/uptime)s of uptime"
if mount -t ext4 /dev/nvme0n1 /mnt/disk 2>/dev/null; then
	export FAULTLINE_DISK=/mnt/disk
	disk_info="ext4 on /dev/nvme0n1 at /mnt/disk (FAULTLINE_DISK), $(df -m /mnt/disk | awk 'NR == 2 {print $4}') MiB free, $disk_wait"
else
	disk_info="none (/dev/nvme0n1 $([ -b /dev/nvme0n1 ] && echo 'did not mount' || echo 'is missing'))"
fi
hostname faultline-vm
# shellcheck source=/dev/null # vmtest.sh writes it into the image
. /etc/vmtest/conf
export FAULTLINE=/faultline/.output/faultline FAULTLINE_WORKLOADS=/faultline/.output/workloads FAULTLINE_IN_VM=1
[ -n "$VMTEST_CI" ] && export CI=$VMTEST_CI

yn() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }
ksym() { grep -qE " ($1)\$" /proc/kallsyms; }
echo "VMINFO kernel $(uname -r) $(uname -v)"
echo "VMINFO cpus $(grep -c ^processor /proc/cpuinfo) mem $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
if [ -e /sys/kernel/btf/vmlinux ]; then
	echo "VMINFO btf yes (/sys/kernel/btf/vmlinux, $(wc -c </sys/kernel/btf/vmlinux) bytes)"
else
	echo "VMINFO btf no"
fi
echo "VMINFO kprobes $(yn ksym register_kprobe) kprobe_multi(fprobe) $(yn ksym register_fprobe) fentry(trampoline) $(yn ksym 'bpf_trampoline_link_prog|bpf_trampoline_link_cgroup_shim') uprobes $(yn ksym uprobe_register)"
echo "VMINFO tracefs-mounted $(yn grep -q tracefs /proc/mounts) debugfs-mounted $(yn grep -q debugfs /proc/mounts) bpffs-mounted $(yn grep -q ' bpf ' /proc/mounts)"
echo "VMINFO disk $disk_info"
echo "VMINFO thp $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null) defrag $(cat /sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null)"

if [ "$VMTEST_MODE" = shell ]; then
	cd /faultline || true # the shell then starts in /
	echo "vmtest: shell on $(uname -r); the repo subset is in /faultline. 'exit' powers off; Ctrl-A X kills qemu."
	setsid cttyhack /usr/bin/bash -i
	poweroff -f
fi

echo "VMTEST RUNNER START $(wc -l </etc/vmtest/tests) tests, guest uptime $(cut -d' ' -f1 /proc/uptime)s"
pass=0 fail=0 skip=0
while read -r t; do
	[ -n "$t" ] || continue
	echo "VMTEST BEGIN $t"
	s=$(date +%s)
	( cd /faultline && exec timeout -k 10 "$VMTEST_TEST_TIMEOUT" bash "tests/integration/$t.sh" </dev/null 2>&1 )
	rc=$?
	d=$(( $(date +%s) - s ))
	case $rc in
	0) r=PASS; pass=$((pass + 1)) ;;
	77) r=SKIP; skip=$((skip + 1)) ;;
	124|137) r=FAIL; fail=$((fail + 1)); echo "vmtest: $t timed out after ${VMTEST_TEST_TIMEOUT}s" ;;
	*) r=FAIL; fail=$((fail + 1)) ;;
	esac
	echo "VMRESULT $r $t (exit $rc, ${d}s)"
done </etc/vmtest/tests
echo "VMTEST RUNNER DONE passed=$pass failed=$fail skipped=$skip"
sync
poweroff -f
sleep 5
echo o >/proc/sysrq-trigger
