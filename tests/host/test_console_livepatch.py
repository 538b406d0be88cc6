"""tests/host/test_console_livepatch.py - the livepatch console command:
lp list, lp apply|revert|replace NAME [--strategy S], lp info NAME, typed
at the prompt of a boot that loaded the test payloads (tests/livepatch/,
carried as modules by every ISO built for a command line: the
[console-livepatch] stanza of tests/boots.cfg). Each operation prints one
result line; each refusal one line with its code, and .text keeps its CRC.
The replaced functions are called from the console (call, kernel/
callable.h) to see which version runs. Run by scripts/boots.py (make test
ONLY=console-livepatch).
"""
import os
import re
import unittest

from xptools import paths
from xptools.console import Console, ConsoleChecks

BUILD = paths.BUILD
BOOT = dict(cmdline="patch.strategy=int3", smp=2, timeout=120,
            log=os.path.join(BUILD, "boots", "console-livepatch.log"))

A1, A2, A3, B1, B2, N1, N2 = 0x1e0b0001, 0x1e0b0002, 0x1e0b0003, 0x1e0c0001, 0x1e0c0002, 0x1e0a0001, 0x1e0a0002
RESULT = r"^lp {op} {name}: {funcs} functions, {rounds} rounds, strategy {strategy}, \d+ us$"


