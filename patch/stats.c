/*
 * patch/stats.c — figures of the last batch (sized by its strategy: its
 * write steps and rounds), #BP hits per CPU and context, and the
 * patch-stats console command. Thread context; the record is written
 * under text_lock.
 */
#include "arch/x86/serialize.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/rendezvous.h"
#include "patch/stats.h"
#include "patch/strategy.h"

static struct poke_stats stats;        /* the last batch applied */
static struct poke_stats pending;      /* the batch being applied: stats once it is */
static uint64_t bp_before[MAX_CPUS][BP_CTX_COUNT];
static uint64_t t_begin;

struct poke_stats *poke_stats_begin(const struct poke_batch *b, const struct patch_strategy *s)
{
	for_each_cpu_in(c, &cpu_online_mask)
		for (int k = 0; k < BP_CTX_COUNT; k++)
			bp_before[c][k] = patch_bp_handled(c, k);
	pending = stats;        /* totals carried on */
	pending.strategy = s;
	pending.sites = b->nr;
	pending.rounds = 0;
	pending.page_passes = 0;
	memset(pending.cycles_write, 0, sizeof(pending.cycles_write));
	memset(pending.cycles_sync, 0, sizeof(pending.cycles_sync));
	pending.cycles_retire = 0;
	t_begin = rdtsc();
	return &pending;
}

void poke_stats_end(const struct poke_batch *b)
{
	pending.cycles_total = rdtsc() - t_begin;
	pending.batches++;
	pending.sites_total += b->nr;
	for_each_cpu_in(c, &cpu_online_mask)
		for (int k = 0; k < BP_CTX_COUNT; k++)
			pending.last_bp[c][k] = (uint32_t)(patch_bp_handled(c, k) - bp_before[c][k]);
	stats = pending;
}

void poke_get_stats(struct poke_stats *out)
{
	*out = stats;
}

void poke_print_stats(void)
{
	struct poke_stats st;
	char line[256];
	size_t n = 0;

	poke_get_stats(&st);
	printk("batches applied: %lu (%lu sites); rendezvous rounds: %lu (%lu acknowledgements given for CPUs "
	       "inside #BP); serializing with %s", st.batches, st.sites_total, sync_rounds_total(),
	       sync_acks_in_bp_total(), sync_core_method());
	if (!st.batches)
		return;
	const struct patch_strategy *s = st.strategy;
	printk("last batch: strategy %s, %u site(s), %u round(s), %u page pass(es), %lu us in all",
	       s->name, st.sites, st.rounds, st.page_passes, tsc_to_us(st.cycles_total));
	for (uint32_t i = 0; i < s->nr_steps && n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, "%swrite %s %lu", i ? ", " : "", s->step_names[i],
			      st.cycles_write[i]);
	for (uint32_t i = 0; i < st.rounds && i < POKE_ROUNDS_MAX && n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, ", sync %u %lu", i + 1, st.cycles_sync[i]);
	printk("  cycles: %s | retire %lu", line, st.cycles_retire);
	printk("  #BP hits handled in the last batch, by CPU and context:");
	printk("  %-4s %8s %8s %8s %8s   (since boot: thread irq nmi mce; vanished int3s re-run; looks repeated)",
	       "CPU", bp_ctx_names[BP_THREAD], bp_ctx_names[BP_IRQ], bp_ctx_names[BP_NMI], bp_ctx_names[BP_MCE]);
	for_each_cpu_in(c, &cpu_online_mask) {
		const struct patch_cpu *p = &percpu_of(c)->patch;
		printk("  %-4u %8u %8u %8u %8u   (%lu %lu %lu %lu; %lu; %lu)", c, st.last_bp[c][BP_THREAD],
		       st.last_bp[c][BP_IRQ], st.last_bp[c][BP_NMI], st.last_bp[c][BP_MCE],
		       p->bp_handled[BP_THREAD], p->bp_handled[BP_IRQ], p->bp_handled[BP_NMI], p->bp_handled[BP_MCE],
		       p->bp_vanished, p->bp_looked_again);
	}
}

static int cmd_patch_stats(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	poke_print_stats();
	return 0;
}
SHELL_CMD("patch-stats", "", "figures of the last batch, #BP hits per CPU and context", cmd_patch_stats);

/* patch/patch.h. Thread context: relaxed reads of every online CPU's counters. */
uint64_t patch_bp_handled_all(enum bp_ctx ctx)
{
	uint64_t n = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		n += patch_bp_handled(c, ctx);
	return n;
}

uint64_t patch_hazard_all(unsigned i)
{
	uint64_t n = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		n += __atomic_load_n(&percpu_of(c)->patch.hazard[i], __ATOMIC_RELAXED);
	return n;
}
