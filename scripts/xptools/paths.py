"""xptools/paths.py - where things are."""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
ELF = os.path.join(BUILD, "xpoke.elf")
SYM = os.path.join(BUILD, "xpoke.sym")
ISO = os.path.join(BUILD, "xpoke.iso")              # boots the console
TEST_ISO = os.path.join(BUILD, "xpoke-test.iso")    # ktest=all
BOOTS_CFG = os.path.join(ROOT, "tests", "boots.cfg")


def rel(path):
    """path relative to the tree (if inside it), for messages."""
    r = os.path.relpath(path, ROOT)
    return os.path.abspath(path) if r.startswith("..") else r


def load_file(path, name=None):
    """Import a Python file that is not in a package (a test module, a
    script with a dash in its name) by its path; cached in sys.modules."""
    path = os.path.join(ROOT, path) if not os.path.isabs(path) else path
    name = name or "xpf_" + os.path.splitext(rel(path))[0].replace(os.sep, "_").replace("-", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
