/*
 * arch/x86/irq.h — handlers for interrupt vectors 32..255.
 */
#ifndef XPOKE_ARCH_X86_IRQ_H
#define XPOKE_ARCH_X86_IRQ_H

#include "arch/x86/regs.h"

typedef void (*irq_handler_t)(struct regs *r);

/* Install fn for vector (32..254); replaces any previous handler. */
void irq_register(unsigned vector, irq_handler_t fn);

/* arch/x86/traps.c: run the handler and send EOI (not for the spurious vector). */
void irq_dispatch(struct regs *r);

#endif
