/*
 * clients/alternative/apply_nmi.c — the NMI side of the boot application
 * (apply_boot.c has the timeline). In the no-patch region (Makefile
 * NOPATCH_OBJS): it runs in NMI context and writes sites that any
 * patchable function may contain.
 */
#include "kernel/percpu.h"
#include "clients/alternative/alternative.h"

struct alt_boot_record alt_boot;
struct alt_plan alt_plan;

/* NMI context (arch/x86/nmi.c, reason NMI_ALT), the boot CPU alone, its
 * thread waiting in alt_apply_boot with text_lock held: write every site
 * of the plan, then say so. No lock, no print, nothing patchable: the
 * writer (text_poke_boot_in_trap) is in the region too. */
void alt_apply_nmi(void)
{
	if (!__atomic_load_n(&alt_plan.armed, __ATOMIC_ACQUIRE))
		return;                 /* not asked for: a stray NMI_ALT */
	const struct percpu *pc = this_cpu();
	alt_boot.nmi_depth = pc->nmi_depth;
	alt_boot.cpu = pc->cpu;
	alt_boot.cpus_online = __atomic_load_n(&nr_cpus_online, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < alt_plan.n; i++)
		text_poke_boot_in_trap(alt_plan.addr[i], alt_plan.bytes[i], alt_plan.len[i]);
	__atomic_store_n(&alt_plan.armed, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&alt_boot.ran_in_nmi, 1, __ATOMIC_RELEASE);
}
