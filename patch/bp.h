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

struct percpu;

/* Pin the batch being applied (published by patch/text_poke_smp.c): it,
 * or NULL if there is none or it is being withdrawn. A pinned batch is not
 * retired until live_batch_put(). Any context; the pin is this CPU's
 * (percpu->live_pin). */
const struct poke_batch *live_batch_get(void);
void live_batch_put(void);

/* Batches published since boot (a reader's consistency check). */
uint64_t live_batch_gen(void);

/* Recovery: drop every pin this CPU's abandoned contexts held. */
void live_batch_drop_pins(struct percpu *pc);

/* Did an "int $3" (CD 03) trap with this RIP? Any context. */
bool bp_is_int_imm3(uintptr_t rip);

/* Test only: an int3 at this address counts as a stale fetch (bp.c). */
extern uintptr_t bp_test_stale_int3;

/* #BP context: true if r->rip - 1 is a live site (r is then rewritten). */
bool text_poke_bp_handler(struct regs *r);

/* Execute emu for an instruction of a site at addr, on frame r. */
void emulate_insn(const struct emu_insn *emu, uintptr_t addr, struct regs *r);

/* Publish b (sorted) / withdraw it and wait until no CPU still pins it.
 * Thread context, text_lock held. */
void bp_publish(const struct poke_batch *b);
void bp_retire(void);

/* Does [addr, addr+len) touch a site of the live batch? If so, which
 * (*site, *site_len). Thread context. */
bool live_site_overlapping(uintptr_t addr, size_t len, uintptr_t *site, uint8_t *site_len);

/* Copy n bytes of text at addr as the validation view shows them: every
 * site of the live batch holds its old bytes (patch/validate.h). Thread
 * context. */
void live_batch_read(uintptr_t addr, uint8_t *buf, size_t n);

/* Linux-style self-test of call emulation; 0 or a description of the failure. */
const char *int3_selftest(void);

#endif
