/*
 * patch/console.c — console commands of the patch core: patch-stats.
 * (sites and patch: clients/sites/console.c.)
 */
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "patch/bp.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"

static int cmd_patch_stats(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct poke_stats st;
	poke_get_stats(&st);
	printk("batches applied: %lu (%lu sites); rendezvous rounds: %lu (%lu acknowledgements given for CPUs "
	       "inside #BP); serializing with %s", st.batches, st.sites_total, sync_rounds_total(),
	       sync_acks_in_bp_total(), sync_core_method());
	if (!st.batches)
		return 0;
	printk("last batch: %u site(s), %u round(s), %u page pass(es), %lu us in all",
	       st.sites, st.rounds, st.page_passes, tsc_to_us(st.cycles_total));
	printk("  cycles: write int3 %lu, sync %lu | write tails %lu, sync %lu | write first %lu, sync %lu | "
	       "rewrite first %lu | retire %lu",
	       st.cycles_write[0], st.cycles_sync[0], st.cycles_write[1], st.cycles_sync[1],
	       st.cycles_write[2], st.cycles_sync[2], st.cycles_write[3], st.cycles_retire);
	printk("  #BP emulations in the last batch, by CPU and context:");
	printk("  %-4s %8s %8s %8s %8s   (since boot: thread irq nmi mce; vanished int3s re-run; looks repeated)",
	       "CPU", "thread", "irq", "nmi", "mce");
	for_each_cpu_in(c, &cpu_online_mask) {
		const uint64_t *t = percpu_of(c)->bp_emulated;
		printk("  %-4u %8u %8u %8u %8u   (%lu %lu %lu %lu; %lu; %lu)", c, st.last_bp[c][BP_THREAD],
		       st.last_bp[c][BP_IRQ], st.last_bp[c][BP_NMI], st.last_bp[c][BP_MCE], t[0], t[1], t[2], t[3],
		       percpu_of(c)->bp_vanished, percpu_of(c)->bp_looked_again);
	}
	return 0;
}
SHELL_CMD("patch-stats", "", "figures of the last batch, #BP emulations per CPU and context", cmd_patch_stats);
