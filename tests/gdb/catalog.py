"""tests/gdb/catalog.py - the names of the gdb race scenarios, importable
without gdb: each name has a stanza of judge gdb in tests/boots.cfg (one
QEMU per name, booted by scripts/boots.py; tests/host/test_runner.py checks
that none is missing), and tests/gdb/scenarios.py (inside gdb) runs the
scenario of that name.

PHASES mirrors the kernel's poke_phase_names (patch/text_poke_smp.c), as
scripts/gdb/xpoke.py's list does; scenarios.py checks the two agree.
"""
PHASES = ["published", "int3-written", "int3-synced", "tails-written", "tails-synced",
          "first-written", "first-synced", "retired"]
INTRUDERS = ("thread", "nmi")           # every phase is replayed with each

NAMES = [f"phase_{p}_{k}" for p in PHASES for k in INTRUDERS] + \
        ["phase_int3-written_irq", "patcher_nmi_own_site", "retire_waits_for_bp", "nmi_inside_bp_acks_for_real",
         "validate_beside_batch_in_flight", "torn_target_with_checks_off"]

