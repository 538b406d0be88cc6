"""xptools/stanzas.py - tests/boots.cfg: every boot as a stanza.

    [name]
    key = value
        more lines of the value (indented)

Lines starting with '#' are comments; `${VAR}` and `${VAR:-default}` in a
value take the environment variable VAR. The keys and the judge kinds are
documented at the top of tests/boots.cfg; KEYS below is the same list as
code. Anything the file gets wrong (an unknown key or judge kind, a key the
judge does not use, a missing key, a value that cannot work) is a
StanzaError naming the file and line, raised before anything boots.
"""
import fnmatch
import os
import re
import shlex

from . import paths
from .qemu import QemuError, cpu_count

BOOT = {"smp", "smp_list", "mem", "cpu", "machine", "accel", "cmdline", "iso", "launch", "qemu_params"}
COMMON = {"judge", "groups", "description", "timeout"}
# judge kind -> (keys it takes besides COMMON, keys it needs)
JUDGES = {
    "ktap": (BOOT | {"expect_status", "expect_cpus", "figures"}, set()),
    "expect": (BOOT | {"status", "log", "no_log", "diag", "runner_says", "until", "timeout_from", "interact"},
               {"status"}),
    "gdb": (BOOT | {"scenario", "strategy"}, {"scenario", "cmdline"}),
    "inject": (BOOT | {"mode"}, {"mode", "cmdline"}),
    "console": (BOOT | {"tests"}, {"tests"}),
    "unittest": ({"tests", "parallel"}, {"tests"}),
    "host": ({"command", "parallel"}, {"command"}),
    "boot-time": (BOOT | {"runs", "until"}, {"until"}),
    "figures": (BOOT | {"figures"}, {"figures", "cmdline"}),
}
KEYS = set().union(COMMON, *(k for k, _ in JUDGES.values()))
LISTS = {"log", "no_log", "diag", "runner_says"}          # one entry per line
REGEXES = {"log", "no_log", "runner_says", "until", "timeout_from", "figures"}
INJECT_MODES = ("storm", "classes", "srar", "fatal")
ISOS = {"test": paths.TEST_ISO, "console": paths.ISO}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class StanzaError(Exception):
    pass


class Stanza:
    def __init__(self, name, where):
        self.name, self.where = name, where
        self.raw, self.lines = {}, {}
        self.refs = set()               # environment variables the stanza reads

    def __repr__(self):
        return f"<stanza {self.name}>"

    def error(self, key, msg):
        raise StanzaError(f"{self.lines.get(key, self.where)}: [{self.name}] {msg}")

    def expand(self, key, text):
        def sub(m):
            v = os.environ.get(m.group(1), "")
            if v == "" and m.group(2) is None:
                self.error(key, f"{key} uses ${{{m.group(1)}}}, which is not set")
            return v if v != "" else m.group(2)
        self.refs.update(m.group(1) for m in VAR.finditer(text))
        return VAR.sub(sub, text)

    def get(self, key, default=None):
        v = self.values.get(key)
        return default if v is None else v

    @property
    def judge(self):
        return self.values["judge"]

    @property
    def groups(self):
        return self.values.get("groups", "").split()

    @property
    def timeout(self):
        return float(self.get("timeout", 300))

    def boots(self):
        return self.judge not in ("unittest", "host")

    def qemu_args(self, log):
        """Keyword arguments of xptools.qemu.Qemu for this stanza's boot."""
        v = self.values
        kw = dict(smp=v.get("smp", "1"), mem=v.get("mem"), cpu=v.get("cpu"), machine=v.get("machine"),
                  accel=v.get("accel"), log=log, timeout=self.timeout, plain=v.get("launch") == "plain")
        if "cmdline" in v:
            kw["cmdline"] = v["cmdline"]
        else:
            kw["iso"] = ISOS.get(v.get("iso", "console"), v.get("iso"))
        if "qemu_params" in v:
            kw["extra"] = shlex.split(v["qemu_params"])
        return kw

    def summary(self):
        if not self.boots():
            return self.get("command") or self.get("tests")
        v = self.values
        what = f"'{v['cmdline']}'" if "cmdline" in v else f"iso={v.get('iso', 'console')}"
        extra = " ".join(f"{k}={v[k]}" for k in ("machine", "cpu", "mem", "launch", "scenario", "mode")
                         if k in v)
        smp = f"-smp {v['smp_list'].replace(' ', '|')}" if "smp_list" in v else f"-smp {v.get('smp', '1')}"
        return f"{smp} {what}" + (f" {extra}" if extra else "")


