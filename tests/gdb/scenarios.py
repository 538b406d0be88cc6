"""tests/gdb/scenarios.py - deterministic replays of the patch races.

Each scenario freezes the patching CPU (CPU 0) at a chosen phase of the
int3 protocol, drives the other CPU into the site being patched from a
chosen context, lets it through (the #BP emulation when an int3 is in the
way), releases the patching CPU and checks the final state and counters,
all read from the kernel through gdb. The guest is tests/kernel/gdb_arena.c
(ktest=gdb.arena); tests/gdb/run_scenario.py runs the scenarios of a boot
one after the other, the arena reset between them (arena.ready), and ends
the arena after the last.

  phase_<PHASE>_<thread|nmi>   every phase x a thread and an NMI intruder
  phase_int3-written_irq       an IRQ intruder
  patcher_nmi_own_site         the patching CPU, frozen mid-batch, takes an
                               NMI whose handler runs its own in-flight site
  retire_waits_for_bp          a CPU held inside the #BP handler: the batch
                               completes its rounds, then retirement waits
                               for it, and completes once it is released
  nmi_inside_bp_acks_for_real  a CPU inside the #BP handler takes an NMI
                               (gdb's "monitor nmi"): while that NMI, which
                               runs patch sites, is in progress, the next
                               round must not count the CPU as acknowledged
  validate_beside_batch_in_flight
                               CPU 0 is frozen with an int3 on the early
                               site of view_fn; CPU 1 validates its late
                               site (accepted: the validator reads through
                               the view) and a request in the middle of an
                               instruction between them (still refused)
  livepatch_xp_lp              CPU 0 applies two hand-made payloads, the
                               second stacking on the first; halted, xp-lp
                               lists both with their places, each function
                               applied, the stacked one over the other, and
                               which jmp the text holds
  torn_target_with_checks_off  booted with patch.unsafe_targets=1: the
                               batch "call S a -> b, nop N -> jmp S+2" is
                               accepted, and a CPU running N while the tail
                               of S is rewritten is emulated into S+2, the
                               middle of a torn instruction (the checks
                               refuse that batch: patch.bad_requests_refused)
"""
import os

import gdb

import catalog
import xpoke
from arena import (A, B, CTX, int3_phases, new_phases, ScenarioError, check_final, expect, freeze_patcher_at, intrude, site,
                   read, ready, release_patcher, run_until, write)  # noqa: F401


def new_bytes():
    """While a batch is live: the bytes its (only) site is becoming."""
    s = gdb.parse_and_eval("live_batch").dereference()["sites"][0]
    return bytes(int(s["new"][k]) & 0xff for k in range(int(s["len"])))


def call_b_bytes():
    """What gdb.arena's command 1 makes of the call site (a -> b): a call
    rel32 to variant b's function, computed from the symbols, not read back
    from the site or the batch."""
    at, to = read("(unsigned long)flip_call_site"), read("(unsigned long)flip_ret_b")
    return bytes([0xe8]) + ((to - (at + 5)) & 0xffffffff).to_bytes(4, "little")


def phase_intruder(phase, kind):
    _, ctx = CTX[kind]
    ready()
    before = read(f"percpu_area[1].patch.bp_handled[{ctx}]")
    freeze_patcher_at(phase)
    new = call_b_bytes()
    if phase != "retired":
        expect(new_bytes() == new, f"the live batch turns the site into call b ({new.hex(' ')})")
    first = read("*(unsigned char *)flip_call_site")
    in_int3 = phase in int3_phases()
    expect((first == 0xcc) == in_int3, f"the site's first byte is {first:#04x}"
           f"{' (int3)' if first == 0xcc else ''} at phase {phase}")
    intrude(kind)
    result = read("gdb_arena.result")
    emulated = read(f"percpu_area[1].patch.bp_handled[{ctx}]") - before
    # Which call's result the strategy promises at this phase (its
    # new_phases, from the kernel): int3 emulates the new one from the
    # first int3 on, ool runs the old copy until new-copies, ...
    want, which = (B, "new") if phase in new_phases() else (A, "old")
    if in_int3:
        expect(result == want, f"CPU 1 got the {which} call's result through the int3 (got {result:#x})")
        expect(emulated == 1, f"exactly one #BP handled in {kind} context on CPU 1 (got {emulated})")
    else:
        expect(result == want, f"CPU 1 ran the {which} call directly (got {result:#x})")
        expect(emulated == 0, f"without a #BP (got {emulated})")
    release_patcher()
    check_final(new)


