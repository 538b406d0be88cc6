"""tests/host/test_rebuild.py - does the build survive being run again?

In a scratch copy of the tree (the files git knows, as they are now, in
/tmp), from nothing: make builds the kernel, Zydis unpacked and compiled
as always (from this tree's build/zydis/ through ZYDIS_SRC_CACHE when it
is there, so no network; otherwise through apt). Then:
  - a second make succeeds and does nothing (no build line; make -q agrees);
  - a touched C source recompiles that source alone and relinks;
  - a touched header recompiles exactly the objects whose .d name it;
  - a new MASS_N makes the tracer's corpus again, and recompiles what
    includes its header (the stamp named after it: Makefile).
The scratch tree builds a corpus of 64 functions (MASS_N), not 38252: the
Makefile's logic is the same, in a fraction of the time.
The second make once failed: make deleted Zydis's unpacked sources as
intermediates at the end of the first build (Makefile: ZYDIS_CSRCS)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOBS = "-j2"
BUILD_LINE = re.compile(r"^\s+(CC|NASM|GEN|LDS|LD|KSYMS|LIST|HOSTCC)\s+(\S+)")


def copy_tree(dst):
    """The working tree's files that git tracks or would (not ignored), as
    they are on disk, uncommitted edits included."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode()
    n = 0
    for rel in sorted(set(filter(None, out.split("\0")))):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src):          # deleted, not yet committed
            continue
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))
        n += 1
    return n


class Rebuild(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if subprocess.run(["git", "-C", ROOT, "rev-parse"], capture_output=True).returncode:
            raise unittest.SkipTest("not a git work tree: no file list to copy")
        cls.tree = tempfile.mkdtemp(prefix="xpoke-rebuild-")
        cls.env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "V")}
        cache = os.path.join(ROOT, "build", "zydis")
        if glob.glob(os.path.join(cache, "zydis_*.dsc")):
            cls.env["ZYDIS_SRC_CACHE"] = cache
        cls.env["MASS_N"] = "64"
        n = copy_tree(cls.tree)
        t0 = time.monotonic()
        cls.first = cls.make()
        print(f"# scratch tree {cls.tree}: {n} files; first build {time.monotonic() - t0:.1f} s "
              f"({'Zydis from ' + cache if 'ZYDIS_SRC_CACHE' in cls.env else 'Zydis through apt'})")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tree, ignore_errors=True)

    @classmethod
    def make(cls, *args):
        # The Makefile's Python steps (the corpus, ksyms: twice a link) run
        # this interpreter, not the first python3 on PATH (a pyenv shim
        # costs ~0.3 s of CPU a start).
        return subprocess.run(["make", "--no-print-directory", JOBS, f"PYTHON={sys.executable}", *args],
                              cwd=cls.tree, env=cls.env, capture_output=True, text=True)

    def build(self, what):
        """make once more; its build lines as [(tag, path)]."""
        t0 = time.monotonic()
        p = self.make()
        print(f"# {what}: make {time.monotonic() - t0:.1f} s")
        self.assertEqual(p.returncode, 0, f"make after {what} failed:\n{p.stdout}\n{p.stderr}")
        return [m.groups() for m in map(BUILD_LINE.match, p.stdout.splitlines()) if m]

    def assert_up_to_date(self, after):
        p = self.make("-q")
        self.assertEqual(p.returncode, 0, f"make -q after {after}: something is still out of date\n{p.stdout}")

    def test_1_first_build(self):
        p = self.first
        self.assertEqual(p.returncode, 0, f"first make failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        self.assertTrue(os.path.isfile(os.path.join(self.tree, "build", "xpoke.elf")))
        self.assertIn("fetch-zydis", p.stdout + p.stderr, "the scratch build did not unpack Zydis")

    def test_2_second_make_does_nothing(self):
        lines = self.build("nothing changed")
        self.assertEqual(lines, [], "the second make rebuilt something")
        self.assert_up_to_date("the second make")

    def test_3_touched_source_recompiles_it_and_relinks(self):
        src = sorted(glob.glob(os.path.join(self.tree, "kernel", "*.c")))[0]
        rel = os.path.relpath(src, self.tree)
        os.utime(src)
        lines = self.build(f"touch {rel}")
        self.assertEqual([p for t, p in lines if t in ("CC", "NASM")], [rel])
        self.assertIn(("LD", "build/xpoke.elf"), lines)
        self.assert_up_to_date(f"touch {rel}")

    def test_4_touched_header_recompiles_its_dependents(self):
        # From the .d files: a header of the tree with the fewest (>= 2)
        # dependents, so the step stays cheap whatever files move.
        users = {}
        for d in glob.glob(os.path.join(self.tree, "build", "obj", "**", "*.d"), recursive=True):
            text = open(d).read().replace("\\\n", " ")
            target, _, deps = text.partition(":")
            obj = os.path.relpath(target.split()[0], "build/obj")
            if obj.startswith("zydis/") or obj.startswith("gen/"):
                continue
            for dep in deps.split("\n")[0].split():
                if dep.endswith(".h") and not dep.startswith(("/", "build/")):
                    users.setdefault(dep, set()).add(obj)
        candidates = sorted((len(u), h) for h, u in users.items() if len(u) >= 2)
        self.assertTrue(candidates, "no header with two dependents in the .d files")
        header = candidates[0][1]
        expect = sorted(os.path.splitext(o)[0] for o in users[header])
        os.utime(os.path.join(self.tree, header))
        lines = self.build(f"touch {header}")
        rebuilt = sorted(os.path.splitext(p)[0] for t, p in lines if t in ("CC", "NASM"))
        self.assertEqual(rebuilt, expect, f"touching {header}")
        self.assertIn(("LD", "build/xpoke.elf"), lines)
        self.assert_up_to_date(f"touch {header}")

    def test_5_new_mass_n_remakes_the_corpus(self):
        header = os.path.join(self.tree, "build", "gen", "mass", "mass_corpus.h")
        self.assertIn("#define MASS_N 64\n", open(header).read())
        try:
            self.env["MASS_N"] = "65"
            lines = self.build("MASS_N=65")
            self.assertIn("#define MASS_N 65\n", open(header).read())
            rebuilt = {p for t, p in lines if t == "CC"}
            for src in ("clients/trace/trace.c", "tests/kernel/test_trace.c"):
                self.assertIn(src, rebuilt, f"MASS_N=65 did not recompile {src}")
            self.assertIn(("LD", "build/xpoke.elf"), lines)
            self.assert_up_to_date("MASS_N=65")
        finally:
            self.env["MASS_N"] = "64"
        self.build("MASS_N=64 again")
        self.assertIn("#define MASS_N 64\n", open(header).read())
        self.assert_up_to_date("MASS_N=64 again")


if __name__ == "__main__":
    unittest.main()
