/*
 * arch/x86/pic.c — remap the 8259 pair to vectors 0x20-0x2f (away from the
 * exception vectors, should a spurious IRQ 7/15 slip through) and mask
 * every line. The local APIC and IOAPIC do the real work.
 *
 * Order matters: this must run before the BSP's local APIC masks LINT0.
 * Firmware leaves LINT0 in ExtINT (virtual wire) mode with the PIT ticking
 * on IRQ 0; a tick taken while interrupts are still off leaves an interrupt
 * request latched at the CPU. Masking the PIC lowers its output, and with
 * LINT0 still in ExtINT mode that withdrawal reaches the CPU. Masked LINT0
 * first, and the stale request survives until the first STI, where QEMU's
 * TCG delivers it with no vector at all: a #GP with a nonsense error code.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/pic.h"

#define PIC1_CMD    0x20
#define PIC1_DATA   0x21
#define PIC2_CMD    0xa0
#define PIC2_DATA   0xa1

void pic_disable(void)
{
	outb(PIC1_CMD, 0x11);   /* ICW1: init, expect ICW4 */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, 0x20);  /* ICW2: vector base */
	outb(PIC2_DATA, 0x28);
	outb(PIC1_DATA, 0x04);  /* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);  /* ICW4: 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff);  /* mask everything */
	outb(PIC2_DATA, 0xff);
}
