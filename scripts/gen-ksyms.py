#!/usr/bin/env python3
"""Write the kernel symbol tables (kernel/ksyms.h) as C, from `nm` of an ELF.

  gen-ksyms.py --empty OUT.c           tables with no symbols (first link)
  gen-ksyms.py ELF OUT.c               tables of ELF's .text symbols and of
                                       its data symbols (.rodata, .data, .bss)
  gen-ksyms.py --check ELF TABLE.c     fail unless TABLE.c is what ELF gives

The tables sit last in .rodata: their size moves nothing in .text, but it
moves .data and .bss. So the Makefile links three times: with empty
tables, with the tables of that link (the right size, with data addresses
that are still off), and with the tables of the second link, which has
the final layout; the check proves the last link moved no text and no
data symbol against the second.

The data table (ksym_data_table, sorted by name, for the livepatch
loader's relocations) holds the global data symbols and the local ones
whose name is unique; a name two objects use privately is left out, so a
lookup never picks one of two at random.

Every text symbol names addresses (backtraces, RIP -> name+offset); only
functions may be called and contain instructions to decode from: the
compiler's (ELF type FUNC) and NASM's global labels (NOTYPE GLOBAL), not
NASM's local labels (.name, ..@name, labels not made global) nor the
linker's __ symbols. A function's fn_size is its ELF size, or for a
sizeless one the distance to the next function.
"""
import bisect
import functools
import subprocess
import sys


def functions(elf):
    """{(addr, name): elf_size} of the symbols that are functions."""
    out = subprocess.run(["readelf", "-sW", elf], check=True, capture_output=True, text=True).stdout
    fns = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":") or f[0] == "Num:":
            continue
        addr, size, kind, bind, name = int(f[1], 16), int(f[2], 0), f[3], f[4], f[7]
        if kind == "FUNC" or (kind == "NOTYPE" and bind == "GLOBAL" and not name.startswith("__")):
            fns[(addr, name)] = size
    return fns


@functools.lru_cache(maxsize=None)
def nm(elf):
    """`nm -n -S --defined-only` of elf, run once for both tables."""
    return subprocess.run(["nm", "-n", "-S", "--defined-only", elf],
                          check=True, capture_output=True, text=True).stdout


def nm_rows(elf):
    """(addr, size, kind, name) of each line of nm(elf); size 0 when nm gives none."""
    for line in nm(elf).splitlines():
        f = line.split()
        if len(f) == 4:
            yield int(f[0], 16), int(f[1], 16), f[2], f[3]
        elif len(f) == 3:
            yield int(f[0], 16), 0, f[1], f[2]


def text_symbols(elf):
    fns = functions(elf)
    rows, bounds = [], {}
    for addr, size, kind, name in nm_rows(elf):
        if name in ("__text_start", "__text_end"):
            bounds[name] = addr
        if kind in "TtWw":
            rows.append((addr, size, name))
    lo, hi = bounds["__text_start"], bounds["__text_end"]
    rows = sorted({(a, s, n) for a, s, n in rows if lo <= a < hi and not n.startswith("__text_")})
    # One name per address (prefer a function's, then the first); sizeless
    # symbols (NASM labels) extend to the next symbol.
    dedup = []
    for a, s, n in rows:
        if dedup and dedup[-1][0] == a:
            if (a, n) in fns and (a, dedup[-1][2]) not in fns:
                dedup[-1] = [a, s, n]
            continue
        dedup.append([a, s, n])
    for i, row in enumerate(dedup):
        nxt = dedup[i + 1][0] if i + 1 < len(dedup) else hi
        if row[1] == 0 or row[0] + row[1] > nxt:
            row[1] = nxt - row[0]
    starts = [row[0] for row in dedup if (row[0], row[2]) in fns] + [hi]
    for row in dedup:
        if (row[0], row[2]) not in fns:
            row.append(0)
            continue
        elf_size = fns[(row[0], row[2])]
        nxt = starts[bisect.bisect_right(starts, row[0])]   # the next function (O(log n): 40k of them)
        row.append(elf_size if 0 < elf_size <= nxt - row[0] else nxt - row[0])
    return dedup


def data_symbols(elf):
    """[(name, addr, size)] of the data symbols, sorted by name (bytewise)."""
    rows, bounds = [], {}
    for addr, size, kind, name in nm_rows(elf):
        if name in ("__rodata_start", "__kernel_end"):
            bounds[name] = addr
        if kind in "DdBbRrVv" and "." not in name:
            rows.append((name, addr, size, kind.isupper()))
    lo, hi = bounds["__rodata_start"], bounds["__kernel_end"]
    count = {}
    for n, a, _, _ in rows:
        count[n] = count.get(n, 0) + 1
    keep = {}
    for n, a, sz, glob in rows:
        if not lo <= a < hi:
            continue
        if count[n] > 1 and not glob:
            continue
        keep[n] = (n, a, sz)
    return sorted(keep.values(), key=lambda r: r[0].encode())


def render(rows, data=()):
    strings, offsets = [], []
    pos = 0
    for _, _, name, _ in rows:
        offsets.append(pos)
        strings.append(name)
        pos += len(name) + 1
    out = ["/* Generated by scripts/gen-ksyms.py. Do not edit. */",
           '#include "kernel/ksyms.h"',
           '#define KSYMS __attribute__((section(".ksyms")))',
           f"KSYMS const uint32_t ksym_count = {len(rows)};",
           "KSYMS const struct ksym ksym_table[] = {"]
    for (addr, size, _, fn_size), off in zip(rows, offsets):
        out.append(f"\t{{ {addr:#x}ull, {size}u, {off}u, {fn_size}u }},")
    out.append("\t{ 0, 0, 0, 0 },")
    out.append("};")
    blob = "".join(s + "\\0" for s in strings)
    out.append(f'KSYMS const char ksym_strings[] = "{blob}";')
    # ksym_find's index: the table's rows by name (bytewise, as strcmp), a
    # name's rows in address order, so the first of a name shared by
    # several local symbols is the lowest.
    order = sorted(range(len(rows)), key=lambda i: (rows[i][2].encode(), i))
    out.append("KSYMS const uint32_t ksym_by_name[] = {")
    out.extend(f"\t{i}u," for i in order)
    out.append("\t0u,")
    out.append("};")
    out.append(f"KSYMS const uint32_t ksym_data_count = {len(data)};")
    out.append("KSYMS const struct ksym_data ksym_data_table[] = {")
    pos = 0
    for name, addr, size in data:
        out.append(f"\t{{ {addr:#x}ull, {size}u, {pos}u }},")
        pos += len(name) + 1
    out.append("\t{ 0, 0, 0 },")
    out.append("};")
    dblob = "".join(n + "\\0" for n, _, _ in data)
    out.append(f'KSYMS const char ksym_data_strings[] = "{dblob}";')
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 3 and argv[1] == "--empty":
        open(argv[2], "w").write(render([]))
        return 0
    if len(argv) == 4 and argv[1] == "--check":
        want = render(text_symbols(argv[2]), data_symbols(argv[2]))
        if open(argv[3]).read() != want:
            print(f"gen-ksyms: {argv[3]} does not match the symbols of {argv[2]}: "
                  "text or data moved between links", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 3:
        open(argv[2], "w").write(render(text_symbols(argv[1]), data_symbols(argv[1])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
