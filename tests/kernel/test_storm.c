/*
 * tests/kernel/test_storm.c — patching under NMI and IPI storms
 * (lab/storm.c), with the default strategy (patch.strategy=): tests/
 * boots.cfg runs them for every strategy. Each storm asserts that the
 * hazards it is about were actually hit: the strategy's own hazard
 * counters for the events the storm fires (patch/strategy.h), returns into
 * NMI handlers without IRET. And each holds the strategy to its claim
 * (safe_events): where it claims safety, nothing may tear; where it does
 * not, the storm must detect the tearing (torn value-site executions),
 * and the test passes because it did. The stanzas of the expected-unsafe
 * runs turn on lab knobs that widen the windows (patch.write_delay_us,
 * patch.stop_nmi_us, patch.stop_mce_us), and say so.
 */
#include "arch/x86/apic.h"
#include "arch/x86/mce.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "patch/strategy.h"
#include "lab/context_sites.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"
#include "lab/storm.h"
#include "tests/kernel/host_control.h"

static unsigned storm_ms = 1000, storm_idle_ms;
KPARAM_UINT("storm.ms", storm_ms, 100, 3600000, "MS: how long each storm test patches under fire (default 1000)");
KPARAM_UINT("storm.idle_ms", storm_idle_ms, 0, 3600000,
	    "MS: storm tests first fire this long without patching, for comparison (default 0)");

static struct storm_result res;

static bool sites_back_to_a(void)
{
	static const char *const names[] = { "call", "irq", "nmi", "mce" };
	for (unsigned i = 0; i < 4; i++) {
		const struct patch_site_def *s = site_by_name(names[i]);
		if (site_current_variant(s) != &s->var[0])
			return false;
	}
	return true;
}

/* The checks every storm makes: the strategy's hazards for the storm's
 * events were hit; no torn value where the strategy claims safety, and
 * torn values detected where it does not (unsafe: storm_fit()). */
static void hazard_checks(const struct storm_cfg *cfg)
{
	const struct patch_strategy *s = res.strategy;
	uint32_t ev = storm_events(cfg, s);
	for (unsigned k = 0; k < s->nr_hazards; k++)
		if (s->hazards[k].events & ev)
			report(res.total.hazard[k] > 0, "%s: hazard '%s' hit %lu times", s->name, s->hazards[k].name,
			       res.total.hazard[k]);
}

static void common_checks(const struct storm_cfg *cfg, int err, uint32_t unsafe, bool can_detect)
{
	const struct patch_strategy *s = res.strategy;
	uint32_t ev = storm_events(cfg, s);
	char evs[64];
	hazard_checks(cfg);
	if (!unsafe) {
		storm_event_names(ev, evs, sizeof(evs));
		report(err == 0, "storm completed without errors (%s claims safety against %s)", s->name, evs);
		report(res.torn == 0, "no torn value-site execution (%lu; value sites %s)", res.torn,
		       cfg->flip_nmi_value || cfg->flip_mce_value ? "flipped" : "not flipped");
	} else {
		storm_event_names(unsafe, evs, sizeof(evs));
		report(can_detect, "%s does not claim safety against %s: it can patch the value sites that show it",
		       s->name, evs);
		report(res.torn > 0, "expected unsafe against %s: %lu torn value-site executions detected (%lu a, %lu b)",
		       evs, res.torn, res.total.value[VALUE_GOT_A], res.total.value[VALUE_GOT_B]);
	}
	report(res.flips > 0 && res.flip_errors == 0, "%lu flips, %lu refused", res.flips, res.flip_errors);
	report(res.bad == 0, "the thread-context site only ever returned a or b (%lu others)", res.bad);
	report(res.sites_lost == 0, "every NMI and IRQ ran its path's site exactly once (%lu off)", res.sites_lost);
	report(res.total.nested == 0, "no nested NMI (%lu)", res.total.nested);
	report(res.stuck_cpu < 0, "no CPU stuck (watchdog: %d)", res.stuck_cpu);
	report(sites_back_to_a(), "every site holds variant a again");
}

