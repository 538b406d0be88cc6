#!/usr/bin/env python3
"""scripts/lint.py - static checks of the built kernel and of the sources
(make lint; make test runs the no-patch part).

  lint.py [--nopatch] [--layering]        both parts when neither is given

--nopatch: the no-patch region, in the spirit of Linux objtool's noinstr
  validation. From the disassembly of build/xpoke.elf (objdump -d) and its
  symbols (readelf -s), every call and jump (call, jmp, jcc, loop) whose
  source lies in [__nopatch_start, __nopatch_end) must land in that region
  too: code the #BP, NMI and #MC paths run must never run into a patch site.
  An indirect call or jump (target unknown) is a violation too, except a
  switch's jump table whose entries land in the jumping function (see
  jump_table() for how far that can be told).
  What leaves the region on purpose is named in scripts/lint-allow.txt,
  FROM -> TO (or FROM -> (indirect)), each entry with its reason. An entry
  that matches nothing is reported too, so the list cannot rot.
  The region's objects are read from build/gen/nopatch.ld.inc (made by the
  Makefile from NOPATCH_ENTRY_OBJS and NOPATCH_OBJS, the one list): each
  must exist, and its functions must lie in the region.

--layering: the #include and %include lines of the sources, against the
  rules of LAYERING below.

Prints one line per violation and "RESULT passed=P failed=F" (P: parts
clean, F: violations); exits 1 on any violation, 2 on a usage error.
"""
import argparse
import bisect
import fnmatch
import os
import re
import struct
import subprocess
import sys

# --- layering rules (edit here) ---------------------------------------------
#
# Each rule: the files it applies to (a directory prefix), the directories
# they may not include from, and the files there they may include anyway.
# Paths are relative to the tree's root; an include is resolved as the
# compiler would (the including file's directory first, then the root).
LAYERING = [
    {"files": "patch/", "forbid": ["lab/", "clients/", "strategies/", "tests/"], "allow": [],
     "why": "the patch core depends on no client, strategy, lab or test"},
    {"files": "arch/", "forbid": ["patch/"], "allow": ["patch/trap.h"],
     "why": "arch/ reaches the patch core only through its trap interface"},
    {"files": "clients/", "forbid": ["patch/"], "allow": ["patch/patch.h", "patch/exec_regions.h"],
     "why": "clients use the patch core only through its public API"},
]
SOURCE_EXTS = (".c", ".h", ".asm", ".inc", ".S")
SKIP_DIRS = {"build", ".git", "__pycache__"}
INCLUDE_RE = re.compile(r'^\s*[#%]\s*include\s*[<"]([^>"]+)[>"]')

# --- the no-patch region ------------------------------------------------------

BRANCH_RE = re.compile(r"^(call|jmp|j[a-z]{1,3}|loop[a-z]*|jrcxz|jecxz|xbegin|lcall|ljmp)[lqw]?$")
PREFIXES = {"notrack", "bnd", "ds", "cs", "es", "ss", "fs", "gs", "data16", "addr32"}
REX_RE = re.compile(r"^rex(\.[wrxb]+)?$", re.I)  # objdump prints rex.W, rex.WB, ...
# A mnemonic that looks like control flow but does not parse as one above:
# reported rather than skipped, so a new form cannot slip through.
LOOKS_LIKE_BRANCH_RE = re.compile(r"^(j|call|loop|lcall|ljmp|xbegin)", re.I)
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+(.*?)\s*$")
DIRECT_RE = re.compile(r"^([0-9a-f]+)(?:\s+<[^>]*>)?$")
# gcc's switch: jmp *TABLE(,%reg,8), TABLE a sign-extended 32-bit address.
JUMP_TABLE_RE = re.compile(r"^\*(-?0x[0-9a-f]+)\(,%[a-z0-9]+,8\)$")
MARKER_RE = re.compile(r"^__\w+_(start|end)$")   # linker-script bounds, not functions


def die(msg):
    print(f"lint: {msg}", file=sys.stderr)
    sys.exit(2)


