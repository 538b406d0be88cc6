#!/usr/bin/env bash
# tests/model/check.sh — check the Promela models of tests/model/ with spin
# (make model; the model stanza of make test): each model must verify (no
# assertion violated, no invalid end state, the ltl property holds under
# weak fairness), and each of its mutants must be refuted with a trail.
# Prints one line per run and "RESULT passed=P failed=F".
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v spin >/dev/null || { echo "model: spin is not installed (make deps)" >&2; echo "RESULT passed=0 failed=1"; exit 1; }
out=build/model
mkdir -p "$out"
pass=0 fail=0

# check MODEL EXPECT [-DMUTANT]: EXPECT is ok or refuted.
check() {
	local model=$1 expect=$2 def=${3:-} name dir
	name=$(basename "$model" .pml)$(printf '%s' "$def" | sed 's/ *-D/-/g')
	dir=$out/$name
	rm -rf "$dir" && mkdir -p "$dir"
	cp "$model" tests/model/common.pml "$dir/"
	(cd "$dir" && spin -a $def "$(basename "$model")" >spin.log 2>&1 &&
	 gcc -O0 -DNFAIR=3 -DVECTORSZ=4096 -o pan pan.c >>spin.log 2>&1 &&
	 ./pan -a -f -m100000 >pan.log 2>&1)
	local errors
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
	local states
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$dir/pan.log" | head -n 1)
	if [ -z "$errors" ]; then
		echo "not ok $name: spin or pan failed (see $dir/spin.log, $dir/pan.log)"
		fail=$((fail + 1))
	elif [ "$expect" = ok ] && [ "$errors" -eq 0 ]; then
		echo "ok $name: verified ($states states)"
		pass=$((pass + 1))
	elif [ "$expect" = refuted ] && [ "$errors" -gt 0 ] && ls "$dir"/*.trail >/dev/null 2>&1; then
		local why
		why=$(grep -m1 -o 'assertion violated.*\|acceptance cycle.*\|invalid end state.*' "$dir/pan.log")
		echo "ok $name: refuted as it must be ($why; trail $dir/$(basename "$model").trail)"
		pass=$((pass + 1))
	else
		echo "not ok $name: expected $expect, pan says errors: $errors (see $dir/pan.log)"
		fail=$((fail + 1))
	fi
}

check tests/model/int3.pml ok
check tests/model/int3.pml refuted -DMUTANT_NO_WAIT
check tests/model/int3.pml refuted -DMUTANT_NO_MIDDLE_SYNC
check tests/model/int3.pml refuted -DMUTANT_NO_BP_NESTED
check tests/model/int3.pml refuted -DMUTANT_NO_SERIALIZE_ON_RETURN
check tests/model/int3.pml ok "-DDEFER"
check tests/model/int3.pml refuted "-DDEFER -DMUTANT_SERIALIZE_BEFORE_CLEAR"
echo "RESULT passed=$pass failed=$fail"
[ "$fail" -eq 0 ]
