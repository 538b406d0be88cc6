/*
 * strategies/int3/int3.c — the int3 strategy (Linux's text_poke_bp): replace
 * instructions that other CPUs may be executing right now, with every CPU
 * that hits a site mid-patch executing the new instruction in the #BP
 * handler (int3_emulate.c). The core (patch/batch.c) takes text_lock,
 * rechecks the old bytes, sorts and publishes the batch before apply(),
 * and retires it after.
 *
 * int3_apply(b), phase by phase:
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
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "patch/text_poke.h"
#include "strategies/int3/int3.h"
#include "strategies/int3/int3_check.h"

static const char *const int3_phase_names[PHASE_COUNT] = {
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

static const uint8_t int3_byte = INT3_INSN_OPCODE;

/* The bytes of one step for every site, grouped by page by the writer. */
uint64_t int3_write_step(const struct poke_batch *b, enum int3_step step, struct poke_stats *st)
{
	struct poke_write *w = poke_write_buffer();
	unsigned n = 0;
	for (uint32_t i = 0; i < b->nr; i++) {
		const struct poke_site *s = &b->sites[i];
		if (step == INT3_STEP_INT3)
			w[n++] = (struct poke_write){ s->addr, &int3_byte, INT3_INSN_SIZE, NULL };
		else if (step == INT3_STEP_TAILS && s->len > INT3_INSN_SIZE)
			w[n++] = (struct poke_write){ s->addr + 1, s->new + 1, (uint8_t)(s->len - 1), NULL };
		else if (step == INT3_STEP_FIRST || step == INT3_STEP_TCG)
			w[n++] = (struct poke_write){ s->addr, s->new, 1, NULL };
	}
	return poke_write_step(w, n, st);
}

/* One round of strategy s, counted and timed. */
void int3_round(const struct patch_strategy *s, struct poke_stats *st)
{
	if (st->rounds >= s->max_rounds)
		panic("%s: round %u of a batch declared to take at most %u", s->name, st->rounds + 1, s->max_rounds);
	st->cycles_sync[st->rounds++] = sync_all_cpus();
}

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int int3_apply(struct poke_batch *b, struct poke_stats *st)
{
	bool tails = false;
	for (uint32_t i = 0; i < b->nr; i++)
		tails |= b->sites[i].len > INT3_INSN_SIZE;

	/* Step 1: int3 on every first byte. */
	st->cycles_write[INT3_STEP_INT3] = int3_write_step(b, INT3_STEP_INT3, st);
	poke_phase_reached(PHASE_INT3_WRITTEN);
	int3_round(&int3_strategy, st);
	poke_phase_reached(PHASE_INT3_SYNCED);

	/* Step 2: the tails, behind the int3s. */
	if (tails) {
		st->cycles_write[INT3_STEP_TAILS] = int3_write_step(b, INT3_STEP_TAILS, st);
		poke_phase_reached(PHASE_TAILS_WRITTEN);
		int3_round(&int3_strategy, st);
		poke_phase_reached(PHASE_TAILS_SYNCED);
	}

	/* Step 3: the real first bytes. */
	st->cycles_write[INT3_STEP_FIRST] = int3_write_step(b, INT3_STEP_FIRST, st);
	poke_phase_reached(PHASE_FIRST_WRITTEN);
	int3_round(&int3_strategy, st);
	poke_phase_reached(PHASE_FIRST_SYNCED);
	if (poke_tcg_rewrite)   /* TCG's stale translations out */
		st->cycles_write[INT3_STEP_TCG] = int3_write_step(b, INT3_STEP_TCG, st);
	return 0;
}

const struct patch_hazard int3_hazards[INT3_HAZARD_COUNT] = {
	[INT3_HAZARD_EMULATED] = { "emulated in #BP", PATCH_EV_ALL },
};

const struct patch_strategy int3_strategy = {
	.name = "int3",
	.summary = "int3 on first bytes, sync, tails, sync, first bytes, sync (2 rounds for 1-byte sites); "
		   "#BP emulates the new instruction",
	.phase_names = int3_phase_names,
	.nr_phases = PHASE_COUNT,
	.trap_phases = 1u << PHASE_INT3_WRITTEN | 1u << PHASE_INT3_SYNCED | 1u << PHASE_TAILS_WRITTEN |
		       1u << PHASE_TAILS_SYNCED,
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
