/*
 * arch/x86/idt.h — the interrupt descriptor table (one, shared by all CPUs).
 */
#ifndef XPOKE_ARCH_X86_IDT_H
#define XPOKE_ARCH_X86_IDT_H

void idt_init(void);            /* build it once, on the BSP */
void idt_load(void);            /* LIDT on this CPU */

#endif
