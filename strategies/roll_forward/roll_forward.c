/*
 * strategies/roll_forward/roll_forward.c — the roll-forward strategy, its
 * patching CPU's thread side: int3's writes and rounds, with nothing
 * emulated. Its #BP side (the bystanders' wait, the patching CPU's own
 * roll-forward) is roll_forward_trap.c; its site check roll_forward_check.c.
 *
 * hpa (seed 001) and Xen's nmi_apply_alternatives (seed 000): a CPU that
 * hits a site in flight cannot have it emulated (the new instruction may be
 * anything: a mov, a cmp), so it waits in #BP until the site is complete
 * and then runs it; but the patching CPU cannot wait for itself, so when
 * one of its own handlers (IRQ, NMI, #MC, or its thread through a phase
 * hook) hits a site of its batch, that handler completes the site on the
 * spot and runs it. The price is the bystanders' stall (make compare).
 *
 *   patcher's thread            patcher's own NMI (or       bystander (any context
 *                               IRQ, #MC) that hits X       of another CPU) at X
 *   ----------------            -----------------------     --------------------
 *   (core: text_lock, recheck,
 *   sort, publish)
 *   patcher = me, stage = INT3
 *   Step 1: int3 on every first
 *           byte                int3 at X traps:            int3 at X traps: wait
 *                               done[X] = 1                 in #BP until X's first
 *                               stage INT3: a round of its  byte is no longer int3,
 *                               own (nobody may still run   acknowledging every round
 *                               X's old first byte with a   that opens meanwhile
 *                               new tail)                   (see "Rounds" below)
 *   round 1                     X's tail; a round (nobody
 *   stage = INT3_SYNCED         sees the new first byte
 *   Step 2: tails (skipping     with an old tail)
 *           sites done[])       X's first byte              sees it new: leaves #BP,
 *   round 2                     re-run X (its return          re-runs X whole (IRET, or
 *   stage = TAILS_SYNCED        serializes): new X          the return without IRET's
 *   Step 3: first bytes                                     sync_core, serializes)
 *           (skipping done[])
 *   round 3; stage = DONE
 *   under TCG: first bytes again
 *   patcher = -1
 *   (core: retire: bystanders
 *   still waiting hold it up,
 *   as their pins do)
 *
 * The handler's rounds depend on how far the thread got (stage): before
 * round 1 it runs one itself before writing X's tail (hpa would roll back
 * there instead, so that text_poke_bp starts over; completing the round
 * costs the handler a round but never livelocks under an NMI storm), and
 * one between X's tail and X's first byte unless the thread's round 2 is
 * done; a 1-byte site needs none (its one byte is stored at once). Its
 * rounds are sync_all_cpus() itself, re-entered from the handler
 * (patch/rendezvous.c says why that completes any round the thread had
 * open too), and its writes text_poke_many_in_trap() (patch/text_poke.h).
 *
 * What the thread does to a site its handler completed. Before it builds
 * the list of a write step it skips the sites marked done[] (their bytes
 * are final); a handler that completes X in the middle of one of the
 * thread's write steps is the only way the thread can still write X
 * afterwards, and then only in that step:
 *   - step 1: X's int3 was written before the handler ran (X trapped on
 *     it); each site is written once per step, so X is not written again.
 *     The read-back check then finds X's new first byte where it wrote an
 *     int3: done[X] tells it so (struct poke_write.done) instead of a
 *     panic.
 *   - steps 2 and 3 (and the TCG rewrite): the thread writes bytes equal to
 *     the ones already there (both come from X's new bytes). Every byte of
 *     X only ever changes from old (or int3) to new; an equal store changes
 *     no byte, so no CPU can fetch anything it could not fetch before (on
 *     a real CPU it may cost a self-modifying-code pipeline flush, and
 *     under TCG a retranslation). The check back finds them right.
 * Nothing ever writes an int3 after step 1, so no later write undoes X.
 *
 * Rounds while bystanders wait. A CPU waiting in #BP counts as having
 * acknowledged a round (rendezvous.h: it runs no patchable code until it
 * leaves, and leaves serialized), so a wait never holds a round up; unless
 * an NMI or #MC nested in that #BP raised bp_nested, and that NMI itself
 * waits in #BP for another site (or the same): then only the innermost wait
 * can answer, and it does, with sync_ack() on every pass of its loop.
 *
 * Figures: st->rounds and the write steps are the thread's; the handler's
 * roll-forwards and rounds are in rf_state (per batch), the hazard
 * counters and sync_rounds_total(); the bystanders' waits in rf_cpu[].
 */
#include "arch/x86/cpu.h"
#include "kernel/string.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "patch/text_poke.h"
#include "strategies/int3/int3.h"
#include "strategies/roll_forward/roll_forward.h"
#include "strategies/roll_forward/roll_forward_check.h"

struct rf_state rf_state = { .patcher = -1 };
struct rf_cpu rf_cpu[MAX_CPUS];

static const char *const rf_phase_names[RF_PHASE_COUNT] = {
	[RF_PHASE_PUBLISHED] = "published",
	[RF_PHASE_INT3_WRITTEN] = "int3-written",
	[RF_PHASE_INT3_SYNCED] = "int3-synced",
	[RF_PHASE_TAILS_WRITTEN] = "tails-written",
	[RF_PHASE_TAILS_SYNCED] = "tails-synced",
	[RF_PHASE_FIRST_WRITTEN] = "first-written",
	[RF_PHASE_FIRST_SYNCED] = "first-synced",
	[RF_PHASE_RETIRED] = "retired",
};