def patcher_nmi_own_site():
    ready()
    bp0, noiret0 = read("percpu_area[0].patch.bp_handled[2]"), read("percpu_area[0].nmi_noiret")
    freeze_patcher_at("int3-written")
    new = new_bytes()
    done = read("gdb_arena.intrude_done")
    xpoke.write("gdb_arena.intrude_cmd", 4)            # CPU 1 sends an NMI to the frozen CPU 0
    run_until("gdb_intruder_finished", 1, only=1)
    expect(read("gdb_arena.intrude_done") == done + 1, "CPU 1 sent CPU 0 an NMI")
    expect(read("gdb_arena.nmi_result_cpu0") == 0, "CPU 0, frozen, has not taken it yet")
    release_patcher()
    expect(read("gdb_arena.nmi_result_cpu0") == B, "CPU 0's NMI handler ran its own in-flight site and got b")
    expect(read("percpu_area[0].patch.bp_handled[2]") == bp0 + 1, "through one #BP emulation in NMI context on CPU 0")
    expect(read("percpu_area[0].nmi_noiret") == noiret0 + 1, "which returned into the NMI handler without IRET")
    check_final(new)


def pause_in(fn):
    """Address of the first PAUSE (cpu_relax) in function fn."""
    for line in gdb.execute(f"disassemble {fn}", to_string=True).splitlines():
        if "\tpause" in line or " pause" in line:
            return int(line.split()[0], 16) if line.split()[0].startswith("0x") else int(line.split()[1], 16)
    raise ScenarioError(f"no pause instruction in {fn}")


def run_alone_to(cpu, location):
    """Resume only CPU `cpu` until it reaches `location` (or stops elsewhere)."""
    bp = gdb.Breakpoint(location, internal=True)
    bp.thread = xpoke.thread_of(cpu)
    try:
        xpoke.run_on(cpu)
    finally:
        bp.delete()


def hold_cpu1_inside_bp():
    """CPU 1 alone runs into the int3 (thread context) and is held inside
    the #BP handler. Returns gdb_arena.intrude_done from before."""
    intruded = read("gdb_arena.intrude_done")
    xpoke.write("gdb_arena.intrude_cmd", 1)
    run_alone_to(1, "emulate_insn")
    expect(gdb.selected_frame().name() == "emulate_insn", "CPU 1 is held inside the #BP handler (emulate_insn)")
    expect(read("percpu_area[1].patch.bp_refs") == 1, "with its #BP reference count at 1")
    return intruded


def retire_waits_for_bp():
    ready()
    freeze_patcher_at("tails-synced")
    new = new_bytes()
    intruded = hold_cpu1_inside_bp()

    # CPU 0 alone: its last rounds go through (CPU 1 counts as having
    # acknowledged: it is inside #BP), then retirement must wait for CPU 1.
    spin = gdb.Breakpoint(f"*{pause_in('live_retire'):#x}", internal=True)
    spin.thread = xpoke.thread_of(0)
    spin.ignore_count = 300
    done = gdb.Breakpoint("gdb_patch_finished", internal=True)
    done.thread = xpoke.thread_of(0)
    try:
        xpoke.run_on(0)
    finally:
        spin.delete()
    name = gdb.selected_frame().name()
    expect(name == "live_retire", f"CPU 0 spun 300 times in live_retire's wait instead of finishing (it is in {name})")
    expect(xpoke.phases()[read("poke_current_phase")] == "first-synced",
           "after all three rounds, but not retired: the phase is still first-synced")
    expect(read("(unsigned long)live_batch") == 0, "the batch is withdrawn from new #BP lookups")
    expect(read("percpu_area[1].patch.bp_refs") == 1, "while CPU 1 is still inside the #BP handler")
    expect(read("percpu_area[1].patch.live_pin") == 2 and read("percpu_area[0].patch.live_pin") == 0,
           "holding the batch's last pin (its gate closed)")
    shown = gdb.execute("xp-batch", to_string=True)
    expect("a withdrawn batch waits to retire" in shown and "1 pin(s), by CPU 1" in shown,
           f"xp-batch says so: {shown.strip()}")
    # Release CPU 1: it finishes its emulation; then the batch retires.
    try:
        gdb.execute("continue")
    finally:
        done.delete()
    ok = gdb.selected_frame().name() == "gdb_patch_finished"
    expect(ok, "once CPU 1 left the #BP handler, CPU 0 retired the batch and finished")
    expect(read("percpu_area[1].patch.bp_refs") == 0 and read("percpu_area[1].patch.live_pin") == 0,
           "CPU 1 has left the #BP handler and dropped its pin")
    check_final(new)
    if read("gdb_arena.intrude_done") == intruded:
        run_until("gdb_intruder_finished", 1)
    expect(read("gdb_arena.result") == B, "and CPU 1's call, emulated, returned b")


