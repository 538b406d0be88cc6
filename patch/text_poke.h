/*
 * patch/text_poke.h — the single writer: bytes into live kernel text,
 * through a private alias of the target pages that only this CPU maps.
 *
 * Kernel text is never writable through its own mapping (nor through the
 * direct map). The writer maps each target page at one of this CPU's
 * private windows (arch/x86/paging.c: POKE_AREA_BASE, a PML4 slot that
 * differs per CPU), writes, unmaps with a local INVLPG, and checks every
 * byte back through the text mapping. Writes are grouped by page: one
 * mapping and one pass per page (under QEMU's TCG every write to a page of
 * code discards that page's translations, which costs far more than an IPI
 * round).
 *
 * One write, two ways in, both on the CPU that holds text_lock:
 *   text_poke_many()          its thread context (a strategy's steps)
 *   text_poke_many_in_trap()  one of its own trap handlers, which may have
 *                             interrupted text_poke_many() itself (the
 *                             roll-forward strategy completes a site there)
 * Each nesting level writes through a window of its own (slot = this
 * CPU's ctx_depth), so a handler's write never disturbs the mapping of the
 * write it interrupted; and a site completed by a handler behind a thread
 * write's back is told apart from a wrong byte (struct poke_write.done).
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
	/* NULL, or a flag this CPU's own trap handler sets before it completes
	 * the site this write belongs to (roll-forward): if it is set when the
	 * write is checked back, the bytes there are the handler's (the whole
	 * new instruction), not a wrong write, and are not compared. */
	const uint8_t *done;
};

/*
 * Write w[0..n) (sorted by address, each inside .text) and verify them.
 * Preconditions, checked: text_lock held by this CPU, IRQs off, thread
 * context (no interrupt, NMI, #MC or #BP handler of this CPU is running:
 * the patching CPU's own handlers would otherwise pass the first two), or
 * else the one handler of this CPU that its strategy opened for the
 * writer, and nothing nested in it (trap handlers that complete a site
 * write through text_poke_many_in_trap() instead). Counts the writes per
 * context (percpu->patch.text_writes). Panics if a byte reads back wrong.
 * Returns the number of page passes. Calls nothing that can be patched.
 */
unsigned text_poke_many(const struct poke_write *w, unsigned n);

/*
 * A strategy that applies its batch inside a handler of the patching CPU
 * (strategies/nmi: its own NMI, where no NMI of its own can interrupt the
 * writes) opens that handler for the writer first and closes it after:
 * the writer then accepts calls at exactly this nesting depth on this
 * CPU; a #MC or #BP nested in the handler is still refused, as is any
 * other handler. open() checks that this CPU holds text_lock, runs a
 * handler and has IRQs off, and panics naming what is missing. Recovery
 * closes it (patch_recover). Trap context: no lock, no print, nothing
 * patchable.
 */
void text_poke_open_handler(void);
void text_poke_close_handler(void);

/*
 * The same write from a trap handler (ctx_depth 1 .. POKE_WINDOWS-1) of
 * the CPU that holds text_lock, IRQs off: the patching CPU's own #BP,
 * IRQ, NMI or #MC context, possibly nested in its own text_poke_many()
 * (strategies/roll_forward). Same checks otherwise; panics naming what is
 * wrong. No lock, no print but on the way to a panic, nothing patchable
 * (no-patch region).
 */
unsigned text_poke_many_in_trap(const struct poke_write *w, unsigned n);

#endif
