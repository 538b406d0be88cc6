#!/usr/bin/env python3
"""scripts/ktap-check.py - judge one xpoke test run from its serial log.

  ktap-check.py LOG --status N [--expect-status 1] [--expect-cpus N] [--label NAME]

A run passes only when all of these hold:
  - the log has "KTAP version 1", a plan "1..N" and exactly N results,
    numbered 1..N in order ("ok"/"not ok", "# SKIP" directives allowed);
  - the summary line "ktest: P passed, F failed, S skipped" is there and
    agrees with the results;
  - no result is "not ok";
  - QEMU's exit status is --expect-status (1: isa-debug-exit value 0;
    0 is a triple fault or reset, 124 the runner's timeout);
  - with --expect-cpus, the kernel reports that many CPUs online;
  - the kernel applied every command-line word (no "ktest: N command-line
    word(s) not applied" line).
Prints each failing test with its diagnostics, a one-line verdict, and a
machine-readable "RESULT passed=P failed=F" line (harness errors count as
failures). Exit status 0 when the run passes.
"""
import argparse
import re
import sys

RESULT_RE = re.compile(r"^(not ok|ok) (\d+) (\S+)(?: # (.*))?$")
SUMMARY_RE = re.compile(r"^ktest: (\d+) passed, (\d+) failed, (\d+) skipped$")
CPUS_RE = re.compile(r"^# cpus online: (\d+) of (\d+) present$")
CMDLINE_RE = re.compile(r"^ktest: \d+ command-line word\(s\) not applied")
STATUS_MEANING = {0: "QEMU exited with status 0: a triple fault or reset, not a clean exit",
                  1: "clean exit, all tests passed",
                  3: "the kernel reported failed tests (exit value 1)",
                  5: "the kernel panicked (exit value 2)",
                  124: "the runner's wall-clock timeout killed QEMU"}


def check(lines, status, expect_status=1, expect_cpus=None):
    """Return (passed, failed, skipped, errors, failures) for a log."""
    errors, failures = [], []
    lines = [l.rstrip("\r\n").rstrip("\r") for l in lines]
    try:
        start = lines.index("KTAP version 1")
    except ValueError:
        return 0, 0, 0, ["no 'KTAP version 1' line: the kernel never started its tests"], []
    body = lines[start + 1:]
    plan = None
    results, summary, cpus = [], None, None
    diag = []
    for line in body:
        if plan is None and re.fullmatch(r"1\.\.(\d+)", line):
            plan = int(line[3:])
            continue
        m = RESULT_RE.match(line)
        if m:
            results.append((m.group(1) == "ok", int(m.group(2)), m.group(3), m.group(4) or "", diag))
            diag = []
            continue
        if line.startswith("#") or line.startswith("CPU ") or line.startswith("FATAL") or line.startswith("PANIC"):
            diag.append(line)
        m = SUMMARY_RE.match(line)
        if m:
            summary = tuple(int(x) for x in m.groups())
        m = CPUS_RE.match(line)
        if m:
            cpus = int(m.group(1))
        if CMDLINE_RE.match(line):
            errors.append(line)

    passed = sum(1 for ok, _, _, d, _ in results if ok and not d.startswith("SKIP"))
    skipped = sum(1 for ok, _, _, d, _ in results if ok and d.startswith("SKIP"))
    failed = sum(1 for ok, *_ in results if not ok)
    for ok, n, name, d, dl in results:
        if not ok:
            failures.append((n, name, d, dl))

    if plan is None:
        errors.append("no plan line '1..N'")
    elif plan != len(results):
        errors.append(f"plan says {plan} tests, {len(results)} reported (the run stopped early?)")
    numbers = [n for _, n, *_ in results]
    if numbers != list(range(1, len(numbers) + 1)):
        errors.append(f"test numbers are not 1..{len(numbers)} in order")
    if summary is None:
        errors.append("no 'ktest: N passed, N failed, N skipped' summary line")
    elif summary != (passed, failed, skipped):
        errors.append(f"summary says {summary[0]} passed, {summary[1]} failed, {summary[2]} skipped; "
                      f"the results say {passed}, {failed}, {skipped}")
    if status != expect_status:
        errors.append(f"QEMU exit status {status}, expected {expect_status}: "
                      f"{STATUS_MEANING.get(status, 'unexpected status')}")
    if expect_cpus is not None and cpus != expect_cpus:
        errors.append(f"kernel reports {cpus} CPUs online, expected {expect_cpus}")
    return passed, failed, skipped, errors, failures


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
            lines = f.readlines()
    except OSError as e:
        print(f"{a.label}: cannot read {a.log}: {e}")
        print("RESULT passed=0 failed=1")
        return 1
    passed, failed, skipped, errors, failures = check(lines, a.status, a.expect_status, a.expect_cpus)
    for n, name, d, dl in failures:
        print(f"{a.label}: not ok {n} {name} {('# ' + d) if d else ''}")
        for l in dl[-20:]:
            print(f"    {l}")
    for e in errors:
        print(f"{a.label}: harness error: {e}")
    print(f"{a.label}: {passed} passed, {failed} failed, {skipped} skipped"
          + (f", {len(errors)} harness error(s)" if errors else ""))
    print(f"RESULT passed={passed} failed={failed + len(errors)}")
    return 0 if not failed and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
