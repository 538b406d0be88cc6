/*
 * patch/patch.h — live text patching on every CPU: the public interface
 * of the strategy-neutral core. Clients (clients/) include this and
 * patch/poke_types.h only.
 *
 * Layers, bottom up (as in Linux's alternative.c):
 *   text_poke_many()       patch/text_poke.c      one CPU writes through a private alias
 *   sync_all_cpus()        patch/rendezvous.c     every CPU serializes and acknowledges
 *   patch_on_bp()          patch/trap.c           #BP: a CPU hit a site in flight
 *   smp_text_poke_*()      patch/batch.c          a batch across CPUs, by a strategy
 *   patch_validate_site()  patch/validate.c       Zydis checks before any byte moves
 *   strategies/            (patch/strategy.h)     how the bytes reach the text: int3, ...
 *
 * Usage:
 *   POKE_BATCH_DEFINE(b, 256);
 *   b.strategy = patch_strategy_find("int3");                 // optional
 *   err = smp_text_poke_batch_add(&b, addr, old, new, len);   // validated now
 *   ...
 *   err = smp_text_poke_batch_finish(&b);                     // applied, emptied
 * or smp_text_poke_single(addr, old, new, len). Errors are -PATCH_E*
 * (patch/poke_types.h); a refused request changes no byte, and its address
 * and reason are in b->why and printed (unless b->quiet: the caller reports
 * it). Thread context, IRQs on, not holding text_lock.
 */
#ifndef XPOKE_PATCH_PATCH_H
#define XPOKE_PATCH_PATCH_H

#include <stddef.h>
#include "arch/x86/layout.h"
#include "patch/disasm.h"              /* the instruction tools, for clients: */
#include "patch/insn.h"                /* disassembly and encoders */
#include "patch/patch_cpu.h"
#include "patch/poke_types.h"

struct patch_strategy;

/* Check and queue one site for b's strategy (set b->strategy before the
 * first add; NULL: the default). The old bytes are compared with the text
 * now and again when the batch is applied. */
int smp_text_poke_batch_add(struct poke_batch *b, void *addr, const void *old, const void *new, size_t len);

/* Apply every queued site with b's strategy, then empty b. */
int smp_text_poke_batch_finish(struct poke_batch *b);

/* Drop queued sites without applying them. */
void smp_text_poke_batch_reset(struct poke_batch *b);

/* One site, one batch, the default strategy / strategy s (NULL: the default). */
int smp_text_poke_single(void *addr, const void *old, const void *new, size_t len);
int smp_text_poke_one(const struct patch_strategy *s, void *addr, const void *old, const void *new, size_t len);

/* Is [addr, addr+len) part of the batch being applied now? If so, which
 * site (*site, *site_len). Thread context. */
bool patch_in_flight(uintptr_t addr, size_t len, uintptr_t *site, uint8_t *site_len);

/* Hold off every writer of kernel text (text_lock), e.g. to read it whole
 * without ever seeing half of a batch. Thread context, IRQs on; panics
 * naming the holder after 60 s. */
void patch_text_lock(void);
void patch_text_unlock(void);

/* Boot only, while this CPU is the only one online: write len bytes at
 * addr directly (no protocol: nobody else runs), from a trap handler of
 * this CPU that runs with text_lock held by its thread (patch_text_lock):
 * the alternatives are applied so, in the boot CPU's own NMI, where no NMI
 * can run a half-written site (clients/alternative/). Panics if another
 * CPU is online. Trap context: no lock, nothing patchable. */
void text_poke_boot_in_trap(uintptr_t addr, const uint8_t *bytes, unsigned len);

/* Strategies (patch/strategy.h): by name, or NULL; the default
 * (patch.strategy=NAME); a strategy's name. */
