#!/usr/bin/env python3
"""Build a livepatch payload (clients/livepatch/payload.h) from one C file.

  lp-build.py [--no-expect] [--kernel build/xpoke.elf] [-o OUT.lp] SRC.c
  lp-build.py --fill-only [--kernel ELF] OBJ.o     only step 2, in place

1. gcc -c with the kernel's code model and flags (no -pg/-mfentry: a
   payload has no fentry NOPs), -I. of the repository.
2. The expectations (Xen's): every .livepatch.funcs entry whose expect_set
   is LP_EXPECT_NONE gets the first LP_PATCH_LEN bytes of its old_name in
   the kernel ELF it is built against, and expect_set LP_EXPECT_BUILD; the
   bytes are written into the object's section in place. An old_name that
   is not a function of the kernel is an error, unless --no-expect (the
   bad samples of tests/livepatch/ that must reach the kernel's own
   refusal), which leaves those entries as they are.
3. The declared .livepatch.name must be SRC's base name.

A source may carry one line `// lp-build: ARGS` (e.g. --no-expect) and one
`// lp-mutate: ARGS` (scripts/lp-mutate.py, run on the result: the bad
samples that no compiler would produce).

ELF64 is read with struct only. Exit status 1 with a message naming the
file on any error.
"""
import os
import re
import shlex
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFLAGS = ["-std=gnu11", "-O2", "-ffreestanding", "-fno-stack-protector", "-fno-pic", "-fno-pie",
          "-mno-red-zone", "-mgeneral-regs-only", "-mcmodel=kernel", "-fno-omit-frame-pointer",
          "-fno-asynchronous-unwind-tables", "-fcf-protection=none", "-fno-strict-aliasing",
          "-fno-common", "-Wall", "-Wextra", "-Werror", "-I" + ROOT]
FUNC_DESC = 80                          # struct lp_func_desc
OLD_NAME_LEN = 64                       # LP_SYM_MAX
EXPECT_OFF = 72                         # expect[] inside the entry
EXPECT_SET_OFF = EXPECT_OFF + 5
PATCH_LEN = 5                           # LP_PATCH_LEN
LP_EXPECT_NONE, LP_EXPECT_BUILD = 0, 2
NAME_MAX = 32                           # LP_NAME_MAX


class BuildError(Exception):
    pass


