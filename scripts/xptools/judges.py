"""xptools/judges.py - how a stanza of tests/boots.cfg is judged.

One function per judge kind: judge(stanza, say) -> (passed, failed).
say() prints what a reader of the verdict needs (stdout); the chatter of
a step (unittest's list, gdb's progress, a command's output) goes to
stderr. Every boot's serial log is build/boots/NAME.log.
"""
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import unittest

from . import gdbsession, ktap, paths
from .qemu import Qemu, tail_lines
from .stanzas import parse_status

LOGS = os.path.join(paths.BUILD, "boots")


def log_of(s, suffix=".log"):
    os.makedirs(LOGS, exist_ok=True)
    return os.path.join(LOGS, s.name + suffix)


def expected_cpus(s, q):
    v = s.get("expect_cpus")
    return None if v == "none" else int(v) if v else q.cpus


def show_tail(say, q, n=30):
    say(f"  last serial lines ({paths.rel(q.log)}):")
    for line in tail_lines(q.log, n):
        say(f"  | {line}")


def figures(s, text):
    """The lines of text matching the stanza's figures regex (group 1 if any)."""
    pat = re.compile(s.get("figures"), re.M)
    return [m.group(1) if m.groups() else m.group(0) for m in pat.finditer(text)]


def judge_ktap(s, say):
    """Boot; the KTAP output must pass (xptools.ktap); each test counts."""
    q = Qemu(**s.qemu_args(log_of(s)))
    status = q.run()
    passed, failed, lines = ktap.judge(q.text(), status, s.name, int(s.get("expect_status", 1)),
                                       expected_cpus(s, q))
    if s.get("figures"):
        for f in figures(s, q.text()):
            say(f"  {f}")
    for line in lines:
        say(line)
    if failed:
        for n in q.notes:
            say(f"  runner: {n}")
    return passed, failed


def diagnostics(log, name):
    """The lines a test printed: after the previous result, up to its own."""
    block = []
    for line in log.splitlines():
        m = re.match(r"(?:not )?ok \d+ (\S+)", line)
        if not m:
            block.append(line)
        elif m.group(1) == name:
            return "\n".join(block)
        else:
            block = []
    return ""


def judge_expect(s, say):
    """A boot that must end a given way: the status, log lines present and
    absent, a test's own diagnostics, the runner's messages. One check."""
    kw = s.qemu_args(log_of(s))
    kw["until"] = s.get("until")
    kw["timeout_from"] = s.get("timeout_from")
    interaction = None
    if s.get("interact"):
        interaction = paths.load_file("tests/host/interactions.py").INTERACTIONS[s.get("interact")]
        kw.update(interaction.qemu_args())
    q = Qemu(**kw).start()
    problems = []
    if interaction:
        try:
            interaction.run(q)
        except Exception as e:
            problems.append(f"interaction {s.get('interact')}: {e}")
    status = q.wait()
    text, notes = q.text(), "\n".join(q.notes)
    ok_status, want = parse_status(s, s.get("status"))
    if not ok_status(status):
        problems.append(f"QEMU status {status}, expected {want}")
    for pat in s.get("log", []):
        if not re.search(pat, text, re.M):
            problems.append(f"no log line matches /{pat}/")
    for pat in s.get("no_log", []):
        m = re.search(pat, text, re.M)
        if m:
            problems.append(f"the log has /{pat}/: {m.group(0)!r}")
    for d in s.get("diag", []):
        test, _, pat = d.partition(" ")
        pat = pat.strip()
        if not re.search(rf"^(not )?ok \d+ {re.escape(test)}( |$)", text, re.M):
            problems.append(f"no result line for test {test}")
        elif not re.search(pat, diagnostics(text, test), re.M):
            problems.append(f"{test}'s diagnostics do not match /{pat}/")
    for pat in s.get("runner_says", []):
        if not re.search(pat, notes, re.M):
            problems.append(f"the runner's messages do not match /{pat}/")
    for p in problems:
        say(f"  {p}")
    if problems:
        for n in q.notes:
            say(f"  runner: {n}")
        show_tail(say, q)
    return (0, 1) if problems else (1, 0)


def judge_gdb(s, say):
    """A gdb race scenario (tests/gdb/): QEMU held (-S) with the gdb stub,
    gdb in batch mode runs tests/gdb/run_scenario.py; the scenario must say
    ok, and after the last scenario of its boot the guest must end its
    arena and exit cleanly (status 1). Consecutive stanzas that boot alike
    share the boot (xptools/gdbsession.py: the arena is reset between
    scenarios); each keeps its verdict and its logs."""
    ok, why, transcript, serial, q = gdbsession.result(s)
    with open(log_of(s, ".gdb.log"), "w") as f:
        f.write("\n".join(transcript) + "\n")
    with open(log_of(s, ".serial.log"), "w") as f:
        f.write(serial)
    if not ok:
        say(f"  {why}")
        for line in transcript:
            say(f"  gdb| {line}")
        show_tail(say, q, 15)
    return (1, 0) if ok else (0, 1)


def judge_inject(s, say):
    """Host+guest: NMIs and machine checks injected over QMP
    (tests/inject/host_inject.py, one function per mode)."""
    inject = paths.load_file("tests/inject/host_inject.py")
    return inject.run(s.get("mode"), s.qemu_args(log_of(s)), say)


