/*
 * kernel/ktest.c — the test runner (see ktest.h).
 *
 * Per test, on the BSP:
 *
 *   arm the APIC one-shot timer for the test's deadline
 *   recover_save(&rp) == 0 ?  run fn()         : (resumed after panic/timeout)
 *   disarm the timer
 *   abort any AP still running work the test queued (NMI_ABORT)
 *   print "ok N name" / "not ok N name" (+ "# SKIP reason")
 *
 * Failure sources and where they end up:
 *   report(false, ...)          -> failed, test continues
 *   panic()/die() on the BSP    -> failure recorded, BSP resumes rp
 *   panic()/die() in AP work    -> failure recorded, the AP resumes its idle
 *                                  loop, the BSP's wait returns -EABORTED
 *   watchdog timer on the BSP   -> "timeout", RIPs of busy CPUs, BSP resumes rp
 * If recovery is impossible (a lock is held, or the machine is stopping),
 * the machine stops and the host checker sees the missing results.
 */
#include <stdarg.h>
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/dump.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "arch/x86/power.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/recover.h"
#include "kernel/shell.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"

extern const struct ktest __ktest_start[], __ktest_end[];       /* linker.ld */

static const char *param_globs;
static unsigned param_repeat = 1;

/* State of the running test. */
static const struct ktest *cur;
static uint32_t cur_failures;
static const char *cur_skip;
static char cur_skip_buf[128];
static uint64_t cur_deadline;

KPARAM_STR("ktest", param_globs, "GLOB[,GLOB...] | all | list: run matching self-tests, then exit");
KPARAM_UINT("ktest.repeat", param_repeat, 1, 100000, "N: run the selected tests N times");

bool ktest_requested(void) { return param_globs != NULL; }

bool report(bool cond, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("# %s: %s", cond ? "PASS" : "FAIL", msg);
	if (!cond)
		__atomic_fetch_add(&cur_failures, 1, __ATOMIC_SEQ_CST);
	return cond;
}

void report_info(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("# %s", msg);
}

void report_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cur_skip_buf, sizeof(cur_skip_buf), fmt, ap);
	va_end(ap);
	cur_skip = cur_skip_buf;
}

/* Abort work that APs are still running for the test (BSP only).
 * Returns how many CPUs had to be aborted. */
static unsigned abort_helpers(void)
{
	unsigned n = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == cpu_id() || cpu_state(c) != CPU_BUSY)
			continue;
		n++;
		cpu_abort_work(c);      /* reports a CPU that does not come back */
	}
	return n;
}

/* Any CPU, any context: NMI-safe (printk, atomics, NMIs only). */
void ktest_record_failure(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!__atomic_load_n(&cur, __ATOMIC_ACQUIRE)) {
		printk("# failure outside any test: %s", msg);
		return;
	}
	printk("# FAIL: %s", msg);
	__atomic_fetch_add(&cur_failures, 1, __ATOMIC_SEQ_CST);
	/* The runner CPU is about to resume its recovery point: stop helpers
	 * first, they may be using the test's stack frame. */
	if (cpu_id() == 0)
		abort_helpers();
}

#define PRINTK_BACKSTOP_US 1000000    /* a printk that takes longer: stop */
static bool waiting_for_printk;

/* Watchdog: IRQ context on the BSP. (APs use the same timer vector to
 * wake from cpu_nap(); for them the interrupt itself is the point.) */
