"""tests/gdb/catalog.py - the names of the gdb race scenarios, importable
without gdb: each name has a stanza of judge gdb in tests/boots.cfg, or
matches one whose scenario is a glob (one QEMU per name, booted by
scripts/boots.py; tests/host/test_runner.py checks that none is missing),
and tests/gdb/scenarios.py (inside gdb) runs the scenario of that name.

The per-phase scenarios are one per phase of the int3 strategy (the
strategy the gdb.arena guest patches with) and intruder kind. The phase
names come from the kernel: gdb reads them from build/xpoke.elf (static
data, no target needed) with scripts/gdb/xpoke.py's xp-phases.
"""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRATEGY = "int3"                       # what gdb.arena patches with (the default)
INTRUDERS = ("thread", "nmi")           # every phase is replayed with each
OTHERS = ["phase_int3-written_irq", "patcher_nmi_own_site", "retire_waits_for_bp", "nmi_inside_bp_acks_for_real",
          "validate_beside_batch_in_flight", "torn_target_with_checks_off", "livepatch_xp_lp"]

def kernel_phases(elf=None, strategy=STRATEGY):
    """The phase names of STRATEGY, read from the kernel's ELF file by a gdb
    of its own (also inside a scenario's gdb, whose target may not have
    reached the kernel yet). What gdb listed is kept beside the ELF file
    (build/gdb-phases.json), for as long as the ELF file is the same one
    (its size and modification time): each of the runner's invocations
    would otherwise start gdb again, for most of a second."""
    elf = elf or os.path.join(ROOT, "build", "xpoke.elf")
    st = os.stat(elf)
    stamp = [os.path.abspath(elf), st.st_size, st.st_mtime_ns]
    cache = os.path.join(os.path.dirname(elf), "gdb-phases.json")
    try:
        with open(cache) as f:
            kept = json.load(f)
        if kept["elf"] == stamp:
            return kept["phases"][strategy]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    out = subprocess.run(["gdb", "-q", "-batch", "-nx", elf, "-x", os.path.join(ROOT, "scripts", "gdb", "xpoke.py"),
                          "-ex", "xp-phases"], capture_output=True, text=True, timeout=60)
    every = {}
    for line in out.stdout.splitlines():        # "* int3: published ...": "*" marks the default
        name, sep, rest = line[2:].partition(": ")
        if sep and line[:2] in ("* ", "  ") and not name[:1].isspace():
            every[name] = rest.split()
    if strategy not in every:
        raise RuntimeError(f"catalog: gdb listed no phases of strategy {strategy} in {elf}:\n{out.stdout}{out.stderr}")
    tmp = f"{cache}.{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump({"elf": stamp, "phases": every}, f)
        os.replace(tmp, cache)              # whole or not at all, whoever else writes it
    except OSError:
        pass
    return every[strategy]


# Strategies whose bystanders wait for the patching CPU instead of going on
# (roll-forward): a replay that freezes the patching CPU and runs the
# intruder alone would wait for ever; they have scenarios of their own.
OWN = {"roll-forward": ["rollfwd_bystander_waits"]}


def names(elf=None, strategy=STRATEGY):
    """Every scenario name for strategy, in order (the other scenarios are
    written for int3's phases; another strategy gets the per-phase ones,
    or its own)."""
    if strategy in OWN:
        return list(OWN[strategy])
    per_phase = [f"phase_{p}_{k}" for p in kernel_phases(elf, strategy) for k in INTRUDERS]
    return per_phase + (OTHERS if strategy == STRATEGY else [])
