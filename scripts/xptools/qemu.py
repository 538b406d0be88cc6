"""xptools/qemu.py - the one QEMU launcher behind every boot.

Knobs (environment), used where the caller does not set a value:
    SMP=8  MEM=256M  CPU=max  ACCEL=tcg  MACHINE=pc  QEMU_EXTRA=
isa-debug-exit is always present: the kernel's exit value v becomes QEMU
status (v << 1) | 1, so 1 is success and a triple fault (status 0) is not.

    q = Qemu(cmdline="ktest=smp.*", smp=2, log="build/x.log", timeout=120)
    status = q.run()        # or q.start() ... q.wait()
    q.text()                # the serial log so far; q.notes: what the launcher says

Status: QEMU's, or 124 after the timeout (QEMU killed; the notes carry the
last serial lines), or 0 as soon as `until`'s pattern appears.
"""
import atexit
import glob
import hashlib
import os
import re
import shlex
import subprocess
import threading
import time

from .paths import BUILD, ELF, ISO, ROOT, rel

STATUS_MEANING = {0: "QEMU exited with status 0: a triple fault or reset, not a clean exit",
                  1: "clean exit, all tests passed",
                  3: "the kernel reported failed tests (exit value 1)",
                  5: "the kernel panicked (exit value 2)",
                  124: "the runner's wall-clock timeout killed QEMU"}


FROM_ALLOWANCE = 120        # s to reach timeout_from's pattern


class QemuError(Exception):
    """A knob or an input that makes the boot impossible; the message says why."""


def knob(name, default):
    v = os.environ.get(name, "")
    return v if v != "" else default


def cpu_count(smp):
    """The CPU count of an -smp value ("6,sockets=2,cores=3" -> 6); QemuError
    unless it is 1..255 (xAPIC IDs)."""
    first = str(smp).split(",")[0]
    first = first.split("=", 1)[1] if first.startswith("cpus=") else first
    if not first.isdigit() or not 1 <= int(first) <= 255:
        raise QemuError(f"SMP='{smp}': the CPU count must be 1..255 "
                        "(xAPIC IDs; optionally followed by ,sockets=..,cores=..)")
    return int(first)


def check_accel(accel):
    if accel.split(",")[0] not in ("tcg", "kvm"):
        raise QemuError(f"ACCEL='{accel}': use tcg (default) or kvm")
    if accel.startswith("kvm") and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise QemuError("ACCEL=kvm but /dev/kvm is missing or not accessible")


def test_payloads():
    """The livepatch test payloads (tests/livepatch/, built by make iso into
    build/lp-tests/): every ISO built for a command line carries them."""
    d = os.path.join(BUILD, "lp-tests")
    return sorted(glob.glob(os.path.join(d, "*.lp"))) if os.path.isdir(d) else []


def iso_for_cmdline(cmdline):
    """An ISO of build/xpoke.elf booting with cmdline, with the test payloads
    as modules (cached by content)."""
    if not os.path.exists(ELF):
        raise QemuError("no build/xpoke.elf: run make first")
    mods = test_payloads()
    h = hashlib.sha1("\0".join([cmdline] + [os.path.basename(m) for m in mods]).encode()).hexdigest()[:12]
    iso = os.path.join(BUILD, "iso-cmdline", f"{h}.iso")
    newest = max([os.path.getmtime(ELF)] + [os.path.getmtime(m) for m in mods])
    if not os.path.exists(iso) or os.path.getmtime(iso) < newest:
        r = subprocess.run([os.path.join(ROOT, "scripts", "mkiso.sh"), ELF, iso, cmdline, *mods],
                           stdout=subprocess.DEVNULL)
        if r.returncode:
            raise QemuError(f"scripts/mkiso.sh failed (status {r.returncode}) "
                            f"building an ISO for the command line '{cmdline}'")
    return iso


