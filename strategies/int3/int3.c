/*
 * strategies/int3/int3.c — the int3 strategy (Linux's text_poke_bp): replace
 * instructions that other CPUs may be executing right now, with every CPU
 * that hits a site mid-patch executing the new instruction in the #BP
 * handler (int3_emulate.c). The core (patch/batch.c) takes text_lock,
 * rechecks the old bytes, sorts and publishes the batch before apply(),
 * and retires it after.
 *
 * int3_apply(b), phase by phase (the writes and rounds are
 * int3_steps.c's, shared with int3-2round and nmi):
 *
 *   patching CPU                                 any CPU (the patcher's own IRQ,
 *                                                NMI and #MC handlers included)
 *   ------------                                 ------------------------------
 *   (core: text_lock, recheck, sort,
 *   publish b)                        ------->   int3 at a site now traps to
 *                                                patch_on_bp(): it finds the
 *                                                site, int3_on_bp() runs the
 *                                                new insn
 *   Step 1: 0xcc over every first byte
 *   sync: round 1   -- IPI VEC_SYNC ------->     serialize; ack. Nobody is left
 *                                                executing an old instruction
 *                                                fetched before the int3.
 *   Step 2: every tail (bytes 1..len-1)          int3 guards the entry; the tail
 *           (skipped when every site is 1 byte)  is never executed half-written
 *   sync: round 2   -- IPI VEC_SYNC ------->     serialize; ack. Nobody can still
 *                                                see an old tail.
 *   Step 3: the real first byte of each site     a CPU either traps (emulated) or
 *                                                runs the whole new instruction
 *   sync: round 3   -- IPI VEC_SYNC ------->     serialize; ack. No int3 left
 *                                                anywhere in anybody's view.
 *   under TCG only: rewrite every first byte     discards translations QEMU's TCG
 *   (same value)                                 made from bytes read across a
 *                                                write (patch/trap.c). On hardware it
 *                                                would be an unsynchronized
 *                                                cross-modifying store, so it is
 *                                                done only where TCG runs us
 *                                                (patch.tcg_rewrite)
 *   (core: withdraw b, wait until no CPU
 *   pins it, release text_lock)
 *
 * IRQs are off only while bytes are written (text_poke_many's precondition);
 * between steps, and while waiting for acknowledgements, they are on, so the
 * patching CPU takes interrupts mid-batch, and an interrupt handler that
 * runs a site in flight is emulated like anybody else.
 */
#include "patch/strategy.h"
#include "strategies/int3/int3.h"
#include "strategies/int3/int3_check.h"

const char *const int3_phase_names[PHASE_COUNT] = {
	[PHASE_PUBLISHED] = "published",
	[PHASE_INT3_WRITTEN] = "int3-written",
	[PHASE_INT3_SYNCED] = "int3-synced",
	[PHASE_TAILS_WRITTEN] = "tails-written",
	[PHASE_TAILS_SYNCED] = "tails-synced",
	[PHASE_FIRST_WRITTEN] = "first-written",
	[PHASE_FIRST_SYNCED] = "first-synced",
	[PHASE_RETIRED] = "retired",
};

const char *const int3_step_names[INT3_STEP_COUNT] = {
	[INT3_STEP_INT3] = "int3",
	[INT3_STEP_TAILS] = "tails",
	[INT3_STEP_FIRST] = "first bytes",
	[INT3_STEP_TCG] = "first bytes again (TCG)",
};

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int int3_apply(struct poke_batch *b, struct poke_stats *st)
{
	return int3_apply_steps(&int3_strategy, b, st);   /* int3_steps.c */
}

const struct patch_hazard int3_hazards[INT3_HAZARD_COUNT] = {
	[BP_THREAD] = { "emulated in thread context", 0 },
	[BP_IRQ] = { "emulated in an IRQ handler", PATCH_EV_IRQ },
	[BP_NMI] = { "emulated in an NMI handler", PATCH_EV_NMI | PATCH_EV_OWN_NMI },
	[BP_MCE] = { "emulated in a #MC handler", PATCH_EV_MCE },
};

const struct patch_strategy int3_strategy = {
	.name = "int3",
	.summary = "int3 on first bytes, sync, tails, sync, first bytes, sync (2 rounds for 1-byte sites); "
		   "#BP emulates the new instruction",
	.phase_names = int3_phase_names,
	.nr_phases = PHASE_COUNT,
	.trap_phases = INT3_TRAP_PHASES,
	.new_phases = ~1u & ((1u << PHASE_COUNT) - 1),   /* emulated as new from the first int3 on */
	.step_names = int3_step_names,
	.nr_steps = INT3_STEP_COUNT,
	.max_rounds = 3,
	.can_patch = "one instruction the #BP handler can emulate: nop, ret, call/jmp/jcc rel",
	.safe_against = "IRQ, NMI, #MC (their handlers are emulated at a site in flight)",
	.safe_events = PATCH_EV_ALL,
	.hazards = int3_hazards,
	.nr_hazards = INT3_HAZARD_COUNT,
	.check = int3_check_site,
	.selftest = int3_selftest,
	.apply = int3_apply,
	.on_bp = int3_on_bp,
};
