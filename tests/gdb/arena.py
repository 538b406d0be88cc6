"""tests/gdb/arena.py - driving the gdb.arena guest (tests/kernel/gdb_arena.c)
from gdb, one vCPU at a time. Used by tests/gdb/scenarios.py.

CPU 0 patches the "call" site on command (a -> b), CPU 1 runs it on command.
Every "run" helper checks where the target actually stopped and raises
ScenarioError when it is anywhere else.
"""
import gdb

import xpoke
from xpoke import read, write

A, B = 0xA, 0xB
CTX = {"thread": (1, 0), "irq": (2, 1), "nmi": (3, 2)}   # intruder: (command, bp_handled index)


def int3_phases():
    """The phases of the current strategy (the one gdb.arena patches with)
    in which the site's first byte is an int3, as the kernel says."""
    return set(xpoke.trap_phases())


def new_phases():
    """The phases of the current strategy in which the site's runner gets
    the new instruction's effect, as the kernel says."""
    return set(xpoke.new_phases())


class ScenarioError(Exception):
    pass


def expect(cond, what):
    print(f"  {'PASS' if cond else 'FAIL'}: {what}")
    if not cond:
        raise ScenarioError(what)


def stopped_at(fn, cpu):
    t = gdb.selected_thread()
    name = gdb.selected_frame().name()
    return name == fn and t is not None and t.num == xpoke.thread_of(cpu), f"thread {t.num if t else '?'} in {name}"


def run_until(fn, cpu, only=None, any_thread=False):
    """Resume (all CPUs, or only CPU `only`) until CPU `cpu` reaches function fn.
    any_thread: before GS is set up, threads cannot be told apart yet."""
    bp = gdb.Breakpoint(fn, internal=True)
    if not any_thread:
        bp.thread = xpoke.thread_of(cpu)
    try:
        if only is None:
            gdb.execute("continue")
        else:
            xpoke.run_on(only)
    finally:
        bp.delete()
    ok, where = stopped_at(fn, cpu)
    if not ok:
        raise ScenarioError(f"expected CPU {cpu} to stop in {fn}, stopped at {where}")


RESET = 4                               # gdb_arena.patch_cmd: reset the arena
_arena_started = False                  # has this boot's CPU 0 reached gdb_arena_ready?


def ready():
    """CPU 0 stopped in gdb_arena_ready, the arena as a fresh boot has it.
    The first scenario of a boot gets there by booting; each later one of
    the same boot has CPU 0 reset the arena first (tests/kernel/gdb_arena.c:
    command 4 puts every site back to its bytes at boot, through real
    batches, and clears the results)."""
    global _arena_started
    if not _arena_started:
        run_until("gdb_arena_ready", 0, any_thread=True)
        xpoke.check_anchor()            # kernel memory is readable from here on
        _arena_started = True
    else:
        resets = read("gdb_arena.resets")
        write("gdb_arena.patch_cmd", RESET)
        run_until("gdb_arena_ready", 0)
        expect(read("gdb_arena.resets") == resets + 1 and read("gdb_arena.reset_err") == 0,
               f"CPU 0 reset the arena for this scenario (error {read('gdb_arena.reset_err')})")
    expect(read("nr_cpus_online") >= 2, f"{read('nr_cpus_online')} CPUs online")


def site():
    return read("(unsigned long)flip_call_site")


def site_bytes(n=5):
    return bytes(gdb.selected_inferior().read_memory(site(), n))


def freeze_patcher_at(phase, cmd=1):
    """CPU 0 starts patching (gdb_arena.patch_cmd: 1 flips call a <-> b)
    and is stopped at `phase`; all CPUs are stopped afterwards."""
    strategy, n = xpoke.strategy_phase(phase)
    write("gdb_arena.patch_cmd", cmd)
    # The user's command, qualified by the strategy: its condition names
    # the strategy's registry entry as well as the phase.
    said = gdb.execute(f"xp-break-phase {strategy}:{phase}", to_string=True)
    expect(f"phase {phase} of a {strategy} batch" in said, f"xp-break-phase {strategy}:{phase}: {said.strip()}")
    bp = gdb.breakpoints()[-1]
    bp.thread = xpoke.thread_of(0)
    try:
        gdb.execute("continue")
    finally:
        bp.delete()
    ok, where = stopped_at("poke_phase_stop", 0)
    if not ok:
        raise ScenarioError(f"expected CPU 0 at phase {phase}, stopped at {where}")
    expect(read("poke_current_phase") == n, f"the patching CPU is frozen at phase {phase}")


def intrude(kind):
    """CPU 1 alone runs the site from `kind` context (thread, irq, nmi)."""
    cmd, _ = CTX[kind]
    done = read("gdb_arena.intrude_done")
    write("gdb_arena.intrude_cmd", cmd)
    run_until("gdb_intruder_finished", 1, only=1)
    expect(read("gdb_arena.intrude_done") == done + 1, f"CPU 1 ran the site from {kind} context")


def release_patcher():
    """Everybody runs until CPU 0 has finished its patch."""
    done = read("gdb_arena.patch_done")
    run_until("gdb_patch_finished", 0)
    expect(read("gdb_arena.patch_done") == done + 1, "the patch finished")


def check_final(new):
    expect(read("gdb_arena.patch_err") == 0, "the patch reported no error")
    expect(read("(unsigned long)live_batch") == 0, "no live batch is left")
    expect(xpoke.phases()[read("poke_current_phase")] == "retired", "the protocol is back at 'retired'")
    expect(site_bytes(len(new)) == new, f"the site holds the new bytes {new.hex(' ')}")


def quit_arena():
    """The arena ends (tests/gdb/run_scenario.py, after a boot's last scenario)."""
    write("gdb_arena.quit", 1)
