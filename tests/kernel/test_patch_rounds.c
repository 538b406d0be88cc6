/*
 * tests/kernel/test_patch_rounds.c — what a strategy's rendezvous promises,
 * tested without leaning on TCG's instruction fetch (which discards every
 * vCPU's translations of a written page at once, so results alone cannot
 * show a missing sync).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "clients/sites/sites.h"
#include "lab/fixture_sites.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "kernel/string.h"
#include "strategies/stop_machine/stop_machine.h"

/* How long the bystander keeps IRQs off: well beyond what a stop by NMI
 * takes even with 8 vCPUs on 2 host cores (tens of ms). */
#define HOLD_US 300000

static volatile uint32_t holding;
static uint64_t released_at;            /* TSC when the bystander turned IRQs back on */

/* Keep IRQs off for HOLD_US without touching any patch site: a CPU that
 * cannot take the sync IPI (nor, running no site, trap on an int3). */
static void hold_irqs_off(void *unused)
{
	(void)unused;
	uint64_t flags = irq_save();
	__atomic_store_n(&holding, 1, __ATOMIC_SEQ_CST);
	udelay(HOLD_US);
	__atomic_store_n(&released_at, rdtsc(), __ATOMIC_SEQ_CST);
	irq_restore(flags);
}

/* Patch the call site a -> b and back with strategy st while another CPU
 * holds IRQs off; the TSC when the first batch completed. */
static uint64_t patch_during_hold(const struct patch_strategy *st, unsigned other, int *err)
{
	const struct patch_site_def *s = site_by_name("call");
	__atomic_store_n(&holding, 0, __ATOMIC_SEQ_CST);
	released_at = 0;
	*err = on_cpu_async(other, hold_irqs_off, NULL);
	uint64_t deadline = tsc_deadline_us(1000000);
	while (!*err && !__atomic_load_n(&holding, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
		cpu_relax();
	if (!*err)
		*err = site_patch_by(st, s, variant_by_name(s, "b"));
	uint64_t done = rdtsc();
	if (cpu_wait_done(other, 5000000) && !*err)
		*err = -1;
	if (!*err)
		*err = site_patch_by(st, s, variant_by_name(s, "a"));
	return done;
}

/* Does a batch wait for a CPU that holds IRQs off, with every strategy
 * whose rendezvous goes through an IPI (it must serialize before the
 * batch goes on), and only with those? stop-machine-nmi stops CPUs with an
 * NMI, which IRQs off do not hold back. (Having an on_nmi hook says
 * nothing about it: stop-machine counts NMIs there, and nmi's rounds go
 * by IPI to a CPU in thread context.) */
static void test_rounds_wait_for_irqs_off_cpu(void)
{
	unsigned other = cpumask_next(&cpu_online_mask, cpu_id() == 0 ? 1 : 0);
	for (const struct patch_strategy *const *p = patch_strategies; *p; p++) {
		const struct patch_strategy *st = *p;
		bool by_nmi = st == &stop_machine_nmi_strategy;
		int err;
		uint64_t done = patch_during_hold(st, other, &err);
		uint64_t rel = __atomic_load_n(&released_at, __ATOMIC_ACQUIRE);
		report(err == 0 && rel, "%s: patched call -> b and back while CPU %u held IRQs off for %u ms (%d)",
		       st->name, other, HOLD_US / 1000, err);
		if (by_nmi)
			report(done < rel, "%s: the batch completed %lu us before CPU %u turned IRQs on: its NMI got through",
			       st->name, done < rel ? tsc_to_us(rel - done) : 0, other);
		else
			report(done > rel, "%s: the batch completed only after CPU %u turned IRQs on and acknowledged "
			       "(%lu us after)", st->name, other, done > rel ? tsc_to_us(done - rel) : 0);
	}
}
KTEST("patch.rounds_wait_for_irqs_off_cpu", test_rounds_wait_for_irqs_off_cpu, .min_cpus = 2);

/* Deferred idle: a woken CPU runs the site in flight. */
static unsigned defer_target;
static volatile uint32_t defer_result;

static void run_call_site(void *unused)
{
	(void)unused;
	defer_result = flip_call_fn();
}

/* At int3-synced (round 1 done, which left the halted CPU out), wake it:
 * it serializes on its trap entry, then runs the site in flight. */
static void wake_mid_batch(unsigned p)
{
	if (p == 2 && !strcmp(poke_phase_name(p), "int3-synced"))
		on_cpu_async(defer_target, run_call_site, NULL);
}

/* With deferred idle, are the CPUs halted in the idle loop left out of the
 * rounds (no IPI), and does one woken in the middle of the batch serialize
 * on its way in and run the site in flight correctly? */
static void test_defer_idle_skips_halted_cpus(void)
{
	const struct patch_site_def *s = site_by_name("call");
	uint8_t a[POKE_MAX_LEN], b[POKE_MAX_LEN];
	static struct poke_site storage[1];
	struct poke_batch batch = POKE_BATCH_INIT(storage, 1);

	defer_target = cpumask_next(&cpu_online_mask, cpu_id() == 0 ? 1 : 0);
	struct patch_cpu *t = &percpu_of(defer_target)->patch;
	udelay(20000);                  /* let the other CPUs settle into the idle halt */
	uint64_t deferred0 = sync_deferred_total(), serialized0 = t->idle_serialized;
	defer_result = 0;
	site_encode(s, variant_by_name(s, "a"), a);
	site_encode(s, variant_by_name(s, "b"), b);
	batch.defer_idle = true;
	int err = smp_text_poke_batch_add(&batch, (void *)s->addr, a, b, s->len);
	poke_set_phase_hook(wake_mid_batch);
	if (!err)
		err = smp_text_poke_batch_finish(&batch);
	poke_set_phase_hook(NULL);
	report(cpu_wait_done(defer_target, 5000000) == 0, "CPU %u ran the call site, woken mid-batch", defer_target);
	uint64_t deferred = sync_deferred_total() - deferred0;
	report(err == 0 && flip_call_fn() == FLIP_B, "the batch applied call -> b (%s)", patch_errname(err));
	report(deferred > 0, "its rounds left %lu halted CPU(s) out (no IPI)", deferred);
	report(t->idle_serialized > serialized0, "CPU %u serialized on its trap entry from the halt (%lu times)",
	       defer_target, t->idle_serialized - serialized0);
	report(defer_result == FLIP_A || defer_result == FLIP_B, "and then got variant %s's result from the site in "
	       "flight (%#x)", defer_result == FLIP_A ? "a" : defer_result == FLIP_B ? "b" : "?", defer_result);
	report(site_patch(s, variant_by_name(s, "a")) == 0 && flip_call_fn() == FLIP_A, "patched back to a");
}
KTEST("patch.defer_idle_skips_halted_cpus", test_defer_idle_skips_halted_cpus, .min_cpus = 2);