def rollfwd_bystander_waits():
    """roll-forward (patch.strategy=roll-forward): a bystander that hits the
    int3 while the patching CPU is frozen waits in #BP, emulating nothing,
    for as long as the patching CPU is held; once it goes on, the bystander
    leaves and runs the whole new call."""
    ready()
    freeze_patcher_at("int3-written")
    new = new_bytes()
    waited = read("percpu_area[1].patch.hazard[0]")         # RF_HAZARD_WAITED
    intruded = read("gdb_arena.intrude_done")
    write("gdb_arena.intrude_cmd", 1)
    # The wait loop (wait_for_site, inlined): rf_on_bp's one PAUSE.
    wait = pause_in("rf_on_bp")
    spin = gdb.Breakpoint(f"*{wait:#x}", internal=True)
    spin.thread = xpoke.thread_of(1)
    spin.ignore_count = 20    # its wait gives up after 20 s of the guest's time
    try:
        xpoke.run_on(1)
    finally:
        spin.delete()
    expect(gdb.selected_frame().pc() == wait,
           f"CPU 1 alone spun 20 times in #BP waiting for the site (it is at {gdb.selected_frame().pc():#x})")
    expect(read("percpu_area[1].patch.bp_refs") == 1, "inside the #BP handler")
    expect(read("percpu_area[1].patch.hazard[0]") == waited + 1, "counted once as a wait in #BP")
    expect(read("gdb_arena.intrude_done") == intruded, "its call has not run: no emulation")
    expect(read("*(unsigned char *)flip_call_site") == 0xcc, "the site still holds its int3")
    run_until("gdb_patch_finished", 0)
    check_final(new)
    if read("gdb_arena.intrude_done") == intruded:
        run_until("gdb_intruder_finished", 1)
    expect(read("gdb_arena.result") == B, "once the patching CPU went on, CPU 1 left #BP and ran the new call")
    expect(read("percpu_area[1].patch.bp_refs") == 0, "and left the #BP handler")


NMI_TEST = 1 << 2                       # arch/x86/nmi.h


