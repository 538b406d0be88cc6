"""tests/gdb/run_scenario.py - run inside gdb (batch mode) for the stanzas
of judge gdb in tests/boots.cfg that share one boot (xptools/judges.py):
connect to QEMU, run each scenario XPOKE_SCENARIOS names (space-separated),
in order, and print for each

    XPOKE-SCENARIO-BEGIN NAME serial=OFFSET
    ... what the scenario printed ...
    XPOKE-SCENARIO: ok NAME            or    XPOKE-SCENARIO: not ok NAME: WHY

OFFSET is the size of the boot's serial log (XPOKE_SERIAL_LOG) as the
scenario began: the judge gives each scenario its own slice of it. Every
scenario after the first starts with CPU 0 resetting the arena (arena.ready:
the sites back to their bytes at boot, through real batches); each ends
with the kernel's failure count for the arena test still 0 (a failure the
kernel recorded and survived would otherwise show only at the guest's exit).
After a failure nothing more runs in this boot (the arena's state is
unknown; the judge boots again for the rest). After the last scenario the
arena ends and gdb detaches: the guest must then exit cleanly.
"""
import importlib.util
import os
import sys
import traceback

import gdb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("xpoke", os.path.join(ROOT, "scripts", "gdb", "xpoke.py"))
xpoke = importlib.util.module_from_spec(spec)
sys.modules["xpoke"] = xpoke
spec.loader.exec_module(xpoke)
sys.path.insert(0, HERE)
import arena  # noqa: E402
import scenarios  # noqa: E402


def say(line):
    print(line)
    gdb.flush()                         # the judge reads this as it comes


def serial_offset():
    try:
        return os.path.getsize(os.environ.get("XPOKE_SERIAL_LOG", ""))
    except OSError:
        return 0


def between_scenarios(locking):
    """What one scenario leaves behind that the next must not inherit:
    breakpoints, and scheduler-locking as gdb had it on connecting."""
    gdb.execute("delete")
    gdb.execute(f"set scheduler-locking {locking}")


names = os.environ["XPOKE_SCENARIOS"].split()
gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute(f"target remote :{os.environ['XPOKE_GDBPORT']}")
locking = gdb.parameter("scheduler-locking")
try:
    for name in names:
        say(f"XPOKE-SCENARIO-BEGIN {name} serial={serial_offset()}")
        try:
            scenarios.run(name)
            arena.expect(arena.read("cur_failures") == 0, "the kernel recorded no failure in the arena test")
        except Exception as e:
            say(f"XPOKE-SCENARIO: not ok {name}: {e}")
            traceback.print_exc()
            try:
                gdb.execute("xp-cpus")
                gdb.execute("xp-batch")
                gdb.execute("thread apply all bt 4")
            except Exception:
                pass
            break
        say(f"XPOKE-SCENARIO: ok {name}")
        between_scenarios(locking)
finally:
    try:
        arena.quit_arena()
        between_scenarios("off")
        gdb.execute("detach")
    except Exception:
        pass
