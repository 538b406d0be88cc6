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
/*
 * Any trap entry while an ool batch is published (patch_trap_enter): no
 * lock, no print, nothing patchable. The #BP handler chose the copy when
 * it ran, but the copy's first instruction runs only after its IRET; an
 * IRQ or NMI delivered right there, after the switch to new copies, could
 * run another site of the batch new and then, back here, this site old:
 * in this CPU's order, the batch would go back. Nothing of the old copy
 * has run yet, so the CPU goes to the new one instead (both leave through
 * ool_exit, dropping the same pin).
 *
 *   CPU B                                   patching CPU
 *   -----                                   ------------
 *   #BP at X: run_new 0, RIP = old copy
 *   IRET; an IRQ is pending                 run_new = 1; first bytes written
 *   IRQ entry: RIP is X's old copy start
 *     -> RIP = X's new copy
 *   IRQ handler runs site Y: new
 *   back: runs X's new copy                 (consistent: Y new, X new)
 */
void ool_on_trap_entry(struct regs *r)
{
	uintptr_t area = (uintptr_t)ool_slot_area, off = r->rip - area;
	if (r->rip < area || off >= __atomic_load_n(&ool_state.used, __ATOMIC_RELAXED) ||
	    !__atomic_load_n(&ool_state.run_new, __ATOMIC_ACQUIRE))
		return;
	uint32_t n = __atomic_load_n(&ool_state.nr, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < n; i++)
		if (ool_state.slot[i].old_off == off) {
			r->rip = area + ool_state.slot[i].new_off;
			patch_hazard(OOL_HAZARD_MOVED);
			return;
		}
}

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
