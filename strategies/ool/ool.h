/*
 * strategies/ool/ool.h — the out-of-line strategy: int3's writes and
 * rounds, with a CPU that hits a site in flight sent to an out-of-line
 * copy of the site's old or new instruction (ool.c has the protocol, the
 * phase rule and the reuse of slots; ool_reloc.h the copies). Kernel only.
 */
#ifndef XPOKE_STRATEGIES_OOL_OOL_H
#define XPOKE_STRATEGIES_OOL_OOL_H

#include "patch/strategy.h"
#include "strategies/ool/ool_reloc.h"

enum ool_phase {
	OOL_PHASE_PUBLISHED = POKE_PHASE_PUBLISHED,
	OOL_PHASE_SLOTS_WRITTEN,        /* every copy is in the slot area; no int3 yet */
	OOL_PHASE_INT3_WRITTEN,         /* every first byte is int3: trapping CPUs run old copies */
	OOL_PHASE_INT3_SYNCED,          /* nobody runs a site's own bytes any more */
	OOL_PHASE_TAILS_WRITTEN,
	OOL_PHASE_TAILS_SYNCED,
	OOL_PHASE_NEW_COPIES,           /* int3s still in place: trapping CPUs run new copies */
	OOL_PHASE_FIRST_WRITTEN,        /* every site holds its new bytes */
	OOL_PHASE_FIRST_SYNCED,
	OOL_PHASE_RETIRED,              /* no CPU is in #BP or in a copy for the batch; the
					 * area is int3 again */
	OOL_PHASE_COUNT
};

enum ool_step {
	OOL_STEP_SLOTS, OOL_STEP_INT3, OOL_STEP_TAILS, OOL_STEP_FIRST, OOL_STEP_TCG, OOL_STEP_RECLAIM, OOL_STEP_COUNT
};

/* Its hazard counters (this_cpu()->patch.hazard[]). */
enum { OOL_HAZARD_RAN, OOL_HAZARD_OLD, OOL_HAZARD_NEW, OOL_HAZARD_MOVED, OOL_HAZARD_COUNT };

/* What the #BP handler reads (ool_trap.c); written by the patching CPU
 * under text_lock, before the first int3 of the batch (see ool.c). */
struct ool_state {
	uint64_t ready_gen;             /* live_batch_gen() of the batch whose copies are in the area */
	uint32_t run_new;               /* 0: send trapping CPUs to old copies; 1: to new ones */
	uint32_t used;                  /* bytes of the area holding copies (thread context) */
	uint32_t nr;                    /* sites with copies (ool_on_trap_entry) */
	struct ool_slot slot[POKE_BATCH_MAX];   /* site i's copies (the batch's sorted order) */
};
extern struct ool_state ool_state;

extern const struct patch_strategy ool_strategy;

/* The slot area and its way out (ool_slots.asm, in the no-patch region). */
extern uint8_t ool_slot_area[], ool_slot_area_end[];
void ool_exit(void);

/* #BP context (ool_trap.c): send the CPU whose frame is r to a copy. */
bool ool_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx);

/* Any trap entry (ool_trap.c): a CPU interrupted at the first instruction
 * of an old copy after the switch to new copies goes to the new one. */
void ool_on_trap_entry(struct regs *r);

#endif
