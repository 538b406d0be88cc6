/*
 * tests/kernel/compare_strategies.c — compare.idle (hidden; make compare
 * boots it): the idle workload. Every strategy of the registry patches the
 * same 1, 16 and 256 call sites (lab/fixture_sites: batch_fns)
 * compare.runs times each, while the crew (lab/crew.h) runs one of those
 * sites on every other CPU, timing the gaps in its own loop: each
 * bystander's longest gap during each batch is one sample of its stall
 * distribution (lab/stall.h). Then int3 patches 16 sites on an otherwise
 * idle machine, with and without deferred idle (patch.defer_idle).
 *
 * Figures, not a verdict: "# compare: idle|defer|stall|cdf ..." lines
 * (compare_report.h), which scripts/compare.py turns into a table, CSV and
 * charts. A strategy whose batch is refused is reported as failed, with
 * its error, and the others go on. The one check: every site is back to
 * a at the end.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/sort.h"
#include "kernel/string.h"
#include "lab/crew.h"
#include "lab/fixture_sites.h"
#include "lab/stall.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "tests/kernel/compare_report.h"

#define RUNS_MAX 256
#define SETTLE_US 1000000       /* bystanders tick within a nap (200 us); under load, far more */

static unsigned runs = 32;
KPARAM_UINT("compare.runs", runs, 2, RUNS_MAX, "N: make compare's idle workload: batches per strategy and size "
	    "(default 32)");

POKE_BATCH_DEFINE(compare_batch, BATCH_SITES);

/* Crew job: one burst of calls through batch site 0, a stall tick after
 * each (and one before: the gap since the last burst, unless it napped). */
static void bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	stall_tick(cpu);
	for (unsigned k = 0; k < crew_burst(); k++) {
		batch_fns[0]();
		stall_tick(cpu);
	}
}

/* One strategy, n sites, runs batches: its idle, stall and cdf lines. */
static void one_figure(const struct patch_strategy *s, unsigned n)
{
	static uint64_t v[RUNS_MAX];
	static struct poke_stats st;
	static struct hist all;
	char tags[96], p[128];
	unsigned rounds = 0, done = 0;
	int err = 0;

	stall_start();
	uint64_t ipis0 = __atomic_load_n(&this_cpu()->ipis_sent, __ATOMIC_RELAXED);
	for (; done < runs && !err; done++) {
		compare_batch.defer_idle = false;
		compare_batch.quiet = true;
		stall_flight(true);
		v[done] = batch_sites_flip(&compare_batch, s, n, &err);
		stall_flight(false);
		crew_flip_took(tsc_to_us(v[done]), NULL);  /* slow rounds: the crew naps between bursts */
		poke_get_stats(&st);
		rounds = st.rounds;
	}
	uint64_t ipis = __atomic_load_n(&this_cpu()->ipis_sent, __ATOMIC_RELAXED) - ipis0;
	stall_settle(SETTLE_US);
	if (err) {
		printk("# compare: idle strategy=%s smp=%u sites=%u runs=%u status=failed error=%s why=%s", s->name,
		       nr_cpus_online, n, done, patch_errname(err), compare_batch.why);
		return;
	}
	snprintf(tags, sizeof(tags), "workload=idle strategy=%s smp=%u sites=%u", s->name, nr_cpus_online, n);
	compare_print_stall(tags, &all);
	compare_percentiles(p, sizeof(p), "stall_", &all);
	sort_u64(v, runs);
	printk("# compare: idle strategy=%s smp=%u sites=%u runs=%u status=ok median_us=%lu max_us=%lu rounds=%u "
	       "ipis=%lu %s", s->name, nr_cpus_online, n, runs, tsc_to_us(v[runs / 2]), tsc_to_us(v[runs - 1]), rounds,
	       ipis, p);
}

/* Deferred idle: the same 16-site batch with int3 on an otherwise idle
 * machine, every other CPU halted, with and without patch.defer_idle. */
static void defer_figures(void)
{
	static uint64_t v[RUNS_MAX];
	const struct patch_strategy *int3 = patch_strategy_find("int3");
	if (!int3)
		return;
	for (int defer = 0; defer <= 1; defer++) {
		uint64_t before = sync_deferred_total(), rounds0 = sync_rounds_total();
		uint64_t ipis0 = __atomic_load_n(&this_cpu()->ipis_sent, __ATOMIC_RELAXED);
		int err = 0;
		udelay(20000);          /* the crew's members settle into the idle halt */
		for (unsigned r = 0; r < runs && !err; r++) {
			compare_batch.defer_idle = defer;
			v[r] = batch_sites_flip(&compare_batch, int3, 16, &err);
			compare_batch.defer_idle = false;
		}
		if (err) {
			printk("# compare: defer strategy=int3 smp=%u sites=16 defer_idle=%d status=failed error=%s why=%s",
			       nr_cpus_online, defer, patch_errname(err), compare_batch.why);
			continue;
		}
		sort_u64(v, runs);
		printk("# compare: defer strategy=int3 smp=%u sites=16 defer_idle=%d runs=%u status=ok median_us=%lu "
		       "max_us=%lu rounds=%lu ipis=%lu deferred=%lu", nr_cpus_online, defer, runs,
		       tsc_to_us(v[runs / 2]), tsc_to_us(v[runs - 1]), (sync_rounds_total() - rounds0) / runs,
		       __atomic_load_n(&this_cpu()->ipis_sent, __ATOMIC_RELAXED) - ipis0, sync_deferred_total() - before);
	}
}

static void compare_idle(void)
{
	static const unsigned sizes[] = { 1, 16, BATCH_SITES };
	unsigned crew = crew_start(bystander, NULL);
	printk("# compare: info cpus=%u bystanders=%u tsc_khz=%lu runs=%u", nr_cpus_online, crew, tsc_khz, runs);
	for (const struct patch_strategy *const *p = patch_strategies; *p; p++)
		for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++)
			one_figure(*p, sizes[z]);
	crew_stop(-1);
	defer_figures();

	/* Every site back to a, whatever the count left it at. */
	for (unsigned i = 0; i < BATCH_SITES; i++) {
		uintptr_t at = (uintptr_t)batch_fns[i];
		uint8_t a[CALL_INSN_SIZE], b[CALL_INSN_SIZE];
		insn_call(at, (uintptr_t)batch_ret_a, a);
		insn_call(at, (uintptr_t)batch_ret_b, b);
		if (memcmp((const void *)at, a, CALL_INSN_SIZE))
			smp_text_poke_batch_add(&compare_batch, (void *)at, b, a, CALL_INSN_SIZE);
	}
	compare_batch.strategy = NULL;
	compare_batch.quiet = false;
	report(smp_text_poke_batch_finish(&compare_batch) == 0, "every batch site back to a");
}
KTEST("compare.idle", compare_idle, .flags = KTEST_HIDDEN, .timeout_ms = 1800000);
