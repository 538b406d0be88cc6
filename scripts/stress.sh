#!/usr/bin/env bash
# scripts/stress.sh — longer runs of the patch races (`make stress`).
#
# The flip tests with STRESS_FLIPS flips per site (default 100000) at each
# CPU count in STRESS_SMP (default "2 4 8 16"), judged like make test.
set -uo pipefail
cd "$(dirname "$0")/.."

flips=${STRESS_FLIPS:-100000}
fail=0
for smp in ${STRESS_SMP:-2 4 8 16}; do
	log=build/stress-smp$smp.log
	SMP=$smp CMDLINE="ktest=patch.* patch.flips=$flips" python3 scripts/run-qemu.py --quiet --log "$log" \
		--timeout "${STRESS_TIMEOUT:-7200}"
	status=$?
	out=$(python3 scripts/ktap-check.py "$log" --status "$status" --expect-cpus "$smp" --label "stress -smp $smp") \
		|| fail=1
	grep -v '^RESULT' <<<"$out"
	grep -E '^# [0-9]+ flips' "$log" | sed "s/^#/  smp $smp:/"
done
exit $fail
