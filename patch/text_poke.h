/*
 * patch/text_poke.h — the single writer: bytes into live kernel text,
 * through a private alias of the target pages that only this CPU maps.
 *
 * Kernel text is never writable through its own mapping (nor through the
 * direct map). text_poke_many() maps each target page at this CPU's private
 * window (arch/x86/paging.c: POKE_AREA_BASE, a PML4 slot that differs per
 * CPU), writes, unmaps with a local INVLPG, and checks every byte back
 * through the text mapping. Writes are grouped by page: one mapping and one
 * pass per page (under QEMU's TCG every write to a page of code discards
 * that page's translations, which costs far more than an IPI round).
 */
#ifndef XPOKE_PATCH_TEXT_POKE_H
#define XPOKE_PATCH_TEXT_POKE_H

#include <stdint.h>
#include "kernel/spinlock.h"

/* Serializes every writer of kernel text. Taken with IRQs on (a waiter must
 * keep answering the holder's rendezvous IPIs). */
extern spinlock_t text_lock;

/* Lab knob (patch.write_delay_us): microseconds between byte stores. */
extern uint32_t poke_write_delay_us;

struct poke_write {
	uintptr_t addr;
	const uint8_t *bytes;
	uint8_t len;
};

/*
 * Write w[0..n) (sorted by address, each inside .text) and verify them.
 * Preconditions, checked: text_lock held by this CPU, IRQs off, thread
 * context (no interrupt, NMI, #MC or #BP handler of this CPU is running:
 * the patching CPU's own handlers would otherwise pass the first two).
 * Panics if a byte reads back wrong. Returns the number of page passes.
 * Calls nothing that can be patched.
 */
unsigned text_poke_many(const struct poke_write *w, unsigned n);

#endif