/* A #BP that hits a site in an NMI handler returns without IRET (the
 * nested-NMI hazard): seen whenever the strategy handled one there. */
static void noiret_check(void)
{
	if (res.total.bp[BP_NMI])
		report(res.total.noiret > 0, "#BP returned into NMI handlers without IRET %lu times (%lu sites hit in NMI "
		       "context: the nested-NMI hazard)", res.total.noiret, res.total.bp[BP_NMI]);
}

/* NMIs at full rate from every CPU while the NMI handler's own site flips. */
static void test_nmi_sites(void)
{
	struct storm_cfg cfg = { .kind = STORM_NMI, .ms = storm_ms, .idle_ms = storm_idle_ms, .flip_nmi = true, .stuck_sender = -1 };
	bool can_detect;
	uint32_t unsafe = storm_fit(&cfg, &can_detect);
	int err = storm_run(&cfg, &res);
	storm_print(&cfg, &res);
	common_checks(&cfg, err, unsafe, can_detect);
	report(res.total.nmis > 0, "%lu NMIs handled while patching", res.total.nmis);
	noiret_check();
}
KTEST("storm.nmi_sites", test_nmi_sites, .timeout_ms = 600000);

/* IPIs from every CPU; sites in thread context and in the IRQ path flip. */
static void test_thread_irq_sites(void)
{
	struct storm_cfg cfg = { .kind = STORM_IPI, .ms = storm_ms, .idle_ms = storm_idle_ms, .flip_thread = true, .flip_irq = true,
				 .stuck_sender = -1 };
	bool can_detect;
	uint32_t unsafe = storm_fit(&cfg, &can_detect);
	int err = storm_run(&cfg, &res);
	storm_print(&cfg, &res);
	common_checks(&cfg, err, unsafe, can_detect);
	report(res.total.irqs > 0, "%lu IRQs handled", res.total.irqs);
}
KTEST("storm.thread_and_irq_sites", test_thread_irq_sites, .timeout_ms = 600000);

/* NMIs, IPIs and INT 18 together; every site flips. */
static void test_mixed(void)
{
	struct storm_cfg cfg = { .kind = STORM_MIXED, .ms = storm_ms, .idle_ms = storm_idle_ms, .flip_thread = true, .flip_irq = true,
				 .flip_nmi = true, .flip_mce = true, .soft_mce = true, .stuck_sender = -1 };
	bool can_detect;
	uint32_t unsafe = storm_fit(&cfg, &can_detect);
	int err = storm_run(&cfg, &res);
	storm_print(&cfg, &res);
	common_checks(&cfg, err, unsafe, can_detect);
	noiret_check();
	if (nr_cpus_online > 1)
		report(res.total.mce_soft > 0, "the #MC path ran (INT 18) %lu times under fire", res.total.mce_soft);
}
KTEST("storm.mixed", test_mixed, .timeout_ms = 600000);

/* The patching CPU takes an NMI that hits its own in-flight site. */
static uint32_t self_nmis;

static void count_self_nmi(struct regs *r)
{
	(void)r;
	self_nmis++;
}

static unsigned int3_phase;             /* the default strategy's first phase with int3s in */

