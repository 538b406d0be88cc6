/*
 * tests/kernel/compare_strategies.c — compare.strategies (hidden; make
 * compare boots it): every strategy patches the same 1, 16 and 256 call
 * sites (lab/fixture_sites: batch_fns) COMPARE_RUNS times each, while the
 * crew (lab/crew.h) runs one of those sites on every other CPU and
 * measures the longest gap in its own loop (bystander stall; a gap across
 * the crew's naps between bursts is not counted). Figures, not
 * a verdict: one "# compare: key=value ..." line per strategy and size,
 * which scripts/compare.py turns into a table, CSV and charts.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/sort.h"
#include "kernel/string.h"
#include "lab/crew.h"
#include "lab/fixture_sites.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"

#define COMPARE_RUNS 16

POKE_BATCH_DEFINE(compare_batch, BATCH_SITES);

/* Per bystander, written by that CPU only. */
static struct {
	uint64_t max_gap;               /* TSC cycles, while measuring */
} __attribute__((aligned(64))) gaps[MAX_CPUS];
static volatile uint32_t measuring;

/* Crew job: one burst of calls through batch site 0, timing each gap. */
static void bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	uint64_t last = rdtsc();
	for (unsigned k = 0; k < crew_burst(); k++) {
		batch_fns[0]();
		uint64_t now = rdtsc();
		if (__atomic_load_n(&measuring, __ATOMIC_RELAXED) && now - last > gaps[cpu].max_gap)
			gaps[cpu].max_gap = now - last;
		last = now;
	}
}


static void compare_strategies(void)
{
	static const unsigned sizes[] = { 1, 16, BATCH_SITES };
	uint64_t v[COMPARE_RUNS], stall[MAX_CPUS];
	unsigned crew = crew_start(bystander, NULL);
	report_info("compare: %u CPUs, %u bystanders, TSC %lu kHz, %u runs per figure", nr_cpus_online, crew, tsc_khz,
		    COMPARE_RUNS);
	for (const struct patch_strategy *const *p = patch_strategies; *p; p++) {
		for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			unsigned n = sizes[z], rounds = 0;
			bool ok = true;
			for_each_cpu_in(c, &cpu_online_mask)
				gaps[c].max_gap = 0;
			__atomic_store_n(&measuring, 1, __ATOMIC_SEQ_CST);
			for (unsigned r = 0; r < COMPARE_RUNS && ok; r++) {
				compare_batch.defer_idle = false;
				v[r] = batch_sites_flip(&compare_batch, *p, n);
				ok = v[r] != 0;
				crew_flip_took(tsc_to_us(v[r]), NULL);  /* slow rounds: the crew naps between bursts */
				struct poke_stats st;
				poke_get_stats(&st);
				rounds = st.rounds;
			}
			__atomic_store_n(&measuring, 0, __ATOMIC_SEQ_CST);
			if (!report(ok, "%s: %u-site batches applied", (*p)->name, n))
				continue;
			sort_u64(v, COMPARE_RUNS);
			unsigned m = 0;
			for_each_cpu_in(c, &cpu_online_mask)
				if (c != cpu_id())
					stall[m++] = gaps[c].max_gap;
			sort_u64(stall, m);
			report_info("compare: strategy=%s smp=%u sites=%u runs=%u median_us=%lu max_us=%lu rounds=%u "
				    "stall_p50_us=%lu stall_max_us=%lu", (*p)->name, nr_cpus_online, n, COMPARE_RUNS,
				    tsc_to_us(v[COMPARE_RUNS / 2]), tsc_to_us(v[COMPARE_RUNS - 1]), rounds,
				    m ? tsc_to_us(stall[m / 2]) : 0, m ? tsc_to_us(stall[m - 1]) : 0);
		}
	}
	crew_stop(-1);

	/* Deferred idle: the same 16-site batch on an otherwise idle machine,
	 * every other CPU halted, with and without patch.defer_idle. */
	const struct patch_strategy *int3 = patch_strategy_find("int3");
	for (int defer = 0; defer <= 1; defer++) {
		uint64_t before = sync_deferred_total();
		udelay(20000);          /* the crew's members settle into the idle halt */
		for (unsigned r = 0; r < COMPARE_RUNS; r++) {
			compare_batch.defer_idle = defer;
			v[r] = batch_sites_flip(&compare_batch, int3, 16);
			compare_batch.defer_idle = false;
		}
		sort_u64(v, COMPARE_RUNS);
		report_info("compare: strategy=%s smp=%u sites=16 runs=%u median_us=%lu max_us=%lu rounds=3 "
			    "stall_p50_us=0 stall_max_us=0 deferred=%lu", defer ? "int3+defer_idle(idle)" : "int3(idle)",
			    nr_cpus_online, COMPARE_RUNS, tsc_to_us(v[COMPARE_RUNS / 2]), tsc_to_us(v[COMPARE_RUNS - 1]),
			    sync_deferred_total() - before);
	}

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
	report(smp_text_poke_batch_finish(&compare_batch) == 0, "every batch site back to a");
}
KTEST("compare.strategies", compare_strategies, .flags = KTEST_HIDDEN, .timeout_ms = 600000);
