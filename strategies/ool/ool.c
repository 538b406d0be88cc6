/*
 * strategies/ool/ool.c — the out-of-line strategy (issue 11, strategy 6;
 * Desnoyers' bypass for immediate values, seed 003, and kprobes' XOL
 * slots): int3's writes and rounds, but a CPU that hits an int3 of the
 * batch is not emulated. Its #BP handler (ool_trap.c) sends it to an
 * out-of-line copy of one whole instruction, the site's old one or its new
 * one, in the slot area (ool_slots.asm); the copy ends by going back to
 * the site's end, or wherever the instruction branches (ool_reloc.h has
 * the shapes, ool_check.c what is refused). So any instruction with a
 * copy can be patched, not only what #BP can emulate: mov $imm, cmp, lea,
 * RIP-relative operands (relocated), calls (the site's end pushed as the
 * return address), indirect calls, jmp/jcc rel8 (widened).
 *
 * ool_apply(b), phase by phase:
 *
 *   patching CPU                                 a CPU that runs a site of b
 *   ------------                                 ---------------------------
 *   (core: text_lock, recheck, sort, publish b)
 *   Step 0: build each site's old and new copy   runs the site's own (old)
 *           (Zydis, here); write them into the   bytes: nothing is written
 *           slot area; run_new = 0; then         there yet. A stale int3 (TCG)
 *           ready_gen = b's generation           whose handler finds ready_gen
 *           ("slots-written")                    not b's runs the site again
 *   Step 1: 0xcc over every first byte           traps -> the OLD copy; or,
 *                                                not serialized yet, still runs
 *                                                the old bytes directly
 *   sync: round 1   -- IPI VEC_SYNC ------->     serialize; ack. From here on
 *           ("int3-synced")                      every CPU traps at a site
 *   Step 2: every tail (skipped for 1-byte       traps -> the OLD copy
 *           sites); round 2 ("tails-synced")
 *   run_new = 1 ("new-copies")                   traps -> the NEW copy
 *   Step 3: the real first bytes                 traps -> the NEW copy; or
 *   sync: round 3 ("first-synced")               runs the new bytes directly
 *   under TCG only: first bytes again            (as in strategies/int3/int3.c)
 *   (core: withdraw b; wait until no CPU         a CPU in #BP or in a copy
 *   pins it)                                     holds a pin until it leaves
 *   Reclaim: the used slots back to int3         (nobody can be in one)
 *   ("retired")
 *
 * Which copy, and why. Until round 1 has completed, some CPU may still run
 * a site's old bytes directly: it has not serialized since the int3s went
 * in. A trapping CPU that ran the new copy meanwhile would see the batch
 * applied while that CPU still sees it not applied; with two sites A then
 * B on one path, a CPU could run A new (it trapped there) and then B old
 * (B's int3 not yet in its view): the batch torn across its sites. So the
 * old copy runs at least until round 1 is complete. From the write of the
 * first bytes on, a CPU that does not trap runs the new instruction, so a
 * trapping CPU must run the new copy from then on. In between every CPU
 * traps and either copy keeps them consistent; the switch is made as late
 * as it can be, right before the first bytes are written, so that the
 * batch takes effect at one point (the store of run_new): an execution of
 * a site whose #BP read run_new before it, or that fetched the site's own
 * bytes before the first-byte write, ran the old instruction, every later
 * one the new. patch.ool_phase_rule checks the copy run at every phase.
 *
 * The copies need no round of their own. A CPU reaches a copy only from
 * the #BP handler of an int3 of b, which the patching CPU stored after the
 * copies and after ready_gen (which the handler checks first); between
 * seeing that int3 and fetching the copy the CPU takes the #BP and IRETs
 * (or runs sync_core() before a return without IRET), both serializing:
 * Intel's cross-modifying-code sequence of store, signal, serialize,
 * execute, with the int3 as the signal. The same serialization discards
 * whatever a CPU still held of the previous batch's copies.
 *
 * Reuse of the slots. They are reclaimed at retirement (ool_retired
 * writes them back to int3), and the next batch writes the area again
 * from its start. A CPU may still be inside a copy after the last round:
 * it acknowledged the round from an IPI taken at an instruction boundary
 * inside the copy, or it was in #BP, which counts as acknowledged, on its
 * way there; and an interrupted rep stosb keeps a CPU inside its copy for
 * as long as it runs. So the #BP handler pins the batch once more before
 * it sends the CPU to the copy (live_batch_hold), and the copy's way out
 * (ool_exit) drops that pin after the copy's last instruction: the
 * retirement (live_retire), which already waits for #BP handlers, then
 * waits until no CPU is in a copy either, with the same deadline and
 * report, and only then are the slots reclaimed. A copy never calls
 * anything while it holds the pin (a call's copy pushes and leaves), so
 * the wait is a few instructions, or one interrupted string instruction.
 * A CPU that recovery abandons inside a copy has its pins dropped with
 * everything else (patch_recover). patch.ool_retire_waits_for_copy keeps
 * a CPU in a copy across the last round.
 *
 * IRQs are off only while bytes are written (text_poke_many's
 * precondition), as for int3.
 */
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/text_poke.h"
#include "strategies/int3/int3.h"
#include "strategies/ool/ool.h"

