#!/usr/bin/env python3
"""scripts/gen-mass-corpus.py - the mass patcher's corpus (clients/trace/).

    gen-mass-corpus.py N FILES OUTDIR

writes OUTDIR/mass_corpus_K.c (K = 0..FILES-1: N small functions in all,
split evenly so that make -j compiles them side by side),
OUTDIR/mass_table.c (mass_fns[], every function in order, for the tests to
call each once) and OUTDIR/mass_corpus.h (MASS_N and the declarations).
Function i is mass_fn_<i> (5 digits or more) and returns x * 3 + i, so a
caller can tell it ran the right one. Compiled with the kernel's fentry
flags, each starts with the 5-byte NOP the tracer patches; linker.ld
places their objects' text together (__mass_text_start.._end) inside
.text. A file is rewritten only when its text changes.
"""
import os
import sys


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen-mass-corpus.py N FILES OUTDIR")
    n, files, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if n < 1 or files < 1:
        sys.exit("gen-mass-corpus.py: N and FILES must be at least 1")
    os.makedirs(out, exist_ok=True)
    width = max(5, len(str(n - 1)))
    name = lambda i: f"mass_fn_{i:0{width}d}"
    head = "/* Made by scripts/gen-mass-corpus.py: do not edit. */\n"

    write_if_changed(os.path.join(out, "mass_corpus.h"), head +
        "#ifndef XPOKE_GEN_MASS_CORPUS_H\n#define XPOKE_GEN_MASS_CORPUS_H\n\n"
        f"#define MASS_N {n}\n\n"
        "/* mass_fns[i] is mass_fn_<i>: returns x * 3 + i. */\n"
        "typedef int (*mass_fn_t)(int x);\n"
        "extern const mass_fn_t mass_fns[MASS_N];\n"
        "extern char __mass_text_start[], __mass_text_end[];   /* linker.ld */\n\n#endif\n")

    per = (n + files - 1) // files
    for k in range(files):
        lines = [head, "#include \"mass_corpus.h\"\n\n"]
        for i in range(k * per, min(n, (k + 1) * per)):
            lines.append(f"__attribute__((noinline)) int {name(i)}(int x);\n"
                         f"__attribute__((noinline)) int {name(i)}(int x) {{ return x * 3 + {i}; }}\n")
        write_if_changed(os.path.join(out, f"mass_corpus_{k}.c"), "".join(lines))

    decls = "".join(f"int {name(i)}(int x);\n" for i in range(n))
    table = "".join(f"\t{name(i)},\n" for i in range(n))
    write_if_changed(os.path.join(out, "mass_table.c"), head + "#include \"mass_corpus.h\"\n\n" + decls +
                     "\nconst mass_fn_t mass_fns[MASS_N] = {\n" + table + "};\n")


if __name__ == "__main__":
    main()