def shown(path):
    """path as the user would type it: relative if below the cwd."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def run(cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        die(f"{cmd[0]} not found")
    except subprocess.CalledProcessError as e:
        die(f"{' '.join(cmd)} failed:\n{e.stderr}")


class Symbols:
    """The ELF's code symbols, to name any address 'name+0xoff'."""

    def __init__(self, readelf_out):
        self.by_name = {}
        at = {}
        for line in readelf_out.splitlines():
            f = line.split()
            # Num: Value Size Type Bind Vis Ndx Name
            if len(f) < 8 or not f[0].endswith(":") or f[3] not in ("FUNC", "NOTYPE") or f[6] in ("UND", "ABS"):
                continue
            addr, size, kind, name = int(f[1], 16), int(f[2], 0), f[3], f[7]
            self.by_name.setdefault(name, []).append(addr)
            if not MARKER_RE.match(name):
                at.setdefault(addr, []).append((kind != "FUNC", -size, name))
        # One entry per address: its names (aliases: a NASM function and its
        # site label), a FUNC's first, and the largest size among them.
        self.syms = [(a, [n for _, _, n in sorted(v)], max(-s for _, s, _ in v)) for a, v in sorted(at.items())]
        self.addrs = [s[0] for s in self.syms]

    def addr(self, name):
        a = self.by_name.get(name)
        if not a:
            die(f"symbol {name} not found in the ELF")
        return a[0]

    def at(self, addr):
        """(names, start, size) of the symbol containing addr, or None."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.syms[i] if i >= 0 else None

    def name(self, addr):
        s = self.at(addr)
        return f"{'='.join(s[1])}+{addr - s[0]:#x}" if s else f"{addr:#x}"


class Elf:
    """Just enough of ELF64 to read bytes at a virtual address."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2:
            die(f"{path} is not an ELF64 file")
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", d, 0x3a)
        self.sections = []
        for i in range(shnum):
            _, stype, _, addr, off, size = struct.unpack_from("<IIQQQQ", d, shoff + i * shentsize)
            if addr and stype == 1:                 # SHT_PROGBITS, allocated
                self.sections.append((addr, off, size))

    def u64(self, addr):
        for a, off, size in self.sections:
            if a <= addr and addr + 8 <= a + size:
                return struct.unpack_from("<Q", self.data, off + addr - a)[0]
        return None


def parse_region_inc(path):
    """The objects of the region, from the generated linker-script include."""
    try:
        text = open(path).read()
    except OSError as e:
        die(f"{e} (make builds it from the Makefile's NOPATCH_OBJS)")
    objs = re.findall(r"\*(\S+\.o)\(", text)
    if not objs:
        die(f"{path} names no objects")
    return objs


def parse_allow(path):
    """The allow-list: [(from, to, why, lineno)] of its 'FROM -> TO  # why'
    lines and [(name, why, lineno)] of its 'inside: NAME  # why' lines. A
    line of another form, or without its reason, is fatal."""
    entries, inside, bad = [], [], []
    for n, line in enumerate(open(path), 1):
        body, _, why = line.partition("#")
        if not body.strip():
            continue
        m = re.match(r"^\s*(\S+)\s*->\s*(\S+)\s*$", body)
        i = re.match(r"^\s*inside:\s*(\S+)\s*$", body)
        if not (m or i) or not why.strip():
            bad.append(f"{path}:{n}: want 'FROM -> TO  # why' or 'inside: NAME  # why', got: {line.rstrip()}")
        elif m:
            entries.append((m.group(1), m.group(2), why.strip(), n))
        else:
            inside.append((i.group(1), why.strip(), n))
    if bad:
        die("\nlint: ".join(bad))
    return entries, inside


def name_matches(pattern, names):
    """FROM/TO patterns (fnmatch) match any of a symbol's names or its base
    name: 'foo' stands for foo.cold, foo.isra.0, foo.part.0 and NASM's
    foo.label too."""
    return any(fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatchcase(n.split(".")[0], pattern)
               for n in names)


