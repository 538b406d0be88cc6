"""scripts/gdb/xpoke.py - gdb commands for xpoke under QEMU's gdb stub.

Load with  gdb build/xpoke.elf -x scripts/gdb/xpoke.py  (make debug does).
Every vCPU is a gdb thread; a thread's CPU number is found from its GS base
(GS points at the CPU's struct percpu). Kernel data is read by symbol and
DWARF type; kernel/debug_anchor.c is checked first (magic and version).

  xp-cpus              each CPU: number, APIC ID, gdb thread, state, context,
                       nesting, last acknowledged rendezvous round, where
  xp-sites             every named patch site: symbol, address, length,
                       current bytes and their disassembly, live or not
  xp-batch             the batch being applied: phase, sites, ack mask, who
                       still owes an acknowledgement
  xp-break-phase [S:]P stop when the patching CPU reaches phase P of a batch
                       of strategy S (default: the current strategy if it
                       has P, else the one strategy that has it)
  xp-phases            every strategy and its phases, as the kernel names them
                       (works on the ELF file alone, without a target)
  xp-run-on CPU        resume only that CPU until the next stop
  xp-stats             patch and storm counters
  xp-lp                livepatch payloads: state, place on the applied stack,
                       each function's state, what it stacks on, and whether
                       the text holds its jmp
Helpers for scripts (tests/gdb): cpu_threads(), thread_of(cpu), read(expr),
write(expr, value), phases(strategy), phase_number(name), strategy_names().
Phase names are never copied here: they are read from the kernel, through
the xpoke_debug anchor (kernel/debug_anchor.c: the strategy registry and
each strategy's phase_names).
"""
import gdb

STATES = ["absent", "booting", "failed", "idle", "busy", "stopped"]
ANCHOR_MAGIC = 0x78706f6b65646267
ANCHOR_VERSION = 2


def read(expr):
    """An integer from a kernel expression."""
    return int(gdb.parse_and_eval(expr))


def write(expr, value):
    gdb.execute(f"set var {expr} = {value}", to_string=True)


def check_anchor():
    try:
        a = gdb.parse_and_eval("xpoke_debug")
        magic = int(a["magic"])
    except gdb.MemoryError:
        raise gdb.GdbError("xpoke: kernel memory is not readable yet (are the CPUs still at the reset "
                           "vector? 'continue', then Ctrl-C)")
    except gdb.error:
        raise gdb.GdbError("xpoke: no xpoke_debug symbol: is build/xpoke.elf loaded?")
    if magic != ANCHOR_MAGIC:
        raise gdb.GdbError("xpoke: xpoke_debug has the wrong magic: kernel and symbols differ?")
    if int(a["version"]) != ANCHOR_VERSION:
        raise gdb.GdbError(f"xpoke: kernel debug layout {int(a['version'])}, this script knows {ANCHOR_VERSION}")
    if int(a["percpu_size"]) != gdb.lookup_type("struct percpu").sizeof:
        raise gdb.GdbError("xpoke: struct percpu in the symbols does not match the running kernel")
    return a


def _strategies():
    """The kernel's strategy registry: a list of gdb.Value (struct patch_strategy)."""
    a = gdb.parse_and_eval("xpoke_debug")
    if int(a["magic"]) != ANCHOR_MAGIC or int(a["version"]) != ANCHOR_VERSION:
        raise gdb.GdbError(f"xpoke: xpoke_debug: magic {int(a['magic']):#x} version {int(a['version'])}, "
                           f"this script knows version {ANCHOR_VERSION}")
    out, arr = [], a["strategies"]
    for i in range(64):
        p = arr[i]
        if int(p) == 0:
            return out
        out.append(p.dereference())
    raise gdb.GdbError("xpoke: the strategy registry has no NULL end")


def strategy_names():
    return [s["name"].string() for s in _strategies()]


def _current_strategy():
    """The strategy of the batch in flight or of the last one (the first
    registered before patch_init set it)."""
    a = gdb.parse_and_eval("xpoke_debug")
    cur = a["current_strategy"].dereference()
    return cur.dereference() if int(cur) else _strategies()[0]


def _started():
    """Has patch_init set the current strategy (and phase)? Before, the
    core is idle: its phase is the first strategy's last."""
    return int(gdb.parse_and_eval("xpoke_debug")["current_strategy"].dereference()) != 0