def nmi_inside_bp_acks_for_real():
    ready()
    freeze_patcher_at("int3-written")   # the int3 is there; round 1 not sent yet
    new = new_bytes()
    intruded = hold_cpu1_inside_bp()

    # An NMI for CPU 1 whose handler will run the site being patched (the
    # arena's NMI hook), taken inside the #BP handler. "monitor nmi" reaches
    # every CPU through LINT1; CPU 0's is an external NMI and runs no hook.
    write("pending_nmi_call", 1)
    write("percpu_area[1].nmi_reasons", NMI_TEST)
    nmi_bp1 = read("percpu_area[1].patch.bp_handled[2]")
    gdb.execute("monitor nmi", to_string=True)
    run_alone_to(1, "nmi_handle")
    expect(gdb.selected_frame().name() == "nmi_handle", "CPU 1 took the NMI inside the #BP handler")
    expect(read("percpu_area[1].patch.bp_refs") == 1 and read("percpu_area[1].patch.bp_nested") == 1,
           "patch_trap_enter raised bp_nested before running the NMI handler")

    # CPU 0 alone: round 1 must wait for CPU 1 instead of acknowledging
    # for it because it is inside #BP.
    acks_in_bp = read("acks_in_bp")
    spin = gdb.Breakpoint(f"*{pause_in('sync_all_cpus'):#x}", internal=True)
    spin.thread = xpoke.thread_of(0)
    spin.ignore_count = 300
    synced = xpoke.break_phase(xpoke.phase_number("int3-synced"), thread=xpoke.thread_of(0))
    try:
        xpoke.run_on(0)
    finally:
        spin.delete()
        synced.delete()
    name = gdb.selected_frame().name()
    expect(name == "sync_all_cpus", f"CPU 0 waits in round 1 (it is in {name})")
    expect(read("sync_pending.bits[0]") & 2, "with CPU 1's bit still pending")
    expect(read("acks_in_bp") == acks_in_bp, "no acknowledgement was given on CPU 1's behalf")

    # Release everyone: CPU 1's NMI runs the site (a nested #BP, which
    # acknowledges for real), its thread-context call completes, the batch
    # finishes.
    release_patcher()
    check_final(new)
    if read("gdb_arena.intrude_done") == intruded:
        run_until("gdb_intruder_finished", 1)
    expect(read("percpu_area[1].patch.bp_handled[2]") == nmi_bp1 + 1,
           "CPU 1's NMI handler ran the site through one #BP emulation in NMI context")
    expect(read("gdb_arena.result") == B, "and the calls returned b")
    expect(read("percpu_area[1].patch.bp_nested") == 0, "bp_nested is back to 0")


PATCH_EMID_INSN = 205                   # patch/poke_types.h


def validate_beside_batch_in_flight():
    ready()
    early = read("(unsigned long)view_fn")
    freeze_patcher_at("int3-written", cmd=2)    # CPU 0: view_fn's early site, nop5 -> call
    live = bytes(gdb.selected_inferior().read_memory(early, 5))
    expect(live[0] == 0xcc, f"the early site holds an int3 now ({live.hex(' ')}): decoded from the live "
           "text, view_fn is not what it will be before or after")
    done = read("gdb_arena.intrude_done")
    write("gdb_arena.intrude_cmd", 5)
    run_until("gdb_intruder_finished", 1, only=1)
    expect(read("gdb_arena.intrude_done") == done + 1, "CPU 1 validated two requests in view_fn")
    err = read("gdb_arena.validate_err[0]")
    expect(err == 0, f"the late site (nop5 -> call flip_set_b) was accepted (error {err})")
    err = read("gdb_arena.validate_err[1]")
    expect(err == -PATCH_EMID_INSN, f"a request in the middle of the mov was refused with PATCH_EMID_INSN ({err})")
    release_patcher()
    expect(read("gdb_arena.patch_err") == 0, "CPU 0's batch completed")
    expect(read("*(unsigned char *)view_fn") == 0xe8, "the early site holds the call")


def torn_target_with_checks_off():
    ready()
    s = site()
    done = read("gdb_arena.patch_done")
    freeze_patcher_at("tails-written", cmd=3)   # CPU 0: call S a <-> b, nop5 N -> jmp S+2, one batch
    expect(read("gdb_arena.patch_done") == done, "the unsafe batch was accepted (nothing refused it yet)")
    nsite = read("(unsigned long)flip_nop5_site")
    expect(read(f"*(unsigned char *){nsite}") == 0xcc, "N holds an int3, S holds an int3 and its new tail")
    bp0 = read("percpu_area[1].patch.bp_handled[0]")
    # CPU 1 alone runs N's function: the int3 sends it to S+2.
    stop = gdb.Breakpoint(f"*{s + 2:#x}", internal=True, type=gdb.BP_HARDWARE_BREAKPOINT)
    stop.thread = xpoke.thread_of(1)
    try:
        write("gdb_arena.intrude_cmd", 6)
        xpoke.run_on(1)
    finally:
        stop.delete()
    pc = read("$pc")
    expect(pc == s + 2, f"CPU 1 is at {pc:#x}, byte 2 of the call at {s:#x} whose tail is being rewritten: "
           "it would execute a torn instruction")
    expect(read("percpu_area[1].patch.bp_handled[0]") == bp0 + 1, "sent there by one #BP emulation of N's jmp")
    # Take CPU 1 out of harm's way: to S's ret, which returns from N's function.
    gdb.execute(f"set var $pc = {s + 5:#x}", to_string=True)
    release_patcher()
    expect(read("gdb_arena.patch_err") == 0, "the batch completed (nothing refused it)")


