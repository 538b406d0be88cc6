"""tests/inject/host_inject.py - host+guest tests: NMIs and machine checks
injected over QMP into a running guest. The stanzas of judge "inject" in
tests/boots.cfg run it (scripts/boots.py, xptools.judges): each names a
mode and its boot (command line, CPUs); run(mode, boot, say) judges it.

Machine checks go through QMP's human-monitor-command as QEMU's HMP
"mce [-b] CPU BANK STATUS MCGSTATUS ADDR MISC". MCi_STATUS bits: VAL 63,
OVER 62, UC 61, EN 60, MISCV 59, ADDRV 58, PCC 57, S 56, AR 55; MCG_STATUS:
RIPV 0, EIPV 1, MCIP 2. The kernel grades each error (arch/x86/mce.c):
corrected (no UC), UCNA (UC), SRAO (UC|S), SRAR (UC|S|AR), fatal (PCC, OVER
with UC, or RIPV clear), and names the class in its log line
"mce: CPU n: CLASS machine check". What QEMU 7.2 does with an injection
(target/i386/helper.c, do_inject_x86_mce):
  - without UC it only fills the bank: no #MC; the guest polls to see it;
  - with UC it fills the bank, sets MCG_STATUS and raises #MC, unless
    MCG_STATUS.MCIP is still set on that vCPU: then it resets the guest
    ("Previous MCE still in progress"). (Other injection paths, KVM's
    SIGBUS, drop a non-AR one instead; HMP's "mce" is unconditional:
    MCE_INJECT_UNCOND_AO, target/i386/monitor.c.) So the storm mode sends
    a machine check to a CPU only once that CPU's handler has cleared MCIP
    for the previous one, which it reads from guest memory (McipWatch);
  - -b adds VAL|UC in bank 1 with RIPV|MCIP (a UCNA) on every other CPU.
QEMU tells the outcome of each injection on each CPU in a MEMORY_FAILURE
QMP event (action "inject", "ignore" or "reset"); this script counts them.

Modes:
  storm    (default) ktest=storm.host_injection: the guest storms; the host
           injects 200 NMIs and 40 UCNA machine checks (20 targeted, 5
           broadcast, 5 bursts of 3 to one CPU 3-5 ms apart) back to back,
           2-15 ms apart, without waiting for the kernel's log (only for
           MCIP, see above); the guest's outermost #MC handlers dwell 50 ms,
           so bursts nest. Then it sends
           "done nmi=N mce=M bmce=B burst=K injected=I dropped=D" on COM2;
           the guest checks it handled exactly the I #MCs QEMU raised, and
           that some nested.
  classes  ktest=mce.host_classes: one corrected (found by the guest's
           polling), one UCNA and one SRAO machine check; each logged as
           its class; the run passes (QEMU status 1).
  srar     ktest=mce.host_classes: one SRAR into CPU 0, which runs the test
           (and holds its recovery point): the kernel must stop, naming
           SRAR, the bank, the address and the interrupted RIP (status 5).
  fatal    the same with a PCC error: "fatal".

The knobs of a run are the defaults below (NMIS, MCES, ...); INJECT_SEED
(environment) repeats a storm's random order. Prints a verdict; counts as
"passed/failed" like the other judges.
"""
import argparse
import os
import random
import re
import socket
import subprocess
import time

from xptools import ktap
from xptools.paths import rel
from xptools.qemu import Qemu, cpu_count as _cpus, wait_for
from xptools.qmp import QMP

NMIS, MCES, BROADCAST, BURSTS, BURST_LEN = 200, 20, 5, 5, 3     # the storm's injections

VAL, OVER, UC, EN, MISCV, ADDRV, PCC, S, AR = (1 << b for b in (63, 62, 61, 60, 59, 58, 57, 56, 55))
RIPV, EIPV, MCIP = 1, 2, 4
CLASSES = ("corrected", "UCNA", "SRAO", "SRAR", "fatal")
MCE_LINE = re.compile(r"^mce: CPU (\d+): (corrected|UCNA|SRAO|SRAR|fatal) machine check", re.M)
STORM_READY = "storm: ready for host injection"
MCE_READY = "mce: ready for host injection"

