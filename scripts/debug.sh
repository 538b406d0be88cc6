#!/usr/bin/env bash
# scripts/debug.sh — debugging xpoke through QEMU's gdb stub.
#
#   scripts/debug.sh            (make debug) QEMU with its CPUs held (-S) and
#                               the gdb stub on; gdb attached, with
#                               build/xpoke.elf's symbols and the xp-
#                               commands (scripts/gdb/xpoke.py). Serial
#                               output goes to build/debug-serial.log.
#   scripts/debug.sh --server   (make debug-server) only QEMU, held, with the
#                               serial console on this terminal; prints how
#                               to attach gdb from another one.
# Knobs as for make run (SMP, MEM, CPU, ACCEL, MACHINE, CMDLINE), and
# GDBPORT (default 1234).
set -euo pipefail
cd "$(dirname "$0")/.."

port=${GDBPORT:-1234}
attach="gdb -q build/xpoke.elf -x scripts/gdb/xpoke.py -ex 'target remote :$port'"

if [ "${1:-}" = "--server" ]; then
	echo "debug-server: QEMU is held at the reset vector with its gdb stub on tcp::$port. Attach with:"
	echo "  $attach"
	echo "Every vCPU is a gdb thread; 'set scheduler-locking step' keeps the others stopped while one steps."
	GDB=1 GDBPORT=$port exec python3 scripts/run-qemu.py --interactive --gdb-wait
fi

log=build/debug-serial.log
# setsid: QEMU in a session of its own, so Ctrl-C reaches gdb (which stops
# the guest) and not QEMU.
GDB=1 GDBPORT=$port setsid python3 scripts/run-qemu.py --gdb-wait --quiet --log "$log" \
	2>build/debug-qemu.err &
qemu=$!
trap 'kill $qemu 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 $qemu 2>/dev/null || { echo "debug: QEMU did not start:" >&2; cat build/debug-qemu.err >&2; exit 1; }
	sleep 0.05
done
echo "debug: guest held at the reset vector; serial output in $log (tail -f it in another terminal)."
echo "debug: 'continue' to boot; Ctrl-C to stop; then xp-cpus, xp-sites, xp-batch, xp-stats, xp-break-phase,"
echo "debug: xp-run-on ('help xp-cpus' etc.). Every vCPU is a gdb thread."
gdb -q build/xpoke.elf -x scripts/gdb/xpoke.py -ex "target remote :$port"