def parse(path):
    """The stanzas of a file, in order, checked."""
    rel = paths.rel(path)
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise StanzaError(f"cannot read {path}: {e}")
    stanzas, cur, key = [], None, None
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{rel}:{n}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":                        # continuation of the last key
            if cur is None or key is None:
                raise StanzaError(f"{where}: an indented line continues nothing")
            if key not in LISTS:
                raise StanzaError(f"{where}: [{cur.name}] {key} takes one line (only "
                                  f"{', '.join(sorted(LISTS))} take several)")
            cur.raw[key].append(line.strip())
            continue
        m = re.fullmatch(r"\[([A-Za-z0-9][A-Za-z0-9_.+-]*)\]\s*", line)
        if m:
            cur, key = Stanza(m.group(1), where), None
            if any(s.name == cur.name for s in stanzas):
                raise StanzaError(f"{where}: a second stanza [{cur.name}]")
            stanzas.append(cur)
            continue
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*", line)
        if not m:
            raise StanzaError(f"{where}: not '[name]', 'key = value', an indented continuation or a comment: "
                              f"{line!r}")
        if cur is None:
            raise StanzaError(f"{where}: '{m.group(1)}' before the first [stanza]")
        key = m.group(1)
        if key not in KEYS:
            raise StanzaError(f"{where}: [{cur.name}] unknown key '{key}' "
                              f"(known: {', '.join(sorted(KEYS))})")
        if key in cur.raw:
            raise StanzaError(f"{where}: [{cur.name}] '{key}' set twice")
        cur.raw[key] = [m.group(2)] if m.group(2) else []
        cur.lines[key] = where
    for s in stanzas:
        check(s)
    return expand_scenarios(expand_smp_lists(stanzas))


def expand_smp_lists(stanzas):
    """A stanza with smp_list (-smp values, space-separated) stands for one
    boot per value, each a stanza named NAME-smpN (N: its CPU count) with
    that smp; the values were checked (check_smp_list)."""
    out = []
    for s in stanzas:
        if "smp_list" not in s.values:
            out.append(s)
            continue
        for smp in s.values["smp_list"].split():
            c = Stanza(f"{s.name}-smp{cpu_count(smp)}", s.where)
            c.raw, c.lines, c.refs = s.raw, s.lines, s.refs
            c.values = {k: v for k, v in s.values.items() if k != "smp_list"}
            c.values["smp"] = smp
            if any(x.name == c.name for x in stanzas + out):
                s.error("smp_list", f"smp_list expands to {c.name}, a name another stanza has")
            out.append(c)
    return out


def check_smp_list(s, value):
    """smp_list: one or more -smp values, each a CPU count 1..255 (as smp),
    no CPU count twice; the error names the value and where it came from
    (the ${VAR:-default} of the line)."""
    raw = " ".join(s.raw["smp_list"])
    came = f" (from {raw})" if raw != value else ""
    if "smp" in s.values:
        s.error("smp_list", "give smp or smp_list, not both")
    items = value.split()
    if not items:
        s.error("smp_list", f"smp_list '{value}'{came}: no CPU count (want e.g. '2 8')")
    seen = set()
    for smp in items:
        try:
            n = cpu_count(smp)
        except QemuError:
            s.error("smp_list", f"smp_list '{value}'{came}: '{smp}' is not a CPU count 1..255 "
                                f"(each value as for -smp, e.g. '2 8' or '6,sockets=2,cores=3')")
        if n in seen:
            s.error("smp_list", f"smp_list '{value}'{came}: {n} CPUs twice")
        seen.add(n)


