# Helpers for the serve_*.sh tests (sourced after tests/lib.sh; not a test itself).
# shellcheck disable=SC2034 # SERVE_URL and the helpers are for the tests that source this file

# free_port: a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_get URL: the body on stdout; exit status 1 on an HTTP error or no answer.
http_get() {
	python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode())
    sys.exit(1)
except Exception as e:
    print(e, file=sys.stderr)
    sys.exit(1)
PY
}

# metric FILE NAME_AND_LABELS_REGEX: the value of the first matching sample (0 when none).
metric() { awk -v re="$2" '$0 !~ /^#/ && $1 ~ re { print $2; found = 1; exit } END { if (!found) print 0 }' "$1"; }

# start_serve ARGS...: faultline serve on 127.0.0.1 with a port of its choosing; returns once it
# serves. Sets SPID, SERVE_ADDR (host:port) and SERVE_URL; its stderr is in $TMP/serve.err.
start_serve() {
	"$FL" serve --listen 127.0.0.1:0 "$@" 2>"$TMP/serve.err" >/dev/null 7>&- &
	SPID=$!
	on_exit "kill -INT $SPID 2>/dev/null; wait $SPID 2>/dev/null"
	wait_line "$TMP/serve.err" 'faultline: serving http://' 60 || {
		cat "$TMP/serve.err"
		fail "faultline serve did not start"
	}
	SERVE_ADDR=$(grep -o 'serving http://[^/]*' "$TMP/serve.err" | sed 's|serving http://||')
	SERVE_URL=http://$SERVE_ADDR
}
