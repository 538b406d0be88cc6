"""tests/host/test_lint.py - does scripts/lint.py catch what it is for?

The no-patch check runs on a small ELF assembled and linked here (the same
objdump/readelf path as on build/xpoke.elf): a region with a call, a jcc,
a tail jmp and an indirect call out of it, switch jump tables in and out of
their function, an allowed call, and the region's object list. The
layering check runs on a small tree of sources written here."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINT = os.path.join(ROOT, "scripts", "lint.py")

# Linked at a kernel address, so the jump tables' addresses are
# sign-extended 32-bit displacements, as in xpoke.elf.
REGION_S = r"""
        .text
        .globl __nopatch_start, __nopatch_end
__nopatch_start:
        .type in_a, @function
in_a:
        call in_b                       # inside: fine
        jmp 1f                          # inside: fine
1:      call out_f                      # CALL OUT
        jne out_f                       # JCC OUT
        jmp *table_in(,%rax,8)          # switch table, entries in in_a: fine
.La:    nop
.Lb:    jmp out_f                       # TAIL JMP OUT
        .size in_a, . - in_a

        .type in_b, @function
in_b:
        call *%rax                      # INDIRECT
        jmp *table_out(,%rcx,8)         # table whose first entry leaves in_b
.Lc:    ret
        .size in_b, . - in_b

        .type hinted, @function
hinted:
        rex.W jmp *%rax                 # REX.W INDIRECT
        jne,pn out_f                    # HINTED JCC OUT
        jne,pt out_f                    # HINTED JCC OUT
        rex.W call out_f                # REX.W CALL OUT
        ret
        .size hinted, . - hinted

        .type allowed_fn, @function
allowed_fn:
        call out_g                      # allowed by the allow-list
        call out_f                      # not allowed: only out_g is
        ret
        .size allowed_fn, . - allowed_fn
__nopatch_end:

        .section .rodata
table_in:
        .quad .La, .Lb, .La
table_out:
        .quad out_f, .Lc
"""

OUT_S = r"""
        .text
        .globl out_f, out_g
        .type out_f, @function
out_f:  ret
        .size out_f, 1
        .type out_g, @function
out_g:  ret
        .size out_g, 1