static void ktest_timer_irq(struct regs *r)
{
	char sym[96];
	if (!cur || cpu_id() != 0)
		return;
	if (!tsc_expired(cur_deadline)) {       /* the one-shot fell short: re-arm */
		apic_timer_oneshot(tsc_to_us(cur_deadline - rdtsc()) + 1);
		return;
	}
	struct percpu *pc = this_cpu();
	if (waiting_for_printk) {
		printk("# timeout: CPU 0 did not leave printk within %u ms", PRINTK_BACKSTOP_US / 1000);
		system_stop(EXIT_TESTS_FAILED);
	}
	printk("# timeout: CPU 0 at RIP %016lx <%s>", r->rip, format_symbol(sym, sizeof(sym), r->rip));
	struct cpumask busy;
	cpumask_clear_all(&busy);
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != 0 && cpu_state(c) == CPU_BUSY)
			cpumask_set(&busy, c);
	cpus_report_where(&busy, "# timeout");
	ktest_record_failure("timeout after %u ms", cur->timeout_ms ? cur->timeout_ms : KTEST_DEFAULT_TIMEOUT_MS);
	if (recover_possible()) {
		recover_frame(r, RECOVER_ABORT);
	} else if (pc->printk_depth && pc->recover && !pc->locks_held && pc->ctx_depth == 1) {
		/* The test is inside printk, which recovery must not abandon
		 * (recover.c): printk resumes the test context itself when it
		 * returns; this timer stays armed as a backstop. */
		printk("# timeout: CPU 0 is inside printk; it resumes its test context when printk returns");
		pc->recover_at_printk_exit = 1;
		waiting_for_printk = true;
		apic_timer_oneshot(PRINTK_BACKSTOP_US);
	} else {
		system_stop(EXIT_TESTS_FAILED);
	}
}

void ktest_init(void)
{
	irq_register(VEC_TIMER, ktest_timer_irq);
}

/* Tests in name order, whatever order the linker put them in. */
#define KTEST_MAX 512
static const struct ktest *sorted[KTEST_MAX];
static unsigned n_tests;

static void sort_tests(void)
{
	if (n_tests)
		return;
	for (const struct ktest *t = __ktest_start; t < __ktest_end; t++) {
		if (n_tests == KTEST_MAX)
			panic("ktest: more than %d tests; raise KTEST_MAX", KTEST_MAX);
		unsigned i = n_tests++;
		while (i && strcmp(sorted[i - 1]->name, t->name) > 0) {
			sorted[i] = sorted[i - 1];
			i--;
		}
		sorted[i] = t;
	}
}

