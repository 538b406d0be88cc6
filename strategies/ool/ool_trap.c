/*
 * strategies/ool/ool_trap.c — the out-of-line strategy's #BP side: a CPU
 * that executes the int3 of a site in flight is sent to an out-of-line
 * copy of the site's old or new instruction (ool.c says which, and why),
 * with one more pin on the batch, which the copy's way out drops
 * (ool_slots.asm). No decoding here: the copies were built in thread
 * context before the first int3 went in. In the no-patch region: this
 * runs in #BP context, possibly nested in NMI or #MC, on any CPU; it
 * takes no lock, prints nothing, and calls nothing patchable.
 */
#include "kernel/percpu.h"
#include "patch/live.h"
#include "strategies/ool/ool.h"

_Static_assert(OOL_PHASE_COUNT <= POKE_PHASES_MAX, "ool: too many phases for the core");
_Static_assert(OOL_STEP_COUNT <= POKE_STEPS_MAX, "ool: too many write steps for the core");
_Static_assert(OOL_HAZARD_COUNT <= PATCH_HAZARDS_MAX, "ool: too many hazard counters for the core");

/* #BP context, b pinned by patch_on_bp(), this CPU's acknowledgement given.
 * No lock, no print, nothing patchable. */
bool ool_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx)
{
	(void)ctx;
	/* Not yet this batch's copies (a stale int3, which TCG can show):
	 * nothing of the batch is written yet, so the site is whole. */
	if (__atomic_load_n(&ool_state.ready_gen, __ATOMIC_ACQUIRE) != live_batch_gen())
		return false;
	bool run_new = __atomic_load_n(&ool_state.run_new, __ATOMIC_ACQUIRE);
	const struct ool_slot *slot = &ool_state.slot[s - b->sites];
	live_batch_hold();                      /* dropped by ool_exit, after the copy */
	r->rip = (uintptr_t)ool_slot_area + (run_new ? slot->new_off : slot->old_off);
	patch_hazard(OOL_HAZARD_RAN);
	patch_hazard(run_new ? OOL_HAZARD_NEW : OOL_HAZARD_OLD);
	return true;
}
