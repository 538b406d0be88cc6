/*
 * patch/live.h — the batch being applied, as other CPUs see it: published
 * before the first byte is written, retired after the last round, and
 * pinned by whoever reads it meanwhile (the #BP path, validation's view of
 * text). Kernel only; in the no-patch region (live.c).
 */
#ifndef XPOKE_PATCH_LIVE_H
#define XPOKE_PATCH_LIVE_H

#include <stdbool.h>
#include "patch/poke_types.h"

struct percpu;

/* Pin the batch being applied: it, or NULL if there is none or it is being
 * withdrawn. A pinned batch is not retired until live_batch_put(). Any
 * context; the pin is this CPU's (percpu->patch.live_pin). */
const struct poke_batch *live_batch_get(void);
void live_batch_put(void);

/* One more pin on the batch this CPU pins already, which may outlive the
 * handler that took the first: the out-of-line strategy's #BP handler
 * keeps the batch pinned while the CPU runs its slot, and the slot's way
 * out (strategies/ool/ool_slots.asm) drops it. Any context, only while
 * this CPU holds a pin from live_batch_get(). */
void live_batch_hold(void);

/* Batches published since boot, and text writes made outside any batch
 * (the boot's: live_text_written), a reader's consistency check: the
 * validator's walk cache (patch/validate.c) is good for one value only. */
uint64_t live_batch_gen(void);

/* Text was written outside any batch (text_poke_boot_in_trap): move the
 * generation, so that no walk cached before it is used after it. Any
 * context: no lock, no print, nothing patchable. */
void live_text_written(void);

/* The strategy of the published batch, or NULL (read without a pin: the
 * strategies are static). */
extern const struct patch_strategy *live_strategy;

/* Recovery: drop every pin this CPU's abandoned contexts held. */
void live_batch_drop_pins(struct percpu *pc);

/* Publish b (sorted) / withdraw it and wait until no CPU still pins it.
 * Thread context, text_lock held. */
void live_publish(const struct poke_batch *b);
void live_retire(void);

/* Does [addr, addr+len) touch a site of the live batch? If so, which
 * (*site, *site_len). Thread context. */
bool live_site_overlapping(uintptr_t addr, size_t len, uintptr_t *site, uint8_t *site_len);

/* Copy n bytes of text at addr as the validation view shows them: every
 * site of the live batch holds its old bytes (patch/validate.h). Thread
 * context. */
void live_batch_read(uintptr_t addr, uint8_t *buf, size_t n);

#endif