def branches(listing):
    """(address, mnemonic, operand) of each call and jump in objdump -d -w
    --no-show-raw-insn output."""
    for line in listing.splitlines():
        m = INSN_RE.match(line)
        if not m:
            continue
        words = m.group(2).split(None, 1)
        while words and (words[0].lower() in PREFIXES or REX_RE.match(words[0])):
            words = words[1].split(None, 1) if len(words) > 1 else []
        if not words:
            continue
        mn = words[0].split(",")[0]         # jne,pn / jne,pt: branch hints
        if not BRANCH_RE.match(mn):
            if LOOKS_LIKE_BRANCH_RE.match(mn):
                die(f"{m.group(1)}: '{m.group(2)}': looks like a branch, but lint.py cannot read it")
            continue
        yield int(m.group(1), 16), mn, (words[1].strip() if len(words) > 1 else "")


def jump_table(elf, syms, src, operand):
    """The targets of gcc's switch jump table at src, or None if its first
    entry does not land in the jumping function (or its .cold part).
    The table's length is not in the binary: entries are read while they
    land in the function, so one that leaves it ends the table as far as
    this can see. gcc's tables never leave; a hand-written one that does
    is caught only if its first entry leaves."""
    m = JUMP_TABLE_RE.match(operand)
    f = syms.at(src)
    if not m or not f or not f[2]:
        return None
    fstart, fnames, fsize = f
    table = int(m.group(1), 16) & 0xffffffffffffffff      # sign-extended, as the CPU does
    targets = []
    while True:
        t = elf.u64(table + 8 * len(targets))
        if t is None:
            break
        g = syms.at(t)
        inside = fstart <= t < fstart + fsize or (g and any(n.startswith(fnames[0] + ".cold") for n in g[1]))
        if not inside:
            break
        targets.append(t)
    return targets or None


def check_nopatch(args):
    elf_path = args.elf
    syms = Symbols(run(["readelf", "-sW", elf_path]))
    start, end = syms.addr("__nopatch_start"), syms.addr("__nopatch_end")
    elf = Elf(elf_path)
    allow, inside = parse_allow(args.allow)
    used = [0] * len(allow)
    out = []

    # The region's objects: each linked, its code in the region.
    objs = parse_region_inc(args.region_inc)
    obj_of = {}
    for o in objs:
        path = os.path.join(args.obj_dir, o)
        if not os.path.exists(path):
            out.append(f"nopatch: {o}: listed in the region ({shown(args.region_inc)}) but {shown(path)} does not exist")
            continue
        for line in run(["nm", "--defined-only", path]).splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "tT" and not f[2].startswith(".") and not MARKER_RE.match(f[2]):
                obj_of.setdefault(f[2], o)
                addrs = syms.by_name.get(f[2], [])
                if addrs and not any(start <= a < end for a in addrs):
                    out.append(f"nopatch: {o}: {f[2]} at {addrs[0]:x} lies outside the region "
                               f"[{start:x}, {end:x}): is the linker script's placement line there?")

    listing = run(["objdump", "-d", "-w", "--no-show-raw-insn",
                   f"--start-address={start:#x}", f"--stop-address={end:#x}", elf_path])
    nbranches = nallowed = ntables = 0
    for src, mnem, operand in branches(listing):
        nbranches += 1
        m = DIRECT_RE.match(operand)
        target = int(m.group(1), 16) if m else None
        if target is not None and start <= target < end:
            continue
        if target is None and jump_table(elf, syms, src, operand):
            ntables += 1
            continue
        s = syms.at(src)
        snames = s[1] if s else ["?"]
        if target is None:
            to_name, to_names = operand, None
            why = f"indirect {mnem}, target unknown: needs an allow-list entry '{snames[0].split('.')[0]} -> (indirect)'"
        else:
            t = syms.at(target)
            to_name, to_names = f"{syms.name(target)} ({target:x})", t[1] if t else [f"{target:#x}"]
            why = "target outside the no-patch region"
        hit = next((i for i, (fp, tp, _, _) in enumerate(allow)
                    if name_matches(fp, snames) and (tp == "(indirect)" if to_names is None
                                                     else tp != "(indirect)" and name_matches(tp, to_names))), None)
        if hit is not None:
            used[hit] += 1
            nallowed += 1
            continue
        obj = next((obj_of[n] for n in snames if n in obj_of), None)
        where = f" [{obj}]" if obj else ""
        out.append(f"nopatch: {syms.name(src)} ({src:x}){where}: {mnem} {to_name}: {why}")

    for (fp, tp, why, n), u in zip(allow, used):
        if not u:
            out.append(f"nopatch: {shown(args.allow)}:{n}: allow-list entry '{fp} -> {tp}' matches no branch: remove it")
    # What indirect calls from the region reach (hooks, handlers), where the
    # disassembly cannot tell: named, so that it cannot leave the region.
    for name, why, n in inside:
        addrs = syms.by_name.get(name)
        if not addrs:
            out.append(f"nopatch: {shown(args.allow)}:{n}: 'inside: {name}': no such symbol")
        elif not any(start <= a < end for a in addrs):
            out.append(f"nopatch: {name} ({addrs[0]:x}) lies outside the no-patch region, but the region "
                       f"reaches it by an indirect call ({shown(args.allow)}:{n}: {why})")
    print(f"nopatch: {nbranches} calls/jumps in [{start:x}, {end:x}) ({len(objs)} objects) checked: "
          f"{nallowed} allowed by {shown(args.allow)}, {ntables} switch jump tables in-function, "
          f"{len(inside)} indirect targets named inside, "
          f"{len(out)} violation(s)")
    return out


