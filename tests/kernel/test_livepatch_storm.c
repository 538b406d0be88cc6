/*
 * tests/kernel/test_livepatch_storm.c — the NMI-path payload applied and
 * reverted LP_STORM_CYCLES times while every other CPU calls the replaced
 * function from thread context, from an IRQ handler and from its NMI
 * handler, and (tests/boots.cfg [livepatch-storm], judge = inject) the
 * host injects NMIs and machine checks over QMP, whose #MC handler calls
 * it too (hidden from ktest=all: its stanza runs it). Every call must return the old or the new version's value;
 * after every apply and every revert lp_check_consistency() passes.
 *
 *   patcher (CPU 0)                        bystander CPU n
 *   lp_apply(nmi_path): one batch          thread: lp_target_nmi()
 *     int3 on its first byte; round 1      IPI to itself: the IRQ handler
 *     tail; round 2                          calls it (#BP: emulated)
 *     first byte; round 3                  NMI to itself: the NMI hook
 *   lp_check_consistency()                   calls it (#BP in NMI context)
 *   lp_revert(nmi_path): one batch         host NMI / #MC (QMP) anywhere:
 *   lp_check_consistency()                   the #MC hook calls it
 *   ... LP_STORM_CYCLES times, and on until the windows were hit and
 *   the host said it was done
 *
 * The proofs that the races were met, not assumed: #BP emulations in
 * thread, IRQ and NMI context (patch_bp_handled_all), the strategy's
 * hazard counters for IRQs and NMIs (and #MCs when the host injects), both versions seen in each of
 * those contexts, and the host's NMIs and #MCs counted while patching.
 */
#include "arch/x86/apic.h"
#include "arch/x86/irq.h"
#include "arch/x86/mce.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "lab/crew.h"
#include "lab/lp_targets.h"
#include "patch/strategy.h"
#include "tests/kernel/host_control.h"
#include "tests/kernel/lp_fake.h"

#define LP_STORM_CYCLES 1000            /* apply + revert */
#define LP_STORM_MAX_MS 60000           /* the host's injections may take longer */

enum { LPC_THREAD, LPC_IRQ, LPC_NMI, LPC_MCE, LPC_COUNT };
static const char *const ctx_names[LPC_COUNT] = { "thread", "IRQ", "NMI", "#MC" };
enum { LPV_OLD, LPV_NEW, LPV_OTHER, LPV_COUNT };

static uint64_t seen[MAX_CPUS][LPC_COUNT][LPV_COUNT];

/* Any context (NMI and #MC included): one call of the replaced function
 * (patchable on purpose: it is what is being patched), its result
 * counted with an atomic add; no lock, nothing else called. */
static inline void call_and_count(unsigned ctx)
{
	uint32_t v = lp_target_nmi();
	unsigned k = v == LP_NMI_V1 ? LPV_OLD : v == LP_NMI_V2 ? LPV_NEW : LPV_OTHER;
	__atomic_fetch_add(&seen[this_cpu()->cpu][ctx][k], 1, __ATOMIC_RELAXED);
}

/* IRQ context (VEC_TEST): calls the replaced function. */
static void storm_irq(struct regs *r)
{
	(void)r;
	call_and_count(LPC_IRQ);
}

/* NMI context (NMI_TEST hook): calls the replaced function, no lock. */
static void storm_nmi(struct regs *r)
{
	(void)r;
	call_and_count(LPC_NMI);
}

/* #MC context (the host's machine checks): calls the replaced function,
 * no lock. */
static void storm_mce(struct regs *r)
{
	(void)r;
	call_and_count(LPC_MCE);
}

/* A bystander's round: a thread-context call; every 4th round an IRQ
 * and every 8th an NMI to itself, whose handlers call it too. */
static void bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)unused;
	call_and_count(LPC_THREAD);
	if (round % 4 == 1)
		apic_send_ipi_self(VEC_TEST);
	if (round % 8 == 3)
		nmi_send(cpu, NMI_TEST);
}

