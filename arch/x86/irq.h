/*
 * arch/x86/irq.h — handlers for interrupt vectors 32..255.
 */
#ifndef XPOKE_ARCH_X86_IRQ_H
#define XPOKE_ARCH_X86_IRQ_H

#include "arch/x86/regs.h"

typedef void (*irq_handler_t)(struct regs *r);

/* Install fn for vector (32..254); replaces any previous handler. */
void irq_register(unsigned vector, irq_handler_t fn);

/* The same for a vector that only software raises (INT n): no LAPIC EOI
 * after it, since nothing is in service for it, and an EOI would end the
 * highest-priority interrupt that is (the one the INT n may be nested in). */
void irq_register_soft(unsigned vector, irq_handler_t fn);

/* arch/x86/traps.c: run the handler and send EOI (not for the spurious
 * vector, nor for software-only ones). */
void irq_dispatch(struct regs *r);

#endif