# The storm's machine check: VAL|UC|EN, RIPV|MCIP: a UCNA.
STORM_STATUS, STORM_MCG = VAL | UC | EN, RIPV | MCIP
# One of each class for --mode classes/srar/fatal: (class, cpu, bank, STATUS, MCGSTATUS, ADDR, MISC).
CLASS_MCES = {
    "corrected": ("corrected", 0, 2, VAL | EN | ADDRV, 0, 0x1000, 0),
    "UCNA": ("UCNA", 1, 1, VAL | UC | EN | ADDRV, RIPV | MCIP, 0x2000, 0),
    "SRAO": ("SRAO", 1, 3, VAL | UC | EN | MISCV | ADDRV | S, RIPV | MCIP, 0x3000, 0x86),
    "SRAR": ("SRAR", 0, 1, VAL | UC | EN | MISCV | ADDRV | S | AR, RIPV | EIPV | MCIP, 0x12345000, 0x86),
    "fatal": ("fatal", 0, 4, VAL | UC | EN | ADDRV | PCC, RIPV | MCIP, 0xdead000, 0),
}


def class_count(text, cls, cpu=None):
    return sum(1 for c, k in MCE_LINE.findall(text) if k == cls and (cpu is None or int(c) == cpu))


class Guest:
    """One boot of the kernel with QMP and COM2 (xptools.qemu)."""

    def __init__(self, boot):
        log = boot["log"]
        self.qmp_path, self.ctl_path = log + ".qmp", log + ".ctl"
        self._status = None
        self.qemu = Qemu(qmp=self.qmp_path, control=self.ctl_path, **boot).start()
        self.log, self.timeout = self.qemu.log, self.qemu.timeout

    def connect(self, ready):
        wait_for(lambda: ready in self.text(), 120, f"the guest to print '{ready}'", self.qemu)
        self.qmp = QMP(self.qmp_path)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.connect(self.ctl_path)

    def text(self):
        return self.qemu.text()

    def wait_exit(self, timeout=None):
        return self.qemu.wait(timeout=timeout)     # the launcher kills it at its timeout

    def kill(self):
        self.qemu.kill()

    def status(self):
        """QEMU's status, once it has exited (wait_exit, or kill)."""
        if self._status is None:
            self._status = self.qemu.wait()
        return self._status


def judge_ktap(text, status, smp, problems):
    """The guest's KTAP output, judged as scripts/ktap-check.py does: the
    number of passed tests; what is wrong goes to problems."""
    passed, failed, skipped, errors, fails = ktap.check(text.splitlines(True), status, 1, smp)
    for n, name, d, dl in fails:
        problems.append(f"not ok {n} {name} # {d}\n" + "\n".join(f"    {l}" for l in dl[-20:]))
    problems += errors
    return passed


def verdict(name, passed, problems, log, text, status):
    for p in problems:
        say(p if p.startswith("host-inject") else f"host-inject: {p}")
    if problems:
        say(f"host-inject: QEMU status {status}; last serial lines:")
        for l in text.splitlines()[-30:]:
            say(f"  | {l}")
    bad = len(problems)
    say(f"host-inject {name}: {passed} passed, {bad} failed (log: {rel(log)})")
    return passed, bad


class McipWatch:
    """Reads each CPU's percpu->mce_taken (bumped the moment its #MC handler
    has cleared MCIP) through HMP "xp", so that a machine check goes to a
    CPU only once the previous one there has cleared MCIP: QEMU resets the
    guest otherwise. This waits for the architectural condition only, not
    for the kernel's log, which comes later (after a dwell, in the storm)."""

    def __init__(self, g, smp):
        line = next(l for l in g.text().splitlines() if STORM_READY in l)
        m = re.search(r"mce_taken of CPU 0 at physical (0x[0-9a-f]+), every (\d+) bytes", line)
        if not m:
            raise RuntimeError(f"the guest's ready line does not say where mce_taken is: {line}")
        self.g, self.addr, self.stride = g, int(m.group(1), 16), int(m.group(2))
        self.want = [self.taken(c) for c in range(smp)]
        self.late, self.longest = 0, 0.0

    def taken(self, cpu):
        out = self.g.qmp.command("human-monitor-command",
                                 **{"command-line": f"xp /1gx {self.addr + cpu * self.stride:#x}"})
        return int(out.split(":")[1], 16)

    def wait_clear(self, cpus):
        for c in cpus:
            t0 = time.monotonic()
            if self.taken(c) >= self.want[c]:
                continue
            self.late += 1
            wait_for(lambda: self.taken(c) >= self.want[c], 10, f"CPU {c} to clear MCIP", self.g.qemu)
            self.longest = max(self.longest, time.monotonic() - t0)

    def injected(self, cpus):
        for c in cpus:
            self.want[c] += 1


