/*
 * arch/x86/irq.c — the vector table for external interrupts and IPIs.
 */
#include <stdbool.h>
#include "arch/x86/apic.h"
#include "arch/x86/dump.h"
#include "arch/x86/irq.h"
#include "arch/x86/layout.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "lab/context_sites.h"

static irq_handler_t handlers[256];
static bool soft_only[256];             /* irq_register_soft(): no EOI */

void irq_register(unsigned vector, irq_handler_t fn)
{
	if (vector < 32 || vector >= VEC_SPURIOUS)
		panic("irq_register: vector %u is not an interrupt vector", vector);
	__atomic_store_n(&soft_only[vector], false, __ATOMIC_RELAXED);
	__atomic_store_n(&handlers[vector], fn, __ATOMIC_RELEASE);
}

void irq_register_soft(unsigned vector, irq_handler_t fn)
{
	if (vector < 32 || vector >= VEC_SPURIOUS)
		panic("irq_register_soft: vector %u is not an interrupt vector", vector);
	__atomic_store_n(&soft_only[vector], true, __ATOMIC_RELAXED);
	__atomic_store_n(&handlers[vector], fn, __ATOMIC_RELEASE);
}

/* Interrupt context, nested in anything (an INT n in an NMI handler too):
 * no lock, nothing patchable besides the IRQ site. */
void irq_dispatch(struct regs *r)
{
	struct percpu *pc = this_cpu();
	unsigned v = (unsigned)r->vector;

	pc->irq_count++;
	irq_site_run();                 /* a live patch site, on every interrupt */
	if (v == VEC_SPURIOUS)          /* no EOI for spurious interrupts */
		return;
	irq_handler_t fn = __atomic_load_n(&handlers[v], __ATOMIC_ACQUIRE);
	if (fn)
		fn(r);
	else
		printk("CPU %u: unexpected interrupt vector %#x at RIP %#lx", pc->cpu, v, r->rip);
	if (!(fn && __atomic_load_n(&soft_only[v], __ATOMIC_RELAXED)))
		apic_eoi();
}
