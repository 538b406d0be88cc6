/*
 * patch/bp.h — the #BP side of the int3 protocol.
 *
 * While a batch is live, any CPU that executes one of its sites' int3 traps
 * here, in whatever context it was in (thread, IRQ, NMI, #MC, or the
 * patching CPU itself). The handler finds the site by binary search,
 * acknowledges the rendezvous round in progress, and executes the
 * instruction the site is becoming, so nobody ever spins on a breakpoint.
 */
#ifndef XPOKE_PATCH_BP_H
#define XPOKE_PATCH_BP_H

#include <stdbool.h>
#include "arch/x86/regs.h"
#include "patch/poke_types.h"

enum bp_ctx { BP_THREAD, BP_IRQ, BP_NMI, BP_MCE, BP_CTX_COUNT };
extern const char *const bp_ctx_names[BP_CTX_COUNT];

/* The batch being applied, or NULL (published by patch/text_poke_smp.c). */
extern const struct poke_batch *live_batch;

/* #BP context: true if r->rip - 1 is a live site (r is then rewritten). */
bool text_poke_bp_handler(struct regs *r);

/* Execute emu for an instruction of a site at addr, on frame r. */
void emulate_insn(const struct emu_insn *emu, uintptr_t addr, struct regs *r);

/* Publish b (sorted) / withdraw it and wait until no #BP handler of any CPU
 * still uses it. Thread context, text_lock held. */
void bp_publish(const struct poke_batch *b);
void bp_retire(void);

/* Does [addr, addr+len) touch a live site? */
bool bp_site_busy(uintptr_t addr, size_t len);

/* Linux-style self-test of call emulation; 0 or a description of the failure. */
const char *int3_selftest(void);

#endif