def mode_storm(args, rng):
    """NMIs and UCNA machine checks during a storm, back to back: no waiting
    for the kernel's log; some in bursts to one CPU, whose outermost #MC
    handler dwells (the guest's hook), so machine checks nest for certain."""
    g = Guest(args.boot)
    problems, sent = [], {"nmi": 0, "mce": 0, "bmce": 0, "burst": 0}
    try:
        g.connect(STORM_READY)
        mcip = McipWatch(g, args.smp)
        events = (["nmi"] * args.nmis + ["mce"] * args.mces + ["bmce"] * args.broadcast +
                  ["burst"] * args.bursts)
        rng.shuffle(events)

        def inject(cpu, broadcast=False):
            cpus = range(args.smp) if broadcast else [cpu]
            mcip.wait_clear(cpus)
            cmd, did = g.qmp.mce(cpu, 1, STORM_STATUS, STORM_MCG, broadcast=broadcast)
            if did["inject"] != len(cpus):
                raise RuntimeError(f"'{cmd}': QEMU did {did}, not {len(cpus)} injection(s)")
            mcip.injected(cpus)

        t0 = time.monotonic()
        for ev in events:
            time.sleep(rng.uniform(0.002, 0.015))
            if ev == "nmi":
                g.qmp.command("inject-nmi")
                sent["nmi"] += 1
            elif ev == "burst":
                cpu = rng.randrange(args.smp)
                for i in range(args.burst_len):
                    if i:
                        time.sleep(rng.uniform(0.003, 0.005))
                    inject(cpu)
                    sent["burst"] += 1
            else:
                inject(rng.randrange(args.smp), broadcast=ev == "bmce")
                sent[ev] += 1
        acts = g.qmp.mce_actions
        say(f"host-inject: sent {sent['nmi']} NMIs, {sent['mce']} targeted, {sent['bmce']} broadcast and "
            f"{sent['burst']} burst machine checks in {time.monotonic() - t0:.1f} s (seed {args.seed}); QEMU "
            f"injected {acts['inject']}, dropped {acts['ignore']}, reset {acts['reset']}; a CPU still had MCIP "
            f"set when its next machine check was due {mcip.late} time(s), for at most "
            f"{mcip.longest * 1000:.1f} ms")
        g.ctl.sendall(f"done nmi={sent['nmi']} mce={sent['mce']} bmce={sent['bmce']} burst={sent['burst']} "
                    f"injected={acts['inject']} dropped={acts['ignore']}\n".encode())
        g.wait_exit()
    except Exception as e:                              # report, then judge what we have
        problems.append(f"host-inject: {e}")
        g.kill()
    status, text = g.status(), g.text()
    passed = judge_ktap(text, status, args.smp, problems)
    acts = getattr(getattr(g, "qmp", None), "mce_actions", {"inject": 0, "ignore": 0, "reset": 0})
    if acts["reset"]:
        problems.append(f"QEMU reset the guest {acts['reset']} time(s): a #MC found MCIP still set")
    seen = class_count(text, "UCNA")
    nested = len(re.findall(r"^mce: CPU \d+: UCNA machine check.*, nested in another #MC handler$", text, re.M))
    say(f"host-inject: the kernel logged {seen} UCNA machine checks, {nested} of them nested in another")
    if seen != acts["inject"]:
        problems.append(f"the kernel logged {seen} UCNA machine checks; QEMU injected {acts['inject']}")
    return verdict("storm", passed, problems, g.log, text, status)