def run_unittest(files, say, boot=None):
    """unittest over test files (by path): each test counts once however
    many of its subTests fail. boot: given to each module as BOOT."""
    suites = []
    for f in files:
        mod = paths.load_file(f)
        if boot is not None:
            mod.BOOT = boot
        suites.append(unittest.defaultTestLoader.loadTestsFromModule(mod))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(unittest.TestSuite(suites))
    bad = {getattr(t, "test_case", t).id() for t, _ in result.failures + result.errors} | \
          {t.id() for t in result.unexpectedSuccesses}
    for t, trace in result.failures + result.errors:
        say(f"  FAIL {getattr(t, 'test_case', t).id()}")
        say("    " + trace.strip().replace("\n", "\n    "))
    # A skip is a test that did not run: it fails the stanza, saying why,
    # so that a run that tested nothing cannot pass.
    for t, why in result.skipped:
        say(f"  FAIL (skipped) {getattr(t, 'test_case', t).id()}: {why}")
    passed = result.testsRun - len(bad) - len(result.skipped)
    failed = len(bad) + len(result.skipped)
    if passed <= 0 and failed == 0:
        say(f"  FAIL: {', '.join(files)} ran no test")
        failed = 1
    return max(passed, 0), failed


def judge_unittest(s, say):
    """Host tests: unittest modules, no boot."""
    return run_unittest(s.get("tests").split(), say)


def judge_console(s, say):
    """A unittest module that drives the console of the stanza's boot
    (xptools.console); the module reads the boot from its BOOT."""
    return run_unittest(s.get("tests").split(), say, boot=s.qemu_args(log_of(s)))


def judge_host(s, say):
    """A command on the host (from the top of the tree). It passes with
    exit status 0; a line "RESULT passed=P failed=F" gives the counts."""
    try:
        p = subprocess.run(s.get("command"), shell=True, cwd=paths.ROOT, stdout=subprocess.PIPE,
                           text=True, timeout=s.timeout)
        out, status = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out, status = out + f"\n(killed after {s.timeout:g} s)", 124
    sys.stderr.write(out)
    m = re.findall(r"^RESULT passed=(\d+) failed=(\d+)$", out, re.M)
    if m:
        passed, failed = int(m[-1][0]), int(m[-1][1])
    else:
        passed, failed = (1, 0) if status == 0 else (0, 0)
    if status != 0:
        say(f"  '{s.get('command')}' exited with status {status}")
        failed = max(failed, 1)
    return passed, failed


def judge_boot_time(s, say):
    """Figures, not a verdict: the wall time from starting QEMU until the
    until pattern (the console prompt), median of runs boots, and the
    kernel's own count from kernel entry to the prompt."""
    runs = int(s.get("runs", 5))
    wall, kern = [], []
    for i in range(runs):
        kw = s.qemu_args(log_of(s))
        kw["until"] = s.get("until")
        q = Qemu(**kw)
        status = q.run()
        if status != 0 or not re.search(s.get("until"), q.text(), re.M):
            say(f"  boot {i + 1} of {runs} never printed /{s.get('until')}/ (status {status})")
            show_tail(say, q)
            return 0, 1
        wall.append(float(re.search(r"after ([0-9.]+) s", q.notes[0]).group(1)))
        m = re.search(r"prompt after (\d+) ms since kernel entry", q.text())
        if m:
            kern.append(int(m.group(1)))
    say(f"boot-to-prompt (-smp {q.smp}, {runs} runs): QEMU start to prompt median {statistics.median(wall):.3f} s "
        f"(min {min(wall):.3f}, max {max(wall):.3f}); kernel entry to prompt median "
        + (f"{statistics.median(kern):.0f} ms" if kern else "? ms (no 'prompt after' line)"))
    say(f"machine: {os.cpu_count()} host CPU(s)")
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), platform.processor())
    say(f"host CPU: {model}")
    return (1, 0) if kern else (0, 1)


def judge_figures(s, say):
    """Figures, not a verdict: boot, print the lines the figures regex
    matches; fails when there are none, or when the boot did not end
    cleanly (QEMU status 1: a benchmark that panicked after printing some
    figures has no figures worth keeping)."""
    q = Qemu(**s.qemu_args(log_of(s)))
    status = q.run()
    found = figures(s, q.text())
    for f in found:
        say(f"  {f}")
    if not found:
        say(f"  no line matches /{s.get('figures')}/ (see {paths.rel(q.log)})")
    if status != 1:
        say(f"  QEMU status {status}, expected 1 (a clean exit; see {paths.rel(q.log)})")
    if not found or status != 1:
        show_tail(say, q)
    return (1, 0) if found and status == 1 else (0, 1)


JUDGES = {"ktap": judge_ktap, "expect": judge_expect, "gdb": judge_gdb, "inject": judge_inject,
          "console": judge_console, "unittest": judge_unittest, "host": judge_host,
          "boot-time": judge_boot_time, "figures": judge_figures}


def run(s, say):
    """Judge one stanza; an exception in the judge is one failure."""
    t0 = time.monotonic()
    try:
        passed, failed = JUDGES[s.judge](s, say)
    except Exception as e:                          # the harness broke: report, go on
        import traceback
        say(f"  harness error: {type(e).__name__}: {e}")
        sys.stderr.write(traceback.format_exc())
        passed, failed = 0, 1
    return passed, failed, time.monotonic() - t0