static void nmi_self_at_int3(unsigned p)
{
	if (p == int3_phase) {
		__atomic_fetch_or(&this_cpu()->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
		apic_send_nmi_self();
	}
}

static void test_nmi_on_patcher(void)
{
	struct percpu *pc = this_cpu();
	const struct patch_site_def *s = site_by_name("nmi");
	uint32_t traps = patch_default_strategy()->trap_phases;
	if (!traps) {
		report_skip("%s writes no int3: no site of its is in flight as an int3", patch_default_strategy()->name);
		return;
	}
	int3_phase = (unsigned)__builtin_ctz(traps);
	uint64_t bp = pc->patch.bp_handled[BP_NMI], noiret = pc->nmi_noiret, b = lab_cpu[pc->cpu].site_hits[SITE_NMI][CTX_VARIANT_B];
	self_nmis = 0;
	nmi_set_test_hook(count_self_nmi);
	poke_set_phase_hook(nmi_self_at_int3);
	int err = site_patch(s, variant_by_name(s, "b"));
	poke_set_phase_hook(NULL);
	nmi_set_test_hook(NULL);

	report(err == 0, "the batch completed (%s)", patch_errname(err));
	report(self_nmis == 1, "the self-NMI was taken once, mid-batch (%u)", self_nmis);
	report(pc->patch.bp_handled[BP_NMI] == bp + 1, "its NMI handler hit the in-flight site and was emulated (%lu)",
	       pc->patch.bp_handled[BP_NMI] - bp);
	report(pc->nmi_noiret == noiret + 1, "the #BP returned into the NMI handler without IRET (%lu)",
	       pc->nmi_noiret - noiret);
	report(lab_cpu[pc->cpu].site_hits[SITE_NMI][CTX_VARIANT_B] > b, "and that NMI already ran variant b, the one being installed");
	report(site_patch(s, variant_by_name(s, "a")) == 0, "patched back to a");
}
KTEST("patch.nmi_on_patching_cpu_mid_batch", test_nmi_on_patcher);

/* A sender that stops making progress is caught, named with its RIP. */
static char wd_buf[16384];
static struct console_capture wd_cap = { .prefix = "storm watchdog", .buf = wd_buf, .size = sizeof(wd_buf) };

static void test_watchdog(void)
{
	struct storm_cfg cfg = { .kind = STORM_IPI, .ms = 20000, .flip_thread = true, .stuck_sender = 1 };
	console_capture_start(&wd_cap);
	int err = storm_run(&cfg, &res);
	console_capture_stop();
	report(err != 0 && res.stuck_cpu == 1, "the storm failed and names CPU 1 (stuck CPU %d)", res.stuck_cpu);
	report(res.ms < 20000, "it stopped early, after %lu ms, instead of hanging", res.ms);
	report(mem_contains(wd_buf, wd_cap.len, "storm watchdog: CPU 1 (APIC") &&
	       mem_contains(wd_buf, wd_cap.len, " at RIP "),
	       "the report gives CPU 1's RIP (obtained by NMI): %.*s", (int)(wd_cap.len < 160 ? wd_cap.len : 160),
	       wd_buf);
	report(cpu_state(1) == CPU_IDLE, "CPU 1 was taken back from its stuck work (%s)", cpu_state_name(cpu_state(1)));
}
KTEST("storm.watchdog_names_stuck_cpu", test_watchdog, .min_cpus = 2, .timeout_ms = 120000);

/*
 * Host+guest: the host injects NMIs and UCNA machine checks while this
 * storm runs (tests/inject/host_inject.py, through QMP), back to back, without
 * waiting for the kernel's log, and some in bursts to one CPU; then it says
 * on COM2 what it sent and what QEMU made of it: "done nmi=N mce=M bmce=B
 * burst=K injected=I dropped=D". Meanwhile every outermost #MC handler
 * dwells MCE_DWELL_MS after its log (MCIP long clear), so that the next
 * machine check of a burst arrives inside it: nesting is certain, not
 * lucky. Hidden: it waits for a host that only that script provides.
 */
#define MCE_DWELL_MS 50

static uint64_t dwells;

/* #MC context (mce_set_test_hook), on a CPU that may hold text_lock:
 * spins on the TSC only; no lock. */
static void mce_dwell(struct regs *r)
{
	(void)r;
	__atomic_fetch_add(&dwells, 1, __ATOMIC_RELAXED);
	mdelay(MCE_DWELL_MS);
}

static void test_host_injection(void)
{
	if (!report(host_ctl_start(), "COM2 is there (run-qemu.py --control)"))
		return;

	uint64_t mce0 = 0, nested0 = 0, unclaimed0 = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		mce0 += percpu_of(c)->mce_class[MCE_UCNA];
		nested0 += percpu_of(c)->mce_nested;
		unclaimed0 += percpu_of(c)->nmi_unclaimed;
	}
	/* The senders fire IPIs only: every NMI that reaches a CPU without a
	 * reason bit is then the host's. No INT 18 either: a real #MC in the
	 * few instructions before a software one has moved its frame would
	 * overwrite it (arch/x86/mce_entry.asm). The host's NMIs and machine
	 * checks run the NMI and #MC sites while they flip. */
	struct storm_cfg cfg = { .kind = STORM_IPI, .ms = 300000, .flip_thread = true, .flip_irq = true,
				 .flip_nmi = true, .flip_mce = true, .poll = host_ctl_done, .stuck_sender = -1,
				 .host_events = PATCH_EV_NMI | PATCH_EV_MCE };
	dwells = 0;
	mce_set_test_hook(mce_dwell);
	/* The host injects the next #MC into a CPU only once that CPU has
	 * cleared MCIP for its previous one: it reads mce_taken (physical
	 * address: the image is linked at KERNEL_VMA + its load address). */
	printk("storm: ready for host injection (NMIs and machine checks; each outermost #MC handler dwells %u ms; "
	       "mce_taken of CPU 0 at physical %#lx, every %lu bytes)", MCE_DWELL_MS,
	       (uintptr_t)&percpu_of(0)->mce_taken - KERNEL_VMA, (unsigned long)sizeof(struct percpu));
	bool can_detect;
	uint32_t unsafe = storm_fit(&cfg, &can_detect);
	int err = storm_run(&cfg, &res);
	mce_set_test_hook(NULL);
	storm_print(&cfg, &res);
	common_checks(&cfg, err, unsafe, can_detect);

	uint64_t mce = 0, nested = 0, unclaimed = 0, bp_mce = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		uint64_t n = percpu_of(c)->mce_nested;
		mce += percpu_of(c)->mce_class[MCE_UCNA];
		nested += n;
		unclaimed += percpu_of(c)->nmi_unclaimed;
		bp_mce += res.cpu[c].bp[BP_MCE];
		if (n)
			report_info("CPU %u: %lu nested machine check(s) in all", c, n);
	}
	mce -= mce0;
	nested -= nested0;
	unclaimed -= unclaimed0;
	if (!report(host_ctl_done(), "the host said it was done: '%s'", host_ctl_line()))
		return;
	uint64_t nmi = host_ctl_field("nmi"), tm = host_ctl_field("mce"), bm = host_ctl_field("bmce");
	uint64_t burst = host_ctl_field("burst"), injected = host_ctl_field("injected"), dropped = host_ctl_field("dropped");
	report(nmi >= 200 && tm + bm >= 20 && bm > 0 && burst > 0,
	       "the host injected %lu NMIs and %lu machine checks (%lu broadcast, %lu in bursts)", nmi, tm + bm + burst,
	       bm, burst);
	report(injected == tm + burst + bm * nr_cpus_online - dropped,
	       "QEMU raised %lu #MCs: %lu targeted + %lu in bursts + %lu broadcast x %u CPUs, less %lu it dropped "
	       "(MCIP still set)", injected, tm, burst, bm, nr_cpus_online, dropped);
	report(mce == injected, "UCNA machine checks handled and counted: %lu; QEMU raised %lu", mce, injected);
	report(nested > 0, "machine checks that began inside another #MC handler, were handled and logged: %lu "
	       "(outermost handlers dwelt %lu times)", nested, dwells);
	report(unclaimed > 0 && unclaimed <= nmi * nr_cpus_online,
	       "external NMIs seen: %lu, at most the host's %lu x %u CPUs (some coalesce)", unclaimed, nmi,
	       nr_cpus_online);
	report_info("#BP emulations in NMI context %lu, in #MC context %lu, returns without IRET %lu",
		    res.total.bp[BP_NMI], bp_mce, res.total.noiret);
}
KTEST("storm.host_injection", test_host_injection, .flags = KTEST_HIDDEN, .timeout_ms = 400000);

