"""tests/host/test_runner.py - the runner (scripts/boots.py), the stanza
file and the QEMU launcher refuse what they cannot run, with a message,
before QEMU starts; and a failing stanza is reported as failed."""
import os
import subprocess
import sys
import tempfile
import unittest

from xptools import paths, stanzas

BOOTS = os.path.join(paths.ROOT, "scripts", "boots.py")
RUN_QEMU = os.path.join(paths.ROOT, "scripts", "run-qemu.py")
CLEAN = {k: v for k, v in os.environ.items() if k not in ("GROUP", "ONLY", "SMP", "CMDLINE")}


def run(args, env=None, cfg=None, timeout=120):
    """scripts/boots.py args (with --file cfg text): (status, stdout, stderr)."""
    with tempfile.NamedTemporaryFile("w", prefix="boots_", suffix=".cfg", dir=paths.BUILD) as f:
        if cfg is not None:
            f.write(cfg)
            f.flush()
            args = ["--file", f.name] + args
        p = subprocess.run([sys.executable, BOOTS] + args, env=dict(CLEAN, **(env or {})),
                           capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class RunnerKnobs(unittest.TestCase):
    """Bad launcher knobs are refused with a message, before QEMU starts."""
    def refused(self, env, *args):
        p = subprocess.run([sys.executable, RUN_QEMU, "--quiet", *args],
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
        err = self.refused({"CMDLINE": "ktest=all"}, "--iso", paths.TEST_ISO)
        self.assertIn("boots the fixed ISO", err)


class StanzaFile(unittest.TestCase):
    """tests/boots.cfg itself, and what a bad stanza file gets."""
    def test_every_gdb_scenario_has_its_stanza(self):
        names = stanzas.gdb_scenarios()
        gdb = [s for s in stanzas.parse(paths.BOOTS_CFG) if s.judge == "gdb" and s.get("strategy", "int3") == "int3"]
        self.assertEqual(sorted(s.get("scenario") for s in gdb), sorted(names))
        self.assertTrue(all({"ci", "gdb"} <= set(s.groups) for s in gdb))

    def test_errors_name_the_line(self):
        good = "[a]\njudge = host\ngroups = ci\ncommand = true\n"
        for what, cfg, message in [
            ("unknown key", good + "smpp = 2\n", r"boots_\w+\.cfg:5: \[a\] unknown key 'smpp'"),
            ("unknown judge", "[a]\njudge = vibes\n", r":2: \[a\] unknown judge 'vibes'"),
            ("key the judge does not use", good + "scenario = x\n", r":5: \[a\] judge host does not use 'scenario'"),
            ("missing key", "[a]\njudge = gdb\ncmdline = x\n", r"judge gdb needs 'scenario'"),
            ("unknown gdb scenario", "[a]\njudge = gdb\nscenario = nope\ncmdline = x\n", r"no gdb scenario 'nope'"),
            ("bad status", "[a]\njudge = expect\nstatus = five\n", r"status 'five'"),
            ("bad regex", "[a]\njudge = expect\nstatus = 1\nlog = (\n", r"not a regular expression"),
            ("bad smp", "[a]\njudge = ktap\nsmp = 300\n", r"1\.\.255"),
            ("a key twice", good + "command = false\n", r"'command' set twice"),
            ("a stanza twice", good + good, r"a second stanza \[a\]"),
            ("a list key's lines on a one-line key", good + "  more\n", r"command takes one line"),
            ("not a stanza line", "what is this\n", r"not '\[name\]'"),
            ("parallel on a boot", "[a]\njudge = expect\nstatus = 1\nparallel = yes\n",
             r":4: \[a\] judge expect does not use 'parallel'"),
            ("a bad parallel", good + "parallel = maybe\n", r":5: \[a\] parallel 'maybe': yes or no"),
        ]:
            with self.subTest(what):
                st, out, err = run(["--list"], cfg=cfg)
                self.assertEqual(st, 2, err)
                self.assertRegex(err, message)

    def parse(self, cfg, env=None):
        """stanzas.parse of cfg text, in this process, with env set."""
        saved = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        try:
            with tempfile.NamedTemporaryFile("w", prefix="boots_", suffix=".cfg", dir=paths.BUILD) as f:
                f.write(cfg)
                f.flush()
                return stanzas.parse(f.name)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_smp_list_is_one_boot_per_cpu_count(self):
        cfg = "[cmp]\njudge = figures\ngroups = g\ncmdline = ktest=x\nfigures = y\nsmp_list = ${XP_LIST:-2 8}\n"
        every = self.parse(cfg)
        self.assertEqual([(s.name, s.get("smp")) for s in every], [("cmp-smp2", "2"), ("cmp-smp8", "8")])
        self.assertEqual([s.name for s in stanzas.select(every, "", "cmp-smp8")], ["cmp-smp8"])
        every = self.parse(cfg, {"XP_LIST": "4 6,sockets=2,cores=3"})
        self.assertEqual([(s.name, s.get("smp")) for s in every], [("cmp-smp4", "4"), ("cmp-smp6", "6,sockets=2,cores=3")])
        for what, text, env, message in [
            ("not a CPU count", "smp_list = 2 x", {}, r":6: \[cmp\] smp_list '2 x': 'x' is not a CPU count 1\.\.255"),
            ("from a variable", "smp_list = ${XP_LIST:-2 8}", {"XP_LIST": "2 300"},
             r"smp_list '2 300' \(from \$\{XP_LIST:-2 8\}\): '300' is not a CPU count"),
            ("a CPU count twice", "smp_list = 2 2,sockets=1", {}, r"2 CPUs twice"),
            ("none", "smp_list = ${XP_LIST:-2 8}", {"XP_LIST": " "}, r"no CPU count"),
            ("smp too", "smp_list = 2 8\nsmp = 2", {}, r"give smp or smp_list, not both"),
        ]:
            with self.subTest(what), self.assertRaisesRegex(stanzas.StanzaError, message):
                self.parse(cfg.replace("smp_list = ${XP_LIST:-2 8}", text), env)

    def test_unknown_group_and_only_are_errors(self):
        cfg = "[a]\njudge = host\ngroups = ci\ncommand = true\n"
        st, _, err = run(["--group", "nightly"], cfg=cfg)
        self.assertEqual(st, 2)
        self.assertIn("no stanza is in group 'nightly'", err)
        st, _, err = run([], env={"ONLY": "b*"}, cfg=cfg)
        self.assertEqual(st, 2)
        self.assertIn("ONLY: 'b*' matches no stanza", err)

    def test_old_knobs_say_what_replaced_them(self):
        for knob in ("SMP_LIST", "STRESS_SMP", "MATRIX_SMP", "MATRIX_MACHINES", "MATRIX_CPUS"):
            with self.subTest(knob):
                st, _, err = run(["--list", "--default-group", "ci"], env={knob: "2"})
                self.assertEqual(st, 2)
                self.assertIn(f"{knob} is gone", err)
        st, _, err = run(["--list", "--default-group", "ci"], env={"SMP": "4"})
        self.assertEqual(st, 2)
        self.assertIn("SMP is set, but these boots have fixed CPU counts", err)
        st, out, _ = run(["--list", "--default-group", "bench"], env={"SMP": "4"})
        self.assertEqual(st, 0)
        self.assertRegex(out, r"bench-boot +boot-time +bench +-smp 4 ")

    def test_failing_stanzas_are_reported_failed(self):
        """A host step that fails, and a boot whose expectation is wrong
        (ktest=list exits cleanly, status 1, not 3), among passing ones; the
        host steps side by side (parallel = yes), reported in file order,
        each with its own output, though the first ends last."""
        cfg = ("[slow]\njudge = host\ngroups = g\nparallel = yes\n"
               "command = sleep 0.5; echo slow-output; echo RESULT passed=2 failed=0\n"
               "[good]\njudge = host\ngroups = g\nparallel = yes\ncommand = echo RESULT passed=3 failed=0\n"
               "[bad-host]\njudge = host\ngroups = g\nparallel = yes\ncommand = exit 7\n"
               "[bad-boot]\njudge = expect\ngroups = g\ncmdline = ktest=list\nsmp = 1\ntimeout = 60\nstatus = 3\n"
               "log = ^smp\\.all_cpus_online$\n    ^no such line$\n")
        st, out, err = run(["--group", "g", "--title", "self-test"], cfg=cfg)
        self.assertEqual(st, 1, out + err)
        self.assertRegex(out, r"(?s)^== slow .*\nok slow: 2 passed, 0 failed .*\n== good .*\nok good: .*"
                              r"\n== bad-host .*\nFAIL bad-host: .*\n== bad-boot ")
        self.assertRegex(err, r"(?s)== slow\n.*slow-output\n.*== good\n")
        self.assertIn("ok good: 3 passed, 0 failed", out)
        self.assertIn("FAIL bad-host: 0 passed, 1 failed", out)
        self.assertIn("'exit 7' exited with status 7", out)
        self.assertIn("QEMU status 1, expected 3", out)
        self.assertIn("no log line matches /^no such line$/", out)
        self.assertNotIn("no log line matches /^smp", out)
        self.assertIn("FAIL bad-boot: 0 passed, 1 failed", out)
        self.assertIn("failed: bad-host bad-boot", out)
        self.assertIn("total: 5 passed, 2 failed", out)
        self.assertRegex(out, r"self-test: wall time [0-9.]+ s")


if __name__ == "__main__":
    unittest.main()
