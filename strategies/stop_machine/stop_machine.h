/*
 * strategies/stop_machine/stop_machine.h — stop-machine strategies: every
 * other CPU spins while the patching CPU writes the new bytes directly (no
 * int3), then releases them. "stop-machine" stops them with an IPI (they
 * spin in IRQ context: NMIs still arrive and run the NMI path's sites,
 * half written); "stop-machine-nmi" stops them with an NMI (they spin in
 * NMI context, as Linux's late microcode loading does since 2023: their
 * NMIs wait, #MC does not). Kernel only.
 */
#ifndef XPOKE_STRATEGIES_STOP_MACHINE_STOP_MACHINE_H
#define XPOKE_STRATEGIES_STOP_MACHINE_STOP_MACHINE_H

#include "kernel/cpumask.h"
#include "patch/strategy.h"

enum stop_phase {
	STOP_PHASE_PUBLISHED = POKE_PHASE_PUBLISHED,
	STOP_PHASE_STOPPED,     /* every other CPU spins */
	STOP_PHASE_WRITTEN,     /* every site holds its new bytes */
	STOP_PHASE_RELEASED,    /* every other CPU serialized and left */
	STOP_PHASE_RETIRED,
	STOP_PHASE_COUNT
};

/* Hazard counters (this_cpu()->patch.hazard[]). */
enum {
	STOP_HAZARD_STOPPED,
	STOP_HAZARD_NMI_WHILE_STOPPED,
	STOP_HAZARD_INSIDE_RETRY,      /* a stopped CPU inside a site: stopped again */
	STOP_HAZARD_INSIDE_NESTED,     /* ... found in a frame under its innermost (an interrupted handler's) */
	STOP_HAZARD_INSIDE_UNKNOWN,    /* ... could not tell (trap entry/exit path, too deep): stopped again */
	STOP_HAZARD_COUNT
};

#define STOP_RIPS_MAX CTX_FRAMES_MAX    /* interrupted contexts a stopped CPU reports */

enum stop_how { STOP_NONE, STOP_BY_IPI, STOP_BY_NMI };

/* What a stopped CPU interrupted: the RIP of every context under its stop
 * handler, innermost last (percpu ctx_frames), and the stop it answers
 * (want_seq when it began to spin), written before it joins 'arrived'. The
 * patcher uses a report only when seq is the one it asked for last. A
 * report that cannot list every interrupted context says so (unknown),
 * and the patcher treats that CPU as inside a site (stop_inside.c). */
enum stop_unknown {
	STOP_KNOWN,
	STOP_UNKNOWN_ENTRY,     /* a RIP in the trap entry/exit path: a frame may be missing */
	STOP_UNKNOWN_DEEP,      /* nested deeper than STOP_RIPS_MAX: the innermost are not kept */
};
struct stop_report {
	uint32_t seq;                   /* release-stored last */
	uint32_t n;
	uint32_t unknown;               /* enum stop_unknown: if not STOP_KNOWN, counts as inside */
	uint64_t unknown_rip;           /* STOP_UNKNOWN_ENTRY: that RIP */
	uint64_t rips[STOP_RIPS_MAX];
};

/* Shared by the patching CPU and the spinning ones (stop_machine_trap.c). */
struct stop_state {
	uint32_t how;                   /* enum stop_how while a stop is wanted */
	uint32_t release;               /* set by the patching CPU after its writes */
	uint32_t patcher;               /* its CPU number */
	struct cpumask arrived, left;   /* who spins / who left, serialized */
	struct cpumask kick;            /* released alone, to be stopped again (stop_inside.c) */
	uint64_t pings;                 /* NMIs the spinners sent themselves (patch.stop_nmi_us) */
	uint64_t soft_mces;             /* INT 18s the spinners ran (patch.stop_mce_us) */
	/* The stop the patcher wants each CPU's next report for: bumped
	 * before every stop and re-stop of that CPU, before its 'arrived' bit
	 * is cleared (stop_inside.c). */
	uint32_t want_seq[MAX_CPUS];
	struct stop_report report[MAX_CPUS];
};
extern struct stop_state stop_state;

/* Lab knob (patch.stop_nmi_us): a spinning CPU sends itself an NMI every
 * so many microseconds, as its own perf or watchdog NMI source would: 0
 * (default) never. */
extern uint32_t stop_nmi_us;

/* Lab knob (patch.stop_mce_us): ... and runs INT 18, the #MC handler's path
 * (a software machine check), every so many microseconds: 0 never. */
extern uint32_t stop_mce_us;

/* Lab knob (patch.unsafe_inside=1): stop-machine-nmi writes
 * multi-instruction sites without checking that no stopped CPU is inside
 * one (stop_inside.c), to show what that check prevents. */
extern bool stop_unsafe_inside;

/* stop_inside.c: every other CPU stopped, none may stay inside a site of
 * b: each that is goes on alone and is stopped again, until none is (0)
 * or one was found inside STOP_INSIDE_TRIES times (-PATCH_EINSIDE_SEQ, the
 * CPU, RIP and site in b->why; every CPU still stopped). Each re-stop is a
 * round of st and a hazard STOP_HAZARD_INSIDE_RETRY. Thread context,
 * text_lock held. */
#define STOP_INSIDE_TRIES 64
int stop_move_out(const struct patch_strategy *self, struct poke_batch *b, struct poke_stats *st);

extern const struct patch_strategy stop_machine_strategy, stop_machine_nmi_strategy;

/* The spinning side (stop_machine_trap.c, in the no-patch region). */
void stop_ipi(struct regs *r);                  /* VEC_STOP */
void stop_on_nmi(struct regs *r);               /* stop-machine-nmi's on_nmi: spin */
void stop_count_nmi(struct regs *r);            /* stop-machine's on_nmi: count the hazard */
bool stop_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx);

#endif
