#!/usr/bin/env bash
# scripts/stress.sh — longer runs of the patch races (`make stress`).
#
# At each CPU count in STRESS_SMP (default "2 4 8 16"): the three storm
# tests for STRESS_STORM_MS each (default 60000), after STRESS_IDLE_MS
# (default 5000) of the same storm without patching, for the NMI rates,
# and the flip tests with STRESS_FLIPS flips per site (default 20000; make
# test does 10000). Prints the figures and a verdict per CPU count.
set -uo pipefail
cd "$(dirname "$0")/.."

flips=${STRESS_FLIPS:-20000}
storm_ms=${STRESS_STORM_MS:-60000}
idle_ms=${STRESS_IDLE_MS:-5000}
fail=0
for smp in ${STRESS_SMP:-2 4 8 16}; do
	log=build/stress-smp$smp.log
	t0=$(date +%s)
	SMP=$smp CMDLINE="ktest=storm.nmi_sites,storm.thread_and_irq_sites,storm.mixed,patch.flip_* storm.ms=$storm_ms storm.idle_ms=$idle_ms patch.flips=$flips" \
		python3 scripts/run-qemu.py --quiet --log "$log" --timeout "${STRESS_TIMEOUT:-7200}"
	status=$?
	out=$(python3 scripts/ktap-check.py "$log" --status "$status" --expect-cpus "$smp" --label "stress -smp $smp") \
		|| fail=1
	echo "== -smp $smp ($(( $(date +%s) - t0 )) s)"
	tr -d '\r' < "$log" | grep -E '^storm [a-z]+:|^storm: all|^storm: errors|^# [0-9]+ flips' | sed 's/^/  /'
	grep -v '^RESULT' <<<"$out"
done
exit $fail