const struct patch_strategy *patch_strategy_find(const char *name);
const struct patch_strategy *patch_default_strategy(void);
const char *patch_strategy_name(const struct patch_strategy *s);
/* Print the registry, the default marked (console `strategies`). */
void patch_strategies_print(void);
/* Console commands: take "--strategy NAME" out of argv (*out: it, or NULL
 * when absent); -EINVAL, printed with the command's name, for a missing or
 * unknown NAME. */
int patch_strategy_option(const char *cmd, int *argc, char **argv, const struct patch_strategy **out);

/* Phases. Phase 0 is "published" (the batch is visible to #BP, nothing is
 * written) and the last is "retired" (no CPU can be in #BP for it); the
 * strategy names the ones between (strategies/int3/int3.h lists int3's).
 * poke_phase_reached() is called at each, by the patching CPU with
 * text_lock held, in thread context with IRQs on, or in the handler its
 * strategy applies the batch in (strategies/nmi: its own NMI): it
 * publishes the strategy and the phase, then calls poke_phase_stop(p), a
 * stable place for a debugger breakpoint (in either context), then the
 * test hook of that context. */
#define POKE_PHASE_PUBLISHED 0u
#define POKE_PHASES_MAX      12
/* The strategy of the batch in flight or of the last one, the phase the
 * patching CPU last reached (the strategy's last, "retired", when idle),
 * and which CPU that is (-1 when idle): for debuggers (scripts/gdb, which
 * reads the names through the xpoke_debug anchor). */
extern const struct patch_strategy *poke_current_strategy;
extern uint32_t poke_current_phase;
extern int32_t poke_patcher_cpu;
void poke_phase_reached(unsigned p);
void poke_phase_stop(unsigned p);
/* The name of phase p of the current strategy ("?" if out of range). */
const char *poke_phase_name(unsigned p);
/* Test hooks run by poke_phase_reached (NULL to remove): the first only
 * at phases reached in thread context, the second only at phases reached
 * in a handler (NMI context: it must take no lock and call nothing
 * patchable). */
void poke_set_phase_hook(void (*fn)(unsigned p));
void poke_set_phase_hook_nmi(void (*fn)(unsigned p));

/* Per-batch figures (patch-stats), sized by the strategy: nr_steps write
 * steps and up to max_rounds rounds. Cycle counts are TSC cycles. */
#define POKE_STEPS_MAX  6
#define POKE_ROUNDS_MAX 4
struct poke_stats {
	const struct patch_strategy *strategy;  /* of the last batch (NULL: none yet) */
	uint64_t batches;               /* applied since boot */
	uint64_t sites_total;
	uint32_t sites, rounds, page_passes;
	uint64_t cycles_write[POKE_STEPS_MAX];  /* the strategy's write steps (step_names) */
	uint64_t cycles_sync[POKE_ROUNDS_MAX];  /* rounds 1..rounds */
	uint64_t cycles_retire;
	uint64_t cycles_total;
	uint32_t last_bp[MAX_CPUS][BP_CTX_COUNT];  /* sites hit per CPU and context (enum bp_ctx) */
};
void poke_get_stats(struct poke_stats *out);
/* Print the last batch's figures and the #BP hits per CPU (patch-stats). */
void poke_print_stats(void);

/* Sites hit in flight and handled by the strategy, on a CPU, by context. */
uint64_t patch_bp_handled(unsigned cpu, enum bp_ctx ctx);
/* The same summed over every online CPU, and the running strategy's hazard
 * counter i (patch/strategy.h) summed likewise. Thread context. */
uint64_t patch_bp_handled_all(enum bp_ctx ctx);
uint64_t patch_hazard_all(unsigned i);

/* Is the TCG workaround on (patch.tcg_rewrite; decided by patch_init), and
 * was it decided from CPUID (patch.tcg_rewrite=auto)? */
extern bool poke_tcg_rewrite, poke_tcg_rewrite_auto;

/* Boot: the TCG decision, the default strategy, the rendezvous vector, and
 * every strategy's self-test (panics if one fails). */
void patch_init(void);

#endif