def tail_lines(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return f.read().replace("\r", "").splitlines()[-n:]
    except OSError:
        return []


_live = set()           # started and not yet waited for: killed at exit


@atexit.register
def kill_all():
    """Never leave a QEMU behind (entry points call this on SIGTERM/SIGINT)."""
    for q in list(_live):
        q.kill()


class Qemu:
    """One QEMU run. Values left None come from the knobs (SMP, MEM, ...).

    iso / cmdline   boot this ISO, or one built for this kernel command line
                    (default: build/xpoke.iso)
    plain           the README's plain command line (no -m, -nic, -boot):
                    how a user boots the test ISO without the runner
    log             serial log (written here from QEMU's stdout, or by QEMU
                    itself with serial_socket/interactive)
    timeout, until  kill QEMU after timeout s (status 124); stop as soon as
                    the regex until appears in the serial output (status 0)
    timeout_from    a regex: the timeout counts from the first serial output
                    matching it, not from QEMU's start (a hang is killed
                    timeout s after it began, however long the boot took;
                    QEMU gets FROM_ALLOWANCE s to print it)
    qmp, control    QMP on this unix socket; COM2 on this unix socket (server)
    serial_socket   COM1 on this unix socket; QEMU waits for one client
                    before the guest starts; its own messages go to notes
    gdb_port, gdb_wait   gdb stub on tcp::PORT; hold the CPUs (-S)
    echo            a binary stream to copy the serial output to (or None)
    """

    def __init__(self, *, iso=None, cmdline=None, smp=None, mem=None, cpu=None, machine=None, accel=None,
                 log=None, timeout=0, until=None, timeout_from=None, qmp=None, control=None, serial_socket=None,
                 gdb_port=None, gdb_wait=False, interactive=False, plain=False, extra=None, echo=None):
        if cmdline is not None and iso:
            raise QemuError(f"CMDLINE='{cmdline}' is set, but this run boots the fixed ISO {iso}; "
                            "unset CMDLINE (it applies to make run, debug and debug-server)")
        if serial_socket and (interactive or until or timeout_from):
            raise QemuError("--serial-socket takes COM1 away from this terminal, --until and timeout_from; "
                            "the program on the socket reads the console")
        self.smp = str(smp if smp is not None else knob("SMP", "8"))
        self.cpus = cpu_count(self.smp)
        self.mem = mem if mem is not None else (None if plain else knob("MEM", "256M"))
        self.cpu = cpu if cpu is not None else (None if plain else knob("CPU", "max"))
        self.machine = machine if machine is not None else (None if plain else knob("MACHINE", "pc"))
        self.accel = accel if accel is not None else knob("ACCEL", "tcg")
        check_accel(self.accel)
        self.iso = iso_for_cmdline(cmdline) if cmdline is not None else (iso or ISO)
        if not os.path.exists(self.iso):
            raise QemuError(f"no ISO at {self.iso}: run make iso first")
        self.cmdline, self.plain = cmdline, plain
        self.log = log or os.path.join(BUILD, "run.log" if interactive else "qemu.log")
        os.makedirs(os.path.dirname(os.path.abspath(self.log)), exist_ok=True)
        self.timeout, self.until, self.timeout_from = float(timeout or 0), until, timeout_from
        if timeout_from and not self.timeout:
            raise QemuError("timeout_from needs a timeout to count from it")
        self.qmp, self.control, self.serial_socket = qmp, control, serial_socket
        self.gdb_port, self.gdb_wait, self.interactive = gdb_port, gdb_wait, interactive
        self.extra = shlex.split(knob("QEMU_EXTRA", "")) if extra is None else list(extra)
        self.echo = echo
        self.proc = None
        self.notes = []             # what the launcher says (timeouts, QEMU's own messages)
        self.found = False
        self.timed_out = threading.Event()
        self.anchored = threading.Event()   # timeout_from's pattern has appeared
        self.started = None

    def command(self):
        accel = "tcg,thread=multi" if self.accel == "tcg" and not self.plain else self.accel
        cmd = ["qemu-system-x86_64"]
        if self.machine:
            cmd += ["-M", self.machine]
        cmd += ["-accel", accel]
        if self.cpu:
            cmd += ["-cpu", self.cpu]
        cmd += ["-smp", self.smp]
        if self.mem:
            cmd += ["-m", self.mem]
        cmd += ["-cdrom", self.iso]
        if not self.plain:
            cmd += ["-boot", "d", "-nic", "none"]
        cmd += ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-display", "none"]
        if self.interactive:
            # One stdio chardev shared by the serial port and the monitor
            # (Ctrl-A c switches, Ctrl-A x quits); QEMU writes the log itself.
            cmd += ["-chardev", f"stdio,id=ser0,mux=on,logfile={self.log}",
                    "-serial", "chardev:ser0", "-mon", "chardev=ser0"]
        elif self.serial_socket:
            cmd += ["-chardev", f"socket,id=ser0,path={self.serial_socket},server=on,wait=on,logfile={self.log}",
                    "-serial", "chardev:ser0", "-no-reboot", "-monitor", "none"]
        else:
            cmd += ["-serial", "stdio", "-no-reboot"] + ([] if self.plain else ["-monitor", "none"])
        if self.qmp:
            cmd += ["-qmp", f"unix:{self.qmp},server=on,wait=off"]
        if self.control:
            # COM2 (the second -serial) on a unix socket: the host's control line.
            cmd += ["-chardev", f"socket,id=ctl,path={self.control},server=on,wait=off", "-serial", "chardev:ctl"]
        if self.gdb_port:
            cmd += ["-gdb", f"tcp::{self.gdb_port}"]
            if self.gdb_wait:
                cmd += ["-S"]
        return cmd + self.extra

    def describe(self):
        what = f"ktest ISO {rel(self.iso)}" if self.cmdline is None else f"'{self.cmdline}'"
        return f"-smp {self.smp}, {what}"

    def start(self):
        for p in (self.qmp, self.control, self.serial_socket):
            if p and os.path.exists(p):
                os.unlink(p)
        if self.serial_socket and os.path.exists(self.log):
            os.unlink(self.log)                 # QEMU appends to it: judge this run only
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise QemuError("qemu-system-x86_64 not found (scripts/deps.sh installs qemu-system-x86)")
        _live.add(self)
        self.started = time.monotonic()
        if self.timeout:
            self._arm(FROM_ALLOWANCE if self.timeout_from else self.timeout)
        if not self.serial_socket:
            open(self.log, "wb").close()        # text() reads this run only, from the start
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _arm(self, seconds, anchored=False):
        timer = threading.Timer(seconds, self._kill_late, args=(anchored,))
        timer.daemon = True
        timer.start()

    def _kill_late(self, anchored):
        if self.timeout_from and self.anchored.is_set() != anchored:
            return                      # the allowance, after timeout_from appeared: not this timer's to end
        if self.proc.poll() is None:
            self.timed_out.set()
            self.proc.kill()

    def _read(self):
        pattern = re.compile(self.until) if self.until else None
        anchor = re.compile(self.timeout_from) if self.timeout_from else None
        window = ""                     # recent output, for until (a prompt has no newline)
        # Serial output arrives on QEMU's stdout, except with serial_socket:
        # then QEMU writes the log itself and stdout has only its messages.
        with open(os.devnull if self.serial_socket else self.log, "wb") as log:
            while True:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                if self.serial_socket:
                    self.notes.append(chunk.decode(errors="replace").rstrip("\n"))
                    continue
                log.write(chunk)
                log.flush()
                if self.echo:
                    self.echo.write(chunk)
                    self.echo.flush()
                if pattern or anchor:
                    window = (window + chunk.decode(errors="replace"))[-4096:]
                if anchor and not self.anchored.is_set() and anchor.search(window):
                    self.anchored.set()
                    self._arm(self.timeout, anchored=True)
                if pattern and pattern.search(window):
                    self.found = True
                    self.notes.append(f"'{self.until}' after {self.elapsed():.3f} s")
                    self.proc.kill()
                    break

    def elapsed(self):
        return time.monotonic() - self.started

    def wait(self, timeout=None):
        """QEMU's status (124 after the launcher's timeout, 0 once until
        matched); subprocess.TimeoutExpired if it runs past timeout here."""
        status = self.proc.wait(timeout=timeout)
        self.reader.join()
        _live.discard(self)
        if self.found:
            return 0
        if self.timed_out.is_set():
            if not self.timeout_from:
                self.notes.append(f"timeout after {self.timeout:g} s; QEMU killed. Last serial lines:")
            elif self.anchored.is_set():
                self.notes.append(f"timeout after {self.timeout:g} s (counted from /{self.timeout_from}/); "
                                  f"QEMU killed. Last serial lines:")
            else:
                self.notes.append(f"timeout: /{self.timeout_from}/ did not appear within {FROM_ALLOWANCE:g} s; "
                                  f"QEMU killed. Last serial lines:")
            self.notes += [f"  | {line}" for line in tail_lines(self.log)]
            return 124
        self.notes.append(f"QEMU exited with status {status} after {self.elapsed():.1f} s")
        return status

    def run(self):
        return self.start().wait()

    @property
    def status(self):
        return self.proc.returncode if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def text(self):
        """The serial log so far, with LF line ends."""
        try:
            with open(self.log, errors="replace") as f:
                return f.read().replace("\r\n", "\n")
        except OSError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _live.discard(self)


def wait_for(pred, timeout, what, qemu):
    """Poll pred until it holds; RuntimeError if QEMU exits or time runs out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if not qemu.running():
            raise RuntimeError(f"QEMU exited (status {qemu.status}) while waiting for {what}")
        time.sleep(0.01)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, qemu, seconds=5):
    """Wait until QEMU's gdb stub accepts connections."""
    import socket
    end = time.monotonic() + seconds
    while time.monotonic() < end and qemu.running():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
