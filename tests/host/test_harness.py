"""tests/host/test_harness.py - the failure paths, booted for real.

Each case boots build/xpoke.elf with a command line that makes something go
wrong on purpose and checks that the kernel and the host runner report it
the way a developer needs: the right test marked "not ok" with its reason
and the run going on, a register dump naming the CPU and the instruction,
every other CPU stopped, a failing exit status, a runner timeout that shows
the last serial lines. On failure the serial log is printed.
"""
import os
import re
import socket
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")


def boot(name, cmdline, smp=2, timeout=120):
    """Boot with cmdline; return (status, serial log, runner stderr)."""
    log = os.path.join(BUILD, "harness", f"{name}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    env = dict(os.environ, CMDLINE=cmdline, SMP=str(smp))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "run-qemu.py"), "--quiet",
                        "--log", log, "--timeout", str(timeout)],
                       env=env, capture_output=True, text=True)
    with open(log, errors="replace") as f:
        return p.returncode, f.read().replace("\r\n", "\n"), p.stderr


class Harness(unittest.TestCase):
    def expect(self, text, pattern):
        if not re.search(pattern, text, re.M):
            self.fail(f"no match for /{pattern}/ in:\n{text}")

    @staticmethod
    def diagnostics(log, name):
        """The lines a test printed: after the previous result, up to its own."""
        block = []
        for line in log.splitlines():
            m = re.match(r"(?:not )?ok \d+ (\S+)", line)
            if not m:
                block.append(line)
            elif m.group(1) == name:
                return "\n".join(block)
            else:
                block = []
        return ""

    def test_failing_tests_are_reported_and_the_run_goes_on(self):
        status, log, _ = boot("selftest", "ktest=selftest.* bogus=1 ktest.repeat=1")
        self.assertEqual(status, 3, log)                # exit value 1: tests failed
        for name, reason in [("selftest.panic", r"CPU 0: selftest: deliberate panic in a test"),
                             ("selftest.unexpected_gp", r"CPU 0: unhandled exception #GP"),
                             ("selftest.ap_fault", r"CPU 1: unhandled exception #UD"),
                             ("selftest.timeout", r"timeout after 1500 ms"),
                             ("selftest.timeout_with_busy_ap", r"# timeout: CPU 1 .* <spinner\+"),
                             ("selftest.timeout_in_printk", r"timeout after 300 ms")]:
            with self.subTest(name=name):
                self.expect(log, rf"^not ok \d+ {re.escape(name)} ")
                self.expect(self.diagnostics(log, name), reason)
        # The watchdog found the test inside printk (it nearly always is):
        # recovery waited for printk to return, and the console still works.
        self.expect(self.diagnostics(log, "selftest.timeout_in_printk"),
                    r"# timeout: CPU 0 is inside printk; it resumes its test context when printk returns")
        self.expect(log, r"^ok \d+ selftest\.zz_after ")
        self.expect(log, r"^ktest: 1 passed, 6 failed, 0 skipped$")
        self.expect(log, r"# timeout: CPU 0 at RIP [0-9a-f]+ <st_timeout\+")
        self.expect(log, r"cmdline: unknown parameter 'bogus' ignored")
        self.expect(log, r"^ktest: 1 command-line word\(s\) not applied .*: the run fails$")
        self.expect(log, r"^  ktest\.repeat +N: run the selected tests N times")

    def test_a_rejected_parameter_fails_a_passing_run(self):
        # Every selected test passes, but storm.ms=xyz was not applied: the
        # run must not pass with the default in its place.
        status, log, _ = boot("bad-param", "ktest=smp.all_cpus_online storm.ms=xyz patch.flips=3", smp=1)
        self.assertEqual(status, 3, log)
        self.expect(log, r"^ktest: 1 passed, 0 failed, 0 skipped$")
        self.expect(log, r"cmdline: 'storm\.ms=xyz' rejected")
        self.expect(log, r"patch\.flips: needs an even count")
        self.expect(log, r"^ktest: 2 command-line word\(s\) not applied .*: the run fails$")

    def test_unhandled_exception_dumps_and_stops_every_cpu(self):
        status, log, _ = boot("crash-ud", "crashtest=ud", smp=4)
        self.assertEqual(status, 5, log)                # exit value 2: panic
        self.expect(log, r"FATAL on CPU 0: unhandled exception #UD")
        self.expect(log, r"vector 6 \(#UD invalid opcode\) error 0x0")
        self.expect(log, r"RIP [0-9a-f]{16} <crash\+0x[0-9a-f]+/0x[0-9a-f]+>")
        self.expect(log, r"RSP [0-9a-f]{16} RFLAGS")
        self.expect(log, r"CR2 [0-9a-f]{16} CR3")
        for cpu in (1, 2, 3):
            self.expect(log, rf"CPU {cpu} stopped at RIP")
        self.expect(log, r"system_stop: CPU 0 stopped 3 other CPU\(s\); exit code 2")

    def test_fault_on_an_ap_names_that_cpu(self):
        status, log, _ = boot("crash-pf", "crashtest=pf@1", smp=2)
        self.assertEqual(status, 5, log)
        self.expect(log, r"FATAL on CPU 1: page fault at 0x[0-9a-f]+ \(protection violation, write\)")
        self.expect(log, r"CPU 0 stopped at RIP")
        self.expect(log, r"system_stop: CPU 1 stopped 1 other CPU\(s\)")

    def test_stack_overflow_hits_the_guard_page(self):
        status, log, _ = boot("crash-stack", "crashtest=stack@1", smp=2)
        self.assertEqual(status, 5, log)
        self.expect(log, r"FATAL on CPU 1: double fault \(stack overflow into a guard page\)")

    def test_hang_is_killed_by_the_runner_timeout(self):
        status, log, err = boot("crash-hang", "crashtest=hang", smp=2, timeout=8)
        self.assertEqual(status, 124, log)
        self.assertIn("timeout after 8 s; QEMU killed. Last serial lines:", err)
        self.assertIn("crashtest: CPU 0: hang", err)

    def test_cpu_that_never_starts_is_reported_and_fails_the_boot_test(self):
        status, log, _ = boot("park", "smp.park_apic=2 ktest=smp.all_cpus_online", smp=3)
        self.assertEqual(status, 3, log)
        self.expect(log, r"smp: CPU with APIC ID 2 did not come up within 2000 ms "
                         r"\(it never answered the SIPI\); continuing without it")
        self.expect(log, r"smp: 2 of 3 CPU\(s\) online")
        self.expect(log, r"# FAIL: 2 CPUs online, 3 enabled in the MADT")
        self.expect(log, r"^not ok 1 smp\.all_cpus_online ")

    def test_bad_multiboot_magic_is_refused_with_a_message(self):
        """gdb stops the CPU at the 32-bit entry and clobbers EAX, as a
        non-Multiboot2 loader would hand over."""
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        serial = os.path.join(BUILD, "harness", "bad-magic.log")
        os.makedirs(os.path.dirname(serial), exist_ok=True)
        if os.path.exists(serial):
            os.unlink(serial)
        qemu = subprocess.Popen(["qemu-system-x86_64", "-accel", "tcg", "-smp", "1", "-nic", "none",
                                 "-cdrom", os.path.join(BUILD, "xpoke-test.iso"), "-display", "none",
                                 "-serial", f"file:{serial}", "-no-reboot", "-S", "-gdb", f"tcp:127.0.0.1:{port}"])
        try:
            entry = subprocess.run(["readelf", "-h", os.path.join(BUILD, "xpoke.elf")], capture_output=True,
                                   text=True, check=True).stdout.split("Entry point address:")[1].split()[0]
            subprocess.run(["gdb", "-q", "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{port}",
                            "-ex", f"hbreak *{entry}", "-ex", "continue", "-ex", "set $eax = 0x2badb002",
                            "-ex", "detach"], capture_output=True, text=True, timeout=60)
            text = ""
            for _ in range(100):
                time.sleep(0.1)
                with open(serial, errors="replace") as f:
                    text = f.read()
                if "halting" in text:
                    break
            self.assertIn("xpoke: not booted by a Multiboot2 loader (bad magic in EAX); halting", text)
            self.assertNotIn("xpoke: booting", text)
        finally:
            qemu.kill()
            qemu.wait()

    def test_negative_control_nested_nmis_without_the_protection(self):
        """With nmi.unsafe_iret=1 exceptions IRET back into NMI handlers; the
        NMI storm must then end in a detected nested NMI (or a crash) within
        its time limit. This proves the storm really exercises the hazard
        the protection removes."""
        status, log, _ = boot("negative-control", "nmi.unsafe_iret=1 ktest=storm.nmi_sites storm.ms=30000",
                              smp=4, timeout=120)
        self.assertNotEqual(status, 1, "the storm passed with the protection off:\n" + log)
        self.assertNotEqual(status, 124, "the storm hung instead of failing:\n" + log)
        self.expect(log, r"nmi: nmi.unsafe_iret=1: exceptions IRET into NMI handlers")
        self.expect(log, r"nested NMI on CPU \d+: an NMI began inside an NMI handler")

    def test_what_a_return_without_iret_cannot_do_is_refused_by_name(self):
        """POPFQ; RET cannot resume single-stepping as IRET would: a #DB
        taken with NMIs blocked, and a return without IRET whose saved
        RFLAGS has TF, are refused by name (arch/x86/entry.asm, traps.c)."""
        status, log, _ = boot("noiret-refusals", "ktest=nmi.refuse_*", smp=1)
        self.assertEqual(status, 3, log)
        for name, reason in [("nmi.refuse_db_with_nmis_blocked",
                              r"CPU 0: #DB at RIP 0x[0-9a-f]+ with NMIs blocked: refused"),
                             ("nmi.refuse_tf_without_iret",
                              r"CPU 0: return without IRET to RIP 0x[0-9a-f]+ with TF set in the saved RFLAGS")]:
            with self.subTest(name=name):
                self.expect(log, rf"^not ok \d+ {re.escape(name)} ")
                self.expect(self.diagnostics(log, name), reason)
        self.expect(log, r"^ktest: 0 passed, 2 failed, 0 skipped$")

    def test_panic_during_an_nmi_storm_still_stops_every_cpu(self):
        status, log, _ = boot("panic-during-storm", "ktest=storm.panic_during_storm", smp=4, timeout=120)
        self.assertEqual(status, 5, log)
        self.expect(log, r"PANIC on CPU \d+: storm: deliberate panic on CPU \d+, in its NMI handler")
        self.expect(log, r"system_stop: CPU \d+ stopped 3 other CPU\(s\); exit code 2")

    def test_list_prints_every_test(self):
        status, log, _ = boot("list", "ktest=list", smp=1)
        self.assertEqual(status, 1, log)
        self.expect(log, r"^smp\.all_cpus_online$")
        self.expect(log, r"^selftest\.panic \(hidden: not in 'all'\)$")

    def test_writer_called_from_the_patching_cpus_nmi_panics_by_name(self):
        status, log, _ = boot("writer-in-nmi", "ktest=patch.writer_in_nmi_panics", smp=2)
        self.assertEqual(status, 5, log)
        self.expect(log, r"PANIC on CPU 0: text_poke: called in NMI context on CPU 0 \(nesting 1\); "
                         r"the writer runs in thread context only")
        self.assertNotIn("the writer ran in the patching CPU's NMI handler", log)

    def test_a_vanished_int3_that_never_goes_away_is_reported(self):
        status, log, _ = boot("stale-int3", "ktest=patch.stale_int3_rerun_is_bounded,patch.int_imm3*", smp=1)
        self.assertEqual(status, 3, log)                # the run goes on after the report
        self.expect(self.diagnostics(log, "patch.stale_int3_rerun_is_bounded"),
                    r"PANIC on CPU 0: patch: CPU 0 met the vanished int3 at 0x[0-9a-f]+ 10000 times in a row")
        self.expect(log, r"^not ok \d+ patch\.stale_int3_rerun_is_bounded ")
        self.expect(log, r"^ok \d+ patch\.int_imm3_is_not_a_vanished_int3 ")

    def test_tcg_workaround_forced_off(self):
        status, log, _ = boot("tcg-off", "patch.tcg_rewrite=off ktest=patch.tcg_rewrite_follows_decision", smp=2)
        self.assertEqual(status, 1, log)
        self.expect(log, r"patch: TCG workaround \(first bytes rewritten after the last round\): off "
                         r"\(patch.tcg_rewrite=off; TCG detected: CPUID 0x40000000 says TCGTCGTCGTCG\)")
        self.expect(log, r"# PASS: call -> b: first bytes rewritten after the last round: no \(0 cycles\)")


class RunnerKnobs(unittest.TestCase):
    """Bad runner knobs are refused with a message, before QEMU starts."""
    def refused(self, env, *args):
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "run-qemu.py"), "--quiet", *args],
                           env=dict(os.environ, **env), capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        return p.stderr

    def test_bad_knobs(self):
        self.assertIn("SMP='abc'", self.refused({"SMP": "abc"}))
        self.assertIn("1..255", self.refused({"SMP": "300"}))
        self.assertIn("1..255", self.refused({"SMP": "0,sockets=1"}))
        self.assertIn("ACCEL='hvf'", self.refused({"ACCEL": "hvf"}))
        self.assertIn("GDB='yes'", self.refused({"GDB": "yes"}))

    def test_cmdline_with_a_fixed_iso_is_refused(self):
        err = self.refused({"CMDLINE": "ktest=all"}, "--iso", os.path.join(BUILD, "xpoke-test.iso"))
        self.assertIn("boots the fixed ISO", err)


if __name__ == "__main__":
    unittest.main()