class ConsoleLivepatch(ConsoleChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.con = Console(**BOOT)

    @classmethod
    def tearDownClass(cls):
        cls.con.close()

    def calls(self, a, b, n):
        """lp_target_a, _b and _nmi return the versions a, b, n."""
        for fn, want in (("lp_target_a", a), ("lp_target_b", b), ("lp_target_nmi", n)):
            line = self.one(f"call {fn}", rf"^{fn}\(\) = ")
            self.assertIn(f"({want:#x})", line, f"{fn} runs the wrong version")

    def listing(self):
        """lp list: {payload: (state, place or None, [(function, state, over)])}."""
        out, cur = {}, None
        for line in self.con.send("lp list"):
            m = re.match(r"^(\S+)\s+(loaded|applied|reverted)\s+(?:place (\d+))?\s+(\d+) function\(s\)", line)
            if m:
                cur = m.group(1)
                out[cur] = (m.group(2), int(m.group(3)) if m.group(3) else None, [])
                continue
            m = re.match(r"^  (\S+)\s+[0-9a-f]{16} -> [0-9a-f]{16}  (applied|reverted)(?:  over (\S+))?$", line)
            if m and cur:
                out[cur][2].append((m.group(1), m.group(2), m.group(3)))
        return out

    def test_1_list_shows_payloads_and_refusals(self):
        out = self.con.send("lp list")
        self.assertRegex(out[0], r"^lp: \d+ payload\(s\), \d+ refused module\(s\)$")
        lst = self.listing()
        for name in ("nmi_path", "two_funcs", "stack_over", "veto", "hooks"):
            self.assertIn(name, lst, f"payload {name} not listed")
            self.assertEqual(lst[name][0], "loaded")
        self.assertEqual(sorted(f[0] for f in lst["two_funcs"][2]), ["lp_target_a", "lp_target_b"])
        self.assertTrue(any(re.match(r"^refused \S+: LP_E[A-Z_]+: ", line) for line in out),
                        "no refused module listed with its code:\n" + "\n".join(out))

    def test_2_apply_stack_replace_revert(self):
        crc0 = self.crc()
        self.calls(A1, B1, N1)
        self.one("lp apply two_funcs", RESULT.format(op="apply", name="two_funcs", funcs=2, rounds=3, strategy="int3"))
        self.one("lp apply stack_over --strategy int3-2round",
                 RESULT.format(op="apply", name="stack_over", funcs=1, rounds=2, strategy="int3-2round"))
        self.calls(A3, B2, N1)
        lst = self.listing()
        self.assertEqual(lst["two_funcs"][:2], ("applied", 1))
        self.assertEqual(lst["stack_over"][:2], ("applied", 2))
        self.assertEqual(lst["stack_over"][2], [("lp_target_a", "applied", "two_funcs")])
        # refused, in one line, nothing written
        crc1 = self.crc()
        for line, code in (("lp revert two_funcs", "LP_ENOT_TOP"), ("lp apply two_funcs", "LP_EALREADY_APPLIED"),
                           ("lp revert nmi_path", "LP_ENOT_APPLIED"), ("lp apply veto", "LP_EVETO"),
                           ("lp apply bad_expect", "LP_EEXPECT"), ("lp apply no_such", "LP_ENO_PAYLOAD")):
            with self.subTest(line):
                self.one(line, rf"^lp \S+ \S+: {code}: ")
                self.assertEqual(self.crc(), crc1, f"{line}: .text changed")
        self.one("lp replace nmi_path", RESULT.format(op="replace", name="nmi_path", funcs=3, rounds=3, strategy="int3"))
        self.calls(A1, B1, N2)
        lst = self.listing()
        self.assertEqual((lst["two_funcs"][0], lst["stack_over"][0], lst["nmi_path"][:2]),
                         ("reverted", "reverted", ("applied", 1)))
        self.one("lp revert nmi_path", RESULT.format(op="revert", name="nmi_path", funcs=1, rounds=3, strategy="int3"))
        self.calls(A1, B1, N1)
        self.assertEqual(self.crc(), crc0, ".text is not back to what it was")

    def test_3_info(self):
        out = self.con.send("lp info hooks")
        self.assertRegex(out[0], r"^lp info hooks: (loaded|reverted), module \S+, text [0-9a-f]{16}\.\.[0-9a-f]{16}$")
        self.assertRegex(out[1], r"^  relocations: PC32 \d+, PLT32 \d+, 64 \d+, 32S \d+ \(against the kernel \d+, "
                                 r"its own \d+\)$")
        self.assertIn("  lp_target_hook: expectation 0f 1f 44 00 00 (from the build)", out)
        self.assertTrue(any(re.match(r"^  hook post-apply: [0-9a-f]{16}", x) for x in out), "\n".join(out))
        self.assertTrue(any(re.match(r"^  hook post-revert: [0-9a-f]{16}", x) for x in out), "\n".join(out))

    def test_5_walkthrough(self):
        """The README's walkthrough, step by step: demo_fix (tests/livepatch/
        demo_fix.c) turns lp_demo_answer's x + 1 into x * 2 and back; a
        payload without hooks says so in lp info."""
        crc0 = self.crc()
        self.one("call lp_demo_answer 21", r"^lp_demo_answer\(21\) = 22 \(0x16\)$")
        self.one("lp apply demo_fix", RESULT.format(op="apply", name="demo_fix", funcs=1, rounds=3, strategy="int3"))
        self.one("call lp_demo_answer 21", r"^lp_demo_answer\(21\) = 42 \(0x2a\)$")
        self.assertIn("  hooks: none", self.con.send("lp info demo_fix"))
        self.one("lp revert demo_fix", RESULT.format(op="revert", name="demo_fix", funcs=1, rounds=3, strategy="int3"))
        self.one("call lp_demo_answer 21", r"^lp_demo_answer\(21\) = 22 \(0x16\)$")
        self.assertEqual(self.crc(), crc0, ".text is not back to what it was")

    def test_4_usage(self):
        self.one("lp frob two_funcs", r"^lp: unknown subcommand 'frob'")
        self.one("lp bogus nosuch", r"^lp: unknown subcommand 'bogus'")
        self.one("lp", r"^usage: lp list")
        self.one("lp list x", r"^usage: lp list")
        self.one("lp apply", r"^usage: lp list")
        crc0 = self.crc()
        self.one("lp info two_funcs --strategy int3", r"^lp info: takes no --strategy")
        self.one("lp list --strategy int3", r"^lp list: takes no --strategy")
        self.assertEqual(self.crc(), crc0, "a refused lp command changed .text")


if __name__ == "__main__":
    unittest.main()
