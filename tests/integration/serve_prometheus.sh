#!/usr/bin/env bash
# faultline serve scraped by a real Prometheus (Debian's package) every second: PromQL through
# Prometheus's HTTP API gives the workload's fault rate, matching the kernel's own count
# (/proc/PID/stat), and a stall histogram; the exposition passes promtool check metrics.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
. "$(dirname "$0")/serve_common.bash"
need_root
if [ "${FAULTLINE_IN_VM:-}" = 1 ] && ! command -v prometheus >/dev/null; then
	echo "skip: no prometheus in the VM's initramfs (this test runs on the host)"
	exit 77
fi
for b in prometheus promtool; do
	command -v $b >/dev/null || fail "$b is missing: run scripts/install-deps.sh"
done

RATE=20000
start_workload fault_steady 2 --rate $RATE
start_serve -p "$WPID"
http_get "$SERVE_URL/metrics" >"$TMP/metrics.txt" || fail "GET /metrics failed"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1
rc=$?
note "promtool check metrics: exit $rc $(head -c 300 "$TMP/promtool.out")"
[ $rc -eq 0 ] || fail "promtool check metrics rejected the exposition"

PPORT=$(free_port)
mkdir -p "$TMP/prom"
cat >"$TMP/prom.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: faultline
    static_configs:
      - targets: ['${SERVE_ADDR}']
YML
prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom.log" 2>&1 &
PROMPID=$!
on_exit "kill $PROMPID 2>/dev/null; wait $PROMPID 2>/dev/null"
PROM=http://127.0.0.1:$PPORT

# promql EXPR: the first result's value ("" when there is none).
promql() {
	python3 - "$PROM" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
try:
    r = json.load(urllib.request.urlopen(url, timeout=5))
except Exception:
    sys.exit(0)
res = r.get("data", {}).get("result", [])
if res:
    print(res[0]["value"][1], len(res))
PY
}

for _ in $(seq 300); do
	[ "$(promql 'up{job="faultline"}' | cut -d' ' -f1)" = 1 ] && break
	kill -0 $PROMPID 2>/dev/null || { tail -20 "$TMP/prom.log"; fail "prometheus exited"; }
	sleep 0.1
done
[ "$(promql 'up{job="faultline"}' | cut -d' ' -f1)" = 1 ] || { tail -20 "$TMP/prom.log"; fail "prometheus never scraped faultline serve"; }
note "prometheus 127.0.0.1:$PPORT scrapes faultline serve at $SERVE_ADDR every 1 s"

# Ground truth over the same window as the PromQL rate: the kernel's count, 10 s apart.
f0=$(proc_faults "$WPID"); t0=$(date +%s.%N)
sleep 12
f1=$(proc_faults "$WPID"); t1=$(date +%s.%N)
want=$(python3 -c "print(round(($f1 - $f0) / ($t1 - $t0)))")
got=$(promql "sum(rate(faultline_page_faults_total{pid=\"$WPID\"}[10s]))" | cut -d' ' -f1)
[ -n "$got" ] || fail "PromQL rate(faultline_page_faults_total[10s]) returned nothing"
got=$(python3 -c "print(round(float('$got')))")
check_within "fault rate/s: PromQL rate(faultline_page_faults_total[10s]) vs /proc/$WPID/stat" \
	"$got" "$want" 10

buckets=$(promql 'count(faultline_stall_seconds_bucket{cause="mmap_lock_wait"})' | cut -d' ' -f1)
check_eq "faultline_stall_seconds_bucket series for mmap_lock_wait" "$buckets" 23
stalls=$(promql 'faultline_stall_seconds_count{cause="mmap_lock_wait"}' | cut -d' ' -f1)
check_ge "mmap_lock_wait stalls counted (munmap vs faults in 2 threads)" "${stalls:-0}" 1
p99=$(promql 'histogram_quantile(0.99, sum by (le) (faultline_stall_seconds_bucket{cause="mmap_lock_wait"}))' | cut -d' ' -f1)
note "histogram_quantile(0.99) of mmap_lock_wait: ${p99:-none} s"
python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v < 10 else 1)" "${p99:-0}" ||
	fail "no p99 from the stall histogram"

# serve's own BPF time, per program, in one scrape: the programs read after the fault counters,
# so the page-fault programs (which see every fault, not only the target's) ran at least as often
# as the target's faults counted; the per-program times add up to the total.
http_get "$SERVE_URL/metrics" >"$TMP/m2.txt" || fail "GET /metrics failed"
check_eq "faultline_bpf_stats_enabled (root: BPF_ENABLE_STATS)" \
	"$(awk '$1 ~ /^faultline_bpf_stats_enabled[{]/ { print $2 }' "$TMP/m2.txt")" 1
runs=$(awk '$1 ~ /^faultline_bpf_runs_total[{].*prog="fl_pf_user_/ { s += $2 } END { print s + 0 }' "$TMP/m2.txt")
faults=$(awk '$1 ~ /^faultline_page_faults_total[{].*kind="user"/ { print $2 }' "$TMP/m2.txt")
check_ge "faultline_bpf_runs_total{prog=fl_pf_user_*} vs faultline_page_faults_total{kind=user}" \
	"$runs" "${faults:-1}"
check_ge "user faults counted" "${faults:-0}" 1
per=$(awk '$1 ~ /^faultline_bpf_run_time_seconds_total[{]/ { s += $2 } END { printf "%.9f", s }' "$TMP/m2.txt")
all=$(awk '$1 ~ /^faultline_bpf_run_seconds_total[{]/ { print $2 }' "$TMP/m2.txt")
check_within "sum of faultline_bpf_run_time_seconds_total{prog} vs faultline_bpf_run_seconds_total" \
	"$per" "${all:-0}" 0.01
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$per" ||
	fail "no BPF run time counted"
echo "ok"
