/*
 * arch/x86/apic.h — the local APIC (xAPIC MMIO, or x2APIC MSRs when CPUID
 * offers it): IPIs, EOI, and the one-shot timer.
 *
 * Sending is safe from any context, NMI included: see apic.c on ICR.
 */
#ifndef XPOKE_ARCH_X86_APIC_H
#define XPOKE_ARCH_X86_APIC_H

#include <stdbool.h>
#include <stdint.h>

extern bool apic_x2apic;

void apic_init_bsp(void);       /* choose the mode, map the registers */
void apic_init_this_cpu(void);  /* enable, LVTs (LINT1 = NMI), error vector */
uint32_t apic_read_id(void);
void apic_eoi(void);

/* Fixed-vector IPIs. */
void apic_send_ipi(uint32_t apic_id, uint8_t vector);
void apic_send_ipi_self(uint8_t vector);
void apic_send_ipi_all(uint8_t vector);
void apic_send_ipi_allbutself(uint8_t vector);

/* NMIs (delivery mode NMI; the vector is ignored). */
void apic_send_nmi(uint32_t apic_id);
void apic_send_nmi_self(void);
void apic_send_nmi_all(void);
void apic_send_nmi_allbutself(void);

/* AP start-up. */
void apic_send_init(uint32_t apic_id);
void apic_send_init_deassert(uint32_t apic_id);
void apic_send_sipi(uint32_t apic_id, uint8_t page);

/* Halt this CPU until an interrupt arrives or us microseconds pass (the
 * local APIC timer wakes it). IRQs must be on. Under TCG a halted vCPU
 * thread sleeps, which gives its host core to the others. */
void cpu_nap(uint64_t us);

/* One-shot timer raising VEC_TIMER after us microseconds (0 cancels). */
void apic_timer_oneshot(uint64_t us);
void apic_timer_calibrate(void);

#endif
