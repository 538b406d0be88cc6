/*
 * tests/kernel/test_stall.c — lab/stall.c, the bystander stall behind make
 * compare's figures: one sample per bystander per batch, its longest gap
 * that overlapped the batch; a gap outside every batch is not a stall;
 * a gap that swallows a whole batch is. The crew's members tick; one of
 * them (the target) is held without ticking for HOLD_US when told to,
 * as a bystander stalled by a patch would be.
 *
 *   patcher                              target (the first other CPU)
 *   -------                              ----------------------------
 *   A: batch in; hold the target ------>  holds HOLD_US, ticks
 *      held done; batch out               (sample A >= HOLD_US)
 *   B: batch in; 100 us; batch out        ticks (sample B: short)
 *   D: hold the target; once it holds:    holding ...
 *      batch in; 100 us; batch out        ... ticks (sample D >= HOLD_US)
 *   C: hold the target (no batch) ----->  holds, ticks (no sample)
 *   after each step: stall_settle()       every bystander ticks once more
 *   stop the crew; stall_close()          (adds any sample still open)
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "lab/crew.h"
#include "lab/stall.h"

#define HOLD_US 5000
#define WAIT_US 2000000

static struct {
	unsigned target;
	uint32_t hold_us;               /* set by the patcher, cleared by the target when done */
	uint32_t holding;               /* the target is holding */
} t;

/* Crew job: tick; the target first holds, when told to. */
static void ticker(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	uint32_t h = __atomic_load_n(&t.hold_us, __ATOMIC_ACQUIRE);
	if (cpu == t.target && h) {
		__atomic_store_n(&t.holding, 1, __ATOMIC_RELEASE);
		udelay(h);
		__atomic_store_n(&t.hold_us, 0, __ATOMIC_RELEASE);
	}
	stall_tick(cpu);
}

/* Wait until *p == want (WAIT_US at most); false, reported, if not. */
static bool wait_for(uint32_t *p, uint32_t want, const char *what)
{
	uint64_t deadline = tsc_deadline_us(WAIT_US);
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != want)
		if (tsc_expired(deadline))
			return report(false, "CPU %u did not %s within %u ms", t.target, what, WAIT_US / 1000);
		else
			cpu_relax();
	return true;
}

static bool hold_target(void)
{
	__atomic_store_n(&t.holding, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&t.hold_us, HOLD_US, __ATOMIC_RELEASE);
	return wait_for(&t.holding, 1, "start holding");
}

static void test_stall_per_batch(void)
{
	unsigned me = cpu_id();
	t.target = cpumask_next(&cpu_online_mask, me == 0 ? 1 : 0);
	t.hold_us = 0;
	stall_start();
	unsigned crew = crew_start(ticker, NULL);
	bool ok = report(crew == nr_cpus_online - 1, "%u bystanders tick", crew);
	/* Every bystander ticks in this measurement before batch A: one
	 * whose vCPU the host ran only after A would have no sample of it. */
	unsigned late = stall_settle(WAIT_US);

	/* A: the target held inside a batch. Between the steps every
	 * bystander ticks (stall_settle), so no gap of theirs spans two. */
	stall_flight(true);
	ok = ok && hold_target() && wait_for(&t.hold_us, 0, "finish holding");
	stall_flight(false);
	late += stall_settle(WAIT_US);
	/* B: a short batch. */
	stall_flight(true);
	udelay(100);
	stall_flight(false);
	late += stall_settle(WAIT_US);
	/* D: a whole batch inside one of the target's gaps. */
	ok = ok && hold_target();
	stall_flight(true);
	udelay(100);
	stall_flight(false);
	ok = ok && wait_for(&t.hold_us, 0, "finish holding");
	late += stall_settle(WAIT_US);
	/* C: the target held outside any batch, the last gap it has. */
	ok = ok && hold_target() && wait_for(&t.hold_us, 0, "finish holding");
	late += stall_settle(WAIT_US);
	crew_stop(-1);
	stall_close();                  /* a sample C opened would be added here */
	if (!ok)
		return;
	report(late == 0, "every bystander ticked after each step (%u late)", late);
	const struct hist *h = stall_of(t.target);
	uint64_t hold = HOLD_US * tsc_khz / 1000;
	report(h->n == 3, "CPU %u (held): one sample per batch, 3 (the hold outside a batch is none): %lu", t.target,
	       h->n);
	report(hist_percentile(h, 500) >= hold && h->max >= hold,
	       "its samples of batches A (held inside) and D (inside its gap) are both >= %u us: median %lu us, max "
	       "%lu us", HOLD_US, tsc_to_us(hist_percentile(h, 500)), tsc_to_us(h->max));
	unsigned others = 0, three = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me && c != t.target) {
			others++;
			three += stall_of(c)->n == 3;
		}
	report(three == others, "every other bystander: one sample per batch, 3 (%u of %u)", three, others);
	report(stall_of(me)->n == 0, "the patcher, which never ticked: no sample (%lu)", stall_of(me)->n);
}
KTEST("lab.stall_one_sample_per_batch", test_stall_per_batch, .min_cpus = 2);
