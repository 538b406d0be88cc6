/*
 * arch/x86/idt.c — 256 interrupt gates onto the stubs of arch/x86/entry.asm.
 *
 * All gates are interrupt gates (IF cleared on entry), DPL 0. NMI, #MC and
 * #DF switch to their own IST stacks so they run on a known-good stack even
 * when the interrupted stack is not.
 */
#include <stdint.h>
#include "arch/x86/idt.h"
#include "arch/x86/layout.h"

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

#define GATE_INTERRUPT 0x8e     /* P=1, DPL=0, 64-bit interrupt gate */

extern const uint64_t isr_stub_table[256];      /* arch/x86/entry.asm */

static struct idt_gate idt[256] __attribute__((aligned(16)));

void idt_init(void)
{
	for (int v = 0; v < 256; v++) {
		uint64_t a = isr_stub_table[v];
		idt[v] = (struct idt_gate){
			.off_lo = a & 0xffff, .sel = KERNEL_CS, .ist = 0,
			.type_attr = GATE_INTERRUPT, .off_mid = (a >> 16) & 0xffff,
			.off_hi = a >> 32,
		};
	}
	idt[2].ist = IST_NMI;
	idt[8].ist = IST_DF;
	idt[18].ist = IST_MCE;
}

void idt_load(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) p = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" :: "m"(p));
}