def phases(strategy=None):
    """Phase names of a strategy (by name; default: the current one), read
    from the kernel's tables."""
    if strategy is None:
        s = _current_strategy()
    else:
        found = [x for x in _strategies() if x["name"].string() == strategy]
        if not found:
            raise gdb.GdbError(f"xpoke: no strategy '{strategy}'; strategies: {', '.join(strategy_names())}")
        s = found[0]
    return [s["phase_names"][i].string() for i in range(int(s["nr_phases"]))]


def _strategy(name=None):
    if name is None:
        return _current_strategy()
    found = [x for x in _strategies() if x["name"].string() == name]
    if not found:
        raise gdb.GdbError(f"xpoke: no strategy '{name}'; strategies: {', '.join(strategy_names())}")
    return found[0]


def trap_phases(strategy=None):
    """The phases of a strategy in which a site's first byte is an int3
    (its trap_phases mask, read from the kernel)."""
    s = _strategy(strategy)
    mask = int(s["trap_phases"])
    return [p for i, p in enumerate(phases(strategy)) if mask >> i & 1]


def new_phases(strategy=None):
    """The phases of a strategy in which a CPU that runs a site gets the
    new instruction's effect (its new_phases mask, read from the kernel)."""
    s = _strategy(strategy)
    mask = int(s["new_phases"])
    return [p for i, p in enumerate(phases(strategy)) if mask >> i & 1]


def bp_contexts():
    """Names of the #BP contexts (enum bp_ctx), from the kernel."""
    arr = gdb.parse_and_eval("bp_ctx_names")
    n = arr.type.sizeof // arr[0].type.sizeof
    return [arr[i].string() for i in range(n)]


def online_cpus():
    words = gdb.parse_and_eval("cpu_online_mask")["bits"]
    out = []
    for w in range(4):
        bits = int(words[w])
        for b in range(64):
            if bits >> b & 1:
                out.append(w * 64 + b)
    return out


