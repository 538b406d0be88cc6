"""xptools/ktap.py - judge one xpoke test run from its serial log.

A run passes only when all of these hold:
  - the log has "KTAP version 1", a plan "1..N" and exactly N results,
    numbered 1..N in order ("ok"/"not ok", "# SKIP" directives allowed);
  - the summary line "ktest: P passed, F failed, S skipped" is there and
    agrees with the results;
  - no result is "not ok";
  - QEMU's exit status is the expected one (1: isa-debug-exit value 0;
    0 is a triple fault or reset, 124 the runner's timeout);
  - with expect_cpus, the kernel reports that many CPUs online;
  - the kernel applied every command-line word (no "ktest: N command-line
    word(s) not applied" line).
"""
import re

from .qemu import STATUS_MEANING

RESULT_RE = re.compile(r"^(not ok|ok) (\d+) (\S+)(?: # (.*))?$")
SUMMARY_RE = re.compile(r"^ktest: (\d+) passed, (\d+) failed, (\d+) skipped$")
CPUS_RE = re.compile(r"^# cpus online: (\d+) of (\d+) present$")
CMDLINE_RE = re.compile(r"^ktest: \d+ command-line word\(s\) not applied")


def check(lines, status, expect_status=1, expect_cpus=None):
    """Return (passed, failed, skipped, errors, failures) for a log:
    failures are (number, name, directive, diagnostic lines)."""
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


def judge(text, status, label, expect_status=1, expect_cpus=None):
    """Judge a log's text: (passed, failed, report lines). Harness errors
    count as failures; each failing test comes with its diagnostics."""
    passed, failed, skipped, errors, failures = check(text.splitlines(True), status, expect_status, expect_cpus)
    out = []
    for n, name, d, dl in failures:
        out.append(f"{label}: not ok {n} {name} {('# ' + d) if d else ''}")
        out += [f"    {l}" for l in dl[-20:]]
    out += [f"{label}: harness error: {e}" for e in errors]
    out.append(f"{label}: {passed} passed, {failed} failed, {skipped} skipped"
               + (f", {len(errors)} harness error(s)" if errors else ""))
    return passed, failed + len(errors), out