"""

ALLOW = """# test allow-list
allowed_fn -> out_g     # the allowed call
nobody -> out_f         # stale: matches no branch
inside: in_b            # a hook target that is inside
inside: out_g           # a hook target that is not
"""


def run_lint(*args):
    p = subprocess.run([sys.executable, LINT, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


class NoPatch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="xpoke-lint-")
        d = cls.tmp.name
        for name, text in (("region", REGION_S), ("out", OUT_S)):
            with open(os.path.join(d, name + ".s"), "w") as f:
                f.write(text)
            subprocess.run(["as", "--64", "-o", os.path.join(d, name + ".o"), os.path.join(d, name + ".s")],
                           check=True)
        cls.elf = os.path.join(d, "t.elf")
        subprocess.run(["ld", "-static", "-nostdlib", "-e", "in_a", "-Ttext=0xffffffff80001000",
                        "-o", cls.elf, os.path.join(d, "region.o"), os.path.join(d, "out.o")], check=True)
        cls.allow = cls.write("allow.txt", ALLOW)
        cls.inc = cls.write("nopatch.ld.inc", "#define NOPATCH_TEXT *region.o(.text .text.*)\n")
        rc, out, err = cls.lint()
        cls.rc, cls.out, cls.err = rc, out, err
        cls.lines = [l for l in out.splitlines() if l.startswith("nopatch: ") and "checked" not in l]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def write(cls, name, text):
        path = os.path.join(cls.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    @classmethod
    def lint(cls, allow=None, inc=None):
        return run_lint("--nopatch", "--elf", cls.elf, "--obj-dir", cls.tmp.name,
                        "--region-inc", inc or cls.inc, "--allow", allow or cls.allow)

    def find(self, pattern):
        return [l for l in self.lines if re.search(pattern, l)]

    def test_violations_fail_the_run(self):
        self.assertEqual(self.rc, 1, self.out + self.err)
        self.assertIn(f"RESULT passed=0 failed={len(self.lines)}", self.out)

    def test_direct_call_out_is_named_with_offset_address_target_reason(self):
        hit = self.find(r"^nopatch: in_a\+0x7 \(ffffffff80001007\) \[region\.o\]: call out_f\+0x0 \(ffffffff8000[0-9a-f]+\): "
                        r"target outside the no-patch region$")
        self.assertEqual(len(hit), 1, self.out)

    def test_jcc_out(self):
        self.assertEqual(len(self.find(r"^nopatch: in_a\+0x[0-9a-f]+ .*: jne out_f")), 1, self.out)

    def test_tail_jmp_out(self):
        self.assertEqual(len(self.find(r"^nopatch: in_a\+0x[0-9a-f]+ .*: jmp out_f")), 1, self.out)

    def test_prefixed_and_hinted_branches_are_read(self):
        """objdump writes rex.W jmp/call and jne,pn / jne,pt: each is a branch out."""
        self.assertEqual(len(self.find(r"^nopatch: hinted\+0x0 .*: jmp \*%rax: indirect jmp")), 1, self.out)
        self.assertEqual(len(self.find(r"^nopatch: hinted\+0x[0-9a-f]+ .*: jne out_f")), 2, self.out)
        self.assertEqual(len(self.find(r"^nopatch: hinted\+0x[0-9a-f]+ .*: call out_f")), 1, self.out)

    def test_indirect_call_needs_an_entry(self):
        self.assertEqual(len(self.find(r"^nopatch: in_b\+0x0 .*: call \*%rax: indirect call, target unknown: "
                                       r"needs an allow-list entry 'in_b -> \(indirect\)'")), 1, self.out)

    def test_jump_table_in_function_is_fine_one_leaving_is_not(self):
        self.assertEqual(self.find(r"in_a\+.*jmp \*"), [], self.out)
        self.assertEqual(len(self.find(r"^nopatch: in_b\+0x[0-9a-f]+ .*: jmp \*-0x[0-9a-f]+\(,%rcx,8\): indirect jmp")),
                         1, self.out)

    def test_inside_calls_are_not_reported(self):
        self.assertEqual(self.find(r"call in_b|jmp ffffffff|call in_a"), [], self.out)

    def test_allow_list_entry_allows_only_its_pair(self):
        self.assertEqual(self.find(r"allowed_fn.*out_g"), [], self.out)
        self.assertEqual(len(self.find(r"^nopatch: allowed_fn\+0x5 .*: call out_f")), 1, self.out)

    def test_stale_allow_list_entry_is_reported(self):
        self.assertEqual(len(self.find(r"allow\.txt:3: allow-list entry 'nobody -> out_f' matches no branch")), 1,
                         self.out)

    def test_inside_names_a_target_that_must_be_in_the_region(self):
        self.assertEqual(self.find(r"^nopatch: in_b \("), [], self.out)
        self.assertEqual(len(self.find(r"^nopatch: out_g \(ffffffff8000[0-9a-f]+\) lies outside the no-patch region")),
                         1, self.out)

    def test_region_objects_missing_or_placed_outside(self):
        inc = self.write("bad.ld.inc", "#define NOPATCH_TEXT *region.o(.text .text.*) *out.o(.text .text.*) "
                                       "*gone.o(.text .text.*)\n")
        rc, out, _ = self.lint(inc=inc)
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"nopatch: gone\.o: listed in the region .* does not exist")
        self.assertRegex(out, r"nopatch: out\.o: out_f at [0-9a-f]+ lies outside the region")

    def test_a_clean_region_passes(self):
        allow = self.write("all.txt", "in_a -> out_f  # t\nin_b -> (indirect)  # t\nallowed_fn -> out_*  # t\n"
                                      "hinted -> out_f  # t\nhinted -> (indirect)  # t\n"
                                      "inside: in_b  # t\n")
        rc, out, err = self.lint(allow=allow)
        self.assertEqual((rc, err), (0, ""), out)
        self.assertIn("RESULT passed=1 failed=0", out)

    def test_an_entry_without_its_reason_is_refused(self):
        rc, _, err = self.lint(allow=self.write("noreason.txt", "in_a -> out_f\n"))
        self.assertEqual(rc, 2)
        self.assertIn("want 'FROM -> TO  # why'", err)


TREE = {
    "patch/core.c": '#include "patch/bp.h"\n#include "bp.h"\n#include <stdint.h>\n#include "tests/kernel/t.h"\n',
    "patch/bp.h": "",
    "patch/trap.h": "",
    "patch/patch.h": "",
    "patch/code.asm": '%include "tests/kernel/t.inc"\n',
    "patch/ok.c": '#include "kernel/printk.h"\n#include "arch/x86/cpu.h"\n',
    "arch/x86/traps.c": '#include "patch/trap.h"\n#include "patch/bp.h"\n',
    "clients/sites.c": '#include "patch/patch.h"\n  #  include "patch/bp.h"\n',
    "kernel/main.c": '#include "patch/bp.h"\n#include "tests/kernel/t.h"\n',
    "tests/kernel/t.h": "",
    "tests/kernel/t.inc": "",
    "lab/storm.c": '#include "patch/bp.h"\n',
    "kernel/printk.h": "",
    "arch/x86/cpu.h": "",
}


class Layering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="xpoke-lint-")
        for path, text in TREE.items():
            full = os.path.join(cls.tmp.name, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        cls.rc, cls.out, _ = run_lint("--layering", "--root", cls.tmp.name)
        cls.lines = [l for l in cls.out.splitlines() if l.startswith("layering: ") and "checked" not in l]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_exactly_the_bad_includes(self):
        got = sorted(l.split(" may not")[0] for l in self.lines)
        self.assertEqual(got, [
            "layering: arch/x86/traps.c:2: includes patch/bp.h: arch/",
            "layering: clients/sites.c:2: includes patch/bp.h: clients/",
            "layering: patch/code.asm:1: includes tests/kernel/t.inc: patch/",
            "layering: patch/core.c:4: includes tests/kernel/t.h: patch/",
        ], self.out)
        self.assertEqual(self.rc, 1)
        self.assertIn("RESULT passed=0 failed=4", self.out)

    def test_reason_and_exceptions_are_said(self):
        line = next(l for l in self.lines if "arch/x86/traps.c" in l)
        self.assertIn("may not include from patch/ (only patch/trap.h)", line)

    def test_a_patch_file_including_a_test_header_fails(self):
        self.assertTrue(any("patch/core.c:4: includes tests/kernel/t.h: patch/ may not include from tests/" in l
                            for l in self.lines), self.out)

    def test_a_clean_tree_passes(self):
        with tempfile.TemporaryDirectory(prefix="xpoke-lint-") as d:
            os.makedirs(os.path.join(d, "patch"))
            with open(os.path.join(d, "patch", "a.c"), "w") as f:
                f.write('#include "patch/a.h"\n')
            with open(os.path.join(d, "patch", "a.h"), "w") as f:
                f.write("")
            rc, out, _ = run_lint("--layering", "--root", d)
        self.assertEqual(rc, 0, out)
        self.assertIn("RESULT passed=1 failed=0", out)


if __name__ == "__main__":
    unittest.main()
