#!/usr/bin/env bash
# vm: yes
# Major faults per file: a workload writes a named file of PAGES pages, evicts it from the page
# cache, maps it with MADV_RANDOM and reads each page once (one major fault per page), mapped
# before faultline starts, or during the session and unmapped before its end.
# In the VM (fentry and kprobes: handle_mm_fault is timed, so its outcome is known), recorded
# with fexit and again with --probes fault-duration=kprobe: the report's files[] row of that file,
# found by name, has major == the workload's own majflt delta, the text file table shows the
# same number, and faults.major == /proc/PID/stat majflt over the session.
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

# run_case TAG MAP RECORD-ARGS...: the workload recorded with RECORD-ARGS, its report checked;
# MAP "early" maps the file before faultline starts (its start maps show it), "late" maps it
# during the session and unmaps it before the end (only the mapping timeline sees it). Sets
# R_ATTACH (the fault_duration probe's attach type).
run_case() {
	local tag=$1 map=$2 cached maj0 maj1 row line tname tfaults tmajor
	shift 2
	note "[$tag] file mapped $map; faultline record $*"
	# ${DROP:+...}: no empty argument on the host
	start_workload major_file "$FILE" "$PAGES" ${DROP:+"$DROP"} "$map"
	cached=$(awk '$1 == "cached" { print $2 }' "$WOUT")
	note "[$tag] pages of $NAME still cached before the touches: $cached of $PAGES"
	start_record -p "$WPID" -o "$TMP/$tag.data" "$@"
	maj0=$(proc_majflt "$WPID")
	go
	wait_line "$WOUT" '^done ' "$(scaled 120 | cut -d. -f1)" || fail "[$tag] major_file did not finish: $(cat "$TMP/major_file.err")"
	maj1=$(proc_majflt "$WPID")
	read -r _ WMAJ WMIN < <(grep '^done ' "$WOUT")
	note "[$tag] workload: majflt delta $WMAJ, minflt delta $WMIN over its touch loop; /proc/$WPID/stat majflt $maj0 -> $maj1 while recorded"
	go # a second line lets it exit (faultline record inherited fd 7: closing ours is no EOF)
	finish_workload || fail "[$tag] major_file failed: $(cat "$TMP/major_file.err")"
	wait_record 60

	J=$TMP/$tag.json
	report_json "$TMP/$tag.data" "$J"
	"$FL" report -i "$TMP/$tag.data" >"$TMP/$tag.txt" 2>&1 || fail "[$tag] faultline report -i $tag.data failed"

	# The file's row (by name), faults.major and major_why, as shell assignments.
	eval "$(python3 - "$J" "$NAME" <<'PY'
import json, shlex, sys
j, name = json.load(open(sys.argv[1])), sys.argv[2]
f = j["faults"]
rows = [r for r in f["files"] if r["file"] == name]
v = {"ROWS": len(rows), "FFAULTS": rows[0]["faults"] if rows else None,
     "FMAJOR": rows[0]["major"] if rows else None, "MAJOR": f["major"],
     "WHY": f.get("major_why"), "DROPPED": j["events"]["dropped"],
     "ATTACH": j["probes"]["fault_duration"].get("attach"),
     "FILES": ", ".join("%s %s/%s" % (r["file"], r["faults"], r["major"]) for r in f["files"])}
for k, x in v.items():
	print("R_%s=%s" % (k, shlex.quote(str(x))))
PY
	)" || fail "[$tag] cannot read the report's faults.files"
	note "[$tag] report files (name faults/major): $R_FILES"
	check_eq "[$tag] files[] rows named $NAME" "$R_ROWS" 1
	check_eq "[$tag] events dropped" "$R_DROPPED" 0
	# one filemap fault per page: MADV_RANDOM, and the workload reads each page once
	check_within "[$tag] filemap faults of $NAME vs pages touched" "$R_FFAULTS" "$PAGES" 1
	# the file table's row (the region table has one of the same name above it)
	row=$(awk -v n="$NAME" '/file \(filemap faults\)/ { t = 1 } t && $1 == n { print; exit }' "$TMP/$tag.txt")
	note "[$tag] text row: $(tr -s ' ' <<<"$row")"
	[ -n "$row" ] || fail "[$tag] the text report's file table has no row for $NAME"

	if [ -n "${FAULTLINE_IN_VM:-}" ]; then
		check_ge "[$tag] workload's majflt delta (one per uncached page)" "$WMAJ" $(((PAGES - cached) * 9 / 10))
		[ "$R_FMAJOR" != None ] || fail "[$tag] files[$NAME].major is null on a kernel with fault durations ($R_WHY)"
		check_within "[$tag] major faults of $NAME vs the workload's majflt delta" "$R_FMAJOR" "$WMAJ" 1
		check_within "[$tag] faults.major vs /proc/PID/stat majflt while recorded" "$R_MAJOR" $((maj1 - maj0)) 1
		check_eq "[$tag] faults.major_why" "$R_WHY" None
		# the text file table: "NAME faults major mapped path"
		read -r tname tfaults tmajor _ <<<"$row"
		check_eq "[$tag] text file table: name" "$tname" "$NAME"
		check_eq "[$tag] text file table: major of $NAME vs JSON" "$tmajor" "$R_FMAJOR"
		note "[$tag] text file table: faults $tfaults"
		grep -q 'major faults per file: not known' "$TMP/$tag.txt" &&
			fail "[$tag] the text report says major faults per file are not known on a kernel that times faults"
	else
		check_eq "[$tag] files[$NAME].major on a tracepoint-only kernel (not known, not 0)" "$R_FMAJOR" None
		check_eq "[$tag] faults.major" "$R_MAJOR" None
		[[ $R_WHY != None && -n $R_WHY ]] || fail "[$tag] faults.major_why is empty: the JSON does not say why major is null"
		note "[$tag] faults.major_why: $R_WHY"
		line=$(grep 'major faults per file: not known on this kernel' "$TMP/$tag.txt") ||
			fail "[$tag] the text report does not say major faults per file are not known on this kernel"
		note "[$tag] text: $(tr -s ' ' <<<"$line")"
		read -r _ _ tmajor _ <<<"$row"
		check_eq "[$tag] text file table: major of $NAME" "$tmajor" "-"
	fi
}

if [ -n "${FAULTLINE_IN_VM:-}" ]; then
	run_case fexit early
	check_eq "[fexit] fault_duration attach type" "$R_ATTACH" fentry
	run_case kprobe late --probes fault-duration=kprobe
	check_eq "[kprobe] fault_duration attach type" "$R_ATTACH" kprobe
else
	run_case early early
	run_case late late
fi
echo "ok"
