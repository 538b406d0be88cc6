/*
 * arch/x86/ioapic.h — the IOAPIC, for the few device interrupts xpoke takes.
 */
#ifndef XPOKE_ARCH_X86_IOAPIC_H
#define XPOKE_ARCH_X86_IOAPIC_H

#include <stdint.h>

void ioapic_init(void);         /* mask every input */
/* Deliver ISA IRQ irq (after MADT overrides) as vector to logical CPU cpu. */
void ioapic_route_isa_irq(unsigned irq, uint8_t vector, unsigned cpu);

#endif
