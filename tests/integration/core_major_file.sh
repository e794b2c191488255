#!/usr/bin/env bash
# vm: yes
# Major faults per file: a workload writes a named file of PAGES pages, evicts it from the page
# cache, maps it with MADV_RANDOM and reads each page once (one major fault per page).
# In the VM (fentry/kprobes: handle_mm_fault is timed, so its outcome is known) the report's
# files[] row of that file, found by name, has major == the workload's own majflt delta, its
# text report shows the same number, and faults.major == /proc/PID/stat majflt over the session.
# On the host (tracepoint-only kernel) the file's filemap faults are still counted by name
# (== PAGES: MADV_RANDOM leaves no fault-around), and the report says major faults per file are
# not known on this kernel (JSON: major null, faults.major_why; text: a line) instead of a 0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/core_common.bash"
need_root

# Small: in the VM everything runs emulated (TCG), a disk read takes up to 0.1 s.
PAGES=${MAJOR_FILE_PAGES:-200}

if [ -n "${FAULTLINE_IN_VM:-}" ]; then
	DIR=${FAULTLINE_DISK:-}
	[ -n "$DIR" ] || fail "the VM has no scratch disk (FAULTLINE_DISK unset; see VMINFO disk)"
	DROP=drop # the guest's page cache is ours to drop
else
	DIR=$(mktemp -d /var/tmp/faultline-major.XXXXXX) || fail "cannot create a directory in /var/tmp"
	on_exit "rm -rf '$DIR'"
	DROP=
fi
case $(stat -f -c %T "$DIR") in
tmpfs | ramfs) fail "$DIR is on $(stat -f -c %T "$DIR"): major faults need a disk-backed file system" ;;
esac
NAME=weights-major.$$.bin
FILE=$DIR/$NAME
on_exit "rm -f '$FILE'"
note "file $FILE ($(stat -f -c %T "$DIR")), $PAGES pages, kernel $(uname -r), in VM: ${FAULTLINE_IN_VM:-no}"

# proc_majflt PID: majflt from /proc/PID/stat (field 12; counted after the comm's ')').
proc_majflt() {
	local s
	s=$(<"/proc/$1/stat") || fail "cannot read /proc/$1/stat"
	# shellcheck disable=SC2086 # split on purpose
	set -- ${s##*) }
	echo "${10}"
}

# ${DROP:+...}: no empty argument on the host
start_workload major_file "$FILE" "$PAGES" ${DROP:+"$DROP"}
cached=$(awk '$1 == "cached" { print $2 }' "$WOUT")
note "pages of $NAME still cached before the touches: $cached of $PAGES"
start_record -p "$WPID" -o "$TMP/rec.data"
maj0=$(proc_majflt "$WPID")
go
wait_line "$WOUT" '^done ' "$(scaled 120 | cut -d. -f1)" || fail "major_file did not finish: $(cat "$TMP/major_file.err")"
maj1=$(proc_majflt "$WPID")
read -r _ WMAJ WMIN < <(grep '^done ' "$WOUT")
note "workload: majflt delta $WMAJ, minflt delta $WMIN over its touch loop; /proc/$WPID/stat majflt $maj0 -> $maj1 while recorded"
go # a second line lets it exit (faultline record inherited fd 7: closing ours is no EOF)
finish_workload || fail "major_file failed: $(cat "$TMP/major_file.err")"
wait_record 60

J=$TMP/rep.json
report_json "$TMP/rec.data" "$J"
"$FL" report -i "$TMP/rec.data" >"$TMP/rep.txt" 2>&1 || fail "faultline report -i rec.data failed"

# The file's row (by name), faults.major and major_why, as shell assignments.
eval "$(python3 - "$J" "$NAME" <<'PY'
import json, shlex, sys
j, name = json.load(open(sys.argv[1])), sys.argv[2]
f = j["faults"]
rows = [r for r in f["files"] if r["file"] == name]
v = {"ROWS": len(rows), "FFAULTS": rows[0]["faults"] if rows else None,
     "FMAJOR": rows[0]["major"] if rows else None, "MAJOR": f["major"],
     "WHY": f.get("major_why"), "DROPPED": j["events"]["dropped"],
     "FILES": ", ".join("%s %s/%s" % (r["file"], r["faults"], r["major"]) for r in f["files"])}
for k, x in v.items():
	print("R_%s=%s" % (k, shlex.quote(str(x))))
PY
)" || fail "cannot read the report's faults.files"
note "report files (name faults/major): $R_FILES"
check_eq "files[] rows named $NAME" "$R_ROWS" 1
check_eq "events dropped" "$R_DROPPED" 0
# one filemap fault per page: MADV_RANDOM, and the workload reads each page once
check_within "filemap faults of $NAME vs pages touched" "$R_FFAULTS" "$PAGES" 1
row=$(awk -v n="$NAME" -v p="$FILE" '$1 == n && $NF == p { print; exit }' "$TMP/rep.txt") # file table
note "text row: $(tr -s ' ' <<<"$row")"
[ -n "$row" ] || fail "the text report's file table has no row for $NAME"

if [ -n "${FAULTLINE_IN_VM:-}" ]; then
	check_ge "workload's majflt delta (one per uncached page)" "$WMAJ" $(((PAGES - cached) * 9 / 10))
	[ "$R_FMAJOR" != None ] || fail "files[$NAME].major is null on a kernel with fault durations ($R_WHY)"
	check_within "major faults of $NAME vs the workload's majflt delta" "$R_FMAJOR" "$WMAJ" 1
	check_within "faults.major vs /proc/PID/stat majflt while recorded" "$R_MAJOR" $((maj1 - maj0)) 1
	check_eq "faults.major_why" "$R_WHY" None
	# the text file table: "NAME faults major mapped path"
	read -r tname tfaults tmajor _ <<<"$row"
	check_eq "text file table: name" "$tname" "$NAME"
	check_eq "text file table: major of $NAME vs JSON" "$tmajor" "$R_FMAJOR"
	note "text file table: faults $tfaults"
	grep -q 'major faults per file: not known' "$TMP/rep.txt" &&
		fail "the text report says major faults per file are not known on a kernel that times faults"
else
	check_eq "files[$NAME].major on a tracepoint-only kernel (not known, not 0)" "$R_FMAJOR" None
	check_eq "faults.major" "$R_MAJOR" None
	[[ $R_WHY != None && -n $R_WHY ]] || fail "faults.major_why is empty: the JSON does not say why major is null"
	note "faults.major_why: $R_WHY"
	line=$(grep 'major faults per file: not known on this kernel' "$TMP/rep.txt") ||
		fail "the text report does not say major faults per file are not known on this kernel"
	note "text: $(tr -s ' ' <<<"$line")"
	read -r _ _ tmajor _ <<<"$row"
	check_eq "text file table: major of $NAME" "$tmajor" "-"
fi
echo "ok"
