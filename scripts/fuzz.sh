#!/usr/bin/env bash
# scripts/fuzz.sh — the patch validator's libFuzzer target
# (tests/fuzz/fuzz_validate.c, built as build/fuzz/fuzz_validate).
#
#   scripts/fuzz.sh            fuzz for FUZZ_SECONDS (default 60) from the
#                              committed corpus (make fuzz)
#   scripts/fuzz.sh --replay   run each input of tests/fuzz/corpus/ once
#                              (make test); ends with "RESULT passed=P failed=F"
#   scripts/fuzz.sh --merge    add to tests/fuzz/corpus/ the inputs of
#                              build/fuzz/corpus/ that reach new coverage
#
# Fuzzing reads tests/fuzz/corpus/ and build/fuzz/corpus/ (what earlier runs
# found) and writes new inputs only to build/fuzz/corpus/, never to the
# committed corpus. A finding (an invariant violated, a sanitizer report, a
# crash, an input running longer than 10 s) stops the run: its input is
# saved in build/fuzz/findings/, the report is printed, and the exit status
# is 1. libFuzzer's whole output is in build/fuzz/fuzz.log.
set -uo pipefail
cd "$(dirname "$0")/.."

bin=build/fuzz/fuzz_validate
corpus=tests/fuzz/corpus
new=build/fuzz/corpus
findings=build/fuzz/findings
log=build/fuzz/fuzz.log
# Inputs are a few dozen bytes; longer ones only repeat fields.
opts=(-max_len=512 -timeout=10)

[ -x "$bin" ] || { echo "fuzz: $bin missing: make $bin" >&2; exit 2; }
[ -d "$corpus" ] || { echo "fuzz: $corpus missing" >&2; exit 2; }
mkdir -p "$new" "$findings"

# The report of a finding in a log (the harness's own, or the first
# sanitizer, timeout or crash report, shortened), and the input it saved.
report() {
	local log=$1 unit
	if grep -q 'INVARIANT VIOLATED' "$log"; then
		sed -n '/INVARIANT VIOLATED/,/ERROR: libFuzzer: deadly signal/p' "$log" | sed '$d' >&2
	else
		sed -n '/==[0-9]*==ERROR\|runtime error\|ALARM\|deadly signal\|out-of-memory/,/^SUMMARY\|^Shadow bytes/p' \
			"$log" | grep -v 'in fuzzer::\|in __libc_start\|in _start\|in main \|^Shadow bytes' | head -n 40 >&2
		grep -m 1 '^SUMMARY' "$log" >&2
	fi
	unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	if [ -n "$unit" ]; then
		echo "fuzz: FINDING: the input is $unit" >&2
		echo "fuzz: reproduce with: $bin $unit   (XPOKE_FUZZ_VERBOSE=1 prints each request)" >&2
	fi
}

case ${1:-} in
--replay)
	# Each file once, as a plain test: nothing is written anywhere.
	shopt -s nullglob
	files=("$corpus"/*)
	if [ ${#files[@]} -eq 0 ]; then
		echo "fuzz: $corpus is empty"
		echo "RESULT passed=0 failed=1"
		exit 1
	fi
	log=build/fuzz/replay.log
	t0=$(date +%s.%N)
	"$bin" "${opts[@]}" "${files[@]}" >"$log" 2>&1
	status=$?
	t1=$(date +%s.%N)
	ran=$(grep -c '^Executed ' "$log")
	secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
	if [ "$status" -eq 0 ] && [ "$ran" -eq ${#files[@]} ]; then
		echo "fuzz: replayed the ${#files[@]} inputs of $corpus/ in $secs s: every invariant held"
		echo "RESULT passed=$ran failed=0"
		exit 0
	fi
	# Which inputs fail: each on its own (slower, only now).
	pass=0 fail=0 bad=()
	for f in "${files[@]}"; do
		if "$bin" "${opts[@]}" "$f" >"$log.one" 2>&1; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			[ ${#bad[@]} -gt 0 ] || cp "$log.one" "$log"
			bad+=("$f")
		fi
	done
	rm -f "$log.one"
	echo "fuzz: replaying $corpus/: $fail of ${#files[@]} inputs fail: ${bad[*]:0:5}${bad[5]:+ ...}" >&2
	echo "fuzz: the first one's report (log: $log):" >&2
	report "$log"
	echo "RESULT passed=$pass failed=$fail"
	exit 1
	;;
--merge)
	before=$(find "$corpus" -type f | wc -l)
	# The fewest inputs that add edges the corpus lacks (not counters:
	# they would keep hundreds of near-copies).
	"$bin" "${opts[@]}" -set_cover_merge=1 -use_counters=0 "$corpus" "$new" >build/fuzz/merge.log 2>&1 ||
		{ echo "fuzz: merge failed (build/fuzz/merge.log)" >&2; exit 1; }
	after=$(find "$corpus" -type f | wc -l)
	echo "fuzz: $corpus/: $before -> $after inputs (review and commit them)"
	exit 0
	;;
'') ;;
*)
	echo "usage: $0 [--replay | --merge]" >&2
	exit 2
	;;
esac

secs=${FUZZ_SECONDS:-60}
case $secs in
'' | *[!0-9]* | 0) echo "fuzz: FUZZ_SECONDS='$secs' is not a positive number of seconds" >&2; exit 2 ;;
esac

before=$(find "$new" -type f | wc -l)
echo "fuzz: $bin for $secs s on $corpus/ (+ $before inputs in $new/); log: $log"
"$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$findings/" \
	"$new" "$corpus" >"$log" 2>&1
status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
if [ -z "$execs" ]; then        # no final stats after a crash: the last "#N" line
	execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
fi
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
after=$(find "$new" -type f | wc -l)

if [ "$status" -ne 0 ]; then
	echo "fuzz: FAILED after ${execs:-?} executions (exit status $status)" >&2
	report "$log"
	exit 1
fi
echo "fuzz: ${execs:-?} executions in $secs s (${rate:-?}/s), ${cov:-cov: ?} edges, no finding"
echo "fuzz: $((after - before)) new inputs in $new/ (scripts/fuzz.sh --merge adds those that reach new coverage to $corpus/)"
