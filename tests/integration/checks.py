# check() for the Python comparisons of the integration tests (imported, not a test itself):
#   import checks; from checks import check; ...; sys.exit(0 if checks.ok else 1)
# It prints what faultline gave next to the ground truth and remembers a failure in checks.ok.
#
# The one VM policy: every check is enforced, in the VM too. A timing check compares with a bound
# from bound(HOST_MS): HOST_MS on real hardware, VM_FACTOR times that in the emulated (TCG) guest
# of scripts/vmtest.sh, whose clocks and scheduling are one to two orders of magnitude coarser
# (requests_edges: a split request's start 0.5 ms off on the host, up to 19 ms in the guest).
# The guest's init (scripts/vm/init.sh) exports FAULTLINE_IN_VM=1; nothing else sets vm.
import os

ok = True
vm = bool(os.environ.get("FAULTLINE_IN_VM"))
VM_FACTOR = 10


def bound(host):
    """The limit a timing check enforces: host on real hardware, VM_FACTOR times wider in the VM."""
    return host * VM_FACTOR if vm else host


def check(desc, cond, got, want, timing=False):
    """timing=True marks a check whose want comes from bound(): the output says so in the VM."""
    global ok
    wider = "  (emulated VM: bound %dx the host's)" % VM_FACTOR if timing and vm else ""
    print("  %s: faultline=%s ground-truth=%s%s%s" % (desc, got, want, wider, "" if cond else "  <-- FAIL"))
    ok &= bool(cond)
