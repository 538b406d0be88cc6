/*
 * patch/trap.h — how arch/ calls the patch core from its trap paths, and
 * the only header of patch/ that arch/ includes (make lint checks it).
 *
 *   trap_dispatch (arch/x86/traps.c)      patch core (patch/trap.c)
 *   --------------------------------      -------------------------
 *   NMI or #MC entry, first thing    -->  patch_trap_enter(r): withdraw the
 *                                         "inside #BP, counts as acked" claim,
 *                                         serialize
 *   NMI handler, once the NMI is     -->  patch_on_nmi(r): the NMI hook of
 *   counted, before any patch site        the published batch's strategy
 *   #BP                              -->  patch_on_bp(r): a live site? the
 *                                         strategy handles it
 *   NMI or #MC exit                  -->  patch_trap_exit(token)
 *   a frame recovered into a thread  -->  patch_recover(pc): every handler
 *   context (kernel/recover.c)            of this CPU abandoned
 *
 * Every function here runs in trap context, nested in anything: no lock,
 * no print, nothing patchable (no-patch region).
 */
#ifndef XPOKE_PATCH_TRAP_H
#define XPOKE_PATCH_TRAP_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/regs.h"

struct percpu;

/* Every trap entry, before the handler runs anything that may be a patch
 * site: a CPU woken from a deferred idle halt serializes; NMI (vector 2)
 * and #MC (18) also withdraw the in-#BP claim. Returns the token to hand
 * to patch_trap_exit(). */
bool patch_trap_enter(struct regs *r);

/* The idle loop, IRQs off, right before "sti; hlt": rounds that defer
 * (patch.defer_idle) may now skip this CPU; and right after it: the
 * serialization any wake owes, if no trap entry did it. */
void patch_idle_enter(void);
void patch_idle_exit(void);
/* NMI context (arch/x86/nmi.c), after the NMI is counted (nmi_depth) and
 * before the handler runs any patch site: the published batch's strategy's
 * on_nmi hook, if it has one. */
void patch_on_nmi(struct regs *r);

/* The same handler's exit (entered: the token; false if the frame was
 * recovered meanwhile: patch_recover() already reset everything). */
void patch_trap_exit(bool entered);

/* #BP: true if r->rip - 1 is a site of the live batch (r is then
 * rewritten, or set to run the address again). */
bool patch_on_bp(struct regs *r);

/* Did an "int $3" (CD 03) trap with this RIP? */
bool patch_bp_is_int_imm3(uintptr_t rip);

/* Recovery abandons every handler frame of this CPU, #BP handlers in a
 * batch included: their claims and pins must not hold up a round or a
 * retirement. This CPU only. */
void patch_recover(struct percpu *pc);

/* Test only: an int3 at this address counts as a stale fetch. */
extern uintptr_t bp_test_stale_int3;

#endif