_Static_assert(RF_PHASE_COUNT <= POKE_PHASES_MAX, "roll-forward: too many phases for the core");
_Static_assert(RF_HAZARD_COUNT <= PATCH_HAZARDS_MAX, "roll-forward: too many hazard counters for the core");

/* One write step (int3's, shared) over every site, but the tails and first
 * bytes of sites a handler has completed already (rf_state.done). */
static uint64_t rf_write_step(const struct poke_batch *b, enum int3_step step, struct poke_stats *st)
{
	return int3_write_step(b, step, st, rf_state.done);
}

/* Where the thread is, for its own handlers (same CPU: program order). */
static void rf_stage(enum rf_stage stage)
{
	__atomic_store_n(&rf_state.stage, stage, __ATOMIC_SEQ_CST);
}

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int rf_apply(struct poke_batch *b, struct poke_stats *st)
{
	bool tails = false;
	for (uint32_t i = 0; i < b->nr; i++)
		tails |= b->sites[i].len > INT3_INSN_SIZE;

	/* Before the first int3: who the patcher is, and that nothing is done.
	 * A bystander reads both after trapping on an int3 written later. */
	memset(rf_state.done, 0, b->nr);
	__atomic_store_n(&rf_state.rolled, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&rf_state.trap_rounds, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&rf_state.stale_rewrites, 0, __ATOMIC_SEQ_CST);
	rf_stage(RF_STAGE_INT3);
	__atomic_store_n(&rf_state.patcher, (int32_t)cpu_id(), __ATOMIC_SEQ_CST);

	/* Step 1: int3 on every first byte. */
	st->cycles_write[INT3_STEP_INT3] = rf_write_step(b, INT3_STEP_INT3, st);
	poke_phase_reached(RF_PHASE_INT3_WRITTEN);
	int3_round(&roll_forward_strategy, st);
	rf_stage(RF_STAGE_INT3_SYNCED);
	poke_phase_reached(RF_PHASE_INT3_SYNCED);

	/* Step 2: the tails, behind the int3s. */
	if (tails) {
		st->cycles_write[INT3_STEP_TAILS] = rf_write_step(b, INT3_STEP_TAILS, st);
		poke_phase_reached(RF_PHASE_TAILS_WRITTEN);
		int3_round(&roll_forward_strategy, st);
		rf_stage(RF_STAGE_TAILS_SYNCED);
		poke_phase_reached(RF_PHASE_TAILS_SYNCED);
	} else {
		rf_stage(RF_STAGE_TAILS_SYNCED);
	}

	/* Step 3: the real first bytes; bystanders waiting leave #BP. */
	st->cycles_write[INT3_STEP_FIRST] = rf_write_step(b, INT3_STEP_FIRST, st);
	poke_phase_reached(RF_PHASE_FIRST_WRITTEN);
	int3_round(&roll_forward_strategy, st);
	rf_stage(RF_STAGE_DONE);
	poke_phase_reached(RF_PHASE_FIRST_SYNCED);
	if (poke_tcg_rewrite)   /* TCG's stale translations out (strategies/int3/int3.c) */
		st->cycles_write[INT3_STEP_TCG] = rf_write_step(b, INT3_STEP_TCG, st);

	__atomic_store_n(&rf_state.patcher, -1, __ATOMIC_SEQ_CST);
	rf_stage(RF_STAGE_IDLE);
	return 0;
}

static const struct patch_hazard rf_hazards[RF_HAZARD_COUNT] = {
	[RF_HAZARD_WAITED] = { "waited in #BP", PATCH_EV_IRQ | PATCH_EV_NMI | PATCH_EV_MCE },
	[RF_HAZARD_ROLLED_FORWARD] = { "rolled forward by the patcher", PATCH_EV_OWN_NMI },
};

const struct patch_strategy roll_forward_strategy = {
	.name = "roll-forward",
	.summary = "int3 on first bytes, sync, tails, sync, first bytes, sync; a CPU at a site in flight waits in "
		   "#BP until it is complete, the patching CPU's own handlers complete it on the spot",
	.can_patch = "any one instruction but a branch the core cannot check or one beginning with 03 "
		     "(nothing is emulated)",
	.safe_against = "IRQ, NMI, #MC: other CPUs' handlers wait in #BP (their stall is the price), the "
			"patching CPU's own complete the site first (roll forward)",
	.safe_events = PATCH_EV_ALL,
	.hazards = rf_hazards,
	.nr_hazards = RF_HAZARD_COUNT,
	.phase_names = rf_phase_names,
	.nr_phases = RF_PHASE_COUNT,
	.trap_phases = 1u << RF_PHASE_INT3_WRITTEN | 1u << RF_PHASE_INT3_SYNCED | 1u << RF_PHASE_TAILS_WRITTEN |
		       1u << RF_PHASE_TAILS_SYNCED,
	.new_phases = ~1u & ((1u << RF_PHASE_COUNT) - 1),        /* waits, then runs the new */
	.step_names = int3_step_names,  /* the int3 strategy's write steps */
	.nr_steps = INT3_STEP_COUNT,
	.max_rounds = 3,
	.check = roll_forward_check_site,
	.apply = rf_apply,
	.on_bp = rf_on_bp,
};
