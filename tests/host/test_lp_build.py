"""tests/host/test_lp_build.py - scripts/lp-build.py, the livepatch payload
builder, against the kernel ELF of this tree (build/xpoke.elf; make first).

The expectations it fills in must be the kernel's bytes at each replaced
function: read here independently (nm for the address, readelf -S for the
file offset of .text), for a payload that replaces several functions. And
its refusals: a name that is not a kernel function (named, with the file),
a LIVEPATCH_NAME that is not the file's base name, a source that is not
.c, a compile error; --no-expect lets the first through untouched."""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL = os.path.join(ROOT, "build", "xpoke.elf")
LP_BUILD = os.path.join(ROOT, "scripts", "lp-build.py")
TARGETS = ["errno_name", "shell_find", "text_crc", "ksym_find"]


def kernel_bytes(name, n=5):
    """The first n bytes of name in the kernel ELF, by nm and readelf."""
    addr = None
    for line in subprocess.run(["nm", KERNEL], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] == name and f[1] in "Tt":
            addr = int(f[0], 16)
            break
    assert addr is not None, name
    for line in subprocess.run(["readelf", "-SW", KERNEL], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".text":
            va, off = int(f[3], 16), int(f[4], 16)
            with open(KERNEL, "rb") as k:
                k.seek(off + addr - va)
                return k.read(n)
    raise AssertionError("no .text in the kernel ELF")


def func_entries(path):
    """[(old_name, expect, expect_set)] of a payload's .livepatch.funcs."""
    with open(path, "rb") as f:
        d = f.read()
    shoff, = struct.unpack_from("<Q", d, 40)
    shnum, shstrndx = struct.unpack_from("<HH", d, 60)
    secs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * 64) for i in range(shnum)]
    stroff = secs[shstrndx][4]
    for s in secs:
        name = d[stroff + s[0]:d.index(b"\0", stroff + s[0])].decode()
        if name == ".livepatch.funcs":
            out = []
            for o in range(s[4], s[4] + s[5], 80):
                out.append((d[o:o + 64].split(b"\0")[0].decode(), d[o + 72:o + 77], d[o + 77]))
            return out
    return []


class LpBuild(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(KERNEL):
            self.skipTest("no build/xpoke.elf (make first)")
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, name, body, *args):
        src = os.path.join(self.dir, name)
        with open(src, "w") as f:
            f.write('#include "clients/livepatch/payload.h"\n' + body)
        out = os.path.join(self.dir, os.path.splitext(name)[0] + ".lp")
        r = subprocess.run([sys.executable, LP_BUILD, "--kernel", KERNEL, "-o", out, *args, src],
                           capture_output=True, text=True)
        return r, out, src

    def test_expectations_are_the_kernel_bytes(self):
        body = 'LIVEPATCH_NAME("many");\n'
        for i, t in enumerate(TARGETS):
            body += f"long new_{i}(void) {{ return {i}; }}\nLIVEPATCH_FUNC({t}, new_{i});\n"
        body += "long new_src(void) { return 9; }\n"
        body += "LIVEPATCH_FUNC_EXPECT(crc32, new_src, 1, 2, 3, 4, 5);\n"
        r, out, _ = self.build("many.c", body)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {n: (e, s) for n, e, s in func_entries(out)}
        for t in TARGETS:
            self.assertEqual(got[t], (kernel_bytes(t), 2), t)       # LP_EXPECT_BUILD
        self.assertEqual(got["crc32"], (bytes([1, 2, 3, 4, 5]), 1))  # the source's, kept

    def test_unknown_function_is_an_error_naming_it(self):
        body = 'LIVEPATCH_NAME("nofn");\nint n(void) { return 0; }\nLIVEPATCH_FUNC(lp_no_such_fn, n);\n'
        r, out, src = self.build("nofn.c", body)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("lp_no_such_fn", r.stderr)
        self.assertIn("nofn.c", r.stderr)
        self.assertFalse(os.path.exists(out))
        r, out, _ = self.build("nofn.c", body, "--no-expect")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(func_entries(out), [("lp_no_such_fn", bytes(5), 0)])

    def test_nasm_global_label_is_a_function(self):
        # gen-ksyms.py's rule: a NASM global label (NOTYPE GLOBAL) is a function too
        body = 'LIVEPATCH_NAME("nasm");\nint n(void) { return 0; }\nLIVEPATCH_FUNC(flip_jcc32_fn, n);\n'
        r, out, _ = self.build("nasm.c", body)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(func_entries(out), [("flip_jcc32_fn", kernel_bytes("flip_jcc32_fn"), 2)])

    def test_ambiguous_name_is_an_error_naming_the_addresses(self):
        addrs = [l.split()[0] for l in subprocess.run(["nm", KERNEL], capture_output=True, text=True,
                 check=True).stdout.splitlines() if l.split()[-1] == "wait_all" and l.split()[1] in "tT"]
        self.assertEqual(len(addrs), 2, addrs)
        body = 'LIVEPATCH_NAME("amb");\nint n(void) { return 0; }\nLIVEPATCH_FUNC(wait_all, n);\n'
        r, out, _ = self.build("amb.c", body)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("wait_all", r.stderr)
        for a in addrs:
            self.assertIn(f"{int(a, 16):#x}", r.stderr)
        self.assertFalse(os.path.exists(out))
        r, out, _ = self.build("amb.c", body, "--no-expect")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(func_entries(out), [("wait_all", bytes(5), 0)])

    def test_name_must_be_the_base_name(self):
        r, _, _ = self.build("here.c", 'LIVEPATCH_NAME("there");\n')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('"there"', r.stderr)
        self.assertIn('"here"', r.stderr)

    def test_bad_inputs(self):
        r, _, _ = self.build("x.txt", 'LIVEPATCH_NAME("x");\n')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("must be a .c file", r.stderr)
        r, _, _ = self.build("broken.c", 'LIVEPATCH_NAME("broken");\nint f(void) { return }\n')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("gcc failed", r.stderr)
        r = subprocess.run([sys.executable, LP_BUILD, "--kernel", KERNEL], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no source given", r.stderr)


if __name__ == "__main__":
    unittest.main()
