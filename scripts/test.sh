#!/usr/bin/env bash
# scripts/test.sh — everything `make test` runs, after `make iso`.
#
#   1. host checks: the KTAP checker's and the linter's own tests, make
#      lint's no-patch check (scripts/lint.py --nopatch), a scratch copy of
#      the tree built twice and then incrementally (test_rebuild.py), the
#      patch validator and site table on Debian's libzydis (cmocka), the
#      validator's fuzz corpus
#      replayed under ASan+UBSan (scripts/fuzz.sh --replay), the kernel's
#      failure paths (tests/host/test_harness.py boots them), the console's
#      peek, poke, poke-batch and text-crc typed over the serial line
#      (test_console.py)
#   2. the gdb race scenarios (scripts/test-gdb.py, tests/gdb/), and the
#      host+guest runs of scripts/host-inject.py: the storm with NMIs and
#      machine checks injected over QMP, one machine check of each class
#      reported as such, and an SRAR and a fatal one that stop the machine
#   3. the CI test ISO (build/xpoke-test.iso, ktest=all) at -smp 1, 2 and 8,
#      each judged by scripts/ktap-check.py
# and one combined line: "total: N passed, N failed". Exit status 0 only if
# nothing failed. Knobs: SMP_LIST (default "1 2 8"), HOST_INJECT_SMP (CPUs
# of the host-injection run, 8), TEST_TIMEOUT (300 s per boot of the test ISO);
# MEM, CPU, ACCEL and MACHINE apply to every boot.
set -uo pipefail
cd "$(dirname "$0")/.."

# The knobs of make run do not apply here: say so rather than ignore them.
if [ -n "${CMDLINE:-}" ]; then
	echo "test: CMDLINE is set, but make test boots the fixed test ISO (ktest=all); unset it" >&2
	exit 2
fi
if [ -n "${SMP:-}" ]; then
	echo "test: SMP is set, but make test boots several CPU counts: use SMP_LIST='${SMP}' instead" >&2
	exit 2
fi
for n in ${SMP_LIST:-1 2 8} ${HOST_INJECT_SMP:-8}; do
	case $n in
	'' | *[!0-9]*) echo "test: CPU count '$n' in SMP_LIST/HOST_INJECT_SMP is not a number" >&2; exit 2 ;;
	esac
done

t0=$(date +%s.%N)
total_pass=0
total_fail=0
failed_steps=()

# run LABEL CMD...: run a step whose output ends with "RESULT passed=P failed=F".
run() {
	local label=$1 out status p f
	shift
	echo "== $label"
	out=$("$@" 2>&1 | tee /dev/stderr)
	status=${PIPESTATUS[0]}
	read -r p f < <(sed -n 's/^RESULT passed=\([0-9]*\) failed=\([0-9]*\)$/\1 \2/p' <<<"$out" | tail -n 1)
	if [ -z "${p:-}" ]; then        # the step died before reporting
		p=0 f=1
	fi
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -eq 0 ] || failed_steps+=("$label")
}

run "host: KTAP checker" python3 tests/host/hostrun.py tests/host/test_ktap_check.py
run "host: the linter's own rules (scripts/lint.py on a synthetic ELF and tree)" \
	python3 tests/host/hostrun.py tests/host/test_lint.py
run "lint: nothing in the no-patch region calls out of it (make lint, --nopatch)" \
	python3 scripts/lint.py --nopatch
run "host: a scratch copy builds, builds again doing nothing, rebuilds what a touch needs" \
	python3 tests/host/hostrun.py tests/host/test_rebuild.py
# The include layering (scripts/lint.py --layering) joins once arch/ no
# longer includes patch/ headers other than patch/trap.h:
# run "lint: include layering (make lint, --layering)" python3 scripts/lint.py --layering
run "host: patch validator (cmocka, libzydis)" build/host/test_validate
run "host: patch validator fuzz corpus (libFuzzer replay, ASan+UBSan)" scripts/fuzz.sh --replay
run "host: failure paths (booted)" python3 tests/host/hostrun.py tests/host/test_harness.py
run "host: console peek/poke/poke-batch/text-crc over COM1 (booted)" \
	python3 tests/host/hostrun.py tests/host/test_console.py

run "gdb: deterministic race scenarios through QEMU's gdb stub" python3 scripts/test-gdb.py

run "host+guest: NMIs and machine checks injected over QMP during a storm" \
	python3 scripts/host-inject.py --smp "${HOST_INJECT_SMP:-8}"
run "host+guest: a corrected, a UCNA and an SRAO machine check, each reported as its class" \
	python3 scripts/host-inject.py --mode classes
run "host+guest: an SRAR machine check stops the machine, naming it" \
	python3 scripts/host-inject.py --mode srar
run "host+guest: a fatal (PCC) machine check stops the machine, naming it" \
	python3 scripts/host-inject.py --mode fatal

for smp in ${SMP_LIST:-1 2 8}; do
	log=build/test-smp$smp.log
	SMP=$smp python3 scripts/run-qemu.py --iso build/xpoke-test.iso --log "$log" \
		--timeout "${TEST_TIMEOUT:-300}"
	status=$?
	run "ktest -smp $smp" python3 scripts/ktap-check.py "$log" --status "$status" \
		--expect-cpus "$smp" --label "ktest -smp $smp"
done

t1=$(date +%s.%N)
echo
[ ${#failed_steps[@]} -eq 0 ] || echo "failed: ${failed_steps[*]}"
echo "total: $total_pass passed, $total_fail failed"
python3 -c "print(f'make test: wall time {$t1 - $t0:.1f} s')"
[ "$total_fail" -eq 0 ]
