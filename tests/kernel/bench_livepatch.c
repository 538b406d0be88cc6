/*
 * tests/kernel/bench_livepatch.c — figures of function livepatching (make
 * bench, "# bench: livepatch ..." lines; printed, not asserted): apply and
 * revert latency of the payloads bench_1, bench_10 and bench_100 (the first
 * 1, 10 and 100 functions of the mass corpus replaced: scripts/
 * gen-lp-bench.py), for every strategy that accepts them, and the longest
 * stall of a bystander during an apply, while every other CPU keeps calling
 * the functions being replaced (lab/stall.h). Xen's figure for reference:
 * about 100 us for a livepatch rendezvous on a 72-CPU machine, with NMIs
 * dropped meanwhile.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "clients/livepatch/livepatch.h"
#include "lab/crew.h"
#include "lab/stall.h"
#include "patch/patch.h"
#include "patch/strategy.h"
#include "mass/mass_corpus.h"

#define REPS      7
#define SETTLE_US 5000000

static const unsigned sizes[] = { 1, 10, 100 };
static volatile unsigned job_n;                 /* functions the bystanders call */
static uint64_t wrong;                          /* calls that returned neither version */

/* A bystander: call each replaced function and check it returned the old
 * (x * 3 + i) or the new (x * 5 + i) version's result. */
static void call_job(unsigned cpu, uint64_t round, void *arg)
{
	(void)arg;
	unsigned n = job_n;
	stall_tick(cpu);
	for (unsigned k = 0; k < crew_burst(); k++) {
		int i = (int)((round + k) % n), x = (int)(round & 0xff);
		int r = mass_fns[i](x);
		if (r != x * 3 + i && r != x * 5 + i)
			__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
		stall_tick(cpu);
	}
}

static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* Every replaced function runs version `five` (x * 5 + i) or the kernel's. */
static unsigned versions_wrong(unsigned n, bool five)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < n; i++)
		bad += mass_fns[i](7) != (five ? 35 : 21) + (int)i;
	return bad;
}

/* REPS apply/revert pairs of payload p by strategy s; with the crew
 * running (loaded) the bystanders' stall is measured too. The medians (and
 * maxima) go to *apply_us / *revert_us ([0] median, [1] max). 0, or the
 * refusal, printed. */
static int pairs(const struct patch_strategy *s, struct lp_payload *p, unsigned n, bool loaded, uint64_t *apply,
		 uint64_t *revert, uint32_t *rounds, unsigned *bad)
{
	static char why[256];
	uint64_t apply_us[REPS], revert_us[REPS];
	struct lp_result r = { 0 };
	unsigned reps = 0;
	int err = 0;

	for (; reps < REPS && !err; reps++) {
		if (loaded)
			stall_flight(true);
		err = lp_apply(p, s, &r, why, sizeof(why));
		if (loaded)
			stall_flight(false);
		if (err)
			break;
		apply_us[reps] = r.ns / 1000;
		*rounds = r.rounds;
		if (loaded)
			crew_flip_took(apply_us[reps], NULL);
		*bad += versions_wrong(n, true);
		err = lp_revert(p, s, &r, why, sizeof(why));
		if (err)
			break;
		revert_us[reps] = r.ns / 1000;
		if (loaded)
			crew_flip_took(revert_us[reps], NULL);
		*bad += versions_wrong(n, false);
	}
	if (err) {
		printk("# bench: livepatch %-16s %3u functions (smp %u%s): refused: %s (%s)", patch_strategy_name(s), n,
		       nr_cpus_online, loaded ? ", loaded" : "", lp_errname(err) ? lp_errname(err) : patch_errname(err),
		       why);
		if (p->state == LP_APPLIED)
			(void)lp_revert(p, NULL, &r, why, sizeof(why));
		return err;
	}
	sort_u64(apply_us, reps);
	sort_u64(revert_us, reps);
	apply[0] = apply_us[reps / 2], apply[1] = apply_us[reps - 1];
	revert[0] = revert_us[reps / 2], revert[1] = revert_us[reps - 1];
	return 0;
}

/* One strategy, one payload: idle (no other CPU running anything), then
 * loaded (every other CPU calling the functions being replaced). */
static void one_row(const struct patch_strategy *s, struct lp_payload *p, unsigned n)
{
	uint64_t ia[2], ir[2], la[2], lr[2];
	uint32_t rounds = 0;
	unsigned bad = 0;

	if (pairs(s, p, n, false, ia, ir, &rounds, &bad))
		return;
	job_n = n;
	wrong = 0;
	unsigned helpers = crew_start(call_job, NULL);
	stall_start();
	stall_settle(SETTLE_US);
	int err = pairs(s, p, n, true, la, lr, &rounds, &bad);
	unsigned unsettled = stall_settle(SETTLE_US);
	uint64_t worst = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != cpu_id() && stall_of(c)->max > worst)
			worst = stall_of(c)->max;
	crew_stop(-1);
	if (err)
		return;
	printk("# bench: livepatch %-16s %3u functions (smp %u, %u rounds): idle apply %lu us (max %lu), revert %lu us "
	       "(max %lu); loaded apply %lu us (max %lu), revert %lu us (max %lu), longest bystander stall %lu us "
	       "(%u bystanders); %u wrong versions, %lu wrong calls%s",
	       patch_strategy_name(s), n, nr_cpus_online, rounds, ia[0], ia[1], ir[0], ir[1], la[0], la[1], lr[0],
	       lr[1], tsc_to_us(worst), helpers, bad, wrong, unsettled ? " (some bystanders did not answer)" : "");
}

static void bench_livepatch(void)
{
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char name[LP_NAME_MAX];
		snprintf(name, sizeof(name), "bench_%u", sizes[k]);
		if (!lp_find(name)) {
			printk("# bench: livepatch: payload %s is not loaded (the ISO's modules?)", name);
			return;
		}
	}
	for (unsigned i = 0; patch_strategies[i]; i++)
		for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			char name[LP_NAME_MAX];
			snprintf(name, sizeof(name), "bench_%u", sizes[k]);
			one_row(patch_strategies[i], lp_find(name), sizes[k]);
		}
}
KTEST("bench.livepatch", bench_livepatch, .flags = KTEST_HIDDEN, .timeout_ms = 1200000);
