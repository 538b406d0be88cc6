#!/usr/bin/env python3
"""scripts/host-inject.py - the host+guest storm test (run by make test).

Boots the kernel with ktest=storm.host_injection, waits until the guest's
storm is running, injects NMIs and machine checks over QMP at random
intervals, tells the guest on COM2 what it sent ("done nmi=N mce=M bmce=B"),
then judges the guest's KTAP output (scripts/ktap-check.py) and checks the
kernel's machine-check count against what was sent.

Machine checks go through QMP's human-monitor-command as QEMU's HMP
"mce [-b] CPU BANK STATUS MCGSTATUS ADDR MISC" with
  STATUS    0xb000000000000000  VAL (bit 63) | UC (61) | EN (60): a valid,
                                uncorrected, enabled error; PCC (57) clear,
                                so the processor context is not corrupt
  MCGSTATUS 0x5                 RIPV (bit 0) | MCIP (2): the interrupted RIP
                                is valid to return to; a #MC is in progress
in bank 1, ADDR = MISC = 0. The kernel treats an uncorrected error with
RIPV=1 and PCC=0 as recoverable (arch/x86/mce.c): it logs, counts and goes
on. With -b (broadcast) QEMU also raises, on every other CPU, VAL|UC in
bank 1 with RIPV|MCIP: recoverable too. So a targeted injection is one #MC,
a broadcast is one per CPU. QEMU resets the guest if a #MC arrives while
MCIP is still set on that CPU, so each injection waits until the kernel
has logged every #MC it caused.

  host-inject.py [--smp N] [--nmis 200] [--mces 20] [--broadcast 5] [--seed S]
Prints a verdict and "RESULT passed=P failed=F"; exit status 0 on success.
"""
import argparse
import importlib.util
import json
import os
import random
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
MCE_STATUS = "0xb000000000000000"
MCG_STATUS = "0x5"
READY = "storm: ready for host injection"
MCE_LINE = re.compile(r"^mce: CPU \d+: recoverable machine check", re.M)


def load_ktap_check():
    spec = importlib.util.spec_from_file_location("ktap_check", os.path.join(ROOT, "scripts", "ktap-check.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_log(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().replace("\r\n", "\n")
    except OSError:
        return ""


def wait_for(pred, timeout, what, qemu):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if qemu.poll() is not None:
            raise RuntimeError(f"QEMU exited (status {qemu.returncode}) while waiting for {what}")
        time.sleep(0.01)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


class QMP:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.recv()                                   # greeting
        self.command("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.recv()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            # asynchronous events: ignore


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smp", type=int, default=8, help="CPU count of the guest (make test: HOST_INJECT_SMP, 8)")
    ap.add_argument("--nmis", type=int, default=200)
    ap.add_argument("--mces", type=int, default=20, help="targeted machine checks")
    ap.add_argument("--broadcast", type=int, default=5, help="broadcast machine checks (-b)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    work = os.path.join(BUILD, "host-inject")
    os.makedirs(work, exist_ok=True)
    qmp_path, ctl_path, log = (os.path.join(work, n) for n in ("qmp.sock", "ctl.sock", "serial.log"))
    for p in (qmp_path, ctl_path, log):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(os.environ, SMP=str(args.smp), CMDLINE="ktest=storm.host_injection")
    qemu = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "run-qemu.py"), "--quiet", "--log", log,
                             "--qmp", qmp_path, "--control", ctl_path, "--timeout", str(args.timeout)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    failures = []
    sent = {"nmi": 0, "mce": 0, "bmce": 0}
    try:
        wait_for(lambda: READY in read_log(log), 120, "the guest's storm to start", qemu)
        qmp = QMP(qmp_path)
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.connect(ctl_path)

        events = ["nmi"] * args.nmis + ["mce"] * args.mces + ["bmce"] * args.broadcast
        rng.shuffle(events)
        t0 = time.monotonic()
        for ev in events:
            time.sleep(rng.uniform(0.002, 0.015))
            if ev == "nmi":
                qmp.command("inject-nmi")
            else:
                before = len(MCE_LINE.findall(read_log(log)))
                cpu = rng.randrange(args.smp)
                cmd = f"mce {'-b ' if ev == 'bmce' else ''}{cpu} 1 {MCE_STATUS} {MCG_STATUS} 0 0"
                out = qmp.command("human-monitor-command", **{"command-line": cmd})
                if out.strip():
                    raise RuntimeError(f"'{cmd}' answered: {out.strip()}")
                want = before + (args.smp if ev == "bmce" else 1)
                wait_for(lambda: len(MCE_LINE.findall(read_log(log))) >= want, 30,
                         f"the kernel to log the machine check(s) of '{cmd}'", qemu)
            sent[ev] += 1
        print(f"host-inject: sent {sent['nmi']} NMIs, {sent['mce']} targeted and {sent['bmce']} broadcast machine "
              f"checks in {time.monotonic() - t0:.1f} s (seed {args.seed})")
        ctl.sendall(f"done nmi={sent['nmi']} mce={sent['mce']} bmce={sent['bmce']}\n".encode())
        qemu.wait(timeout=args.timeout)
    except Exception as e:                              # report, then judge what we have
        failures.append(f"host-inject: {e}")
        qemu.terminate()
        qemu.wait()
    status = qemu.returncode

    ktap = load_ktap_check()
    text = read_log(log)
    passed, failed, skipped, errors, fails = ktap.check(text.splitlines(True), status, 1, args.smp)
    seen = len(MCE_LINE.findall(text))
    want = sent["mce"] + sent["bmce"] * args.smp
    if seen != want:
        errors.append(f"the kernel logged {seen} recoverable machine checks; the host caused {want}")
    for n, name, d, dl in fails:
        print(f"host-inject: not ok {n} {name} # {d}")
        for l in dl[-20:]:
            print(f"    {l}")
    for e in failures + errors:
        print(e if e.startswith("host-inject") else f"host-inject: {e}")
    if failures or errors or failed:
        print("host-inject: last serial lines:")
        for l in text.splitlines()[-25:]:
            print(f"  | {l}")
    bad = failed + len(failures) + len(errors)
    print(f"host-inject: {passed} passed, {bad} failed (log: {os.path.relpath(log, ROOT)})")
    print(f"RESULT passed={passed} failed={bad}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
