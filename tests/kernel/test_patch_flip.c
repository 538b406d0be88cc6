/*
 * tests/kernel/test_patch_flip.c — flip a live site back and forth while
 * every other CPU executes it in a tight loop.
 *
 * Each flip is a full int3 protocol run (smp_text_poke_single). A bystander
 * that ever returns something other than FLIP_A or FLIP_B executed a torn
 * or half-patched instruction. The bystanders must also have trapped on the
 * int3 and been emulated (thread-context #BP emulations on their CPUs > 0):
 * otherwise the race window was never hit and the test proves nothing.
 *
 * The bystanders are the lab's crew (lab/crew.h): they start calling the
 * site back to back, and nap between bursts when the first flips show that
 * vCPUs outnumber host cores (patch.nap_us, patch.burst).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "clients/sites/sites.h"
#include "lab/crew.h"
#include "lab/fixture_sites.h"
#include "patch/patch.h"
#include "patch/strategy.h"

static unsigned flips;                  /* 0: the default, see flips_now() */
#define FLIPS_EXTRA_MAX 10              /* at most this many times the count, to hit the window */
KPARAM_UINT_MULTIPLE("patch.flips", flips, 2, 100000000, 2,
		     "N: flips per site in the patch.flip_* tests, even: the site ends as it began (default 4000; "
		     "fewer above 4 CPUs)");

/* 4000 flips up to 4 CPUs (about 100000 #BP emulations a site at -smp 2;
 * 10000 cost make test 10 s more, which the clients' tests need). Above
 * that every round waits for more vCPUs
 * (on 2 host cores: 1.7 to 4.8 ms a flip at -smp 8, which make test runs,
 * and 17 ms at -smp 64), so the default shrinks faster than the CPU count
 * grows (1000 at -smp 8: still about 300000 emulations a site there, where
 * 2000 cost make test 25 s more), to no fewer than 1000; patch.flips=N sets
 * any count (make stress: 20000). */
static unsigned flips_now(void)
{
	if (flips)
		return flips;
	if (nr_cpus_online <= 4)
		return 4000;
	unsigned n = (8000u / nr_cpus_online) & ~1u;
	return n < 1000 ? 1000 : n;
}

static flip_fn_t flip_fn;

/* Per bystander CPU, written by that CPU only: a line each. */
static struct {
	uint64_t a, b, bad;
	uint32_t bad_value;
} __attribute__((aligned(64))) tally[MAX_CPUS];

/* The crew's job: one call of the site, its result counted. */
static void bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	uint32_t v = flip_fn();
	if (v == FLIP_A) {
		tally[cpu].a++;
	} else if (v == FLIP_B) {
		tally[cpu].b++;
	} else {
		tally[cpu].bad++;
		tally[cpu].bad_value = v;
	}
}