static bool selected(const struct ktest *t, const char *globs)
{
	char g[128];
	const char *s = globs;
	while (*s) {
		size_t n = 0;
		while (s[n] && s[n] != ',')
			n++;
		if (n < sizeof(g)) {
			memcpy(g, s, n);
			g[n] = 0;
			if (!strcmp(g, "all") ? !(t->flags & KTEST_HIDDEN) : glob_match(g, t->name))
				return true;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return false;
}

/* Entries of globs that select no test (a misspelt or renamed name in a
 * list would otherwise just run fewer tests): each is named. */
static unsigned unmatched_globs(const char *globs)
{
	char g[128];
	unsigned bad = 0;
	for (const char *s = globs; *s;) {
		size_t n = 0;
		while (s[n] && s[n] != ',')
			n++;
		if (n && n < sizeof(g)) {
			memcpy(g, s, n);
			g[n] = 0;
			bool any = false;
			for (unsigned i = 0; i < n_tests && !any; i++)
				any = !strcmp(g, "all") ? !(sorted[i]->flags & KTEST_HIDDEN) : glob_match(g, sorted[i]->name);
			if (!any) {
				printk("ktest: '%s' matches no test (try ktest=list)", g);
				bad++;
			}
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return bad;
}

/* Reset facilities a failed test may have left armed. */
static void cleanup_after_test(void)
{
	nmi_set_test_hook(NULL);
	console_capture_stop();
	unsigned left = abort_helpers();
	if (left)
		ktest_record_failure("%u CPU(s) were still running the test's work when it ended", left);
}

static void run_one(const struct ktest *t, unsigned n, unsigned *pass, unsigned *fail, unsigned *skip)
{
	struct percpu *pc = this_cpu();
	struct recover_point rp;
	const char *why = t->skip ? t->skip() : NULL;

	if (!why && nr_cpus_online < t->min_cpus) {
		snprintf(cur_skip_buf, sizeof(cur_skip_buf), "needs %u CPUs, %u online", t->min_cpus, nr_cpus_online);
		why = cur_skip_buf;
	}
	if (why) {
		printk("ok %u %s # SKIP %s", n, t->name, why);
		(*skip)++;
		return;
	}

	uint32_t ms = t->timeout_ms ? t->timeout_ms : KTEST_DEFAULT_TIMEOUT_MS;
	cur_failures = 0;
	cur_skip = NULL;
	cur_deadline = tsc_deadline_us(ms * 1000ull);
	waiting_for_printk = false;
	this_cpu()->recover_at_printk_exit = 0;
	__atomic_store_n(&cur, t, __ATOMIC_RELEASE);
	uint64_t t0 = rdtsc();
	apic_timer_oneshot(ms * 1000ull);
	if (recover_save(&rp) == 0) {
		pc->recover = &rp;
		t->fn();
	}
	pc->recover = NULL;
	apic_timer_oneshot(0);
	cleanup_after_test();
	__atomic_store_n(&cur, NULL, __ATOMIC_RELEASE);
	uint64_t us = tsc_to_us(rdtsc() - t0);

	if (cur_failures) {
		printk("not ok %u %s # %u failure(s), %llu ms", n, t->name, cur_failures,
		       (unsigned long long)(us / 1000));
		(*fail)++;
	} else if (cur_skip) {
		printk("ok %u %s # SKIP %s", n, t->name, cur_skip);
		(*skip)++;
	} else {
		printk("ok %u %s # %llu ms", n, t->name, (unsigned long long)(us / 1000));
		(*pass)++;
	}
}

int ktest_run(const char *globs, unsigned repeat)
{
	unsigned count = 0, n = 0, pass = 0, fail = 0, skip = 0;
	sort_tests();
	for (unsigned i = 0; i < n_tests; i++)
		if (selected(sorted[i], globs))
			count++;

	printk("KTAP version 1");
	printk("1..%u", count * repeat);
	printk("# cpus online: %u of %u present", nr_cpus_online, nr_cpus_present);
	for (unsigned r = 0; r < repeat; r++)
		for (unsigned i = 0; i < n_tests; i++)
			if (selected(sorted[i], globs))
				run_one(sorted[i], ++n, &pass, &fail, &skip);
	printk("ktest: %u passed, %u failed, %u skipped", pass, fail, skip);
	if (!count)
		printk("ktest: no test matches '%s' (try ktest=list)", globs);
	unsigned unmatched = unmatched_globs(globs);
	return (int)fail + (count ? 0 : 1) + (int)unmatched;
}

static void list_tests(void)
{
	sort_tests();
	for (unsigned i = 0; i < n_tests; i++)
		printk("%s%s", sorted[i]->name, sorted[i]->flags & KTEST_HIDDEN ? " (hidden: not in 'all')" : "");
}

void ktest_main(void)
{
	int failed;
	if (!strcmp(param_globs, "list")) {
		list_tests();
		failed = 0;
	} else {
		failed = ktest_run(param_globs, param_repeat);
	}
	/* A typo in a parameter would otherwise run the tests with defaults and
	 * pass: e.g. a stress run silently shortened. */
	unsigned bad = cmdline_not_applied();
	if (bad) {
		printk("ktest: %u command-line word(s) not applied (see 'cmdline:' at boot): the run fails", bad);
		failed = 1;
	}
	machine_exit(failed ? EXIT_TESTS_FAILED : EXIT_SUCCESS_CODE);
}

static int cmd_tests(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	list_tests();
	return 0;
}
SHELL_CMD("tests", "", "list the self-tests", cmd_tests);

static int cmd_run_tests(int argc, char **argv)
{
	if (argc != 2) {
		printk("usage: run-tests GLOB[,GLOB...]   (e.g. run-tests 'smp.*' or run-tests all)");
		return -EINVAL;
	}
	return ktest_run(argv[1], 1) ? -EIO : 0;
}
SHELL_CMD("run-tests", "GLOB", "run the matching self-tests (KTAP output)", cmd_run_tests);