def cpu_threads():
    """{cpu number: gdb thread number}, from each thread's GS base."""
    base = read("(unsigned long)&percpu_area[0]")
    size = gdb.lookup_type("struct percpu").sizeof
    keep = gdb.selected_thread()
    out = {}
    for t in gdb.selected_inferior().threads():
        t.switch()
        try:
            gs = int(gdb.parse_and_eval("$gs_base")) & 0xffffffffffffffff
        except gdb.error:
            continue
        if gs >= base and (gs - base) % size == 0 and (gs - base) // size < 256:
            out[(gs - base) // size] = t.num
    if keep is not None:
        keep.switch()
    return out


def thread_of(cpu):
    t = cpu_threads().get(cpu)
    if t is None:
        raise gdb.GdbError(f"xpoke: no gdb thread runs CPU {cpu} (is it online?)")
    return t


def phase_number(name, strategy=None):
    names = phases(strategy)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    if name not in names:
        raise gdb.GdbError(f"xpoke: unknown phase '{name}'; phases: {', '.join(names)}")
    return names.index(name)


def where(thread_num):
    keep = gdb.selected_thread()
    for t in gdb.selected_inferior().threads():
        if t.num == thread_num:
            t.switch()
            f = gdb.selected_frame()
            name = f.name() or "?"
            pc = f.pc()
            keep.switch()
            return f"{name} ({pc:#x})"
    return "?"


def context_of(pc):
    if int(pc["patch"]["bp_refs"]):
        return "in #BP"
    if int(pc["mce_depth"]):
        return "in #MC"
    if int(pc["nmi_depth"]):
        return "in NMI"
    if int(pc["irq_depth"]):
        return "in IRQ"
    return "thread"


class XpCpus(gdb.Command):
    """xp-cpus: each CPU with its APIC ID, gdb thread, state, context (thread,
in IRQ, in NMI, in #MC, in #BP), interrupt nesting, the last rendezvous
round it acknowledged, and where it is."""

    def __init__(self):
        super().__init__("xp-cpus", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        check_anchor()
        threads = cpu_threads()
        rnd = read("sync_round")
        print(f"{'CPU':>3} {'APIC':>4} {'thread':>6} {'state':<8} {'context':<8} {'nest':>4} {'acked':>6}  where "
              f"(rendezvous round {rnd})")
        for c in online_cpus():
            pc = gdb.parse_and_eval(f"percpu_area[{c}]")
            st = int(pc["state"])
            t = threads.get(c)
            print(f"{c:>3} {int(pc['apic_id']):>4} {t if t else '-':>6} "
                  f"{STATES[st] if st < len(STATES) else st:<8} {context_of(pc):<8} {int(pc['ctx_depth']):>4} "
                  f"{int(pc['patch']['sync_acked']):>6}  {where(t) if t else '?'}")


def live_sites():
    b = read("(unsigned long)live_batch")
    if not b:
        return []
    batch = gdb.parse_and_eval("live_batch").dereference()
    return [(int(batch["sites"][i]["addr"]), int(batch["sites"][i]["len"])) for i in range(int(batch["nr"]))]


def site_defs():
    start = read("(unsigned long)&__patch_sites_start")
    end = read("(unsigned long)&__patch_sites_end")
    t = gdb.lookup_type("struct patch_site_def")
    n = (end - start) // t.sizeof
    arr = gdb.Value(start).cast(t.pointer())
    return [arr[i] for i in range(n)]


def bytes_at(addr, n):
    mem = gdb.selected_inferior().read_memory(addr, n)
    return bytes(mem)


def disasm(addr):
    out = gdb.execute(f"x/i {addr:#x}", to_string=True).strip()
    return out.split(":", 1)[1].strip() if ":" in out else out


class XpSites(gdb.Command):
    """xp-sites: every named patch site: symbol, address, length, current
bytes and their disassembly, and whether a live batch holds it."""

    def __init__(self):
        super().__init__("xp-sites", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        check_anchor()
        live = live_sites()
        for s in site_defs():
            addr = int(s["addr"])
            n = int(s["len"])
            sym = gdb.execute(f"info symbol {addr:#x}", to_string=True).strip()
            busy = any(a < addr + n and addr < a + l for a, l in live)
            print(f"{s['name'].string():<6} {addr:#x} len {n}  {bytes_at(addr, n).hex(' '):<20} {disasm(addr)}"
                  f"{'  [live]' if busy else ''}\n       {sym}")


class XpBatch(gdb.Command):
    """xp-batch: the batch being applied: the patching CPU and its phase, its
references and the CPUs pinning it, the sites (address, length, new
bytes), the rendezvous round and which CPUs still owe an acknowledgement
(or are inside the #BP handler); or a withdrawn batch still waiting for
its pins to drain."""

    def __init__(self):
        super().__init__("xp-batch", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        check_anchor()
        names = phases()
        phase = names[read("poke_current_phase")] if _started() else names[-1]
        patcher = read("poke_patcher_cpu")
        strategy = _current_strategy()["name"].string()
        words = {c: read(f"percpu_area[{c}].patch.live_pin") for c in online_cpus()}
        refs = sum(w >> 1 for w in words.values())
        pins = [f"CPU {c}" + (f" x{w >> 1}" if w >> 1 > 1 else "") for c, w in words.items() if w >> 1]
        pinned = f"{refs} pin(s), by {', '.join(pins) or 'nobody'}"
        if not read("(unsigned long)live_batch"):
            if refs:
                print(f"a withdrawn batch waits to retire: patching CPU {patcher}, strategy {strategy}, "
                      f"phase {phase}, {pinned}")
            else:
                print(f"no live batch (last: strategy {strategy}, phase {phase})")
            return
        print(f"live batch: patching CPU {patcher}, strategy {strategy}, phase {phase}, rendezvous round {read('sync_round')}, "
              f"{pinned}")
        batch = gdb.parse_and_eval("live_batch").dereference()
        for i in range(int(batch["nr"])):
            s = batch["sites"][i]
            n = int(s["len"])
            new = bytes(int(s["new"][k]) & 0xff for k in range(n))
            print(f"  site {int(s['addr']):#x} len {n}: now {bytes_at(int(s['addr']), n).hex(' ')}, "
                  f"becoming {new.hex(' ')}")
        threads = cpu_threads()
        words = gdb.parse_and_eval("sync_pending")["bits"]
        owe = [w * 64 + b for w in range(4) for b in range(64) if int(words[w]) >> b & 1]
        print(f"  owe an acknowledgement: {', '.join(f'CPU {c} (thread {threads.get(c)})' for c in owe) or 'nobody'}")
        for c in online_cpus():
            if read(f"percpu_area[{c}].patch.bp_refs"):
                print(f"  CPU {c} is inside the #BP handler")


def strategy_phase(arg):
    """[STRATEGY:]PHASE -> (strategy name, phase number). Without a
    strategy: the current one if it has that phase, else the one strategy
    that has it (several: an error naming them)."""
    if ":" in arg:
        name, phase = arg.split(":", 1)
        return name, phase_number(phase, name)
    cur = _current_strategy()["name"].string()
    if arg in phases(cur) or arg.isdigit():
        return cur, phase_number(arg, cur)
    having = [n for n in strategy_names() if arg in phases(n)]
    if len(having) == 1:
        return having[0], phase_number(arg, having[0])
    if not having:
        raise gdb.GdbError(f"xpoke: no strategy has a phase '{arg}' (xp-phases lists them)")
    raise gdb.GdbError(f"xpoke: phase '{arg}' belongs to {', '.join(having)}: say which, e.g. "
                       f"xp-break-phase {having[0]}:{arg}")


class XpBreakPhase(gdb.Command):
    """xp-break-phase [STRATEGY:]PHASE: stop when the patching CPU reaches
PHASE of a batch of STRATEGY (poke_phase_stop with p == PHASE and that
strategy current). Without STRATEGY: the current one if it has PHASE, else
the one that has it. xp-phases lists every strategy's phases."""

    def __init__(self):
        super().__init__("xp-break-phase", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        name, n = strategy_phase(arg.strip())
        bp = break_phase(n, strategy=name)
        print(f"breakpoint {bp.number}: the patching CPU reaching phase {phases(name)[n]} of a {name} batch")


class XpPhases(gdb.Command):
    """xp-phases: every strategy and its phases, read from the kernel (the
current one marked *). Works on the ELF file alone, without a target."""

    def __init__(self):
        super().__init__("xp-phases", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        cur = _current_strategy()["name"].string()
        for name in strategy_names():
            print(f"{'*' if name == cur else ' '} {name}: {' '.join(phases(name))}")
            print(f"    int3 at the first byte in: {' '.join(trap_phases(name)) or 'none'}")


def break_phase(n, thread=None, strategy=None):
    """A breakpoint at poke_phase_stop(p) with p == n (the phase is already
    published in poke_current_phase there), for batches of strategy (a
    name; None: any)."""
    bp = gdb.Breakpoint("poke_phase_stop", internal=False)
    bp.condition = f"p == {n}"
    if strategy is not None:
        addr = int(_strategy(strategy).address)
        bp.condition += f" && (unsigned long)*xpoke_debug.current_strategy == {addr:#x}"
    if thread is not None:
        bp.thread = thread
    return bp


class XpRunOn(gdb.Command):
    """xp-run-on CPU: resume only that CPU (scheduler-locking on) until the
next stop; the other vCPUs stay stopped. The previous scheduler-locking
setting is restored afterwards."""

    def __init__(self):
        super().__init__("xp-run-on", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        if not arg.strip().isdigit():
            raise gdb.GdbError("usage: xp-run-on CPU")
        run_on(int(arg))


def run_on(cpu):
    t = thread_of(cpu)
    old = gdb.parameter("scheduler-locking")
    gdb.execute(f"thread {t}", to_string=True)
    gdb.execute("set scheduler-locking on")
    try:
        gdb.execute("continue")
    finally:
        gdb.execute(f"set scheduler-locking {old}")


class XpStats(gdb.Command):
    """xp-stats: patch-core counters (batches, rounds, last batch) and, per
CPU, NMIs, returns without IRET, #BP emulations by context, vanished int3s,
and the NMI/#MC/IRQ site hits."""

    def __init__(self):
        super().__init__("xp-stats", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        check_anchor()
        st = next(s for s in gdb.lookup_static_symbols("stats")
                  if s.symtab.filename.endswith("patch/stats.c")).value()
        print(f"batches {int(st['batches'])} ({int(st['sites_total'])} sites), rendezvous rounds "
              f"{read('sync_round')}; last batch: {int(st['sites'])} site(s), {int(st['rounds'])} rounds, "
              f"strategy {st['strategy'].dereference()['name'].string() if int(st['strategy']) else '(none yet)'}, "
              f"{int(st['page_passes'])} page passes")
        print(f"{'CPU':>3} {'NMIs':>8} {'no-IRET':>8} {'nested':>6} " +
              " ".join(f"{'bp ' + c:>9}" for c in bp_contexts()) + f" {'vanished':>8}  site hits nmi/mce/irq (a+b)")
        for c in online_cpus():
            pc = gdb.parse_and_eval(f"percpu_area[{c}]")
            lab = gdb.parse_and_eval(f"lab_cpu[{c}]")     # lab/context_sites.h
            hits = "/".join(str(int(lab["site_hits"][p][0]) + int(lab["site_hits"][p][1])) for p in range(3))
            print(f"{c:>3} {int(pc['nmi_count']):>8} {int(pc['nmi_noiret']):>8} {int(pc['nmi_nested']):>6} " +
                  " ".join(f"{int(pc['patch']['bp_handled'][k]):>9}" for k in range(len(bp_contexts()))) +
                  f" {int(pc['patch']['bp_vanished']):>8}  {hits}")


def _static(name, source):
    """The value of the static variable name of source file source (a path
    ending), or None when the kernel has none (not linked in)."""
    for s in gdb.lookup_static_symbols(name):
        if s.symtab.filename.endswith(source):
            return s.value()
    return None


def lp_payloads():
    """Every livepatch payload the kernel knows: the loader's (clients/
    livepatch/load.c: payloads[0..nr_payloads)) and those an operation of
    clients/livepatch/apply.c was asked about (known[0..nr_known): the
    tests' hand-made ones too), each once, as gdb.Value (struct
    lp_payload)."""
    out, seen = [], set()
    arr, n = _static("payloads", "clients/livepatch/load.c"), _static("nr_payloads", "clients/livepatch/load.c")
    if arr is not None and n is not None:
        for i in range(int(n)):
            p = arr[i]
            seen.add(int(p.address))
            out.append(p)
    known, nk = _static("known", "clients/livepatch/apply.c"), _static("nr_known", "clients/livepatch/apply.c")
    if known is not None and nk is not None:
        for i in range(int(nk)):
            ptr = int(known[i])
            if ptr and ptr not in seen:
                seen.add(ptr)
                out.append(known[i].dereference())
    return out


def _enum(v, prefix):
    """An enum value's name, less its prefix: LP_APPLIED -> applied."""
    s = str(v)
    return s[len(prefix):].lower() if s.startswith(prefix) else s


class XpLp(gdb.Command):
    """xp-lp: livepatch payloads (the loader's, and any an apply, revert
or replace was asked about): name, state, place on the applied stack,
and for each function its entry, new body, state, the payload it stacks
on, and its first bytes now ("jmp in text" when they are its jmp, i.e.
its version runs)."""

    def __init__(self):
        super().__init__("xp-lp", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        check_anchor()
        nr = _static("nr_applied", "clients/livepatch/apply.c")
        if nr is None:
            raise gdb.GdbError("xp-lp: this kernel has no livepatch (clients/livepatch/apply.c)")
        payloads = lp_payloads()
        print(f"livepatch: {len(payloads)} payload(s), {int(nr)} applied")
        for p in payloads:
            pos = int(p["stack_pos"])
            print(f"{p['name'].string():<16} {_enum(p['state'], 'LP_'):<8} "
                  f"{'place ' + str(pos) if pos else '-':<8} {int(p['nfuncs'])} function(s)")
            for j in range(int(p["nfuncs"])):
                f = p["funcs"][j]
                old, new = int(f["old_addr"]), int(f["new_addr"])
                now = bytes_at(old, 5)
                jmp = bytes([0xe9]) + ((new - (old + 5)) & 0xffffffff).to_bytes(4, "little")
                under = f["under"]
                over = f" over {under.dereference()['name'].string()}" if int(under) else ""
                name = f["name"].string() if int(f["name"]) else "?"
                print(f"  {name:<24} {old:#x} -> {new:#x}  {_enum(f['state'], 'LP_FUNC_'):<8}{over}  "
                      f"now {now.hex(' ')}{'  jmp in text' if now == jmp else ''}")


for cmd in (XpCpus, XpSites, XpBatch, XpBreakPhase, XpPhases, XpRunOn, XpStats, XpLp):
    cmd()
