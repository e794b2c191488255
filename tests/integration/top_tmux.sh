#!/usr/bin/env bash
# faultline top, full-screen, driven in a real terminal (tmux): starts, lists the workload's
# faulting threads, answers its keys (view, histogram, sort, pause, resize), and leaves the
# terminal as it found it on q and on Ctrl-C.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
if [ "${FAULTLINE_IN_VM:-}" = 1 ] && ! command -v tmux >/dev/null; then
	echo "skip: no tmux in the VM's initramfs (this test runs on the host)"
	exit 77
fi
command -v tmux >/dev/null || fail "tmux is missing: run scripts/install-deps.sh"

SOCK=fltop-$$
tm() { tmux -L "$SOCK" -f /dev/null "$@"; }
on_exit "tmux -L $SOCK kill-server 2>/dev/null"
screen() { tm capture-pane -p -t t; }
# wait_screen REGEX SECONDS: until the pane shows REGEX.
wait_screen() {
	for _ in $(seq $(($2 * 10))); do
		screen | grep -qE "$1" && return 0
		sleep 0.1
	done
	screen
	return 1
}

# wait_file FILE SECONDS: until FILE exists (written whole: the pane renames it into place).
wait_file() {
	for _ in $(seq $(($2 * 10))); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# check_exit HOW: top ended (EXIT=N printed after the terminal modes were saved): status 0 and
# the terminal modes as they were before top started.
check_exit() {
	wait_screen '^EXIT=' 30 || { cat "$TMP/top.err"; fail "top did not end within 30 s of $1"; }
	wait_file "$TMP/stty.after" 5 || fail "the pane did not save the terminal modes after $1"
	check_eq "top's exit status after $1" "$(screen | sed -n 's/^EXIT=//p' | tail -1)" 0
	check_eq "terminal modes after $1 (stty -g)" "$(cat "$TMP/stty.after")" "$(cat "$TMP/stty.before")"
}

start_workload fault_steady 2 --rate 20000
# The pane runs a shell that saves the terminal modes around top and prints top's exit status once
# they are saved (renamed into place, so the test never reads a half-written file).
cat >"$TMP/pane.sh" <<SH
stty -g >"$TMP/stty.before"
"$FL" top -p $WPID -i 0.5 2>"$TMP/top.err"
rc=\$?
stty -g >"$TMP/stty.tmp" && mv "$TMP/stty.tmp" "$TMP/stty.after"
echo "EXIT=\$rc"
sleep 600
SH
start_pane() {
	tm kill-server 2>/dev/null
	rm -f "$TMP/stty.before" "$TMP/stty.after" "$TMP/stty.tmp"
	tm new-session -d -s t -x 110 -y 30 "bash $TMP/pane.sh"
}
start_pane
wait_screen '^faultline top - ' 30 || { cat "$TMP/top.err"; fail "top did not draw its header"; }
wait_screen 'toucher-[01] +[0-9.]+k? ' 10 || fail "no toucher thread with non-zero FLT/s"
note "thread view: $(screen | grep -E 'toucher-' | head -2 | tr -s ' ' | paste -sd '|')"
check_eq "alternate screen while running" "$(tm display -p -t t '#{alternate_on}')" 1

tm send-keys -t t t
wait_screen '^CAUSE .*EVENTS/s' 5 || fail "t did not switch to the cause view"
wait_screen '^mmap_lock_wait ' 5 || fail "cause view has no mmap_lock_wait row"
note "cause view: $(screen | grep -E '^CAUSE' | tr -s ' ')"
tm send-keys -t t h
wait_screen 'latency since start' 5 || fail "h did not show a histogram"
note "histogram: $(screen | grep 'latency since start')"
tm send-keys -t t h
tm send-keys -t t t
wait_screen 'TID COMM' 5 || fail "t did not switch back to the thread view"
tm send-keys -t t '>'
wait_screen 'MAJ/s\*' 5 || fail "> did not move the sort column"
# < twice from MAJ/s wraps past FLT/s to the last column on screen (ALLOC and PINNED are hidden
# without --alloc=full and pinned calls): the '*' stays on a header the user can see.
tm send-keys -t t '<'
wait_screen 'FLT/s\*' 5 || fail "< did not move the sort column back to FLT/s"
tm send-keys -t t '<'
wait_screen 'MMLOCK\*' 5 || { screen | grep 'TID COMM'; fail "< from the first column did not wrap to the last visible one (MMLOCK)"; }
note "sort wraps to a visible column: $(screen | grep 'TID COMM' | tr -s ' ')"
tm send-keys -t t '>'
wait_screen 'FLT/s\*' 5 || fail "> from the last visible column did not wrap to FLT/s"
tm send-keys -t t '>'
tm send-keys -t t p
wait_screen '\[paused\]' 5 || fail "p did not pause"
tm send-keys -t t p
tm resize-window -t t -x 60 -y 14
# top redraws on SIGWINCH: wait (under load it may take a while) until the 14-row pane has the
# help line at the bottom and the header at the top.
resized() { screen | awk 'NR == 1 && /^faultline top - / { h = 1 } { l = $0; n = NR }
	END { exit !(h && n == 14 && l ~ /^q quit/) }'; }
for _ in $(seq 100); do resized && break; sleep 0.1; done
resized || { screen; fail "no header on the first row and help line on the last row of the 60x14 pane within 10 s of the resize"; }
wide=$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
check_ge "pane width after resize (60) >= widest line drawn" 60 "$wide"

tm send-keys -t t q
check_exit q
check_eq "alternate screen after q" "$(tm display -p -t t '#{alternate_on}')" 0

start_pane
wait_screen '^faultline top - ' 30 || fail "top did not start again"
# Ctrl-C once top is in its key loop (a drawn frame), as a user would.
wait_screen 'TID COMM' 10 || fail "top did not draw its thread table"
tm send-keys -t t C-c
check_exit Ctrl-C
check_eq "alternate screen after Ctrl-C" "$(tm display -p -t t '#{alternate_on}')" 0
echo "ok"
