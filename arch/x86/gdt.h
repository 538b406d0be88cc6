/*
 * arch/x86/gdt.h — per-CPU GDT and TSS (with the IST stacks for NMI, #MC, #DF).
 *
 * GDT layout (selectors in arch/x86/layout.h):
 *   0x00 null | 0x08 KERNEL_CS (64-bit) | 0x10 KERNEL_DS | 0x18 TSS (16 bytes)
 */
#ifndef XPOKE_ARCH_X86_GDT_H
#define XPOKE_ARCH_X86_GDT_H

#include <stdint.h>

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];        /* ist[0] is IST1 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

#define GDT_ENTRIES 5

struct percpu;

/* Build this CPU's GDT and TSS in its percpu area and load GDTR, segments, TR. */
void gdt_init_this_cpu(struct percpu *pc);

#endif
