# check() for the Python comparisons of the integration tests (imported, not a test itself):
#   import checks; from checks import check; checks.vm = ...; ...; sys.exit(0 if checks.ok else 1)
# It prints what faultline gave next to the ground truth and remembers a failure in checks.ok.
# With checks.vm set (the emulated VM, whose clocks are too coarse to hold faultline to), a
# timing check is shown but not enforced.
ok = True
vm = False


def check(desc, cond, got, want, timing=False):
    global ok
    soft = bool(timing and vm)
    print("  %s: faultline=%s ground-truth=%s%s" % (desc, got, want, "" if cond else
          "  (not enforced in the emulated VM)" if soft else "  <-- FAIL"))
    ok &= bool(cond) or soft
