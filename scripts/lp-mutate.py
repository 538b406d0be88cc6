#!/usr/bin/env python3
"""Spoil a built payload on purpose, for the loader's refusal tests.

  lp-mutate.py --machine N FILE     set e_machine to N (LP_EMACHINE)
  lp-mutate.py --not-elf FILE       replace FILE by a line of text (LP_ENOT_ELF)

Run by scripts/lp-build.py for a source of tests/livepatch/ with a line
`// lp-mutate: ARGS`, so no bad binary is ever committed.
"""
import argparse
import struct
import sys


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--machine", type=int)
    g.add_argument("--not-elf", action="store_true")
    ap.add_argument("file")
    a = ap.parse_args(argv)
    data = bytearray(open(a.file, "rb").read())
    if a.not_elf:
        data = bytearray(b"this is a text file, not an ELF object\n")
    else:
        if data[:4] != b"\x7fELF":
            print(f"lp-mutate: {a.file} is not ELF", file=sys.stderr)
            return 1
        struct.pack_into("<H", data, 18, a.machine)     # e_machine
    open(a.file, "wb").write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