/* Hidden, for the host harness: an AP panics, outside any recovery, in
 * the middle of an NMI storm; the machine must still stop cleanly. */
/* NMI context, on an AP hammered by the storm. */
static void panic_from_nmi(struct regs *r)
{
	(void)r;
	this_cpu()->recover = NULL;     /* as if outside any test */
	panic("storm: deliberate panic on CPU %u, in its NMI handler, in the middle of the storm", cpu_id());
}

static bool panic_trigger(void)
{
	static uint32_t rounds;
	if (++rounds == 100) {
		unsigned victim = cpumask_next(&cpu_online_mask, 1);
		if (victim < MAX_CPUS)
			nmi_send(victim, NMI_TEST);
	}
	return false;
}

static void test_panic_during_storm(void)
{
	struct storm_cfg cfg = { .kind = STORM_NMI, .ms = 20000, .flip_nmi = true, .flip_thread = true,
				 .poll = panic_trigger, .stuck_sender = -1 };
	nmi_set_test_hook(panic_from_nmi);
	storm_run(&cfg, &res);
	report(false, "the machine should have stopped");
}
KTEST("storm.panic_during_storm", test_panic_during_storm, .flags = KTEST_HIDDEN, .min_cpus = 2);

/* printk from NMI handlers (and the storm's own report) while NMIs fly and
 * the NMI site flips: every line intact, none lost without being counted. */
