"""tests/gdb/run_scenario.py - run inside gdb (batch mode) for a stanza of
judge gdb in tests/boots.cfg (xptools/judges.py): connect to QEMU, run the scenario named by
XPOKE_SCENARIO, print "XPOKE-SCENARIO: ok" or "XPOKE-SCENARIO: not ok ...".
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
import scenarios  # noqa: E402

name = os.environ["XPOKE_SCENARIO"]
gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute(f"target remote :{os.environ['XPOKE_GDBPORT']}")
try:
    scenarios.run(name)
    print("XPOKE-SCENARIO: ok")
except Exception as e:
    print(f"XPOKE-SCENARIO: not ok {e}")
    traceback.print_exc()
    try:
        gdb.execute("xp-cpus")
        gdb.execute("xp-batch")
        gdb.execute("thread apply all bt 4")
        xpoke.write("gdb_arena.quit", 1)
    except Exception:
        pass
finally:
    try:
        gdb.execute("delete")
        gdb.execute("set scheduler-locking off")
        gdb.execute("detach")
    except Exception:
        pass
