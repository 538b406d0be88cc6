#!/usr/bin/env python3
"""scripts/test-gdb.py - the gdb race scenarios (tests/gdb/), `make test-gdb`.

For each scenario: boot build/xpoke.elf with ktest=gdb.arena under QEMU with
the gdb stub on and the CPUs held (-S), run gdb in batch mode on
tests/gdb/run_scenario.py, and judge: the scenario says ok, and the guest
then ends its arena and exits cleanly (QEMU status 1). Prints one KTAP line
per scenario and "gdb: N passed, N failed"; a failing scenario's gdb
transcript and last serial lines are printed after its line.

  test-gdb.py [--only NAME_SUBSTRING] [--timeout S] [--list]
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
sys.path.insert(0, os.path.join(ROOT, "tests", "gdb"))

from catalog import CMDLINE, names as scenario_names  # noqa: E402  (tests/gdb/catalog.py: the scenario names)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return f.read().replace("\r", "").splitlines()[-n:]
    except OSError:
        return []


def run_one(name, timeout):
    port = free_port()
    log = os.path.join(BUILD, "gdb", f"{name}.serial.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    cmdline = " ".join(filter(None, ["ktest=gdb.arena", CMDLINE.get(name, "")]))
    env = dict(os.environ, CMDLINE=cmdline, SMP="2", GDB="1", GDBPORT=str(port))
    qemu = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "run-qemu.py"), "--quiet", "--gdb-wait",
                             "--log", log, "--timeout", str(timeout + 30)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):                        # wait for the gdb stub
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    genv = dict(os.environ, XPOKE_SCENARIO=name, XPOKE_GDBPORT=str(port))
    try:
        g = subprocess.run(["gdb", "-q", "-batch", "-nx", os.path.join(BUILD, "xpoke.elf"),
                            "-x", os.path.join(ROOT, "tests", "gdb", "run_scenario.py")],
                           env=genv, capture_output=True, text=True, timeout=timeout)
        transcript = g.stdout + g.stderr
    except subprocess.TimeoutExpired as e:
        transcript = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        transcript += f"\n(gdb killed after {timeout} s)"
    m = re.search(r"^XPOKE-SCENARIO: (ok|not ok)(.*)$", transcript, re.M)
    ok = bool(m and m.group(1) == "ok")
    try:
        status = qemu.wait(timeout=30 if ok else 2)
    except subprocess.TimeoutExpired:
        qemu.terminate()
        status = qemu.wait()
    why = m.group(2).strip() if m and not ok else ("" if m else "the scenario never reported")
    if ok and status != 1:
        ok, why = False, f"the guest did not end cleanly (QEMU status {status})"
    return ok, why, transcript, log


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=int, default=90)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    names = [n for n in scenario_names() if a.only in n]
    if not names:
        sys.exit(f"test-gdb: no scenario matches '{a.only}' (--list shows them)")
    if a.list:
        print("\n".join(names))
        return 0
    print("KTAP version 1")
    print(f"1..{len(names)}")
    passed = failed = 0
    t0 = time.monotonic()
    for i, name in enumerate(names, 1):
        t = time.monotonic()
        ok, why, transcript, log = run_one(name, a.timeout)
        dt = time.monotonic() - t
        if ok:
            passed += 1
            print(f"ok {i} gdb.{name} # {dt:.1f} s", flush=True)
        else:
            failed += 1
            print(f"# {why}")
            for line in transcript.splitlines():
                print(f"#  | {line}")
            print("# last serial lines:")
            for line in tail(log):
                print(f"#  | {line}")
            print(f"not ok {i} gdb.{name} # {dt:.1f} s", flush=True)
    print(f"gdb: {passed} passed, {failed} failed ({time.monotonic() - t0:.0f} s)")
    print(f"RESULT passed={passed} failed={failed}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
