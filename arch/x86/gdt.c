/*
 * arch/x86/gdt.c — per-CPU GDT and TSS.
 *
 * Each CPU's GDT lives in its struct percpu and holds its own TSS
 * descriptor, whose IST slots point at that CPU's NMI, #MC and #DF stacks
 * (allocated by the caller into pc->ist_hi[]).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/gdt.h"
#include "arch/x86/layout.h"
#include "kernel/percpu.h"
#include "kernel/string.h"

#define GDT_CODE64  0x00af9a000000ffffull       /* P, DPL0, code, L=1 */
#define GDT_DATA    0x00cf92000000ffffull       /* P, DPL0, data, writable */
#define TSS_TYPE    0x89ull                     /* P, available 64-bit TSS */

void gdt_init_this_cpu(struct percpu *pc)
{
	struct tss *t = &pc->tss;
	memset(t, 0, sizeof(*t));
	for (int i = 1; i <= IST_COUNT; i++)
		t->ist[i - 1] = pc->ist_hi[i];
	t->iomap_base = sizeof(*t);             /* no I/O bitmap */

	uint64_t base = (uintptr_t)t, limit = sizeof(*t) - 1;
	pc->gdt[0] = 0;
	pc->gdt[KERNEL_CS / 8] = GDT_CODE64;
	pc->gdt[KERNEL_DS / 8] = GDT_DATA;
	pc->gdt[KERNEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
				  (TSS_TYPE << 40) | (((limit >> 16) & 0xf) << 48) |
				  (((base >> 24) & 0xff) << 56);
	pc->gdt[KERNEL_TSS / 8 + 1] = base >> 32;

	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) p = {
		sizeof(pc->gdt) - 1, (uintptr_t)pc->gdt };
	__asm__ volatile(
		"lgdt %0\n\t"
		"pushq %1\n\t"                  /* reload CS with a far return */
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movl %2, %%eax\n\t"
		"movl %%eax, %%ds\n\t"
		"movl %%eax, %%es\n\t"
		"movl %%eax, %%ss\n\t"
		/* FS/GS selectors are left alone: loading GS would zero the GS
		 * base that this_cpu() (and an NMI arriving now) depends on. */
		:: "m"(p), "i"(KERNEL_CS), "i"(KERNEL_DS) : "rax", "memory");
	__asm__ volatile("ltr %w0" :: "r"(KERNEL_TSS));
}
