/*
 * strategies/int3/int3.h — the int3 strategy (Linux's text_poke_bp): its
 * phases and write steps, for tests and debuggers, and its pieces.
 * Kernel only.
 */
#ifndef XPOKE_STRATEGIES_INT3_INT3_H
#define XPOKE_STRATEGIES_INT3_INT3_H

#include "patch/strategy.h"

/* The phases of an int3 batch, in order (int3.c names them). */
enum int3_phase {
	PHASE_PUBLISHED = POKE_PHASE_PUBLISHED, /* batch visible to #BP, nothing written */
	PHASE_INT3_WRITTEN,     /* every first byte is int3 */
	PHASE_INT3_SYNCED,
	PHASE_TAILS_WRITTEN,
	PHASE_TAILS_SYNCED,
	PHASE_FIRST_WRITTEN,    /* every site holds its new bytes */
	PHASE_FIRST_SYNCED,
	PHASE_RETIRED,          /* no CPU can be in #BP for the batch */
	PHASE_COUNT
};

/* Their names ("published", "int3-written", ...), and the phases in which a
 * site's first byte is an int3 (trap_phases); nmi's are the same. */
extern const char *const int3_phase_names[PHASE_COUNT];
#define INT3_TRAP_PHASES (1u << PHASE_INT3_WRITTEN | 1u << PHASE_INT3_SYNCED | 1u << PHASE_TAILS_WRITTEN | \
			  1u << PHASE_TAILS_SYNCED)

/* Its write steps (poke_stats.cycles_write). */
enum int3_step { INT3_STEP_INT3, INT3_STEP_TAILS, INT3_STEP_FIRST, INT3_STEP_TCG, INT3_STEP_COUNT };

extern const struct patch_strategy int3_strategy;
extern const char *const int3_step_names[INT3_STEP_COUNT];     /* its write steps' names */

/* Its hazard counters (this_cpu()->patch.hazard[]), shared with int3-2round:
 * emulations, by the context that hit the site (enum bp_ctx's order). */
enum { INT3_HAZARD_COUNT = BP_CTX_COUNT };
extern const struct patch_hazard int3_hazards[INT3_HAZARD_COUNT];

/* For strategies built on this one (strategies/int3_2round/, nmi/), in
 * the no-patch region (int3_steps.c): one write step over every site of
 * b (done: NULL, or per site a flag a trap handler of this CPU sets when
 * it has completed that site, whose tail and first byte are then skipped:
 * roll-forward), one round of strategy s, and the whole int3 sequence (steps 1-3,
 * phases PHASE_INT3_WRITTEN..PHASE_FIRST_SYNCED, the TCG rewrite) as s.
 * text_lock held; thread context, or the handler s opened for the writer
 * (patch/text_poke.h). */
uint64_t int3_write_step(const struct poke_batch *b, enum int3_step step, struct poke_stats *st, const uint8_t *done);
void int3_round(const struct patch_strategy *s, struct poke_stats *st);
int int3_apply_steps(const struct patch_strategy *s, const struct poke_batch *b, struct poke_stats *st);

/* #BP context (int3_emulate.c): execute the new instruction of s for the
 * CPU whose frame is r. */
bool int3_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx);
void emulate_insn(const struct emu_insn *emu, uintptr_t addr, struct regs *r);

/* Linux-style self-test of call emulation (int3_selftest.c); NULL or a
 * description of the failure. */
const char *int3_selftest(void);

/* The self-test's one-site batch, a call emulated at int3_selftest_site,
 * published and withdrawn around a caller's own runs (the bench's too).
 * Thread context; int3_selftest_arm() takes text_lock, disarm drops it. */
void int3_selftest_arm(void);
void int3_selftest_disarm(void);
/* Hit the armed slot once (int3_selftest_code.asm); the mask of registers
 * the emulated call changed. */
uint32_t int3_selftest_run(uint64_t *seen, uint64_t skew);

#endif
