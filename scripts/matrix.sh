#!/usr/bin/env bash
# scripts/matrix.sh — boot the CI test ISO by hand, the way a user would,
# across machine types, CPU models and CPU counts (`make matrix`).
#
# Each boot is the plain QEMU command from the README (no runner, default
# memory), plus -M and -cpu, judged by scripts/ktap-check.py.
# Knobs: MATRIX_SMP ("1 2 3 8 64"), MATRIX_MACHINES ("pc q35"),
#        MATRIX_CPUS ("qemu64 max"), MATRIX_TIMEOUT (600 s per boot).
set -uo pipefail
cd "$(dirname "$0")/.."

iso=build/xpoke-test.iso
[ -f "$iso" ] || { echo "matrix: no $iso (make iso)" >&2; exit 1; }
mkdir -p build/matrix
pass=0 fail=0

boot() {   # boot LABEL NCPUS QEMU-ARGS...
	local label=$1 ncpus=$2 log=build/matrix/$1.log status verdict
	shift 2
	timeout "${MATRIX_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg "$@" -cdrom "$iso" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -display none -serial stdio -no-reboot \
		>"$log" 2>&1 </dev/null
	status=$?
	[ "$status" -eq 124 ] && echo "matrix: $label: killed after ${MATRIX_TIMEOUT:-600} s" >>"$log"
	verdict=$(python3 scripts/ktap-check.py "$log" --status "$status" --expect-cpus "$ncpus" --label "$label")
	if [ $? -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS $(grep -v '^RESULT' <<<"$verdict" | tail -n 1)"
	else
		fail=$((fail + 1))
		echo "FAIL $label (log: $log)"
		grep -v '^RESULT' <<<"$verdict" | sed 's/^/     /'
	fi
}

for m in ${MATRIX_MACHINES:-pc q35}; do
	for c in ${MATRIX_CPUS:-qemu64 max}; do
		for n in ${MATRIX_SMP:-1 2 3 8 64}; do
			boot "$m-$c-smp$n" "$n" -M "$m" -cpu "$c" -smp "$n"
		done
	done
	boot "$m-sparse-6" 6 -M "$m" -smp 6,sockets=2,cores=3
done
echo "matrix: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
