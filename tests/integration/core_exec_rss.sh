#!/usr/bin/env bash
# A target that execs keeps its faults and its RSS: the target filter's per-CPU memo (bpf/
# common.bpf.h) must not skip learning the new mm after exec. The shell faults first (its mm
# learnt and memoised), then execs bench_faults, which touches 20 000 pages (80 MiB) once: the RSS
# series of that pid must reach tens of MiB (the shell alone is a few MiB).
. "$(dirname "$0")/../lib.sh"
need_root

PAGES=20000
"$FL" record -o "$TMP/exec.data" -- sh -c "exec '$WL/bench_faults' -t 1 -n $PAGES -p $PAGES" \
	>"$TMP/wl.out" 2>"$TMP/rec.err" || fail "record failed: $(cat "$TMP/rec.err")"
grep -q '^mode=' "$TMP/wl.out" || fail "bench_faults printed no result: $(cat "$TMP/wl.out")"
"$FL" report -i "$TMP/exec.data" --json >"$TMP/exec.json" || fail "report failed"
j=$TMP/exec.json
# record execs sh, sh execs bench_faults
check_eq "execs seen" "$(json 'j["other"]["execs"]' "$j")" 2
check_ge "faults recorded (at least the pages touched)" "$(json 'j["faults"]["total"]' "$j")" "$PAGES"
check_eq "events dropped" "$(json 'j["events"]["dropped"]' "$j")" 0
check_eq "processes in the RSS series" "$(json 'len(j["rss"])' "$j")" 1
# Sampled every 10 ms at most: the peak seen may miss the last pages, not half of them.
check_ge "RSS max after exec (MiB)" "$(json 'j["rss"][0]["max_bytes"] >> 20' "$j")" $((PAGES * 4096 / 2 >> 20))
echo "ok"
