/*
 * patch/strategy.h — the seam between the patch core and a patching
 * strategy (a protocol for replacing instructions other CPUs may be
 * running). Kernel only.
 *
 * The core owns what every strategy needs: the batch (add, validation of
 * the bytes and of where new branches land, overlap, sort, compare-and-
 * patch), text_lock, the single writer (text_poke_many), the rendezvous
 * (sync_all_cpus), publication of the batch to the #BP path and its
 * retirement, the phase hook and the figures. A strategy says how the
 * bytes of a published batch reach the text, and what a CPU that hits a
 * site in flight does. strategies/registry.c lists them; patch.strategy=NAME
 * picks the default at boot, and a batch may name its own (b->strategy).
 *
 * smp_text_poke_batch_finish(b), with s = b->strategy or the default:
 *
 *   core                                       strategy
 *   ----                                       --------
 *   take text_lock; recheck every old byte
 *   sort; publish b (phase 0, "published")
 *                                              s->apply(b, st): writes and
 *                                              rounds, calling
 *                                              poke_phase_reached(i) for its
 *                                              phases 1 .. nr_phases-2 and
 *                                              filling st->cycles_*
 *   retire b: wait until no CPU pins it
 *                                              s->retired(b, st) (optional):
 *                                              reclaim what apply() used
 *   (phase nr_phases-1, "retired"); figures
 *   release text_lock
 *
 *   any CPU that executes an int3 of b         s->on_bp(b, site, r, ctx)
 *   (patch/trap.c finds the site, pinned)
 *   any NMI while b is published                s->on_nmi(r) (optional,
 *   (patch_on_nmi, from the NMI handler)        from patch_on_nmi)
 */
#ifndef XPOKE_PATCH_STRATEGY_H
#define XPOKE_PATCH_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include "arch/x86/regs.h"
#include "kernel/percpu.h"
#include "patch/patch.h"
#include "patch/patch_cpu.h"
#include "patch/validate.h"

/* The events that may meet a site in flight (safe_events, hazards). */
enum {
	PATCH_EV_IRQ = 1u << 0,         /* an IRQ handler on any CPU runs it */
	PATCH_EV_NMI = 1u << 1,         /* an NMI handler on a CPU other than the patcher */
	PATCH_EV_MCE = 1u << 2,         /* a #MC handler on any CPU */
	PATCH_EV_OWN_NMI = 1u << 3,     /* an NMI handler on the patching CPU itself */
	PATCH_EV_ALL = 0xf,
};

struct patch_hazard {
	const char *name;               /* "emulated in #BP", "stopped in an NMI", ... */
	uint32_t events;                /* PATCH_EV_*: a storm of any of these must hit it */
};

struct patch_strategy {
	const char *name;                       /* patch.strategy=NAME */
	const char *summary;                    /* one line for `strategies` */
	const char *can_patch;                  /* what instructions it can replace */
	const char *safe_against;               /* the events a site in flight survives, in words */
	uint32_t safe_events;                   /* the same claim, PATCH_EV_* bits: the storms hold
						 * the strategy to it (tests/kernel/test_storm.c) */

	/* Its hazard counters: what its handlers count when they meet a site
	 * in flight (this_cpu()->patch.hazard[i], bumped with patch_hazard()).
	 * A storm firing any of hazards[i].events while patching must see
	 * hazards[i] hit, or the storm did not test what it claims to. */
	const struct patch_hazard *hazards;
	uint32_t nr_hazards;                    /* <= PATCH_HAZARDS_MAX */

	/* Phases in order: [0] is "published", [nr_phases-1] is "retired"
	 * (the core reaches both); the ones between are the strategy's. */
	const char *const *phase_names;
	uint32_t nr_phases;                     /* <= POKE_PHASES_MAX */

	/* Phases in which a site's first byte is an int3 (bit i: phase i),
	 * for debuggers and the gdb scenarios; 0 for a strategy without
	 * breakpoints. */
	uint32_t trap_phases;

	/* Phases in which a CPU that runs a site of the batch gets the new
	 * instruction's effect (bit i: phase i), directly or through its
	 * #BP: the promise the gdb replays check at each phase. */
	uint32_t new_phases;