LIVEPATCH = 5                           # gdb_arena.patch_cmd: apply two_funcs, then stack_over


def livepatch_xp_lp():
    ready()
    done = read("gdb_arena.patch_done")
    write("gdb_arena.patch_cmd", LIVEPATCH)
    run_until("gdb_patch_finished", 0)
    expect(read("gdb_arena.patch_done") == done + 1 and read("gdb_arena.patch_err") == 0,
           f"CPU 0 applied two_funcs and stack_over (error {read('gdb_arena.patch_err')})")
    out = gdb.execute("xp-lp", to_string=True)
    print(out)
    lines = out.splitlines()

    def line(start, *words):
        """The first line that starts with start (after blanks) and holds every word."""
        return next((x for x in lines if x.strip().startswith(start) and all(w in x for w in words)), None)

    expect(line("livepatch:", "2 applied") is not None, "xp-lp counts 2 payloads applied")
    expect(line("two_funcs", "applied", "place 1", "2 function(s)") is not None, "two_funcs: applied, place 1")
    expect(line("stack_over", "applied", "place 2", "1 function(s)") is not None, "stack_over: applied, place 2")
    def fn_line(payload, fn):
        """The line of function fn under payload's line (its function lines follow it, indented)."""
        i = next(i for i, x in enumerate(lines) if x.startswith(payload + " "))
        block = []
        for x in lines[i + 1:]:
            if not x.startswith("  "):
                break
            block.append(x)
        return next((x for x in block if x.split()[0] == fn), f"(no {fn} under {payload})")

    a_two, b_two, a_over = fn_line("two_funcs", "lp_target_a"), fn_line("two_funcs", "lp_target_b"), \
        fn_line("stack_over", "lp_target_a")
    expect("lp_target_a" in a_two and "applied" in a_two and "jmp in text" not in a_two,
           f"two_funcs' lp_target_a applied, its jmp not in the text (stack_over's is): {a_two.strip()}")
    expect("lp_target_b" in b_two and "applied" in b_two and "jmp in text" in b_two,
           f"two_funcs' lp_target_b applied, its jmp in the text: {b_two.strip()}")
    expect("lp_target_a" in a_over and "over two_funcs" in a_over and "jmp in text" in a_over,
           f"stack_over's lp_target_a over two_funcs, its jmp in the text: {a_over.strip()}")
    a = read("(unsigned long)lp_target_a")
    first = bytes(gdb.selected_inferior().read_memory(a, 1))[0]
    expect(first == 0xe9, f"lp_target_a starts with a jmp ({first:#x}), read by gdb itself")


OTHERS = {
    "livepatch_xp_lp": livepatch_xp_lp,
    "validate_beside_batch_in_flight": validate_beside_batch_in_flight,
    "torn_target_with_checks_off": torn_target_with_checks_off,
    "patcher_nmi_own_site": patcher_nmi_own_site,
    "retire_waits_for_bp": retire_waits_for_bp,
    "nmi_inside_bp_acks_for_real": nmi_inside_bp_acks_for_real,
    "rollfwd_bystander_waits": rollfwd_bystander_waits,
}


def run(name):
    """Run the scenario catalog.names() calls `name`."""
    strategy = os.environ.get("XPOKE_STRATEGY", catalog.STRATEGY)
    if name not in catalog.names(strategy=strategy):
        raise ScenarioError(f"no scenario '{name}' in tests/gdb/catalog.py")
    if name in OTHERS:
        OTHERS[name]()
        return
    phase, kind = name[len("phase_"):].rsplit("_", 1)      # phase_<PHASE>_<thread|nmi|irq>
    phase_intruder(phase, kind)
