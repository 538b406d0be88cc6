"""tests/host/interactions.py - boots of tests/boots.cfg (judge "expect")
that need the host to act on the guest while it boots: a stanza's
`interact = NAME` picks one. Each says how QEMU must start (qemu_args)
and then acts on the running QEMU (run); the stanza's status and log
patterns judge the outcome.
"""
import subprocess

from xptools import paths
from xptools.qemu import free_port, wait_port


class BadMultibootMagic:
    """gdb stops the CPU at the 32-bit entry and clobbers EAX, as a
    non-Multiboot2 loader would hand over."""

    def qemu_args(self):
        self.port = free_port()
        return {"gdb_port": self.port, "gdb_wait": True}

    def run(self, q):
        if not wait_port(self.port, q):
            raise RuntimeError(f"QEMU's gdb stub on port {self.port} never answered")
        entry = subprocess.run(["readelf", "-h", paths.ELF], capture_output=True, text=True,
                               check=True).stdout.split("Entry point address:")[1].split()[0]
        subprocess.run(["gdb", "-q", "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{self.port}",
                        "-ex", f"hbreak *{entry}", "-ex", "continue", "-ex", "set $eax = 0x2badb002",
                        "-ex", "detach"], capture_output=True, text=True, timeout=60)


INTERACTIONS = {"bad-multiboot-magic": BadMultibootMagic()}
