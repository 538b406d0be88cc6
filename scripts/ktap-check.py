#!/usr/bin/env python3
"""scripts/ktap-check.py - judge one xpoke test run from its serial log
(the judge is xptools/ktap.py, which every stanza of judge ktap uses).

  ktap-check.py LOG --status N [--expect-status 1] [--expect-cpus N] [--label NAME]

Prints each failing test with its diagnostics, a one-line verdict, and a
machine-readable "RESULT passed=P failed=F" line (harness errors count as
failures). Exit status 0 when the run passes.
"""
import argparse
import sys

from xptools import ktap

__doc__ += ktap.__doc__.split("\n", 1)[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--status", type=int, required=True, help="QEMU's exit status")
    ap.add_argument("--expect-status", type=int, default=1)
    ap.add_argument("--expect-cpus", type=int)
    ap.add_argument("--label", default="ktest")
    a = ap.parse_args()
    try:
        with open(a.log, errors="replace") as f:
            text = f.read()
    except OSError as e:
        print(f"{a.label}: cannot read {a.log}: {e}")
        print("RESULT passed=0 failed=1")
        return 1
    passed, failed, lines = ktap.judge(text, a.status, a.label, a.expect_status, a.expect_cpus)
    print("\n".join(lines))
    print(f"RESULT passed={passed} failed={failed}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
