#!/usr/bin/env bash
# record's live status line (redrawn in place with \r) is drawn only when stderr is a terminal
# that no target shares: a command started by record writes to the same terminal, so there the
# line is not drawn and the command's output stays whole; a -p target writing to a file leaves the
# terminal to record, which draws it. Driven in a real terminal (tmux).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root
command -v tmux >/dev/null || { [ "${FAULTLINE_IN_VM:-}" = 1 ] && { echo "skip: no tmux in the VM"; exit 77; }; fail "tmux is missing"; }

SOCK=flrec-$$
tm() { tmux -L "$SOCK" -f /dev/null "$@"; }
on_exit "tmux -L $SOCK kill-server 2>/dev/null"
screen() { tm capture-pane -p -J -t t -S -200; }
wait_screen() {
	local limit
	limit=$(scaled "$2")
	for _ in $(seq "$(( ${limit%.*} * 10 ))"); do
		grep -qE "$1" <<<"$(screen)" && return 0
		sleep 0.1
	done
	return 1
}

# 1. record -- COMMAND: the child shares the terminal
cat >"$TMP/child.sh" <<'SH'
for i in 1 2 3 4 5 6 7 8; do echo "child-line-$i-end"; sleep 0.3; done
SH
tm new-session -d -s t -x 150 -y 40 "'$FL' record -o '$TMP/c.data' -- bash '$TMP/child.sh'; echo EXIT=\$?; sleep 600"
wait_screen '^EXIT=' 60 || { screen; fail "record -- bash child.sh did not end within 60 s"; }
screen | grep -E 'child-line|recording|EXIT' | sed 's/^/    /'
check_eq "child lines printed whole (child-line-N-end alone on its line)" \
	"$(screen | grep -cxE 'child-line-[1-8]-end')" 8
check_eq "live status lines drawn on the shared terminal" "$(screen | grep -cE 'recording +[0-9.]+s +events')" 0
check_eq "record's exit status" "$(screen | sed -n 's/^EXIT=//p')" 0
tm kill-server 2>/dev/null

# 2. record -p PID of a workload whose output goes to a file: the terminal is record's own
start_workload fault_steady 1 --rate 1000
go
tm new-session -d -s t -x 150 -y 40 "'$FL' record -p $WPID -d 3 -o '$TMP/p.data'; echo EXIT=\$?; sleep 600"
wait_screen '^EXIT=' 60 || { screen; fail "record -p -d 3 did not end within 60 s"; }
screen | grep -E 'recording|EXIT|wrote' | sed 's/^/    /'
check_ge "live status line drawn on record's own terminal" "$(screen | grep -cE 'recording +[0-9.]+s +events')" 1
echo "ok"