_Static_assert(OOL_AREA_SIZE % 4096 == 0, "ool: the slot area is whole pages (ool_slots.asm)");

struct ool_area ool_area = {
	.lo = (uintptr_t)ool_slot_area,
	.hi = (uintptr_t)ool_slot_area_end,
	.exit = (uintptr_t)ool_exit,
};

struct ool_state ool_state;
static uint8_t ool_image[OOL_AREA_SIZE];       /* the copies of the batch in flight (text_lock) */

static const char *const ool_phase_names[OOL_PHASE_COUNT] = {
	[OOL_PHASE_PUBLISHED] = "published",
	[OOL_PHASE_SLOTS_WRITTEN] = "slots-written",
	[OOL_PHASE_INT3_WRITTEN] = "int3-written",
	[OOL_PHASE_INT3_SYNCED] = "int3-synced",
	[OOL_PHASE_TAILS_WRITTEN] = "tails-written",
	[OOL_PHASE_TAILS_SYNCED] = "tails-synced",
	[OOL_PHASE_NEW_COPIES] = "new-copies",
	[OOL_PHASE_FIRST_WRITTEN] = "first-written",
	[OOL_PHASE_FIRST_SYNCED] = "first-synced",
	[OOL_PHASE_RETIRED] = "retired",
};

static const char *const ool_step_names[OOL_STEP_COUNT] = {
	[OOL_STEP_SLOTS] = "copies",
	[OOL_STEP_INT3] = "int3",
	[OOL_STEP_TAILS] = "tails",
	[OOL_STEP_FIRST] = "first bytes",
	[OOL_STEP_TCG] = "first bytes again (TCG)",
	[OOL_STEP_RECLAIM] = "copies reclaimed",
};

/* Write ool_image[0..used) over the start of the area, in runs the
 * writer takes. */
static uint64_t write_area(uint32_t used, struct poke_stats *st)
{
	struct poke_write *w = poke_write_buffer();
	unsigned n = 0;
	for (uint32_t off = 0; off < used; off += UINT8_MAX) {
		uint32_t len = used - off < UINT8_MAX ? used - off : UINT8_MAX;
		w[n++] = (struct poke_write){ ool_area.lo + off, ool_image + off, (uint8_t)len, NULL };
	}
	return poke_write_step(w, n, st);
}

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int ool_apply(struct poke_batch *b, struct poke_stats *st)
{
	uint32_t used;
	bool tails = false;
	for (uint32_t i = 0; i < b->nr; i++)
		tails |= b->sites[i].len > INT3_INSN_SIZE;

	/* Step 0: the copies, before anything of the batch is written, and
	 * nothing written at all if one cannot be built. */
	__atomic_store_n(&ool_state.run_new, 0, __ATOMIC_SEQ_CST);
	int err = ool_plan(b->sites, b->nr, &ool_area, ool_image, ool_state.slot, &used, b->why, sizeof(b->why));
	if (err)
		return err;
	ool_state.used = used;
	ool_state.nr = b->nr;
	st->cycles_write[OOL_STEP_SLOTS] = write_area(used, st);
	__atomic_store_n(&ool_state.ready_gen, live_batch_gen(), __ATOMIC_RELEASE);
	poke_phase_reached(OOL_PHASE_SLOTS_WRITTEN);

	/* Step 1: int3 on every first byte; trapping CPUs run old copies. */
	st->cycles_write[OOL_STEP_INT3] = int3_write_step(b, INT3_STEP_INT3, st, NULL);
	poke_phase_reached(OOL_PHASE_INT3_WRITTEN);
	int3_round(&ool_strategy, st);
	poke_phase_reached(OOL_PHASE_INT3_SYNCED);

	/* Step 2: the tails, behind the int3s. */
	if (tails) {
		st->cycles_write[OOL_STEP_TAILS] = int3_write_step(b, INT3_STEP_TAILS, st, NULL);
		poke_phase_reached(OOL_PHASE_TAILS_WRITTEN);
		int3_round(&ool_strategy, st);
		poke_phase_reached(OOL_PHASE_TAILS_SYNCED);
	}

	/* The switch: every CPU traps now; from here on they run new copies. */
	__atomic_store_n(&ool_state.run_new, 1, __ATOMIC_SEQ_CST);
	poke_phase_reached(OOL_PHASE_NEW_COPIES);

	/* Step 3: the real first bytes. */
	st->cycles_write[OOL_STEP_FIRST] = int3_write_step(b, INT3_STEP_FIRST, st, NULL);
	poke_phase_reached(OOL_PHASE_FIRST_WRITTEN);
	int3_round(&ool_strategy, st);
	poke_phase_reached(OOL_PHASE_FIRST_SYNCED);
	if (poke_tcg_rewrite)   /* TCG's stale translations out (int3.c) */
		st->cycles_write[OOL_STEP_TCG] = int3_write_step(b, INT3_STEP_TCG, st, NULL);
	return 0;
}

