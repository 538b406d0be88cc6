/*
 * strategies/roll_forward/roll_forward.h — the roll-forward strategy (hpa,
 * seed 001; Xen's nmi_apply_alternatives, seed 000): int3's writes and
 * rounds, but no emulation. A bystander that hits a site in flight waits in
 * #BP until the site is complete, then runs it; the patching CPU, when one
 * of its own handlers hits a site it is patching, completes that site on
 * the spot. Its phases, steps, hazard counters, and the state its two sides
 * share, for tests and debuggers. Kernel only.
 */
#ifndef XPOKE_STRATEGIES_ROLL_FORWARD_ROLL_FORWARD_H
#define XPOKE_STRATEGIES_ROLL_FORWARD_ROLL_FORWARD_H

#include "patch/strategy.h"

/* The phases of a roll-forward batch (int3's, by the same names). */
enum rf_phase {
	RF_PHASE_PUBLISHED = POKE_PHASE_PUBLISHED,
	RF_PHASE_INT3_WRITTEN,  /* every first byte is int3 */
	RF_PHASE_INT3_SYNCED,
	RF_PHASE_TAILS_WRITTEN,
	RF_PHASE_TAILS_SYNCED,
	RF_PHASE_FIRST_WRITTEN, /* every site holds its new bytes */
	RF_PHASE_FIRST_SYNCED,
	RF_PHASE_RETIRED,
	RF_PHASE_COUNT
};

/* How far the patching CPU's thread has got, as its own handlers read it
 * (rf_state.stage): which rounds a roll-forward still has to run itself. */
enum rf_stage {
	RF_STAGE_IDLE,          /* no batch of ours is being applied */
	RF_STAGE_INT3,          /* int3s being written; round 1 not complete */
	RF_STAGE_INT3_SYNCED,   /* round 1 complete: tails being written, round 2 not complete */
	RF_STAGE_TAILS_SYNCED,  /* round 2 complete (or no tails): first bytes being written */
	RF_STAGE_DONE,          /* round 3 complete: no int3 left */
};

/* Hazard counters (this_cpu()->patch.hazard[]). */
enum { RF_HAZARD_WAITED, RF_HAZARD_ROLLED_FORWARD, RF_HAZARD_COUNT };

/* One roll-forward, as the patching CPU's handler recorded it. */
struct rf_rolled {
	uintptr_t addr;         /* the site it completed */
	uint32_t stage;         /* enum rf_stage when it did */
	uint32_t trap_rounds;   /* rounds it ran itself (0..2) */
	uint32_t int3_left;     /* other sites of the batch still holding their int3 right after */
	uint8_t ctx;            /* enum bp_ctx of the handler that hit it */
};
#define RF_LOG 16

/* Shared by the patching CPU's thread (roll_forward.c) and trap handlers
 * (roll_forward_trap.c); written only by the patching CPU, under
 * text_lock. */
struct rf_state {
	int32_t patcher;                /* the patching CPU, -1 when idle */
	uint32_t stage;                 /* enum rf_stage */
	uint32_t rolled;                /* roll-forwards in this batch (the log holds the first RF_LOG) */
	uint32_t trap_rounds;           /* rounds they ran, in this batch */
	uint32_t stale_rewrites;        /* first bytes its handlers wrote again for a stale int3 (TCG) */
	struct rf_rolled log[RF_LOG];
	uint8_t done[POKE_BATCH_MAX];   /* per site (index in the sorted batch): completed by a handler */
};
extern struct rf_state rf_state;

/* Bystander waits, per CPU (written by that CPU only, in #BP). */
struct rf_cpu {
	uint64_t waits;                 /* #BP waits for a site in flight */
	uint64_t wait_cycles;           /* their TSC cycles in all */
	uint64_t wait_max;              /* the longest */
} __attribute__((aligned(64)));
extern struct rf_cpu rf_cpu[MAX_CPUS];

/* How long a bystander waits in #BP for one site before it reports the
 * patching CPU and panics: longer than a round may take (SYNC_TIMEOUT_US),
 * so a slow round is reported by the round, not here. */
#define RF_WAIT_TIMEOUT_US 20000000ull

extern const struct patch_strategy roll_forward_strategy;

/* #BP context (roll_forward_trap.c, no-patch region). */
bool rf_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx);

#endif
