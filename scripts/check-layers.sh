#!/usr/bin/env bash
# make check-layers: the rules docs/architecture.md states, as greps that fail when broken.
#  1. Printers only format: no jansson call in a printer (the header and trailer are decoded
#     once, in user/model_meta.c and user/alloc_model.c).
#  2. The page size comes from the recording's header: no arithmetic with a literal 4096 (or a
#     rounding with 4095) in user space (model.c's header_page_size() fallback names it).
set -euo pipefail
cd "$(dirname "$0")/.."

PRINTERS=(user/report.c user/findings.c user/verdict.c user/reqreport.c user/alloc_report.c
	user/pinned_report.c user/perfetto.c user/html.c user/diff.c)
JANSSON='\bjson_(t\b|object|array|string_value|integer|real|number|is_|loads|dumps|decref|incref|equal|true|false|boolean)'
bad=0

if out=$(grep -nE "$JANSSON" "${PRINTERS[@]}"); then
	echo "check-layers: a printer calls jansson (decode in user/model_meta.c, print from the model):" >&2
	echo "$out" >&2
	bad=1
fi
if out=$(grep -nE '(\*|/) *\(?(int64_t|uint64_t|double)?\)? *4096\b|\b4096 *\*|(\+|~) *4095\b' user/*.c user/*.h); then
	echo "check-layers: page-size arithmetic with a literal 4096 (use the model's page_size):" >&2
	echo "$out" >&2
	bad=1
fi
[ "$bad" = 0 ] && echo "check-layers: ${#PRINTERS[@]} printers without jansson calls; no literal page size"
exit "$bad"
