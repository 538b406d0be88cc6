"""xptools/console.py - the kernel console (COM1) on a unix socket, typed at
as a user or a script would: each command is sent at the `xpoke> ` prompt
and its reply read up to the next prompt."""
import os
import re
import shutil
import socket
import tempfile
import time

from .qemu import Qemu

PROMPT = re.compile(rb"(xpoke|poke-batch \d+)> $")


class Console:
    """A booted kernel whose COM1 is a unix socket. boot: Qemu's keyword
    arguments (iso, cmdline, smp, log, timeout, ...)."""

    def __init__(self, **boot):
        self.dir = tempfile.mkdtemp(prefix="xpoke-console-")    # short: unix socket paths are limited
        self.sock_path = os.path.join(self.dir, "com1")
        self.qemu = Qemu(serial_socket=self.sock_path, **boot).start()
        self.log = self.qemu.log
        self.sock = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 30
        while True:                     # QEMU creates the socket, then waits for us
            try:
                self.sock.connect(self.sock_path)
                break
            except OSError:
                if time.monotonic() > deadline or not self.qemu.running():
                    self.close()
                    raise RuntimeError("QEMU's serial socket never accepted a connection:\n"
                                       + "\n".join(self.qemu.notes))
                time.sleep(0.05)
        self.buf = b""
        try:
            self.boot_text = self.read_reply(60)
        except Exception:
            self.close()
            raise

    def read_reply(self, timeout=30):
        """Everything up to and including the next prompt."""
        deadline = time.monotonic() + timeout
        while not PROMPT.search(self.buf):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no prompt after {timeout} s; got:\n{self.buf.decode(errors='replace')}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError(f"console closed; got:\n{self.buf.decode(errors='replace')}")
            self.buf += chunk
        out, self.buf = self.buf.decode(errors="replace").replace("\r\n", "\n"), b""
        return out

    def send(self, line, end="\r"):
        """Type line and end (a terminal's CR); return the lines printed
        before the next prompt (the echo of line checked and dropped)."""
        self.sock.sendall(line.encode() + end.encode())
        lines = self.read_reply().split("\n")
        if not lines[0].endswith(line):
            raise AssertionError(f"the reply to {line!r} does not begin with its echo:\n" + "\n".join(lines))
        return lines[1:-1]

    def close(self):
        """Power off (QEMU killed if it does not go); the QEMU status."""
        try:
            if self.qemu.running():
                self.sock.sendall(b"poweroff\r")
                self.qemu.proc.wait(timeout=20)
        except (OSError, Exception):
            pass
        finally:
            self.qemu.kill()
            self.sock.close()
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.qemu.status


class ConsoleChecks:
    """Assertions of the console tests (tests/host/test_console*.py), for a
    unittest.TestCase whose class holds a Console in cls.con."""

    def one(self, line, pattern):
        """Send line; it must print exactly one line, matching pattern."""
        out = self.con.send(line)
        self.assertEqual(len(out), 1, f"{line!r} printed {len(out)} lines, not one:\n" + "\n".join(out))
        self.assertRegex(out[0], pattern, f"reply to {line!r}")
        return out[0]

    def crc(self):
        """text-crc's CRC of .text, as 0x%08x."""
        m = re.fullmatch(r"text-crc: (0x[0-9a-f]{8}) \(\.text ([0-9a-f]{16})\.\.([0-9a-f]{16}), (\d+) bytes\)",
                         self.one("text-crc", r"^text-crc: "))
        self.assertIsNotNone(m)
        return m.group(1)

    def refusals(self, cases, crc):
        """Each (what, line, pattern): line is refused in one line matching
        pattern, and .text keeps the CRC crc."""
        for what, line, pattern in cases:
            with self.subTest(what):
                self.one(line, pattern)
                self.assertEqual(self.crc(), crc, f"{what}: .text changed")