_scenarios = {}


def gdb_scenarios(strategy="int3"):
    """The names of the gdb scenarios (tests/gdb/catalog.py) for a strategy,
    whose per-phase ones come from the kernel's own phase table (read from
    build/xpoke.elf by gdb): never copied into this file or tests/boots.cfg."""
    if strategy not in _scenarios:
        if not os.path.exists(paths.ELF):
            raise StanzaError(f"the gdb scenarios are named after the kernel's phases: {paths.rel(paths.ELF)} "
                              f"is needed to list them (make first)")
        try:
            _scenarios[strategy] = paths.load_file("tests/gdb/catalog.py").names(paths.ELF, strategy)
        except RuntimeError as e:
            raise StanzaError(str(e))
    return _scenarios[strategy]


def expand_scenarios(stanzas):
    """A gdb stanza whose scenario is a glob (phase_*_thread) stands for one
    boot per matching scenario, each a stanza named gdb-SCENARIO (or
    gdb-STRATEGY-SCENARIO for a strategy other than int3)."""
    out = []
    for s in stanzas:
        pat = s.values.get("scenario", "") if s.judge == "gdb" else ""
        if not any(c in pat for c in "*?["):
            out.append(s)
            continue
        strategy = s.values.get("strategy", "int3")
        for name in (n for n in gdb_scenarios(strategy) if fnmatch.fnmatchcase(n, pat)):
            c = Stanza(f"gdb-{name}" if strategy == "int3" else f"gdb-{strategy}-{name}", s.where)
            c.raw, c.lines, c.refs = s.raw, s.lines, s.refs
            c.values = dict(s.values, scenario=name)
            if any(x.name == c.name for x in stanzas + out):
                s.error("scenario", f"{pat} expands to {name}, whose stanza name {c.name} is taken")
            out.append(c)
    return out


