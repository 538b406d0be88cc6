#!/usr/bin/env python3
"""scripts/run-qemu.py - boot xpoke under QEMU from the command line (make
run, debug, debug-server); the launcher itself is xptools/qemu.py, the same
one every stanza of tests/boots.cfg boots with.

Knobs (environment):   SMP=8  MEM=256M  CPU=max  ACCEL=tcg  MACHINE=pc
                       CMDLINE=   (builds an ISO with this kernel command line;
                                   refused together with --iso, which names
                                   a fixed ISO)
                       GDB=1      (gdb stub on tcp::${GDBPORT:-1234}; 0 or 1)
                       QEMU_EXTRA= (more QEMU arguments, split on spaces)
Serial output goes to the terminal and to --log. isa-debug-exit is always
present: the kernel's exit value v becomes QEMU status (v << 1) | 1, so 1 is
success and a triple fault (status 0) is not.

  run-qemu.py --interactive --iso build/xpoke.iso
  run-qemu.py --iso build/xpoke-test.iso --timeout 300 --log build/test.log
  run-qemu.py --iso build/xpoke.iso --until 'xpoke> ' --timeout 60
  run-qemu.py --iso build/xpoke.iso --serial-socket build/s.sock --timeout 120

--serial-socket PATH puts COM1 on a unix socket (QEMU is the server and
waits for one client before it starts the guest), for a program that
drives the console as a user would; QEMU still writes what the guest sends
to --log, and its own messages go to stderr.

Exit status: QEMU's, or 124 after --timeout (QEMU killed; the last serial
lines are printed), or 0 as soon as --until's pattern appears. With
--interactive, a power-off (ACPI S5: status 0) and a clean kernel exit
(isa-debug-exit value 0: status 1) are 0; QEMU failing to start (also
status 1, but before the kernel printed anything) is reported as 2.
"""
import argparse
import os
import shlex
import signal
import subprocess
import sys

from xptools import paths
from xptools.qemu import Qemu, QemuError, kill_all, knob, tail_lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iso", help="boot this ISO (default build/xpoke.iso, or one built for CMDLINE)")
    ap.add_argument("--interactive", action="store_true", help="serial console on this terminal")
    ap.add_argument("--log", help="serial log (default build/run.log or build/qemu.log)")
    ap.add_argument("--timeout", type=float, default=0, help="kill QEMU after this many seconds")
    ap.add_argument("--until", help="stop with status 0 once this regex appears in the serial output")
    ap.add_argument("--qmp", help="also serve QMP on this unix socket")
    ap.add_argument("--control", help="connect COM2 to this unix socket (server), for host+guest tests")
    ap.add_argument("--serial-socket", metavar="PATH",
                    help="connect COM1 to this unix socket (server; the guest starts when a client connects)")
    ap.add_argument("--gdb-wait", action="store_true", help="with GDB=1: hold the CPUs (-S)")
    ap.add_argument("--quiet", action="store_true", help="do not echo serial output")
    ap.add_argument("--print-command", action="store_true")
    args = ap.parse_args()

    gdb = knob("GDB", "0")
    if gdb not in ("0", "1"):
        sys.exit(f"run-qemu: GDB='{gdb}': use GDB=1 to enable the gdb stub, GDB=0 or unset for none")
    port = knob("GDBPORT", "1234")
    try:
        q = Qemu(iso=args.iso, cmdline=knob("CMDLINE", None), log=args.log, timeout=args.timeout,
                 until=args.until, qmp=args.qmp, control=args.control, serial_socket=args.serial_socket,
                 gdb_port=port if gdb == "1" else None, gdb_wait=args.gdb_wait, interactive=args.interactive,
                 echo=None if args.quiet else sys.stdout.buffer)
    except QemuError as e:
        sys.exit(f"run-qemu: {e}")
    cmd = q.command()
    if args.print_command:
        print(" ".join(shlex.quote(c) for c in cmd))
    if gdb == "1":
        print(f"run-qemu: gdb stub on tcp::{port} (gdb {paths.ELF} -ex 'target remote :{port}')", file=sys.stderr)

    if args.interactive:
        print("run-qemu: serial console; Ctrl-A x quits QEMU, Ctrl-A c toggles the monitor",
              file=sys.stderr)
        if os.path.exists(q.log):
            os.unlink(q.log)                    # QEMU writes it afresh; judge this run only
        try:
            status = subprocess.call(cmd)
        except FileNotFoundError:
            sys.exit("run-qemu: qemu-system-x86_64 not found (scripts/deps.sh installs qemu-system-x86)")
        booted = any("xpoke: booting" in l for l in tail_lines(q.log, 1000000))
        if status == 0 or (status == 1 and booted):
            return 0                            # powered off, or the kernel exited cleanly
        if status == 1:
            print("run-qemu: QEMU exited before the kernel printed anything (see its message above)",
                  file=sys.stderr)
            return 2
        print(f"run-qemu: QEMU exited with status {status}", file=sys.stderr)
        return status

    def stop(signum, frame):                    # never leave QEMU behind
        kill_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        q.start()
    except QemuError as e:
        sys.exit(f"run-qemu: {e}")
    status = q.wait()
    if status == 124:
        print(file=sys.stderr)
    for note in q.notes:
        print(f"run-qemu: {note}" if not note.startswith("  |") else note, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