# --- layering -------------------------------------------------------------------

def sources(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith("."))
        for f in sorted(files):
            if f.endswith(SOURCE_EXTS):
                yield os.path.relpath(os.path.join(d, f), root)


def resolve(root, src, name):
    """The tree-relative path an include names, or None (system, generated)."""
    for base in (os.path.dirname(src), ""):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(root, p)):
            return p
    return None


def check_layering(args):
    out, nincludes = [], 0
    for src in sources(args.root):
        rules = [r for r in LAYERING if src.startswith(r["files"])]
        if not rules:
            continue
        try:
            lines = open(os.path.join(args.root, src), errors="replace").read().splitlines()
        except OSError as e:
            out.append(f"layering: {src}: {e}")
            continue
        for n, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            nincludes += 1
            inc = resolve(args.root, src, m.group(1))
            if inc is None:
                continue
            for r in rules:
                bad = [d for d in r["forbid"] if inc.startswith(d)]
                if bad and inc not in r["allow"]:
                    only = f" (only {', '.join(r['allow'])})" if r["allow"] else ""
                    out.append(f"layering: {src}:{n}: includes {inc}: {r['files']} may not include from "
                               f"{bad[0]}{only}: {r['why']}")
    print(f"layering: {nincludes} includes checked against {len(LAYERING)} rules, {len(out)} violation(s)")
    return out


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nopatch", action="store_true", help="only the no-patch region check")
    ap.add_argument("--layering", action="store_true", help="only the include layering check")
    ap.add_argument("--root", default=root, help="source tree (default: this script's tree)")
    ap.add_argument("--elf", help="kernel ELF (default ROOT/build/xpoke.elf)")
    ap.add_argument("--region-inc", help="the region's objects (default ROOT/build/gen/nopatch.ld.inc)")
    ap.add_argument("--obj-dir", help="where those objects are (default ROOT/build/obj)")
    ap.add_argument("--allow", help="allow-list (default ROOT/scripts/lint-allow.txt)")
    args = ap.parse_args(argv)
    args.elf = args.elf or os.path.join(args.root, "build", "xpoke.elf")
    args.region_inc = args.region_inc or os.path.join(args.root, "build", "gen", "nopatch.ld.inc")
    args.obj_dir = args.obj_dir or os.path.join(args.root, "build", "obj")
    args.allow = args.allow or os.path.join(args.root, "scripts", "lint-allow.txt")
    parts = [p for p, on in (("nopatch", args.nopatch), ("layering", args.layering)) if on] or ["nopatch", "layering"]

    passed = failed = 0
    for part in parts:
        found = check_nopatch(args) if part == "nopatch" else check_layering(args)
        for line in found:
            print(line)
        if found:
            failed += len(found)
        else:
            passed += 1
    print(f"RESULT passed={passed} failed={failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
