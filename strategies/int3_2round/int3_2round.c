/*
 * strategies/int3_2round/int3_2round.c — hpa's variant of the int3
 * protocol (seed 001: the middle sync "is not actually necessary per the
 * hardware guys"): int3 on every first byte, sync, then every tail and
 * every first byte, sync. The #BP side (emulation) and the site check are
 * the int3 strategy's.
 *
 *   patching CPU                                 any CPU
 *   ------------                                 -------
 *   (core: text_lock, recheck, sort, publish)
 *   Step 1: 0xcc over every first byte
 *   sync: round 1   -- IPI VEC_SYNC ------->     serialize; ack. Nobody runs an
 *                                                old instruction fetched before
 *                                                its int3.
 *   Step 2: every tail, then every first byte    a CPU traps on the int3 (emulated)
 *           (program order: the first byte is    or, once its first byte is new,
 *           stored after its tail; no round      runs the new instruction: what
 *           between them)                        Intel's cross-modifying-code rule
 *                                                does not promise is that it sees
 *                                                the new tail by then
 *   sync: round 2   -- IPI VEC_SYNC ------->     serialize; ack
 *   under TCG only: first bytes rewritten        (as in int3.c)
 *   (core: retire, release text_lock)
 *
 * What the saved round costs in safety is a hardware question (a CPU that
 * fetches the new first byte with a stale tail); TCG cannot show it, since
 * it discards every translation of a written page at once, and the model
 * (tests/model/int3.pml, MUTANT_NO_MIDDLE_SYNC) shows the torn execution
 * when the fetch may refresh one byte alone.
 */
#include "kernel/panic.h"
#include "strategies/int3/int3.h"
#include "strategies/int3/int3_check.h"
#include "strategies/int3_2round/int3_2round.h"

static const char *const r2_phase_names[R2_PHASE_COUNT] = {
	[R2_PHASE_PUBLISHED] = "published",
	[R2_PHASE_INT3_WRITTEN] = "int3-written",
	[R2_PHASE_INT3_SYNCED] = "int3-synced",
	[R2_PHASE_REST_WRITTEN] = "rest-written",
	[R2_PHASE_REST_SYNCED] = "rest-synced",
	[R2_PHASE_RETIRED] = "retired",
};

_Static_assert(R2_PHASE_COUNT <= POKE_PHASES_MAX, "int3-2round: too many phases for the core");

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int int3_2round_apply(struct poke_batch *b, struct poke_stats *st)
{
	/* Step 1: int3 on every first byte. */
	st->cycles_write[INT3_STEP_INT3] = int3_write_step(b, INT3_STEP_INT3, st, NULL);
	poke_phase_reached(R2_PHASE_INT3_WRITTEN);
	int3_round(&int3_2round_strategy, st);
	poke_phase_reached(R2_PHASE_INT3_SYNCED);

	/* Step 2: the tails, then the first bytes, with no round between. */
	st->cycles_write[INT3_STEP_TAILS] = int3_write_step(b, INT3_STEP_TAILS, st, NULL);
	st->cycles_write[INT3_STEP_FIRST] = int3_write_step(b, INT3_STEP_FIRST, st, NULL);
	poke_phase_reached(R2_PHASE_REST_WRITTEN);
	int3_round(&int3_2round_strategy, st);
	poke_phase_reached(R2_PHASE_REST_SYNCED);
	if (poke_tcg_rewrite)   /* TCG's stale translations out (int3.c) */
		st->cycles_write[INT3_STEP_TCG] = int3_write_step(b, INT3_STEP_TCG, st, NULL);
	return 0;
}

const struct patch_strategy int3_2round_strategy = {
	.name = "int3-2round",
	.summary = "int3 on first bytes, sync, tails and first bytes, sync (hpa: the middle sync dropped); "
		   "#BP emulates the new instruction",
	.can_patch = "as int3: nop, ret, call/jmp/jcc rel",
	.safe_against = "IRQ, NMI, #MC as int3 does, if the hardware never fetches a new first byte with "
			"a stale tail (make model refutes it when it may; TCG cannot show it)",
	.safe_events = PATCH_EV_ALL,    /* the claim TCG cannot contradict; the model does */
	.hazards = int3_hazards,
	.nr_hazards = INT3_HAZARD_COUNT,
	.phase_names = r2_phase_names,
	.nr_phases = R2_PHASE_COUNT,
	.trap_phases = 1u << R2_PHASE_INT3_WRITTEN | 1u << R2_PHASE_INT3_SYNCED,
	.new_phases = ~1u & ((1u << R2_PHASE_COUNT) - 1),        /* as int3 */
	.step_names = int3_step_names,  /* the int3 strategy's write steps */
	.nr_steps = INT3_STEP_COUNT,
	.max_rounds = 2,
	.check = int3_check_site,
	.apply = int3_2round_apply,
	.on_bp = int3_on_bp,
};