def check(s):
    """Expand and check one stanza's values (s.values)."""
    if "judge" not in s.raw:
        s.error(None, f"no judge (one of {', '.join(JUDGES)})")
    v = {}
    for k, lines in s.raw.items():
        lines = [s.expand(k, l) for l in lines]
        v[k] = lines if k in LISTS else " ".join(lines)
    s.values = v
    judge = v["judge"]
    if judge not in JUDGES:
        s.error("judge", f"unknown judge '{judge}' (known: {', '.join(JUDGES)})")
    takes, needs = JUDGES[judge]
    for k in v:
        if k not in COMMON and k not in takes:
            s.error(k, f"judge {judge} does not use '{k}'")
    for k in sorted(needs - set(v)):
        s.error(None, f"judge {judge} needs '{k}'")
    if "cmdline" in v and "iso" in v:
        s.error("iso", "give cmdline (an ISO is built for it) or iso, not both")
    if "smp_list" in v:
        check_smp_list(s, v["smp_list"])
    try:
        if "smp" in v:
            cpu_count(v["smp"])
        float(v.get("timeout", 300))
    except QemuError as e:
        s.error("smp", str(e))
    except ValueError:
        s.error("timeout", f"timeout '{v['timeout']}' is not a number of seconds")
    if v.get("iso", "test") not in ISOS and not os.path.isabs(v["iso"]):
        s.error("iso", f"iso '{v['iso']}': use test, console or an absolute path")
    if v.get("parallel", "no") not in ("yes", "no"):
        s.error("parallel", f"parallel '{v['parallel']}': yes or no")
    if v.get("launch", "runner") not in ("runner", "plain"):
        s.error("launch", f"launch '{v['launch']}': use runner or plain")
    for k in REGEXES & set(v):
        for pat in (v[k] if k in LISTS else [v[k]]):
            try:
                re.compile(pat)
            except re.error as e:
                s.error(k, f"{k}: /{pat}/ is not a regular expression: {e}")
    for d in v.get("diag", []):
        test, _, pat = d.partition(" ")
        if not pat:
            s.error("diag", f"diag line '{d}': want 'TEST REGEX'")
    if "status" in v:
        parse_status(s, v["status"])
    for k in ("expect_status", "runs"):
        if k in v and not v[k].isdigit():
            s.error(k, f"{k} '{v[k]}' is not a number")
    if "runs" in v and int(v["runs"]) < 1:
        s.error("runs", f"runs '{v['runs']}': need a number of boots >= 1")
    if v.get("expect_cpus", "none") != "none" and not v["expect_cpus"].isdigit():
        s.error("expect_cpus", f"expect_cpus '{v['expect_cpus']}': a number, or none")
    if judge == "inject" and v["mode"] not in INJECT_MODES:
        s.error("mode", f"inject mode '{v['mode']}' (known: {', '.join(INJECT_MODES)})")
    if judge == "inject" and v["mode"] != "storm" and cpu_count(v.get("smp", "1")) < 2:
        s.error("smp", f"inject mode {v['mode']} needs at least 2 CPUs")
    if judge == "gdb":
        pat, strategy = v["scenario"], v.get("strategy", "int3")
        if not any(fnmatch.fnmatchcase(n, pat) for n in gdb_scenarios(strategy)):
            s.error("scenario", f"no gdb scenario '{pat}' for strategy {strategy} in tests/gdb/catalog.py "
                                f"(its names: {', '.join(gdb_scenarios(strategy))})")
        if strategy != "int3" and f"patch.strategy={strategy}" not in v["cmdline"].split():
            s.error("strategy", f"strategy {strategy}: the cmdline must make it the default "
                                f"(patch.strategy={strategy}), since gdb.arena patches with the default")
    if "interact" in v:
        known = paths.load_file("tests/host/interactions.py").INTERACTIONS
        if v["interact"] not in known:
            s.error("interact", f"no interaction '{v['interact']}' in tests/host/interactions.py "
                                f"(known: {', '.join(known)})")
    for t in v.get("tests", "").split():
        if not os.path.exists(os.path.join(paths.ROOT, t)):
            s.error("tests", f"no file {t}")


def parse_status(s, text):
    """'5' or '!1 !124': the accepted QEMU statuses as a predicate."""
    words = text.split()
    if words and all(w.isdigit() for w in words):
        ok = {int(w) for w in words}
        return lambda st: st in ok, " or ".join(words)
    if words and all(w.startswith("!") and w[1:].isdigit() for w in words):
        bad = {int(w[1:]) for w in words}
        return lambda st: st not in bad, "not " + " nor ".join(w[1:] for w in words)
    s.error("status", f"status '{text}': numbers ('5', '3 5') or exclusions ('!1 !124')")


def select(stanzas, groups=None, only=None):
    """The stanzas in any of groups (comma/space separated) whose names
    match any glob of only; StanzaError when a group or glob matches nothing."""
    chosen = stanzas
    if groups:
        want = groups.replace(",", " ").split()
        known = {g for s in stanzas for g in s.groups}
        for g in want:
            if g not in known:
                raise StanzaError(f"no stanza is in group '{g}' (groups: {', '.join(sorted(known))})")
        chosen = [s for s in chosen if set(s.groups) & set(want)]
    if only:
        globs = only.replace(",", " ").split()
        for g in globs:
            if not any(fnmatch.fnmatchcase(s.name, g) for s in chosen):
                raise StanzaError(f"ONLY: '{g}' matches no stanza"
                                  + (f" in group(s) {groups}" if groups else "") + " (--list shows them)")
        chosen = [s for s in chosen if any(fnmatch.fnmatchcase(s.name, g) for g in globs)]
    return chosen
