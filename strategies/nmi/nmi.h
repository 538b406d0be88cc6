/*
 * strategies/nmi/nmi.h — the nmi strategy (Ankur Arora's NMI-safe runtime
 * patching, seed 002; Xen's patching from NMI context, seed 000): the
 * patching CPU applies int3's writes and rounds inside its own NMI
 * handler, so that no NMI of its own can run a half-patched site, and
 * another CPU whose NMI begins while the writes are in flight takes part
 * in the rounds from that NMI handler, which cannot take their IPI.
 * nmi.c is the thread side and the timeline, nmi_trap.c the NMI side.
 * Kernel only.
 */
#ifndef XPOKE_STRATEGIES_NMI_NMI_H
#define XPOKE_STRATEGIES_NMI_NMI_H

#include "kernel/cpumask.h"
#include "patch/strategy.h"
#include "strategies/int3/int3.h"

/* Its phases and write steps are int3's (enum int3_phase, enum int3_step);
 * its hazard counters (this_cpu()->patch.hazard[]): the first ones are
 * int3's, emulations by context (enum bp_ctx), since a CPU that hits a
 * site in flight is emulated by int3_on_bp. */
enum {
	NMI_HAZARD_ACK_IN_NMI = INT3_HAZARD_COUNT,      /* a round acknowledged from an NMI handler */
	NMI_HAZARD_COUNT
};

/* How long another CPU's NMI waits in the rounds for the writes to be
 * done before it reports and goes on (int3's rules then cover it). */
#define NMI_WAIT_US 1000000ull

/* The batch being applied, shared by the patching CPU's thread and NMI
 * and the other CPUs' NMIs (nmi_trap.c). Written under text_lock. */
struct nmi_batch_state {
	const struct poke_batch *batch;         /* being applied, and its figures */
	struct poke_stats *st;
	uint64_t gen;                           /* its live_batch_gen() (patch/live.h) */
	uint64_t done_gen;                      /* the last batch whose writes are all done */
	uint32_t armed;                         /* 1: the patching CPU's next NMI applies it */
	int err;                                /* what the NMI side returned */
	struct cpumask in_rounds;               /* CPUs whose NMI takes part in the rounds now */
	uint64_t batches;                       /* applied inside the patching CPU's NMI since boot */
	uint64_t wait_timeouts;                 /* other CPUs' NMIs that left the rounds early */
	uint64_t cycles_to_nmi, cycles_in_nmi;  /* the last batch: self-NMI sent to NMI taken; in it */
};
extern struct nmi_batch_state nmi_batch_state;

extern const struct patch_strategy nmi_strategy;

/* Its on_nmi (nmi_trap.c, in the no-patch region): NMI context, from
 * patch_on_nmi() while a batch of this strategy is published. */
void nmi_strategy_on_nmi(struct regs *r);

#endif