static void flip_test(const char *site_name, flip_fn_t fn)
{
	static uint64_t bp_before[MAX_CPUS], vanished_before[MAX_CPUS];
	const struct patch_site_def *s = site_by_name(site_name);
	uint8_t va[POKE_MAX_LEN], vb[POKE_MAX_LEN];
	unsigned me = cpu_id();

	if (!report(s && s->nvar == 2, "site %s is registered with two variants", site_name))
		return;
	site_encode(s, &s->var[0], va);
	site_encode(s, &s->var[1], vb);
	if (!report(!memcmp(s->addr, va, s->len), "site %s holds variant a before the test", site_name))
		return;

	memset(tally, 0, sizeof(tally));
	flip_fn = fn;
	for_each_cpu_in(c, &cpu_online_mask) {
		bp_before[c] = percpu_of(c)->patch.bp_handled[BP_THREAD];
		vanished_before[c] = percpu_of(c)->patch.bp_vanished;
	}
	unsigned helpers = crew_start(bystander, NULL);
	if (crew_nap_us())
		report_info("bystanders: bursts of %u calls, %u us naps between (patch.nap_us)", crew_burst(),
			    crew_nap_us());

	uint64_t t0 = rdtsc(), sync_cycles = 0, write_cycles = 0;
	unsigned done = 0, flips = flips_now();
	int err = 0;
	/* Past the count, in pairs, while no bystander has met the site in
	 * flight yet (a short window, a bystander the host did not run), up
	 * to FLIPS_EXTRA_MAX times the count: the hazard is shown, not
	 * hoped for. */
	uint64_t hits0 = patch_bp_handled_all(BP_THREAD);
	bool bystanders = nr_cpus_online > 1 && patch_default_strategy()->trap_phases;   /* asserted below */
	for (; !err && (done < flips || (done % 2) ||
			(bystanders && done < flips * FLIPS_EXTRA_MAX && patch_bp_handled_all(BP_THREAD) == hits0));
	     done++) {
		uint64_t f0 = rdtsc(), avg;
		err = smp_text_poke_single((void *)s->addr, done % 2 ? vb : va, done % 2 ? va : vb, s->len);
		if (crew_flip_took(tsc_to_us(rdtsc() - f0), &avg))
			report_info("flips averaging %lu us: vCPUs outnumber host cores; bystanders now call in "
				    "bursts of %u with %u us naps", avg, crew_burst(), crew_nap_us());
		struct poke_stats st;
		poke_get_stats(&st);
		for (int k = 0; k < 3; k++)
			sync_cycles += st.cycles_sync[k];
		for (int k = 0; k < POKE_STEPS_MAX; k++)
			write_cycles += st.cycles_write[k];
	}
	uint64_t us = tsc_to_us(rdtsc() - t0);
	if (done)
		report_info("per flip: %lu us in rendezvous rounds, %lu us writing", tsc_to_us(sync_cycles) / done,
			    tsc_to_us(write_cycles) / done);

	crew_stop(-1);

	uint64_t na = 0, nb = 0, bad = 0, emulated = 0, vanished = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		na += tally[c].a;
		nb += tally[c].b;
		bad += tally[c].bad;
		if (tally[c].bad)
			report_info("CPU %u got %lu bad result(s), e.g. %#x", c, tally[c].bad, tally[c].bad_value);
		if (c != me)
			emulated += percpu_of(c)->patch.bp_handled[BP_THREAD] - bp_before[c];
		vanished += percpu_of(c)->patch.bp_vanished - vanished_before[c];
	}
	report_info("%u flips in %lu ms (%lu us each); %u bystanders made %lu calls (%lu a, %lu b), "
		    "%lu took the #BP emulation, %lu re-ran a vanished int3", done, us / 1000, done ? us / done : 0,
		    helpers, na + nb + bad, na, nb, emulated, vanished);
	report(err == 0, "every flip applied (%s)", err ? patch_errname(err) : "no error");
	report(done >= flips && !err, "%u of %u flips done%s", done, flips, done > flips ? " (more, until the window was hit)" : "");
	struct poke_stats st;
	poke_get_stats(&st);
	report(st.strategy == patch_default_strategy() && st.rounds <= st.strategy->max_rounds,
	       "flips applied by the default strategy, %s (last: %u rounds)", patch_strategy_name(st.strategy),
	       st.rounds);
	report(!memcmp(s->addr, va, s->len), "site %s holds variant a again", site_name);
	report(bad == 0, "bystanders only ever saw results of variant a or b (%lu others)", bad);
	if (helpers) {
		report(na > 0 && nb > 0, "bystanders saw both variants (a %lu, b %lu)", na, nb);
		if (st.strategy->trap_phases)
			report(emulated > 0, "bystanders hit the int3 and were handled in #BP (%s) %lu times (the window "
			       "was hit)", st.strategy->nr_hazards ? st.strategy->hazards[0].name : "?", emulated);
		else
			report(emulated == 0, "%s writes no int3: no bystander was emulated (%lu)", st.strategy->name,
			       emulated);
	} else {
		report_info("one CPU: no bystanders, the protocol ran alone");
	}
}

#define FLIP_TEST(kind) \
	static void test_flip_##kind(void) { flip_test(#kind, flip_##kind##_fn); } \
	KTEST("patch.flip_" #kind, test_flip_##kind, .timeout_ms = 600000)

FLIP_TEST(call);
FLIP_TEST(jmp8);
FLIP_TEST(jmp32);
FLIP_TEST(jcc8);
FLIP_TEST(jcc32);
FLIP_TEST(nop2);
FLIP_TEST(nop5);
FLIP_TEST(ret);