/* Thread context, IRQs on, text_lock held, b retired: no CPU is in a copy
 * (each held a pin until its way out). The slots go back to int3, so the
 * text is again what it was before the batch but for the sites, and a
 * jump into a reclaimed slot would trap rather than run a stale copy. */
static void ool_retired(struct poke_batch *b, struct poke_stats *st)
{
	(void)b;
	if (!ool_state.used)
		return;
	memset(ool_image, INT3_INSN_OPCODE, ool_state.used);
	st->cycles_write[OOL_STEP_RECLAIM] = write_area(ool_state.used, st);
	ool_state.used = 0;
}

static const struct patch_hazard ool_hazards[OOL_HAZARD_COUNT] = {
	[OOL_HAZARD_RAN] = { "ran out of line", PATCH_EV_ALL },
	[OOL_HAZARD_OLD] = { "ran the old copy", 0 },   /* counted, asked of no storm */
	[OOL_HAZARD_NEW] = { "ran the new copy", 0 },
	[OOL_HAZARD_MOVED] = { "interrupted at an old copy after the switch: moved to the new", 0 },
};

const struct patch_strategy ool_strategy = {
	.name = "ool",
	.summary = "int3 on first bytes, sync, tails, sync, first bytes, sync; #BP sends the CPU to an "
		   "out-of-line copy of the old instruction, or of the new one once the tails are synced, then back",
	.phase_names = ool_phase_names,
	.nr_phases = OOL_PHASE_COUNT,
	.trap_phases = 1u << OOL_PHASE_INT3_WRITTEN | 1u << OOL_PHASE_INT3_SYNCED | 1u << OOL_PHASE_TAILS_WRITTEN |
		       1u << OOL_PHASE_TAILS_SYNCED | 1u << OOL_PHASE_NEW_COPIES,
	.new_phases = ~((1u << OOL_PHASE_NEW_COPIES) - 1) & ((1u << OOL_PHASE_COUNT) - 1), /* old copies before */
	.step_names = ool_step_names,
	.nr_steps = OOL_STEP_COUNT,
	.max_rounds = 3,
	.can_patch = "one instruction whose old and new forms both run out of line: mov, cmp, lea, RIP-relative "
		     "operands, call/jmp/jcc rel, indirect call/jmp, nop, ret (not int/syscall/iret/hlt/loop/jrcxz)",
	.safe_against = "IRQ, NMI, #MC (their handlers run the out-of-line copy at a site in flight)",
	.safe_events = PATCH_EV_ALL,
	.hazards = ool_hazards,
	.nr_hazards = OOL_HAZARD_COUNT,
	.check = ool_check_site,
	.apply = ool_apply,
	.retired = ool_retired,
	.on_bp = ool_on_bp,
	.on_trap_entry = ool_on_trap_entry,
};
