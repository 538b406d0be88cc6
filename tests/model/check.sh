#!/usr/bin/env bash
# tests/model/check.sh — check the Promela models of tests/model/ with spin
# (make model; the model stanza of make test): each model must verify (no
# assertion violated, no invalid end state, the ltl property holds under
# weak fairness), and each of its mutants, and each variant expected to be
# unsafe, must be refuted with a trail.
# Prints one line per run, in the order below, with its time (spin, gcc and
# pan; MODEL_JOBS runs at a time, default 2), then "RESULT passed=P failed=F".
#   --deep  also verify nmi, roll_forward and ool with two bystanders
#           (-DNBY=2: 1.4 M to 22 M states, minutes each, up to 2 GB)
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v spin >/dev/null || { echo "model: spin is not installed (make deps)" >&2; echo "RESULT passed=0 failed=1"; exit 1; }
out=build/model
jobs_max=${MODEL_JOBS:-2}
deep=0
[ "${1:-}" = --deep ] && deep=1
mkdir -p "$out"

runs=()
# run MODEL EXPECT [DEFINES]: EXPECT is ok or refuted.
run() { runs+=("$1|$2|${3:-}"); }

run_dir() {                             # the build directory of a run
	local model=$1 def=$2
	echo "$out/$(basename "$model" .pml)$(printf '%s' "$def" | sed 's/ *-D/-/g')"
}

# One run: writes its verdict line to DIR/result ("ok ..." or "not ok ...").
check() {
	local model=$1 expect=$2 def=$3 dir name t0 t1 secs
	local pan_opts=-w20             # 2^20 hash slots (pan's 2^24 costs 128 MB a run)
	dir=$(run_dir "$model" "$def")
	name=$(basename "$dir")
	[[ $def == *NBY=2* ]] && pan_opts=-w26  # millions of states
	rm -rf "$dir" && mkdir -p "$dir"
	cp "$model" tests/model/common.pml "$dir/"
	t0=$EPOCHREALTIME
	(cd "$dir" && spin -a $def "$(basename "$model")" >spin.log 2>&1 &&
	 gcc -O0 -DNFAIR=3 -DVECTORSZ=4096 -o pan pan.c >>spin.log 2>&1 &&
	 ./pan -a -f -m100000 $pan_opts >pan.log 2>&1)
	t1=$EPOCHREALTIME
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	local errors states line
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$dir/pan.log" | head -n 1)
	if [ -z "$errors" ]; then
		line="not ok $name: spin or pan failed (see $dir/spin.log, $dir/pan.log)"
	elif grep -q 'max search depth too small' "$dir/pan.log"; then
		line="not ok $name: search depth too small (see $dir/pan.log)"
	elif [ "$expect" = ok ] && [ "$errors" -eq 0 ]; then
		line="ok $name: verified ($states states, $secs s)"
	elif [ "$expect" = refuted ] && [ "$errors" -gt 0 ] && ls "$dir"/*.trail >/dev/null 2>&1; then
		local why
		why=$(grep -m1 -o 'assertion violated.*\|acceptance cycle.*\|invalid end state.*' "$dir/pan.log")
		line="ok $name: refuted as it must be ($why; trail $dir/$(basename "$model").trail, $secs s)"
	else
		line="not ok $name: expected $expect, pan says errors: $errors (see $dir/pan.log)"
	fi
	echo "$line" >"$dir/result"
}

# int3 (strategies/int3, and int3-2round as its mutant)
run tests/model/int3.pml ok
run tests/model/int3.pml refuted -DMUTANT_NO_WAIT
run tests/model/int3.pml refuted -DMUTANT_NO_MIDDLE_SYNC
run tests/model/int3.pml refuted -DMUTANT_NO_BP_NESTED
run tests/model/int3.pml refuted -DMUTANT_NO_SERIALIZE_ON_RETURN
run tests/model/int3.pml ok "-DDEFER"
run tests/model/int3.pml refuted "-DDEFER -DMUTANT_SERIALIZE_BEFORE_CLEAR"
# stop-machine-nmi; stop-machine (BY_IPI) and the known holes, expected unsafe
run tests/model/stop_machine.pml ok
run tests/model/stop_machine.pml refuted -DBY_IPI
run tests/model/stop_machine.pml ok "-DBY_IPI -DNO_NMI"
run tests/model/stop_machine.pml refuted -DPATCHER_NMI
run tests/model/stop_machine.pml refuted -DMCE
run tests/model/stop_machine.pml refuted -DMUTANT_EARLY_RELEASE
run tests/model/stop_machine.pml refuted -DMUTANT_NO_SERIALIZE_ON_LEAVE
run tests/model/stop_machine.pml refuted -DMUTANT_NO_ARRIVE_WAIT
# nmi
run tests/model/nmi.pml ok
run tests/model/nmi.pml refuted -DMUTANT_NMI_NO_ACK
run tests/model/nmi.pml refuted -DMUTANT_APPLY_OUTSIDE_NMI
# roll-forward
run tests/model/roll_forward.pml ok
run tests/model/roll_forward.pml ok -DLEAVE_EARLY
run tests/model/roll_forward.pml refuted -DMUTANT_OWN_WAITS
run tests/model/roll_forward.pml refuted -DMUTANT_NO_NESTED_ROUNDS
run tests/model/roll_forward.pml refuted -DMUTANT_NO_NESTED_TAIL_ROUND
run tests/model/roll_forward.pml refuted -DMUTANT_FIRST_BEFORE_REST
run tests/model/roll_forward.pml refuted -DMUTANT_WAIT_NO_ACK
run tests/model/roll_forward.pml refuted -DMUTANT_NO_SERIALIZE_ON_RETURN
# ool
run tests/model/ool.pml ok
run tests/model/ool.pml refuted -DMUTANT_COPY_AFTER_INT3
run tests/model/ool.pml refuted -DMUTANT_NO_SERIALIZE_ON_RETURN
run tests/model/ool.pml refuted -DMUTANT_RECLAIM_AFTER_LAST_ROUND
if [ "$deep" = 1 ]; then
	run tests/model/nmi.pml ok -DNBY=2
	run tests/model/roll_forward.pml ok -DNBY=2
	run tests/model/ool.pml ok -DNBY=2
fi

t0=$EPOCHREALTIME
for r in "${runs[@]}"; do
	IFS='|' read -r model expect def <<<"$r"
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
	check "$model" "$expect" "$def" &
done
wait

pass=0 fail=0
for r in "${runs[@]}"; do
	IFS='|' read -r model expect def <<<"$r"
	dir=$(run_dir "$model" "$def")
	if [ -s "$dir/result" ]; then
		line=$(cat "$dir/result")
	else
		line="not ok $(basename "$dir"): no result"
	fi
	echo "$line"
	case $line in
	ok*) pass=$((pass + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
done
echo "model: ${#runs[@]} runs in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s, $jobs_max at a time"
echo "RESULT passed=$pass failed=$fail"
[ "$fail" -eq 0 ]
