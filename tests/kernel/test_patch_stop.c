/*
 * tests/kernel/test_patch_stop.c — the stop-machine strategies: what they
 * patch that int3 cannot, and the hazard plain stop-machine leaves open,
 * shown by detection (the lab's NMI-path value site counts executions
 * that yield neither of its two values).
 *
 * Lab knobs used here, and only here: patch.write_delay_us (200 us between
 * byte stores, so a write stays half done long enough to be seen) and
 * patch.stop_nmi_us (each stopped CPU sends itself an NMI every 3 us, as its
 * own perf or watchdog NMI source would).
 */
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "clients/sites/sites.h"
#include "lab/context_sites.h"
#include "patch/patch.h"
#include "patch/text_poke.h"
#include "strategies/stop_machine/stop_machine.h"

#define STOP_FLIPS      20
#define STOP_FLIPS_MAX  400
#define WRITE_DELAY_US  200
#define STOP_NMI_US     3

static uint64_t torn_total(uint32_t *last)
{
	uint64_t n = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		n += __atomic_load_n(&lab_cpu[c].value_hits[VALUE_TORN], __ATOMIC_RELAXED);
		if (lab_cpu[c].value_hits[VALUE_TORN])
			*last = lab_cpu[c].value_torn;
	}
	return n;
}

/* Flip the NMI path's value site with strategy st: at_least times, and
 * on up to STOP_FLIPS_MAX while until_torn and nothing was seen
 * torn yet (a stopped vCPU the host does not run during a write cannot
 * show it); the torn executions, the NMIs the stopped CPUs sent
 * meanwhile, and the flips made. */
static int flip_value_site(const struct patch_strategy *st, unsigned at_least, bool until_torn, uint64_t *torn,
			   uint64_t *pings, uint32_t *last, unsigned *flips)
{
	const struct patch_site_def *s = site_by_name("nmi_value");
	uint64_t t0 = torn_total(last), p0 = __atomic_load_n(&stop_state.pings, __ATOMIC_RELAXED);
	int err = 0;
	unsigned i = 0;
	poke_write_delay_us = WRITE_DELAY_US;
	stop_nmi_us = STOP_NMI_US;
	for (; !err && (i < at_least || (until_torn && i < STOP_FLIPS_MAX && torn_total(last) == t0)); i++)
		err = site_patch_by(st, s, &s->var[(i + 1) % 2]);
	if (!err && i % 2)      /* back to a */
		err = site_patch_by(st, s, &s->var[(i++ + 1) % 2]);
	poke_write_delay_us = 0;
	stop_nmi_us = 0;
	*torn = torn_total(last) - t0;
	*pings = __atomic_load_n(&stop_state.pings, __ATOMIC_RELAXED) - p0;
	*flips = i;
	return err;
}

/* Does plain stop-machine let the NMIs of the CPUs it stopped run a site it
 * is writing, half written, and does the lab see it? And does
 * stop-machine-nmi, whose stopped CPUs spin in NMI context, close that
 * hole under the same NMI source? */
static void test_stop_machine_nmi_hazard(void)
{
	const struct patch_site_def *s = site_by_name("nmi_value");
	uint64_t torn, pings;
	uint32_t last = 0;

	report(s && site_patch_by(patch_strategy_find("int3"), s, &s->var[1]) == -PATCH_ENOT_EMULATABLE,
	       "int3 cannot patch the value site (mov is not emulatable): stop-machine can");
	unsigned flips, nmi_flips;
	int err = flip_value_site(&stop_machine_strategy, STOP_FLIPS, true, &torn, &pings, &last, &flips);
	report(err == 0 && site_current_variant(s) == &s->var[0], "stop-machine flipped the value site %u times (%s)",
	       flips, patch_errname(err));
	report(pings > 0, "the stopped CPUs' NMI source fired %lu times during the stops", pings);
	report(torn > 0, "NMIs on the stopped CPUs ran the site half written %lu times, detected (last value %#x: "
	       "neither %#x nor %#x): stop-machine is unsafe against NMIs", torn, last, VALUE_A, VALUE_B);

	err = flip_value_site(&stop_machine_nmi_strategy, flips, false, &torn, &pings, &last, &nmi_flips);
	report(err == 0 && site_current_variant(s) == &s->var[0], "stop-machine-nmi flipped it as often: %u times (%s)",
	       nmi_flips, patch_errname(err));
	report(pings > 0, "the same NMI source fired %lu times during those stops", pings);
	report(torn == 0, "none ran it half written (%lu): the stopped CPUs' NMIs waited until the writes were done",
	       torn);
}
KTEST("patch.stop_machine_nmi_hazard", test_stop_machine_nmi_hazard, .min_cpus = 2);