class Elf:
    """The sections and symbols of an ELF64 little-endian file."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = bytearray(f.read())
        d = self.data
        if len(d) < 64 or d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise BuildError(f"{path}: not an ELF64 little-endian file")
        (self.e_type, self.e_machine, _, _, _, shoff, _, _, _, _, shentsize, shnum,
         shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", d, 16)
        if shentsize != 64 or shoff + shnum * 64 > len(d):
            raise BuildError(f"{path}: section headers outside the file")
        self.sections = []
        for i in range(shnum):
            (name, typ, flags, addr, off, size, link, info, align,
             entsize) = struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * 64)
            self.sections.append(dict(name=name, type=typ, flags=flags, addr=addr, off=off, size=size,
                                      link=link, info=info, entsize=entsize))
        strtab = self.sections[shstrndx]
        for s in self.sections:
            s["name"] = self.cstr(strtab["off"] + s["name"])

    def cstr(self, off):
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode()

    def section(self, name):
        for s in self.sections:
            if s["name"] == name:
                return s
        return None

    def symbols(self, with_bind=False):
        """[(name, value, size, type, shndx)], and the binding last if with_bind"""
        out = []
        for s in self.sections:
            if s["type"] != 2:          # SHT_SYMTAB
                continue
            strtab = self.sections[s["link"]]
            for off in range(s["off"], s["off"] + s["size"], 24):
                name, info, _, shndx, value, size = struct.unpack_from("<IBBHQQ", self.data, off)
                row = (self.cstr(strtab["off"] + name), value, size, info & 0xf, shndx)
                out.append(row + (info >> 4,) if with_bind else row)
        return out

    def bytes_at(self, addr, n):
        """n bytes of the loaded image at virtual address addr."""
        for s in self.sections:
            if s["flags"] & 2 and s["type"] != 8 and s["addr"] <= addr and addr + n <= s["addr"] + s["size"]:
                o = s["off"] + addr - s["addr"]
                return bytes(self.data[o:o + n])
        return None


def kernel_functions(kernel):
    """{name: [addresses]} of the kernel ELF's functions, by the rule of
    scripts/gen-ksyms.py (the kernel's own table, which the loader
    resolves names in): STT_FUNC, or a NASM global label (NOTYPE GLOBAL)
    not starting with __, defined in an executable section. Several
    addresses: local functions of one name in several files."""
    fns = {}
    for name, value, size, typ, shndx, bind in kernel.symbols(with_bind=True):
        if shndx == 0 or shndx >= len(kernel.sections) or not kernel.sections[shndx]["flags"] & 4:
            continue                    # undefined, absolute, or not SHF_EXECINSTR
        if typ == 2 or (typ == 0 and bind == 1 and not name.startswith("__")):
            addrs = fns.setdefault(name, [])
            if value not in addrs:
                addrs.append(value)
    return fns


def fill_expectations(obj_path, kernel_path, no_expect, label=None):
    """Step 2 on obj_path, in place (label: the file to name in errors).
    Returns [(old_name, bytes)] filled."""
    label = label or obj_path
    obj = Elf(obj_path)
    funcs = obj.section(".livepatch.funcs")
    if funcs is None:
        return []
    if funcs["size"] % FUNC_DESC:
        raise BuildError(f"{label}: .livepatch.funcs is {funcs['size']} bytes, "
                         f"not a multiple of {FUNC_DESC}")
    kernel = Elf(kernel_path)
    fns = kernel_functions(kernel)
    filled = []
    for i in range(funcs["size"] // FUNC_DESC):
        e = funcs["off"] + i * FUNC_DESC
        raw = bytes(obj.data[e:e + OLD_NAME_LEN])
        old = raw.split(b"\0", 1)[0].decode()
        if obj.data[e + EXPECT_SET_OFF] != LP_EXPECT_NONE:
            continue
        if old not in fns:
            if no_expect:
                continue
            raise BuildError(f"{label}: '{old}' (.livepatch.funcs[{i}]) is not a function of "
                             f"{kernel_path}")
        if len(fns[old]) > 1:
            if no_expect:
                continue                # the loader refuses it (LP_EAMBIGUOUS)
            addrs = ", ".join(f"{a:#x}" for a in sorted(fns[old]))
            raise BuildError(f"{label}: '{old}' (.livepatch.funcs[{i}]) names {len(fns[old])} functions "
                             f"of {kernel_path} ({addrs}): which one is replaced is not known")
        addr = fns[old][0]
        b = kernel.bytes_at(addr, PATCH_LEN)
        if b is None:
            raise BuildError(f"{kernel_path}: no bytes for '{old}' at {addr:#x}")
        obj.data[e + EXPECT_OFF:e + EXPECT_OFF + PATCH_LEN] = b
        obj.data[e + EXPECT_SET_OFF] = LP_EXPECT_BUILD
        filled.append((old, b))
    with open(obj_path, "wb") as f:
        f.write(obj.data)
    return filled


def check_name(obj_path, src):
    obj = Elf(obj_path)
    sec = obj.section(".livepatch.name")
    want = os.path.splitext(os.path.basename(src))[0]
    if sec is None:
        raise BuildError(f"{src}: no LIVEPATCH_NAME(\"{want}\") (section .livepatch.name)")
    got = bytes(obj.data[sec["off"]:sec["off"] + sec["size"]]).split(b"\0", 1)[0].decode()
    if got != want:
        raise BuildError(f"{src}: LIVEPATCH_NAME(\"{got}\") must be the file's base name, \"{want}\"")
    if len(got) >= NAME_MAX:
        raise BuildError(f"{src}: the name \"{got}\" is {len(got)} bytes, at most {NAME_MAX - 1}")


def directives(src):
    """The `// lp-build:` and `// lp-mutate:` arguments of a source."""
    found = {"lp-build": [], "lp-mutate": []}
    with open(src) as f:
        for line in f:
            m = re.match(r"\s*//\s*(lp-build|lp-mutate):\s*(.*)$", line)
            if m:
                found[m.group(1)] = shlex.split(m.group(2))
    return found


def build(src, out, kernel, no_expect):
    if not src.endswith(".c"):
        raise BuildError(f"{src}: a payload source must be a .c file")
    if not os.path.isfile(src):
        raise BuildError(f"{src}: no such file")
    if not os.path.isfile(kernel):
        raise BuildError(f"{kernel}: no kernel ELF (run make first)")
    d = directives(src)
    if "--no-expect" in d["lp-build"]:
        no_expect = True
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        r = subprocess.run(["gcc", *CFLAGS, "-c", "-o", tmp, src], capture_output=True, text=True)
        if r.returncode:
            raise BuildError(f"{src}: gcc failed:\n{r.stderr.rstrip()}")
        check_name(tmp, src)
        fill_expectations(tmp, kernel, no_expect, src)
        if d["lp-mutate"]:
            r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "lp-mutate.py"),
                                *d["lp-mutate"], tmp], capture_output=True, text=True)
            if r.returncode:
                raise BuildError(f"{src}: lp-mutate {' '.join(d['lp-mutate'])} failed:\n{r.stderr.rstrip()}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default=os.path.join(ROOT, "build", "xpoke.elf"))
    ap.add_argument("--no-expect", action="store_true")
    ap.add_argument("--fill-only", action="store_true")
    ap.add_argument("-o", dest="out")
    ap.add_argument("src", nargs="?")
    a = ap.parse_args(argv)
    try:
        if not a.src:
            raise BuildError("no source given (make payload SRC=path/to/name.c)")
        if a.fill_only:
            for old, b in fill_expectations(a.src, a.kernel, a.no_expect):
                print(f"{old}: {b.hex(' ')}")
            return 0
        out = a.out or os.path.join(ROOT, "build", "payloads",
                                    os.path.splitext(os.path.basename(a.src))[0] + ".lp")
        build(a.src, out, a.kernel, a.no_expect)
        print(f"lp-build: {out}")
        return 0
    except BuildError as e:
        print(f"lp-build: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
