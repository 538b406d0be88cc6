"""xptools/gdbsession.py - one boot for the gdb race scenarios of several
stanzas (judge gdb, xptools/judges.py).

Consecutive stanzas of judge gdb that boot alike (the same CPU count,
command line, QEMU settings and strategy) share one QEMU, held at the
reset vector with its gdb stub, and one gdb running
tests/gdb/run_scenario.py over their scenarios in turn: a boot and a gdb
start cost more than most scenarios. Each stanza still gets its own
verdict, timeout, transcript (build/boots/NAME.gdb.log) and slice of the
serial log (NAME.serial.log; the whole boot's is FIRST.boot.log, after the
session's first stanza). A scenario that fails ends its boot: the stanzas
after it get a fresh one.

    plan(chosen)            before the run: which stanzas share a boot
    result(s)               start the boot if s begins one; wait (up to s's
                            timeout) for s's verdict: (ok, why, transcript,
                            serial slice, the boot's Qemu)
    close()                 end whatever is left (the run is over)
    kill_all()              on SIGTERM/SIGINT: no gdb left behind
"""
import os
import queue
import re
import subprocess
import threading
import time

from . import paths
from .qemu import Qemu, free_port, wait_port

BEGIN = re.compile(r"^XPOKE-SCENARIO-BEGIN (\S+) serial=(\d+)$")
VERDICT = re.compile(r"^XPOKE-SCENARIO: (ok|not ok) (\S+?):?(?: (.*))?$")
LOGS = os.path.join(paths.BUILD, "boots")

_groups = {}            # stanza name -> the stanzas that share its boot, in order
_session = None
_live_gdb = set()


def boot_key(s):
    """What must be equal for two gdb stanzas to share a boot."""
    kw = s.qemu_args(None)
    kw.pop("log", None)
    return (sorted((k, repr(v)) for k, v in kw.items()), s.get("strategy", "int3"))


def plan(chosen):
    """Group runs of consecutive gdb stanzas that boot alike."""
    _groups.clear()
    run = []
    for s in list(chosen) + [None]:
        if s is not None and s.judge == "gdb" and run and boot_key(s) == boot_key(run[0]):
            run.append(s)
            continue
        for t in run:
            _groups[t.name] = run
        run = [s] if s is not None and s.judge == "gdb" else []


class Session:
    """One QEMU and one gdb for the scenarios of `stanzas`, in order."""

    def __init__(self, stanzas):
        self.stanzas = stanzas
        self.pending = [s.name for s in stanzas]
        self.ended = False
        self.status = None              # QEMU's, once waited for
        first = stanzas[0]
        os.makedirs(LOGS, exist_ok=True)
        self.port = free_port()
        kw = first.qemu_args(os.path.join(LOGS, first.name + ".boot.log"))
        kw.update(gdb_port=self.port, gdb_wait=True, timeout=sum(s.timeout for s in stanzas) + 30)
        self.q = Qemu(**kw).start()
        try:
            self._start_gdb(first, stanzas)
        except BaseException:
            self.q.kill()
            raise

    def _start_gdb(self, first, stanzas):
        wait_port(self.port, self.q)
        env = dict(os.environ, XPOKE_SCENARIOS=" ".join(s.get("scenario") for s in stanzas),
                   XPOKE_GDBPORT=str(self.port), XPOKE_STRATEGY=first.get("strategy", "int3"),
                   XPOKE_SERIAL_LOG=self.q.log)
        self.gdb = subprocess.Popen(["gdb", "-q", "-batch", "-nx", paths.ELF,
                                     "-x", os.path.join(paths.ROOT, "tests", "gdb", "run_scenario.py")],
                                    env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace")
        _live_gdb.add(self.gdb)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.gdb.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def serial(self, start, end=None):
        try:
            with open(self.q.log, "rb") as f:
                f.seek(start)
                data = f.read() if end is None else f.read(max(end - start, 0))
            return data.decode(errors="replace").replace("\r\n", "\n")
        except OSError:
            return ""

    def result(self, s, limit):
        """Wait (up to limit s) for s's verdict from gdb."""
        assert self.pending and self.pending[0] == s.name, (self.pending, s.name)
        self.pending.pop(0)
        transcript = []
        offset, verdict, why, late = None, None, "", False
        deadline = time.monotonic() + limit
        while verdict is None:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                transcript.append(f"(no verdict after {limit:g} s: gdb and QEMU killed)")
                why, late = f"no verdict within {limit:g} s", True
                break
            if line is None:
                why = "the scenario never reported (gdb ended)"
                break
            transcript.append(line)
            m = BEGIN.match(line)
            if m and m.group(1) == s.get("scenario"):
                offset = int(m.group(2))
            m = VERDICT.match(line)
            if m and m.group(2) == s.get("scenario"):
                verdict = m.group(1) == "ok"
                why = (m.group(3) or "").strip()
        ok = bool(verdict)
        end = None
        if ok and not self.pending:
            # The boot's last scenario: the arena ends, gdb detaches, and the
            # guest must exit cleanly.
            transcript += self._drain(10)
            status = self._wait_qemu(30)
            if status != 1:
                ok, why = False, (f"the guest did not end cleanly after the last scenario of its boot "
                                  f"(QEMU status {status})")
        elif ok:
            end = os.path.getsize(self.q.log) if os.path.exists(self.q.log) else None
        if not ok:
            self.end(grace=0 if late else 2)
        slice_ = self.serial(offset if offset is not None else 0, end)
        return ok, why, transcript, slice_, self.q

    def _drain(self, seconds):
        out, deadline = [], time.monotonic() + seconds
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if line is None:
                break
            out.append(line)
        return out

    def end(self, grace=2):
        """gdb ends the arena and detaches on its own after a failure; give
        it grace s, then kill what is left."""
        if self.ended:
            return
        self.ended = True
        try:
            self.gdb.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.gdb.kill()
            self.gdb.wait()
        _live_gdb.discard(self.gdb)
        self._wait_qemu(grace)
        self.pending = []

    def _wait_qemu(self, timeout):
        """QEMU's status, once it has exited (killed after timeout s)."""
        if self.status is None:
            try:
                self.status = self.q.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.q.kill()
                self.status = self.q.wait()
        return self.status


def result(s):
    """Run (or go on with) the boot s belongs to; s's verdict."""
    global _session
    if _session is None or not _session.pending or _session.pending[0] != s.name:
        close()
        group = _groups.get(s.name) or [s]
        _session = Session(group[group.index(s):] if s in group else [s])
    out = _session.result(s, s.timeout)
    if not _session.pending:
        close()
    return out


def close():
    global _session
    if _session is not None:
        _session.end(grace=2)
        _session = None


def kill_all():
    for g in list(_live_gdb):
        if g.poll() is None:
            g.kill()
    _live_gdb.clear()
