"""xptools/parallel.py - host steps side by side (tests/boots.cfg: parallel).

A run of consecutive stanzas that say `parallel = yes` (judges unittest and
host only: nothing of theirs is timing-sensitive, and no boot runs while
they do) runs JOBS at a time, each in a child process of its own (fork),
its stdout and stderr kept in files. They are reported in file order as
each one's turn comes, its header, its output and its verdict exactly as
one after the other would print them; the stanza after the run starts once
all of them have ended.

    run(stanzas, judge, header, verdict)    judge(s, say) -> (passed, failed, seconds)

Meanwhile one more child makes the ISOs the boots after the run will need
(xptools.qemu.iso_for_cmdline, one per stanza command line: about 0.4 s
each, mostly waiting on grub-mkrescue and the disk, so a clean tree's
twenty-odd need not be made one per boot later). It stops between two ISOs
when the run ends; the parent waits for it before the next stanza, and a
boot whose ISO it did not make makes it itself, as ever.
"""
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback

JOBS = (os.cpu_count() or 1) + 1   # one more than the CPUs: a step waiting on its children or the disk leaves none idle
_children = set()


def child_setup():
    """In a fresh child: a process group of its own, so that kill_all ends
    what it started too (make, spin, QEMU); the parent's signal handlers
    and children are not its own."""
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)  # out of the terminal's foreground group: no stdin
    os.dup2(devnull, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _children.clear()


class Child:
    """One stanza judged in a forked process."""

    def __init__(self, s, judge):
        self.s = s
        self.out, self.err, self.res = (tempfile.TemporaryFile() for _ in range(3))
        self.t0 = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:                       # the child: judge, write the counts, leave
            code = 1
            try:
                child_setup()
                os.dup2(self.out.fileno(), 1)
                os.dup2(self.err.fileno(), 2)
                passed, failed, dt = judge(s, lambda line: print(line, flush=True))
                self.res.write(json.dumps([passed, failed, dt]).encode())
                self.res.flush()
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        own_group(self.pid)
        self.status = None

    def poll(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                _children.discard(self.pid)
        return self.status is not None

    def read(self, f):
        f.seek(0)
        return f.read().decode(errors="replace")

    def outcome(self):
        """(passed, failed, seconds, stdout, stderr) of the ended child."""
        out, err = self.read(self.out), self.read(self.err)
        try:
            passed, failed, dt = json.loads(self.read(self.res))
        except ValueError:
            out += (f"  harness error: the process judging {self.s.name} ended with wait status "
                    f"{self.status} and no verdict (see its stderr)\n")
            passed, failed, dt = 0, 1, time.monotonic() - self.t0
        return passed, failed, dt, out, err


class Prebuild:
    """A child that makes the ISOs for cmdlines, in order, until stop()."""

    def __init__(self, cmdlines):
        from .qemu import QemuError, iso_for_cmdline
        self.r, self.w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                child_setup()
                os.close(self.w)
                say = os.dup(2)                 # mkiso's own chatter is for the boot that retries
                quiet = os.open(os.devnull, os.O_WRONLY)
                os.dup2(quiet, 2)
                for c in cmdlines:
                    if select.select([self.r], [], [], 0)[0]:       # the parent closed its end
                        break
                    try:
                        iso_for_cmdline(c)
                    except QemuError as e:      # the boot that needs it makes it again, and says why if it fails
                        os.write(say, f"ISO prebuild (retried by the boot that needs it): {e}\n".encode())
            finally:
                os._exit(0)
        os.close(self.r)
        own_group(self.pid)

    def stop(self):
        os.close(self.w)
        os.waitpid(self.pid, 0)
        _children.discard(self.pid)


def run(stanzas, judge, header, verdict, isos=()):
    """Judge stanzas, JOBS at a time; header(s) before and verdict(s, p, f, dt)
    after each one's kept output, in file order; meanwhile make the ISOs for
    the command lines isos. [(passed, failed)]."""
    waiting, started, results = list(stanzas), {}, []
    prebuild = Prebuild(isos) if isos else None

    def fill():                                 # start more, in file order, while CPUs are free
        while waiting and sum(not c.poll() for c in started.values()) < JOBS:
            s = waiting.pop(0)
            started[s.name] = Child(s, judge)

    for s in stanzas:
        fill()                                  # every stanza before s has ended: s has started
        child = started[s.name]
        while not child.poll():
            time.sleep(0.05)
            fill()
        passed, failed, dt, out, err = child.outcome()
        header(s)
        sys.stdout.write(out)
        sys.stdout.flush()
        sys.stderr.write(err)
        sys.stderr.flush()
        verdict(s, passed, failed, dt)
        results.append((passed, failed))
    if prebuild:
        prebuild.stop()
    return results


def own_group(pid):
    """The parent's half of child_setup: whichever runs first makes the group."""
    try:
        os.setpgid(pid, pid)
    except OSError:                             # the child did it, or has already exited
        pass
    _children.add(pid)


def kill_all():
    """End every child and what it started (boots.py: on SIGTERM, SIGINT)."""
    for pid in list(_children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    _children.clear()
