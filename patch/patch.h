/*
 * patch/patch.h — live text patching on every CPU: the public interface.
 *
 * Layers, bottom up (as in Linux's alternative.c):
 *   text_poke_many()       patch/text_poke.c      one CPU writes through a private alias
 *   sync_all_cpus()        patch/rendezvous.c     every CPU serializes and acknowledges
 *   text_poke_bp_handler() patch/bp.c             #BP: execute what a site is becoming
 *   smp_text_poke_*()      patch/text_poke_smp.c  the int3 protocol across CPUs
 *   patch_validate_site()  patch/validate.c       Zydis checks before any byte moves
 *
 * Usage:
 *   POKE_BATCH_DEFINE(b, 256);
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
#include "patch/poke_types.h"

/* Check and queue one site. The old bytes are compared with the text now
 * and again when the batch is applied. */
int smp_text_poke_batch_add(struct poke_batch *b, void *addr, const void *old, const void *new, size_t len);

/* Apply every queued site with the int3 protocol (3 rendezvous rounds for
 * any number of sites; 2 when every site is 1 byte long), then empty b. */
int smp_text_poke_batch_finish(struct poke_batch *b);

/* Drop queued sites without applying them. */
void smp_text_poke_batch_reset(struct poke_batch *b);

int smp_text_poke_single(void *addr, const void *old, const void *new, size_t len);

/* Protocol phases, in order; poke_phase_reached() is called at each (with
 * IRQs on, text_lock held): it publishes the phase, then calls
 * poke_phase_stop(p), a stable place for a debugger breakpoint, then the
 * test hook. */
enum poke_phase {
	PHASE_PUBLISHED,        /* batch visible to #BP, nothing written */
	PHASE_INT3_WRITTEN,     /* every first byte is int3 */
	PHASE_INT3_SYNCED,
	PHASE_TAILS_WRITTEN,
	PHASE_TAILS_SYNCED,
	PHASE_FIRST_WRITTEN,    /* every site holds its new bytes */
	PHASE_FIRST_SYNCED,
	PHASE_RETIRED,          /* no CPU can be in #BP for the batch */
	PHASE_COUNT
};
extern const char *const poke_phase_names[PHASE_COUNT];
/* The phase the patching CPU last reached (PHASE_RETIRED when idle), and
 * which CPU that is: for debuggers (scripts/gdb). */
extern uint32_t poke_current_phase;
extern int32_t poke_patcher_cpu;
void poke_phase_reached(enum poke_phase p);
void poke_phase_stop(enum poke_phase p);
/* Test hook run by poke_phase_reached (NULL to remove). */
void poke_set_phase_hook(void (*fn)(enum poke_phase p));

/* Per-batch figures (patch-stats). Cycle counts are TSC cycles. */
struct poke_stats {
	uint64_t batches;               /* applied since boot */
	uint64_t sites_total;
	uint32_t sites, rounds, page_passes;
	uint64_t cycles_write[4];       /* int3, tails, first bytes, first bytes again */
	uint64_t cycles_sync[3];        /* rounds 1..3 */
	uint64_t cycles_retire;
	uint64_t cycles_total;
	uint32_t last_bp[MAX_CPUS][4];  /* emulations per CPU and context (enum bp_ctx) */
};
void poke_get_stats(struct poke_stats *out);

/* Is the TCG workaround on (patch.tcg_rewrite; decided by patch_init), and
 * was it decided from CPUID (patch.tcg_rewrite=auto)? */
extern bool poke_tcg_rewrite, poke_tcg_rewrite_auto;

/* Boot: the TCG decision, rendezvous vector, and int3_selftest (panics if it fails). */
void patch_init(void);

#endif
