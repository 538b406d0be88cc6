#!/usr/bin/env python3
"""scripts/run-qemu.py - the one QEMU runner behind make run/test/bench.

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
import hashlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")


def knob(name, default):
    v = os.environ.get(name, "")
    return v if v != "" else default


def iso_for_cmdline(cmdline):
    """An ISO of build/xpoke.elf booting with cmdline (cached by content)."""
    kernel = os.path.join(BUILD, "xpoke.elf")
    if not os.path.exists(kernel):
        sys.exit("run-qemu: no build/xpoke.elf: run make first")
    h = hashlib.sha1(cmdline.encode()).hexdigest()[:12]
    iso = os.path.join(BUILD, "iso-cmdline", f"{h}.iso")
    if not os.path.exists(iso) or os.path.getmtime(iso) < os.path.getmtime(kernel):
        r = subprocess.run([os.path.join(ROOT, "scripts", "mkiso.sh"), kernel, iso, cmdline],
                           stdout=subprocess.DEVNULL)
        if r.returncode:
            sys.exit(f"run-qemu: scripts/mkiso.sh failed (status {r.returncode}) "
                     f"building an ISO for CMDLINE='{cmdline}'")
    return iso


def check_knobs():
    """Refuse knob values that QEMU would misread or the kernel cannot use."""
    smp = knob("SMP", "8")
    first = smp.split(",")[0]
    first = first.split("=", 1)[1] if first.startswith("cpus=") else first
    if not first.isdigit() or not 1 <= int(first) <= 255:
        sys.exit(f"run-qemu: SMP='{smp}': the CPU count must be 1..255 "
                 "(xAPIC IDs; optionally followed by ,sockets=..,cores=..)")
    accel = knob("ACCEL", "tcg")
    if accel.split(",")[0] not in ("tcg", "kvm"):
        sys.exit(f"run-qemu: ACCEL='{accel}': use tcg (default) or kvm")
    if accel.startswith("kvm") and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("run-qemu: ACCEL=kvm but /dev/kvm is missing or not accessible")
    if knob("GDB", "0") not in ("0", "1"):
        sys.exit(f"run-qemu: GDB='{knob('GDB', '')}': use GDB=1 to enable the gdb stub, GDB=0 or unset for none")


def qemu_command(args, iso):
    smp, mem = knob("SMP", "8"), knob("MEM", "256M")
    accel = knob("ACCEL", "tcg")
    if accel == "tcg":
        accel = "tcg,thread=multi"
    cmd = ["qemu-system-x86_64", "-M", knob("MACHINE", "pc"), "-accel", accel,
           "-cpu", knob("CPU", "max"), "-smp", smp, "-m", mem,
           "-cdrom", iso, "-boot", "d", "-display", "none", "-nic", "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if args.interactive:
        # One stdio chardev shared by the serial port and the monitor
        # (Ctrl-A c switches, Ctrl-A x quits); QEMU writes the log itself.
        cmd += ["-chardev", f"stdio,id=ser0,mux=on,logfile={args.log}",
                "-serial", "chardev:ser0", "-mon", "chardev=ser0"]
    elif args.serial_socket:
        cmd += ["-chardev", f"socket,id=ser0,path={args.serial_socket},server=on,wait=on,logfile={args.log}",
                "-serial", "chardev:ser0", "-no-reboot", "-monitor", "none"]
    else:
        cmd += ["-serial", "stdio", "-no-reboot", "-monitor", "none"]
    if args.qmp:
        cmd += ["-qmp", f"unix:{args.qmp},server=on,wait=off"]
    if args.control:
        # COM2 (the second -serial) on a unix socket: the host's control line.
        cmd += ["-chardev", f"socket,id=ctl,path={args.control},server=on,wait=off", "-serial", "chardev:ctl"]
    if knob("GDB", "0") == "1":
        cmd += ["-gdb", f"tcp::{knob('GDBPORT', '1234')}"]
        if args.gdb_wait:
            cmd += ["-S"]
    cmd += shlex.split(knob("QEMU_EXTRA", ""))
    return cmd


def run_or_explain(how, cmd, **kw):
    try:
        return how(cmd, **kw)
    except FileNotFoundError:
        sys.exit(f"run-qemu: {cmd[0]} not found (scripts/deps.sh installs qemu-system-x86)")


def tail(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


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

    if args.serial_socket and (args.interactive or args.until):
        sys.exit("run-qemu: --serial-socket takes COM1 away from this terminal and from --until; "
                 "the program on the socket reads the console")
    args.log = args.log or os.path.join(BUILD, "run.log" if args.interactive else "qemu.log")
    os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    check_knobs()
    cmdline = knob("CMDLINE", None)
    if cmdline is not None and args.iso:
        sys.exit(f"run-qemu: CMDLINE='{cmdline}' is set, but this run boots the fixed ISO {args.iso}; "
                 "unset CMDLINE (it applies to make run, debug and debug-server)")
    iso = iso_for_cmdline(cmdline) if cmdline is not None else (args.iso or os.path.join(BUILD, "xpoke.iso"))
    if not os.path.exists(iso):
        sys.exit(f"run-qemu: no ISO at {iso}: run make iso first")
    cmd = qemu_command(args, iso)
    if args.print_command:
        print(" ".join(shlex.quote(c) for c in cmd))
    if knob("GDB", "0") == "1":
        print(f"run-qemu: gdb stub on tcp::{knob('GDBPORT', '1234')} "
              f"(gdb {os.path.join(BUILD, 'xpoke.elf')} -ex 'target remote :{knob('GDBPORT', '1234')}')",
              file=sys.stderr)

    if args.interactive:
        print("run-qemu: serial console; Ctrl-A x quits QEMU, Ctrl-A c toggles the monitor",
              file=sys.stderr)
        if os.path.exists(args.log):
            os.unlink(args.log)                 # QEMU writes it afresh; judge this run only
        status = run_or_explain(subprocess.call, cmd)
        booted = any("xpoke: booting" in l for l in tail(args.log, 1000000))
        if status == 0 or (status == 1 and booted):
            return 0                            # powered off, or the kernel exited cleanly
        if status == 1:
            print("run-qemu: QEMU exited before the kernel printed anything (see its message above)",
                  file=sys.stderr)
            return 2
        print(f"run-qemu: QEMU exited with status {status}", file=sys.stderr)
        return status

    start = time.monotonic()
    proc = run_or_explain(subprocess.Popen, cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)

    def stop_qemu(signum, frame):               # never leave QEMU behind
        proc.kill()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, stop_qemu)
    signal.signal(signal.SIGINT, stop_qemu)
    timed_out = threading.Event()
    if args.timeout:
        def kill_late():
            if proc.poll() is None:
                timed_out.set()
                proc.kill()
        timer = threading.Timer(args.timeout, kill_late)
        timer.daemon = True
        timer.start()
    pattern = re.compile(args.until) if args.until else None
    found = False
    window = ""                         # recent output, for --until (a prompt has no newline)
    # Serial output arrives on QEMU's stdout, except with --serial-socket:
    # then QEMU writes the log itself and stdout has only its own messages.
    with open(os.devnull if args.serial_socket else args.log, "wb") as log:
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            if args.serial_socket:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
                continue
            log.write(chunk)
            log.flush()
            if not args.quiet:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            if pattern:
                window = (window + chunk.decode(errors="replace"))[-4096:]
                if pattern.search(window):
                    found = True
                    print(f"run-qemu: '{args.until}' after {time.monotonic() - start:.3f} s", file=sys.stderr)
                    proc.kill()
                    break
    status = proc.wait()
    if found:
        return 0
    if timed_out.is_set():
        print(f"\nrun-qemu: timeout after {args.timeout:g} s; QEMU killed. Last serial lines:", file=sys.stderr)
        for line in tail(args.log):
            print(f"  | {line}", file=sys.stderr)
        return 124
    print(f"run-qemu: QEMU exited with status {status} after {time.monotonic() - start:.1f} s",
          file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