#define PRINT_EVERY 32
static char pk_buf[512 * 1024];
static struct console_capture pk_cap = { .prefix = "~storm", .buf = pk_buf, .size = sizeof(pk_buf), .quiet = 1 };

static void test_printk_in_storm(void)
{
	static uint64_t before[MAX_CPUS], seen[MAX_CPUS];
	struct printk_stats s0, s1;
	for_each_cpu_in(c, &cpu_online_mask) {
		before[c] = percpu_of(c)->nmi_storm;
		seen[c] = 0;
	}
	printk_get_stats(&s0);
	console_capture_start(&pk_cap);
	struct storm_cfg cfg = { .kind = STORM_NMI, .ms = storm_ms / 2, .flip_nmi = true, .flip_thread = true,
				 .nmi_print_every = PRINT_EVERY, .stuck_sender = -1 };
	bool can_detect;
	storm_fit(&cfg, &can_detect);
	int err = storm_run(&cfg, &res);
	console_capture_stop();
	printk_get_stats(&s1);
	storm_print(&cfg, &res);

	unsigned broken = 0, lines = 0;
	for (size_t pos = 0; pos < pk_cap.len;) {
		const char *l = pk_buf + pos;
		size_t n = 0;
		while (pos + n < pk_cap.len && l[n] != '\n')
			n++;
		char want[96];
		unsigned cpu = 0;
		uint64_t k = 0;
		bool ok = n > 24 && !memcmp(l, "~storm CPU ", 11);
		if (ok) {
			for (int i = 11; i < 14; i++)
				cpu = cpu * 10 + (unsigned)(l[i] - '0');
			for (int i = 19; i < 27; i++)
				k = k * 10 + (uint64_t)(l[i] - '0');
			int w = snprintf(want, sizeof(want), "~storm CPU %03u NMI %08lu from the NMI handler", cpu, k);
			ok = cpu < MAX_CPUS && (size_t)w == n && !memcmp(want, l, n);
		}
		if (ok)
			seen[cpu]++;
		else if (broken++ < 3)
			report_info("broken line: '%.*s'", (int)(n < 80 ? n : 80), l);
		lines++;
		pos += n + 1;
	}
	uint64_t missing = 0, extra = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		uint64_t want = percpu_of(c)->nmi_storm / PRINT_EVERY - before[c] / PRINT_EVERY;
		missing += want > seen[c] ? want - seen[c] : 0;
		extra += seen[c] > want ? seen[c] - want : 0;
	}
	report(err == 0, "the storm completed without errors");
	report(lines > 0, "NMI handlers printed %u lines during the storm", lines);
	report(broken == 0, "every line intact (%u broken)", broken);
	report(extra == 0 && missing == s1.dropped - s0.dropped && pk_cap.overflow == 0,
	       "every line printed once or counted as dropped (%lu missing, %lu dropped)", missing,
	       s1.dropped - s0.dropped);
	hazard_checks(&cfg);
}
KTEST("storm.printk_from_nmi_handlers", test_printk_in_storm, .timeout_ms = 600000);
