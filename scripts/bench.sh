#!/usr/bin/env bash
# scripts/bench.sh — figures, never pass/fail: what `make bench` prints.
#
#   boot-to-prompt: wall time from starting QEMU until the console prompt
#   appears (build/xpoke.iso, -smp ${SMP:-8}), median of ${BENCH_RUNS:-5},
#   and the kernel's own count from kernel entry to the prompt;
#   patch: median TSC cycles of an empty rendezvous, a single-site patch,
#   batches of 1, 16 and 256 sites, a #BP-emulated call and a bare int3,
#   and two ratios (tests/kernel/bench_patch.c).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-5}
smp=${SMP:-8}
case $runs in
'' | 0 | *[!0-9]*) echo "bench: BENCH_RUNS='$runs': need a number of boots >= 1" >&2; exit 2 ;;
esac
times=()
kernel_ms=()
for i in $(seq "$runs"); do
	err=$(SMP=$smp python3 scripts/run-qemu.py --iso build/xpoke.iso --quiet --log build/bench-boot.log \
		--until 'xpoke> ' --timeout 60 2>&1 >/dev/null) || { echo "bench: boot $i failed: $err" >&2; exit 1; }
	times+=("$(sed -n "s/.*'xpoke> ' after \([0-9.]*\) s.*/\1/p" <<<"$err")")
	kernel_ms+=("$(sed -n 's/.*prompt after \([0-9]*\) ms since kernel entry.*/\1/p' build/bench-boot.log)")
done
python3 - "$smp" "${times[*]}" "${kernel_ms[*]}" <<'PY'
import statistics, sys
smp, wall, kern = sys.argv[1], [float(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
print(f"boot-to-prompt (-smp {smp}, {len(wall)} runs): QEMU start to prompt median {statistics.median(wall):.3f} s "
      f"(min {min(wall):.3f}, max {max(wall):.3f}); kernel entry to prompt median {statistics.median(kern):.0f} ms")
PY

# Patch-core figures (tests/kernel/bench_patch.c), same CPU count.
SMP=$smp CMDLINE="ktest=bench.*" python3 scripts/run-qemu.py --quiet --log build/bench-patch.log --timeout 600 \
	2>/dev/null || true
grep '^# bench:' build/bench-patch.log | sed 's/^# bench: /patch: /' || { echo "bench: no patch figures (see build/bench-patch.log)" >&2; exit 1; }
nproc | sed 's/^/machine: /; s/$/ host CPU(s)/'
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /host CPU: /'