def mode_classes(args, rng):
    """One corrected, one UCNA, one SRAO: each logged as its class; the run goes on."""
    g = Guest(args.boot)
    problems, sent = [], {}
    try:
        g.connect(MCE_READY)
        for cls in ("corrected", "UCNA", "SRAO"):
            _, cpu, bank, st, mcg, addr, misc = CLASS_MCES[cls]
            cpu %= args.smp
            before = class_count(g.text(), cls, cpu)
            cmd, did = g.qmp.mce(cpu, bank, st, mcg, addr, misc)
            if did["inject"] != 1:
                raise RuntimeError(f"QEMU did not inject '{cmd}': {did}")
            t0 = time.monotonic()
            wait_for(lambda: class_count(g.text(), cls, cpu) > before, 30,
                     f"the kernel to log '{cmd}' as a {cls} machine check on CPU {cpu}", g.qemu)
            say(f"host-inject: '{cmd}': logged as {cls} on CPU {cpu} after {time.monotonic() - t0:.3f} s")
            sent[cls] = sent.get(cls, 0) + 1
        g.ctl.sendall(("done " + " ".join(f"{k.lower()}={v}" for k, v in sent.items()) + "\n").encode())
        g.wait_exit()
    except Exception as e:
        problems.append(f"host-inject: {e}")
        g.kill()
    status, text = g.status(), g.text()
    passed = judge_ktap(text, status, args.smp, problems)
    for cls in CLASSES:
        if class_count(text, cls) != sent.get(cls, 0):
            problems.append(f"the kernel logged {class_count(text, cls)} {cls} machine check(s); "
                            f"the host injected {sent.get(cls, 0)}")
    if "left from before this boot" in text:
        problems.append("the kernel found machine checks left from before this boot in a fresh guest")
    return verdict("classes", passed, problems, g.log, text, status)


def mode_stop(args, rng, cls):
    """An SRAR or fatal machine check into the CPU running the test: the
    machine stops (status 5), naming the class, bank, address and RIP, with
    no recovery into the test."""
    g = Guest(args.boot)
    problems, elapsed, passed = [], None, 0
    _, cpu, bank, st, mcg, addr, misc = CLASS_MCES[cls]
    try:
        g.connect(MCE_READY)
        t0 = time.monotonic()
        cmd, did = g.qmp.mce(cpu, bank, st, mcg, addr, misc)
        if did["inject"] != 1:
            raise RuntimeError(f"QEMU did not inject '{cmd}': {did}")
        g.wait_exit(60)                               # a hang guard, not a speed test
        elapsed = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        problems.append(f"host-inject: QEMU still ran 60 s after the {cls} machine check")
        g.kill()
    except Exception as e:
        problems.append(f"host-inject: {e}")
        g.kill()
    status, text = g.status(), g.text()
    checks = [
        (status == 5, f"QEMU exit status {status}, expected 5 (panic)"),
        (class_count(text, cls, cpu) == 1, f"no single 'mce: CPU {cpu}: {cls} machine check' line"),
        (re.search(rf"^FATAL on CPU {cpu}: machine check: {cls} in bank {bank} \(STATUS {st:#x}\), "
                   rf"ADDR {addr:#x}, interrupted RIP 0x[0-9a-f]+", text, re.M),
         f"no 'FATAL on CPU {cpu}: machine check: {cls} in bank {bank} ..., ADDR {addr:#x}, interrupted RIP' line"),
        (f"CPU {cpu}: no recovery after this: stopping the machine" in text, "no 'no recovery' line"),
        ("recovering to its test/work context" not in text, "the CPU recovered into the test instead of stopping"),
        (re.search(rf"^system_stop: CPU {cpu} stopped \d+ other CPU\(s\); exit code 2", text, re.M),
         "no system_stop line with exit code 2"),
    ]
    for ok, what in checks:
        if ok:
            passed += 1
        else:
            problems.append(what)
    if elapsed is not None:
        say(f"host-inject: '{cls}' machine check: the machine stopped {elapsed:.2f} s after the injection")
    return verdict(cls, passed, problems, g.log, text, status)


def say(line):
    print(line)


def run(mode, boot, report=print):
    """Boot (xptools.qemu.Qemu's keyword arguments, the stanza's), inject
    as mode says, judge: (passed, failed); report() prints the verdict."""
    global say
    say = report
    smp = _cpus(boot["smp"])
    seed = int(os.environ.get("INJECT_SEED") or time.time())
    args = argparse.Namespace(boot=boot, smp=smp, nmis=NMIS, mces=MCES, broadcast=BROADCAST, bursts=BURSTS,
                              burst_len=BURST_LEN, seed=seed)
    rng = random.Random(seed)
    if mode == "storm":
        return mode_storm(args, rng)
    if mode == "classes":
        return mode_classes(args, rng)
    return mode_stop(args, rng, "SRAR" if mode == "srar" else "fatal")
