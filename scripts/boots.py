#!/usr/bin/env python3
"""scripts/boots.py - run the stanzas of tests/boots.cfg: every boot (and
host step) that make test, stress, matrix, bench and test-gdb perform.

  boots.py [--group G[,G..]] [--only GLOB[,GLOB..]] [--list] [--file F] [--title T]

--group defaults to $GROUP, --only to $ONLY (both: the stanzas of the
groups whose names match); --default-group is what a make target runs
when neither is given. Prints, per stanza, "ok NAME: P passed, F failed
(T s)" or "FAIL NAME: ..." after what went wrong; then "total: N passed,
N failed" and "TITLE: wall time X s". Exit status 0 only if nothing
failed; 2 for a bad stanza file, group or name (before anything runs).

The stanza keys and judge kinds are documented at the top of
tests/boots.cfg. Knobs: MEM, CPU, ACCEL and MACHINE apply to every boot
whose stanza does not set them; variables a stanza names as ${VAR:-default}
(TEST_TIMEOUT, HOST_INJECT_SMP, STRESS_*, MATRIX_TIMEOUT, BENCH_RUNS, ...)
take their value from the environment.
"""
import argparse
import os
import signal
import sys
import time

from xptools import gdbsession, judges, parallel, paths, qemu, stanzas

# Knobs of the scripts this runner replaced: each list of boots is now
# stanzas, picked by name.
GONE = {
    "SMP_LIST": "make test ONLY='ktest-smp1 ktest-smp8' (or add a stanza to tests/boots.cfg)",
    "STRESS_SMP": "make stress ONLY='stress-smp2 stress-smp4'",
    "MATRIX_SMP": "make matrix ONLY='*-smp8' (stanzas are named MACHINE-CPU-smpN)",
    "MATRIX_MACHINES": "make matrix ONLY='q35-*'",
    "MATRIX_CPUS": "make matrix ONLY='*-qemu64-*'",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=paths.BOOTS_CFG)
    ap.add_argument("--group", default=os.environ.get("GROUP", ""))
    ap.add_argument("--only", default=os.environ.get("ONLY", ""))
    ap.add_argument("--default-group", default="", help="the group to run when neither --group nor --only is given")
    ap.add_argument("--list", action="store_true", help="list the selected stanzas; run nothing")
    ap.add_argument("--title", default="boots")
    a = ap.parse_args()

    def refuse(msg):
        print(f"{a.title}: {msg}", file=sys.stderr)
        return 2

    for k, instead in GONE.items():
        if os.environ.get(k):
            return refuse(f"{k} is gone: the boots are stanzas in tests/boots.cfg; use {instead}")
    if os.environ.get("CMDLINE"):
        return refuse("CMDLINE is set, but each stanza of tests/boots.cfg has its own command line; unset it "
                      "(make run CMDLINE=... boots one)")
    try:
        every = stanzas.parse(a.file)
        group = a.group or ("" if a.only else a.default_group)
        chosen = stanzas.select(every, group, a.only)
    except stanzas.StanzaError as e:
        return refuse(str(e))
    if os.environ.get("SMP") and not any("SMP" in s.refs for s in chosen):
        return refuse(f"SMP is set, but these boots have fixed CPU counts (the smp key of each stanza in "
                      f"{paths.rel(a.file)}); pick boots with ONLY=..., or unset SMP")
    try:
        if os.environ.get("ACCEL") and any(s.boots() for s in chosen):
            qemu.check_accel(os.environ["ACCEL"])
    except qemu.QemuError as e:
        return refuse(str(e))

    if a.list:
        w = max(len(s.name) for s in chosen)
        for s in chosen:
            print(f"{s.name:<{w}}  {s.judge:<9} {','.join(s.groups):<12} {s.summary()}")
        return 0

    def stop(signum, frame):                    # never leave QEMU, gdb or a step behind
        parallel.kill_all()
        gdbsession.kill_all()
        qemu.kill_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def say(line):
        print(line, flush=True)

    t0 = time.monotonic()
    total = {"pass": 0, "fail": 0}
    failed = []

    def header(s):
        desc = s.get("description")
        say(f"== {s.name} ({s.judge}: {s.summary()})" + (f": {desc}" if desc else ""))
        print(f"== {s.name}", file=sys.stderr, flush=True)

    def verdict(s, p, f, dt):
        total["pass"] += p
        total["fail"] += f
        if f:
            failed.append(s.name)
        say(f"{'ok' if not f else 'FAIL'} {s.name}: {p} passed, {f} failed ({dt:.1f} s)")

    gdbsession.plan(chosen)                     # gdb stanzas that boot alike share a boot
    try:
        i = 0
        while i < len(chosen):
            s = chosen[i]
            if s.get("parallel") == "yes":      # host steps side by side (xptools/parallel.py)
                j = i
                while j < len(chosen) and chosen[j].get("parallel") == "yes":
                    j += 1
                later = list(dict.fromkeys(c.get("cmdline") for c in chosen[j:] if c.boots() and c.get("cmdline")))
                parallel.run(chosen[i:j], judges.run, header, verdict, isos=later)
                i = j
                continue
            header(s)
            verdict(s, *judges.run(s, say))
            i += 1
    finally:
        gdbsession.close()
    total_pass, total_fail = total["pass"], total["fail"]
    say("")
    if failed:
        say(f"failed: {' '.join(failed)}")
    say(f"total: {total_pass} passed, {total_fail} failed")
    say(f"{a.title}: wall time {time.monotonic() - t0:.1f} s")
    return 0 if total_fail == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:                     # --list | head
        sys.exit(0)