static void sum(uint64_t out[LPC_COUNT][LPV_COUNT])
{
	memset(out, 0, sizeof(uint64_t) * LPC_COUNT * LPV_COUNT);
	for (unsigned c = 0; c < MAX_CPUS; c++)
		for (unsigned x = 0; x < LPC_COUNT; x++)
			for (unsigned v = 0; v < LPV_COUNT; v++)
				out[x][v] += __atomic_load_n(&seen[c][x][v], __ATOMIC_RELAXED);
}

/* Were both versions seen in thread, IRQ and NMI context, and the window
 * met in IRQ and NMI context? Then the storm may stop (once the cycles
 * are done and the host, if any, is). */
static bool windows_met(uint64_t bp_irq0, uint64_t bp_nmi0)
{
	uint64_t t[LPC_COUNT][LPV_COUNT];
	sum(t);
	for (unsigned x = LPC_THREAD; x <= LPC_NMI; x++)
		if (!t[x][LPV_OLD] || !t[x][LPV_NEW])
			return false;
	return patch_bp_handled_all(BP_IRQ) > bp_irq0 && patch_bp_handled_all(BP_NMI) > bp_nmi0;
}

static void test_storm(void)
{
	if (nr_cpus_online < 2) {
		report_skip("needs other CPUs to call the function while it is patched");
		return;
	}
	/* The real payload (tests/livepatch/nmi_path.c: its body in the
	 * payload area, outside .text) when loaded; else the hand-made one */
	lp_fake_init();
	struct lp_payload *p = lp_find("nmi_path");
	if (!p)
		p = &lp_fake_nmi_path;
	const struct patch_strategy *s = patch_default_strategy();
	bool host = host_ctl_start();
	char why[256] = "";
	uint64_t hz0[PATCH_HAZARDS_MAX], unclaimed0 = 0, mce0 = 0;
	for (unsigned k = 0; k < s->nr_hazards; k++)
		hz0[k] = patch_hazard_all(k);
	for_each_cpu_in(c, &cpu_online_mask) {
		unclaimed0 += percpu_of(c)->nmi_unclaimed;
		mce0 += percpu_of(c)->mce_class[MCE_UCNA];
	}
	uint64_t bp0[BP_CTX_COUNT];
	for (unsigned x = 0; x < BP_CTX_COUNT; x++)
		bp0[x] = patch_bp_handled_all((enum bp_ctx)x);
	memset(seen, 0, sizeof(seen));

	if (host)       /* tests/inject/host_inject.py waits for this line */
		printk("storm: ready for host injection (NMIs and machine checks during livepatch apply/revert; "
		       "mce_taken of CPU 0 at physical %#lx, every %lu bytes)",
		       (uintptr_t)&percpu_of(0)->mce_taken - KERNEL_VMA, (unsigned long)sizeof(struct percpu));
	irq_register(VEC_TEST, storm_irq);
	nmi_set_test_hook(storm_nmi);
	mce_set_test_hook(storm_mce);
	unsigned helpers = crew_start(bystander, NULL);

	uint64_t t0 = rdtsc(), cycles = 0, bad_checks = 0;
	int err = 0;
	while (!err) {
		bool done = cycles >= LP_STORM_CYCLES && windows_met(bp0[BP_IRQ], bp0[BP_NMI]) &&
			    (!host || host_ctl_done());
		if (done || tsc_to_ms(rdtsc() - t0) > LP_STORM_MAX_MS)
			break;
		uint64_t f0 = rdtsc(), avg;
		err = lp_apply(p, NULL, NULL, why, sizeof(why));
		if (!err && lp_check_consistency(why, sizeof(why)))
			bad_checks++;
		if (!err)
			err = lp_revert(p, NULL, NULL, why, sizeof(why));
		if (!err && lp_check_consistency(why, sizeof(why)))
			bad_checks++;
		if (crew_flip_took(tsc_to_us(rdtsc() - f0) / 2, &avg))
			report_info("apply/revert averaging %lu us: vCPUs outnumber host cores; bystanders now call in "
				    "bursts of %u with %u us naps", avg, crew_burst(), crew_nap_us());
		cycles++;
		if (bad_checks == 1 && !err)
			report_info("first inconsistency after %lu cycles: %s", cycles, why);
		if (bad_checks)
			break;
	}
	uint64_t ms = tsc_to_ms(rdtsc() - t0);
	crew_stop(-1);
	mce_set_test_hook(NULL);
	nmi_set_test_hook(NULL);
	irq_register(VEC_TEST, NULL);
	if (p->state == LP_APPLIED)
		lp_revert(p, NULL, NULL, why, sizeof(why));

	uint64_t t[LPC_COUNT][LPV_COUNT], unclaimed = 0, mce = 0;
	sum(t);
	for_each_cpu_in(c, &cpu_online_mask) {
		unclaimed += percpu_of(c)->nmi_unclaimed;
		mce += percpu_of(c)->mce_class[MCE_UCNA];
	}
	report(helpers > 0, "%u bystanders ran", helpers);
	report(!err && cycles >= LP_STORM_CYCLES, "%lu apply/revert cycles of %s (%s) with %s in %lu ms (%s%s%s)",
	       cycles, p->name, p->module, s->name, ms, lp_fake_errname(err), err ? ": " : "", err ? why : "");
	report(bad_checks == 0, "lp_check_consistency() passed after each of %lu applies and reverts%s%s", 2 * cycles,
	       bad_checks ? ": " : "", bad_checks ? why : "");
	for (unsigned x = 0; x < LPC_COUNT; x++) {
		report(t[x][LPV_OTHER] == 0, "%s context: %lu calls returned the old version, %lu the new, %lu "
		       "anything else", ctx_names[x], t[x][LPV_OLD], t[x][LPV_NEW], t[x][LPV_OTHER]);
		if (x != LPC_MCE)
			report(t[x][LPV_OLD] > 0 && t[x][LPV_NEW] > 0, "both versions ran in %s context", ctx_names[x]);
	}
	uint64_t bp[BP_CTX_COUNT];
	for (unsigned x = 0; x < BP_CTX_COUNT; x++)
		bp[x] = patch_bp_handled_all((enum bp_ctx)x) - bp0[x];
	if (s->trap_phases) {
		report(bp[BP_THREAD] > 0 && bp[BP_IRQ] > 0 && bp[BP_NMI] > 0, "the function was met in flight and "
		       "handled in #BP: thread %lu, IRQ %lu, NMI %lu, #MC %lu", bp[BP_THREAD], bp[BP_IRQ], bp[BP_NMI],
		       bp[BP_MCE]);
	}
	for (unsigned k = 0; k < s->nr_hazards; k++) {
		uint64_t n = patch_hazard_all(k) - hz0[k];
		if (s->hazards[k].events & (PATCH_EV_IRQ | PATCH_EV_NMI | (host ? PATCH_EV_MCE : 0)))
			report(n > 0, "%s: hazard '%s' hit %lu times", s->name, s->hazards[k].name, n);
		else
			report_info("%s: hazard '%s' hit %lu times", s->name, s->hazards[k].name, n);
	}
	if (host) {
		report(host_ctl_done(), "the host said it was done: '%s'", host_ctl_line());
		report(unclaimed - unclaimed0 > 0 && mce - mce0 > 0, "while patching: %lu external NMIs and %lu machine "
		       "checks from the host (it sent %lu NMIs)", unclaimed - unclaimed0, mce - mce0,
		       host_ctl_field("nmi"));
	} else {
		report_info("no host injection (run-qemu.py --control): tests/boots.cfg [livepatch-storm] has it");
	}
}
KTEST("livepatch.storm", test_storm, .min_cpus = 2, .flags = KTEST_HIDDEN, .timeout_ms = 240000);
