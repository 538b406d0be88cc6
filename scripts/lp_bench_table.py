#!/usr/bin/env python3
"""scripts/lp_bench_table.py - make bench's livepatch table.

  lp_bench_table.py [--since EPOCH]

Reads the "# bench: livepatch STRATEGY N functions (smp S, R rounds): idle
apply ... us ..." lines of tests/kernel/bench_livepatch.c from the logs of
the bench-livepatch boots (build/boots/bench-livepatch-smpN.log) written
since EPOCH, and prints one row per strategy and payload size: the median
apply and revert time with no other CPU busy (idle) and with every other
CPU calling the functions being replaced (loaded), at each CPU count, and
the longest stall of a bystander during the loaded applies. Xen's figure
for reference: about 100 us for a livepatch rendezvous on a 72-CPU machine,
idle or loaded, with NMIs dropped meanwhile. Figures, never pass/fail: the
exit status is 1 only when no log holds a figure.
"""
import argparse
import glob
import os
import re
import sys

from xptools import paths

LINE = re.compile(r"^# bench: livepatch (\S+) +(\d+) functions \(smp (\d+), (\d+) rounds\): idle apply (\d+) us "
                  r"\(max \d+\), revert (\d+) us \(max \d+\); loaded apply (\d+) us \(max \d+\), revert (\d+) us "
                  r"\(max \d+\), longest bystander stall (\d+) us .*?; (\d+) wrong versions, (\d+) wrong calls")
REFUSED = re.compile(r"^# bench: livepatch (\S+) +(\d+) functions \(smp (\d+)[^)]*\): refused: (.*)$")
LOG = re.compile(r"bench-livepatch-smp(\d+)\.log$")


def read(since):
    """{(strategy, n): {smp: dict}} and [(strategy, n, smp, why)] refusals."""
    rows, refused = {}, []
    for log in sorted(glob.glob(os.path.join(paths.BUILD, "boots", "bench-livepatch-smp*.log"))):
        if not LOG.search(log) or os.path.getmtime(log) < since:
            continue
        with open(log, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                m = LINE.match(line)
                if m:
                    s, n, smp, rounds, ia, ir, la, lr, stall, badv, badc = m.groups()
                    rows.setdefault((s, int(n)), {})[int(smp)] = dict(
                        rounds=int(rounds), ia=int(ia), ir=int(ir), la=int(la), lr=int(lr), stall=int(stall),
                        wrong=int(badv) + int(badc))
                    continue
                m = REFUSED.match(line)
                if m:
                    refused.append((m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)))
    return rows, refused


def us(v):
    return "-" if v is None else (f"{v / 1000:.1f} ms" if v >= 10000 else f"{v} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--since", type=float, default=0)
    args = ap.parse_args()
    rows, refused = read(args.since)
    if not rows and not refused:
        print("lp_bench_table: no livepatch figure in build/boots/bench-livepatch-smp*.log from this run",
              file=sys.stderr)
        return 1
    smps = sorted({smp for per in rows.values() for smp in per})
    head = ["strategy", "fns", "rounds"]
    for smp in smps:
        head += [f"-smp {smp} idle apply/revert", f"-smp {smp} loaded apply/revert", f"-smp {smp} stall"]
    table = [head]
    for (s, n) in sorted(rows, key=lambda k: (k[0] != "int3", k[0], k[1])):
        per = rows[(s, n)]
        r = [s, str(n), str(next(iter(per.values()))["rounds"])]
        for smp in smps:
            d = per.get(smp)
            r += [f"{us(d['ia'])} / {us(d['ir'])}" if d else "-", f"{us(d['la'])} / {us(d['lr'])}" if d else "-",
                  us(d["stall"]) if d else "-"]
        table.append(r)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    print("\nlivepatch: apply and revert latency (median of 7), idle and with every other CPU calling the "
          "replaced functions; the longest bystander stall meanwhile (Xen: ~100 us on 72 CPUs, NMIs dropped)")
    for r in table:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    wrong = sum(d["wrong"] for per in rows.values() for d in per.values())
    print(f"  wrong versions or calls seen: {wrong}")
    for s, n, smp, why in refused:
        print(f"  refused: {s}, {n} functions, -smp {smp}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
