#!/usr/bin/env python3
"""scripts/gen-lp-bench.py - the livepatch benchmark's payload sources.

    gen-lp-bench.py N OUT.c

writes OUT.c, the source of payload bench_N (its .livepatch.name is the
file's base name, so OUT must be .../bench_N.c): it replaces the first N
functions of the mass patcher's corpus (mass_fn_00000.., which return
x * 3 + i: scripts/gen-mass-corpus.py) with bodies returning x * 5 + i, so
the benchmark (tests/kernel/bench_livepatch.c) can tell which version
runs. The file is rewritten only when its text changes.
"""
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen-lp-bench.py N OUT.c")
    try:
        n = int(sys.argv[1])
    except ValueError:
        sys.exit(f"gen-lp-bench.py: N must be a number, not {sys.argv[1]!r}")
    out = sys.argv[2]
    name = os.path.basename(out)[:-2] if out.endswith(".c") else None
    if n < 1 or name != f"bench_{n}":
        sys.exit(f"gen-lp-bench.py: want N >= 1 and OUT named bench_{n}.c, got N={n} OUT={out}")
    lines = ["/* Made by scripts/gen-lp-bench.py: do not edit. */",
             '#include "clients/livepatch/payload.h"', "",
             f'LIVEPATCH_NAME("{name}");', ""]
    for i in range(n):
        fn = f"mass_fn_{i:05d}"
        lines.append(f"int {fn}_lp(int x);")
        lines.append(f"int {fn}_lp(int x) {{ return x * 5 + {i}; }}")
        lines.append(f"LIVEPATCH_FUNC({fn}, {fn}_lp);")
    text = "\n".join(lines) + "\n"
    try:
        with open(out) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".tmp", "w") as f:
        f.write(text)
    os.replace(out + ".tmp", out)


main()
