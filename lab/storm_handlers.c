/*
 * lab/storm_handlers.c — the storm's NMI and IPI handlers (see
 * storm_handlers.h). In the no-patch region: NMI and IRQ context, no lock,
 * nothing patchable, printing only through the lock-free printk.
 */
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "lab/storm_handlers.h"

uint32_t storm_print_every;

/* NMI context: no lock, nothing patchable, prints only through lock-free printk. */
void storm_nmi(struct regs *r)
{
	(void)r;
	struct percpu *pc = this_cpu();
	uint32_t every = __atomic_load_n(&storm_print_every, __ATOMIC_RELAXED);
	if (every && pc->nmi_storm % every == 0)
		printk("~storm CPU %03u NMI %08lu from the NMI handler", pc->cpu, pc->nmi_storm);
}

/* IRQ context: nothing to do; irq_dispatch already ran the IRQ site. */
void storm_ipi(struct regs *r)
{
	(void)r;
}
