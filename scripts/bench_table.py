#!/usr/bin/env python3
"""scripts/bench_table.py - make bench's table: xpoke beside Linux 6.1.

  bench_table.py [--since EPOCH]

Reads the "# vs-linux: op=NAME smp=N key=value ..." lines (their format:
tests/kernel/bench_vs_linux.c and bench_trace.c) from the logs of the
bench-vs-linux* and bench-trace boots (build/boots/bench-vs-linux[-defer]-
smpN.log, bench-trace-smpN.log)
written since EPOCH (make bench passes its start: a log of an earlier run is
never read as this one's), and prints, per operation and CPU count, Linux's
figure (measured for issue 12 on this kind of machine under the same QEMU:
TCG, -M q35), xpoke's (default settings, and with deferred idle), Linux's
time divided by xpoke's, and the goal. Figures, never pass/fail: the exit
status is 1 only when no log holds a figure.
"""
import argparse
import glob
import os
import re
import sys

from xptools import paths

LINE = re.compile(r"^# vs-linux: (.*)$")
LOG = re.compile(r"bench-(?:vs-linux|trace)(-defer)?-smp(\d+)\.log$")

# op: (what, Linux ms at -smp 1, 2, 8; goal: xpoke at most Linux / this)
LINUX = {
    "key2": ("static key with 2 sites, enable", {1: 0.24, 2: 0.58, 8: 0.87}, 5),
    "key76": ("static key with 76 sites, enable", {1: 6.3, 2: 7.9, 8: 8.2}, 10),
    "trace": ("function tracing on, 38,252 sites", {1: 3160.0, 2: 3320.0, 8: 3610.0}, 10),
}
RATIO_GOAL = 2.0


def parse(text):
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


def read(since):
    """{(defer, smp): {op: dict}} from this run's logs."""
    got = {}
    for log in sorted(glob.glob(os.path.join(paths.BUILD, "boots", "bench-*-smp*.log"))):
        m = LOG.search(log)
        if not m or os.path.getmtime(log) < since:
            continue
        key = (bool(m.group(1)), int(m.group(2)))
        with open(log, errors="replace") as f:
            for line in f:
                lm = LINE.match(line.rstrip("\n"))
                if lm:
                    d = parse(lm.group(1))
                    got.setdefault(key, {})[d.get("op", "?")] = d
    return got


def ms(d):
    if not d:
        return None
    if "ms" in d:
        return float(d["ms"])
    if "us" in d:
        return float(d["us"]) / 1000
    return None


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3f} ms" if v < 1 else (f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--since", type=float, default=0.0)
    args = ap.parse_args()
    got = read(args.since)
    if not got:
        print("bench_table: no vs-linux figure in build/boots/bench-vs-linux*.log from this run", file=sys.stderr)
        return 1
    smps = sorted({smp for _, smp in got})
    print()
    print("xpoke against Linux 6.1 (issue 12's figures, same QEMU TCG, -M q35); 'deferred': patch.defer_idle=1")
    print("speed-up = Linux's time / xpoke's; the goal is a speed-up of at least the figure shown")
    hdr = f"{'operation':46} {'-smp':>4} {'Linux':>10} {'xpoke':>10} {'speed-up':>9} {'deferred':>10} {'speed-up':>9} {'goal':>6}  rounds"
    print(hdr)
    print("-" * len(hdr))
    for op, (what, linux, goal) in LINUX.items():
        for smp in smps:
            if smp not in linux:
                continue
            plain, defer = got.get((False, smp), {}).get(op), got.get((True, smp), {}).get(op)
            if not plain and not defer:
                continue
            cells = []
            for d in (plain, defer):
                v = ms(d)
                cells += [fmt_ms(v), f"{linux[smp] / v:.1f}x" if v else "-"]
            rounds = (plain or defer).get("rounds", "?")
            sites = (plain or defer).get("sites")
            label = what if not sites or op != "trace" else f"{what} ({sites} here)"
            print(f"{label:46} {smp:>4} {fmt_ms(linux[smp]):>10} {cells[0]:>10} {cells[1]:>9} {cells[2]:>10} "
                  f"{cells[3]:>9} {'≥' + str(goal) + 'x':>6}  {rounds}")
    for smp in smps:
        for defer in (False, True):
            d = got.get((defer, smp), {}).get("ratio256")
            if d:
                print(f"256-site batch / 1-site batch at -smp {smp}{' (deferred)' if defer else ''}: {d['value']} "
                      f"({d.get('b256_us', '?')} us / {d.get('b1_us', '?')} us; goal <= {RATIO_GOAL})")
    for smp in smps:
        d = got.get((False, smp), {}).get("trace")
        if d:
            print(f"function tracing on at -smp {smp}: {d.get('ns_per_site', '?')} ns per site, "
                  f"{d.get('batches', '?')} batch(es)")
    for smp in smps:
        for op, d in sorted(got.get((False, smp), {}).items()):
            if op in LINUX or op == "ratio256":
                continue
            rest = " ".join(f"{k}={v}" for k, v in d.items() if k not in ("op", "smp"))
            print(f"{op} at -smp {smp}: {rest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
