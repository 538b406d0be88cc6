#!/usr/bin/env python3
"""scripts/compare.py - the side-by-side report of make compare.

Reads the "# compare: key=value ..." lines that compare.strategies
(tests/kernel/compare_strategies.c) printed into the logs of the compare
stanzas (build/boots/compare-smp*.log), and writes:
  - a table on the terminal (one row per strategy, CPU count and batch size);
  - build/compare/compare.csv;
  - gnuplot charts, PNG and SVG: latency.* (median patch latency of a
    256-site batch against CPU count, per strategy) and stall.* (the
    bystanders' longest stall per strategy, 256-site batches, per CPU count).
Exit status 1 if no log holds a figure (make compare failed before).
"""
import csv
import glob
import os
import re
import shutil
import subprocess
import sys

from xptools import paths

LINE = re.compile(r"^# compare: (strategy=.*)$")
FIELDS = ["strategy", "smp", "sites", "runs", "median_us", "max_us", "rounds", "stall_p50_us", "stall_max_us"]


def rows_of(logs):
    rows = []
    for log in logs:
        with open(log, errors="replace") as f:
            for line in f:
                m = LINE.match(line.strip())
                if m:
                    kv = dict(w.split("=", 1) for w in m.group(1).split())
                    rows.append({k: kv[k] if k == "strategy" else int(kv[k]) for k in FIELDS})
    return rows


def table(rows):
    head = f"{'strategy':<24}{'smp':>4}{'sites':>6}{'rounds':>7}{'median us':>11}{'max us':>10}" \
           f"{'stall p50 us':>14}{'stall max us':>14}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['strategy']:<24}{r['smp']:>4}{r['sites']:>6}{r['rounds']:>7}{r['median_us']:>11}{r['max_us']:>10}"
              f"{r['stall_p50_us']:>14}{r['stall_max_us']:>14}")


def charts(rows, out):
    if not shutil.which("gnuplot"):
        print("compare: gnuplot is not installed (make deps): no charts", file=sys.stderr)
        return False
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    smps = sorted({r["smp"] for r in rows})
    big = [r for r in rows if r["sites"] == 256]
    data = os.path.join(out, "big.dat")
    with open(data, "w") as f:          # one block per strategy: smp median stall_max
        for s in strategies:
            f.write(f"# {s}\n")
            for r in sorted((r for r in big if r["strategy"] == s), key=lambda r: r["smp"]):
                f.write(f"{r['smp']} {r['median_us']} {r['stall_max_us']}\n")
            f.write("\n\n")
    stall = os.path.join(out, "stall.dat")
    with open(stall, "w") as f:         # rows: strategy, then one column per smp
        f.write("strategy " + " ".join(f"smp{n}" for n in smps) + "\n")
        for s in strategies:
            vals = [next((r["stall_max_us"] for r in big if r["strategy"] == s and r["smp"] == n), 0) for n in smps]
            f.write(f"{s} " + " ".join(str(v) for v in vals) + "\n")
    for term, ext in (("pngcairo size 900,540", "png"), ("svg size 900,540", "svg")):
        script = f"""
set terminal {term}
set output '{out}/latency.{ext}'
set title 'Patch latency of a 256-site batch (median of the runs)'
set xlabel 'CPUs (-smp)'
set ylabel 'microseconds'
set logscale y
set key top left
plot for [i=0:{len(strategies) - 1}] '{data}' index i using 1:2 with linespoints title columnheader(1)
set output '{out}/stall.{ext}'
set title 'Longest bystander stall during 256-site batches'
unset logscale y
set logscale y
set style data histograms
set style fill solid 0.8
set xlabel 'strategy'
plot for [c=2:{len(smps) + 1}] '{stall}' using c:xtic(1) title columnheader(c)
"""
        # the block titles come from the "# strategy" comment lines
        script = script.replace("title columnheader(1)", "title word('" + " ".join(strategies) + "', i+1)")
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if r.returncode:
            print(f"compare: gnuplot failed: {r.stderr.strip()}", file=sys.stderr)
            return False
    return True


def main():
    logs = sorted(glob.glob(os.path.join(paths.BUILD, "boots", "compare-smp*.log")))
    rows = rows_of(logs)
    if not rows:
        print(f"compare: no figures in {', '.join(logs) or 'build/boots/compare-smp*.log (none)'}", file=sys.stderr)
        return 1
    out = os.path.join(paths.BUILD, "compare")
    os.makedirs(out, exist_ok=True)
    rows.sort(key=lambda r: (r["sites"], r["smp"], r["strategy"]))
    table(rows)
    with open(os.path.join(out, "compare.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    ok = charts(rows, out)
    print(f"compare: {len(rows)} rows from {len(logs)} log(s): {paths.rel(out)}/compare.csv"
          + (f", latency.png/.svg, stall.png/.svg" if ok else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