	/* May a site span several instructions (old or new bytes)? Only if
	 * apply() makes sure no CPU is inside such a site while it is
	 * rewritten (a CPU stopped after its first instruction would resume
	 * in the middle of the other variant): the core's validation refuses
	 * such sites with -PATCH_EMULTI_INSN for every strategy without it
	 * (the int3 family: an int3 guards the first byte only). */
	bool multi_insn;

	/* Figures: the names of its write steps and how many rounds a batch
	 * takes at most (struct poke_stats). */
	const char *const *step_names;
	uint32_t nr_steps;                      /* <= POKE_STEPS_MAX */
	uint32_t max_rounds;                    /* <= POKE_ROUNDS_MAX */

	/* What it needs beyond the core's checks, for one validated site
	 * (host-buildable: tests/host and tests/fuzz call it too). Required.
	 * The core checks branch targets and falling off a function's end
	 * only for the kinds it decodes (nop, ret, relative call/jmp/jcc);
	 * a check that accepts EMU_OTHER takes on those checks itself. */
	patch_site_check_fn check;

	/* Optional boot setup (vectors, handlers), before any self-test. */
	void (*init)(void);

	/* Optional boot self-test: NULL if it passed, else why not. */
	const char *(*selftest)(void);

	/* Bring the published, sorted batch b to its new bytes. Thread
	 * context, IRQs on, text_lock held. 0, or -PATCH_E* with the reason
	 * in b->why and every site left as it was. */
	int (*apply)(struct poke_batch *b, struct poke_stats *st);

	/* Optional: b has retired (no CPU pins it, so none is in #BP for it,
	 * nor anywhere on_bp sent it while it held a pin). Thread context,
	 * IRQs on, text_lock held, called whether apply() succeeded or not:
	 * reclaim what apply() used (the ool strategy's slots), writing
	 * through poke_write_step(). */
	void (*retired)(struct poke_batch *b, struct poke_stats *st);

	/* #BP context (nested in anything), b pinned, this CPU's rendezvous
	 * acknowledgement already given: a CPU executed the int3 of site s.
	 * Rewrite r so that it goes on correctly and return true; false
	 * sends it back to the site's address (it traps again while the int3
	 * is there). No lock, no print, nothing patchable: its file must be
	 * in the no-patch region (checked at boot). On the patching CPU (its
	 * own handlers, or its thread through a phase hook) it may write
	 * through text_poke_many_in_trap() and run rounds (sync_all_cpus
	 * nests in the thread's own): the roll-forward strategy does. */
	bool (*on_bp)(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx);

	/* NMI context, optional: called by patch_on_nmi() at the start of the
	 * NMI handler (serialized, the NMI counted, no patch site run yet)
	 * while a batch of this strategy is published. Same rules as on_bp. */
	void (*on_nmi)(struct regs *r);

	/* Any trap entry, optional: called by patch_trap_enter() for every
	 * vector, before the handler, while a batch of this strategy is
	 * published; it may move r->rip (ool: a CPU interrupted at the first
	 * instruction of a copy that is no longer the one to run). Same
	 * rules as on_bp. */
	void (*on_trap_entry)(struct regs *r);
};

/* Count hazard i of the running strategy on this CPU. Any context (#BP,
 * NMI, #MC): no lock, no call, inline. */
static inline void patch_hazard(unsigned i)
{
	__atomic_fetch_add(&this_cpu()->patch.hazard[i], 1, __ATOMIC_RELAXED);
}

/* The registry (strategies/registry.c): every strategy, NULL-terminated. */
extern const struct patch_strategy *const patch_strategies[];

/* For apply(): the core's write list (POKE_BATCH_MAX entries; text_lock
 * held), and one write step through text_poke_many(), IRQs off only
 * while it writes; adds its page passes to st, returns its TSC cycles. */
#define POKE_BATCH_MAX 65536            /* sites in one batch (the mass patcher's 38252 fit) */
struct poke_write;
struct poke_write *poke_write_buffer(void);
uint64_t poke_write_step(const struct poke_write *w, unsigned n, struct poke_stats *st);

/* The core: the batch of strategy s is published (phase 0). */
void poke_phase_begin(const struct patch_strategy *s);

#endif
