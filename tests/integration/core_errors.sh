#!/usr/bin/env bash
# Bad input and refusals: each a clear message naming the problem, a non-zero exit (not a crash),
# and no file left behind by a record that never started.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

# as_nobody CMD...: runs CMD as uid/gid 65534 with no supplementary groups and no capabilities.
as_nobody() {
	if setpriv --help 2>&1 | grep -q -e --reuid; then # util-linux's, not busybox's
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"
	else
		python3 -c 'import os,sys; os.setgroups([]); os.setgid(65534); os.setuid(65534); os.execvp(sys.argv[1], sys.argv[1:])' "$@"
	fi
}

# expect DESC REGEX CMD...: CMD must exit 1..125 (no signal) with stderr matching REGEX.
expect() {
	local desc=$1 re=$2 rc
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	note "$desc: exit $rc, stderr: $(head -c 200 "$TMP/err" | tr '\n' ' ')"
	{ [ $rc -ge 1 ] && [ $rc -le 125 ]; } || fail "$desc: exit $rc (want a non-zero exit, not a crash)"
	grep -qE -e "$re" "$TMP/err" || fail "$desc: stderr does not match /$re/"
	[ -e "$TMP/never.data" ] && fail "$desc: left $TMP/never.data behind"
	return 0
}

o=(-o "$TMP/never.data")
expect "record -p 999999" '^faultline: pid 999999 does not exist' "$FL" record -p 999999 "${o[@]}"
expect "record -p abc" "-p 'abc'.*expected a pid" "$FL" record -p abc "${o[@]}"
expect "record -p 0" "-p '0'.*expected a pid" "$FL" record -p 0 "${o[@]}"
expect "record -p 1,,x" "-p '1,,x'" "$FL" record -p 1,,x "${o[@]}"
expect "record --bogus" "unrecognized option '--bogus'" "$FL" record --bogus "${o[@]}"
expect "record (nothing to trace)" 'nothing to trace' "$FL" record "${o[@]}"
expect "record -d 1x" "-d '1x'.*duration" "$FL" record -p $$ -d 1x "${o[@]}"
expect "record --ringbuf-mb 3" "ringbuf-mb '3'.*power of two" "$FL" record -p $$ --ringbuf-mb 3 "${o[@]}"
expect "record -- missing command" "cannot run '/nonexistent/cmd': No such file" \
	"$FL" record "${o[@]}" -- /nonexistent/cmd
expect "record into a missing directory" "$TMP/no/such/dir/x.data: cannot create" \
	"$FL" record -p $$ -d 1 -o "$TMP/no/such/dir/x.data"
expect "unknown subcommand" "unknown command 'bogus'" "$FL" bogus

# Not permitted: an unprivileged user cannot load BPF programs. A copy of the binary, as the
# user may not reach the build tree (the VM's is root-only).
chmod 777 "$TMP"
cp "$FL" "$TMP/faultline" && chmod 755 "$TMP/faultline"
expect "record as an unprivileged user" 'needs root or CAP_BPF' \
	as_nobody "$TMP/faultline" record -p $$ -d 1 "${o[@]}"

expect "report of a missing file" "$TMP/missing.data: cannot open: No such file" \
	"$FL" report -i "$TMP/missing.data"
printf 'this is not a faultline recording\n%.0s' $(seq 100) >"$TMP/corrupt.data"
expect "report of a corrupt file" 'corrupt.data: not a faultline file' "$FL" report -i "$TMP/corrupt.data"
: >"$TMP/empty.data"
expect "report of an empty file" 'empty.data: empty file' "$FL" report -i "$TMP/empty.data"
expect "report of a directory" "$TMP: .*(Is a directory|not a faultline)" "$FL" report -i "$TMP"
head -c 65536 /dev/urandom >"$TMP/random.data"
expect "report of random bytes" 'random.data: not a faultline file' "$FL" report -i "$TMP/random.data" --json
cp "$TMP/corrupt.data" "$TMP/secret.data"
chmod 600 "$TMP/secret.data"
expect "report of an unreadable file" 'secret.data: cannot open: Permission denied' \
	as_nobody "$TMP/faultline" report -i "$TMP/secret.data"
expect "report with a stray argument" "unexpected argument 'extra'" "$FL" report -i x extra
expect "report --bogus" "unrecognized option '--bogus'" "$FL" report --bogus
echo "ok"
