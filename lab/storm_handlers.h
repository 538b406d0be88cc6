/*
 * lab/storm_handlers.h — what the storm's NMI and IPI handlers do
 * (storm_handlers.c, in the no-patch region: they run in NMI and IRQ
 * context while sites are patched under them). The storm itself is
 * storm.c, thread context.
 */
#ifndef XPOKE_LAB_STORM_HANDLERS_H
#define XPOKE_LAB_STORM_HANDLERS_H

#include <stdint.h>
#include "arch/x86/regs.h"

/* Print a line from every Nth storm NMI of a CPU (0: never). */
extern uint32_t storm_print_every;

void storm_nmi(struct regs *r);         /* nmi_set_storm_hook() */
void storm_ipi(struct regs *r);         /* irq_register(VEC_STORM) */

#endif
