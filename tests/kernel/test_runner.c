/*
 * tests/kernel/test_runner.c — the runner's own failure handling.
 *
 * The selftest.* tests are hidden (not in "all"): each fails on purpose in
 * a different way, and the fail-selftests stanza of tests/boots.cfg boots them and checks that
 * each is reported "not ok" with its reason and that the run goes on.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "kernel/errno.h"
#include "kernel/ksyms.h"
#include "kernel/ktest.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"

static void st_panic(void)
{
	panic("selftest: deliberate panic in a test");
}
KTEST("selftest.panic", st_panic, .flags = KTEST_HIDDEN);

static void st_gp(void)
{
	__asm__ volatile("mov (%0), %%rax" :: "r"(0x8000000000000000ull) : "rax", "memory");
}
KTEST("selftest.unexpected_gp", st_gp, .flags = KTEST_HIDDEN);

static void ud_on_ap(void *unused)
{
	(void)unused;
	__asm__ volatile("ud2");
}

static void st_ap_fault(void)
{
	int err = on_cpu(1, ud_on_ap, NULL);
	report(err == -EABORTED, "on_cpu returned %s after the AP's #UD", errno_name(err));
}
KTEST("selftest.ap_fault", st_ap_fault, .min_cpus = 2, .flags = KTEST_HIDDEN);

static void st_timeout(void)
{
	for (;;)
		cpu_relax();
}
KTEST("selftest.timeout", st_timeout, .timeout_ms = 500, .flags = KTEST_HIDDEN);

/* Times out while nearly always inside printk, which recovery must not
 * abandon: the watchdog defers to printk's return, and the console must
 * still work for the tests after it. */
static void st_timeout_in_printk(void)
{
	for (unsigned i = 0;; i++)
		printk("selftest: printing until the watchdog fires (%u)", i);
}
KTEST("selftest.timeout_in_printk", st_timeout_in_printk, .timeout_ms = 300, .flags = KTEST_HIDDEN);

static volatile int spin_forever = 1;
static volatile int spinning;

static void spinner(void *unused)
{
	(void)unused;
	spinning = 1;
	while (spin_forever)
		cpu_relax();
}

static void st_timeout_with_helper(void)
{
	on_cpu_async(1, spinner, NULL);
	for (;;)
		cpu_relax();
}
KTEST("selftest.timeout_with_busy_ap", st_timeout_with_helper, .timeout_ms = 500, .min_cpus = 2,
      .flags = KTEST_HIDDEN);

static void st_after(void)
{
	report(true, "the run went on after the failures");
}
KTEST("selftest.zz_after", st_after, .flags = KTEST_HIDDEN);

/* Visible: does cpu_where() report where a busy CPU really is? */
static void test_where(void)
{
	spin_forever = 1;
	spinning = 0;
	if (!report(on_cpu_async(1, spinner, NULL) == 0, "queued a spinner on CPU 1"))
		return;
	while (!spinning)
		cpu_relax();
	uint32_t depth = 99;
	uint64_t rip = cpu_where(1, &depth);
	const struct ksym *s = ksym_lookup(rip);
	report(s && s == ksym_lookup((uintptr_t)spinner), "CPU 1 reported RIP %#lx in %s (expected spinner)",
	       rip, s ? ksym_name(s) : "?");
	report(depth == 0, "interrupted in thread context (nesting %u)", depth);
	spin_forever = 0;
	report(cpu_wait_done(1, 1000000) == 0, "the spinner finished when told to");
}
KTEST("ktest.cpu_where_reports_rip", test_where, .min_cpus = 2);

/* Visible: does aborting an AP's work by NMI bring it back to idle? */
static void test_abort(void)
{
	spin_forever = 1;
	if (!report(on_cpu_async(1, spinner, NULL) == 0, "queued a spinner on CPU 1"))
		return;
	int err = cpu_abort_work(1);
	report(err == -EABORTED, "cpu_abort_work returned %s", errno_name(err));
	report(cpu_state(1) == CPU_IDLE || cpu_state(1) == CPU_BUSY, "CPU 1 is back in its loop (%s)",
	       cpu_state_name(cpu_state(1)));
	report(on_cpu(1, (cpu_fn_t)cpu_relax, NULL) == 0, "and takes new work");
}
KTEST("ktest.abort_ap_work", test_abort, .min_cpus = 2);
