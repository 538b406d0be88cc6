/*
 * tests/kernel/test_patch_bp.c — the patch core's #BP path for int3s that
 * are not live sites: an int $3, a vanished int3 that will not go away,
 * and the TCG workaround that makes vanished int3s rare.
 */
#include "arch/x86/cpufeatures.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"

uint32_t trap_int_imm3(void);                   /* bp_helpers.asm */
uint32_t stale_int3_fn(void);
extern const char stale_int3_site[];

/* Is "int $3" (CD 03) taken for what it is, not for a vanished int3 (which
 * would resume one byte back, inside the instruction)? */
static void test_int_imm3(void)
{
	struct percpu *pc = this_cpu();
	uint64_t int3s = pc->int3_count, vanished = pc->patch.bp_vanished;
	uint32_t v = trap_int_imm3();
	report(v == 0x33, "execution resumed after the int $3 (EAX %#x, expected 0x33)", v);
	report(pc->int3_count == int3s + 1, "the normal #BP path counted it (%lu)", pc->int3_count - int3s);
	report(pc->patch.bp_vanished == vanished, "it was not re-run as a vanished int3 (%lu re-runs)",
	       pc->patch.bp_vanished - vanished);
}
KTEST("patch.int_imm3_is_not_a_vanished_int3", test_int_imm3);

/*
 * Hidden, booted by a stanza of tests/boots.cfg: a CPU that keeps executing
 * an int3 memory no longer holds (as a stale TCG translation can make it)
 * is re-run a bounded number of times, then reported by name: the panic
 * marks this test "not ok" with the address, and the run goes on.
 */
static void test_stale_int3(void)
{
	__atomic_store_n(&bp_test_stale_int3, (uintptr_t)stale_int3_site, __ATOMIC_SEQ_CST);
	uint32_t v = stale_int3_fn();
	__atomic_store_n(&bp_test_stale_int3, 0, __ATOMIC_SEQ_CST);
	report(false, "the stale int3 was left behind after %lu re-runs (EAX %#x)", this_cpu()->patch.bp_vanished, v);
}
KTEST("patch.stale_int3_rerun_is_bounded", test_stale_int3, .flags = KTEST_HIDDEN, .timeout_ms = 20000);

/* Does the patcher rewrite the first bytes after the last round exactly
 * when the TCG decision says so (and, under patch.tcg_rewrite=auto, is that
 * decision what CPUID says)? */
static void test_tcg_rewrite(void)
{
	const char *how;
	bool tcg = cpu_under_tcg(&how);
	if (poke_tcg_rewrite_auto)
		report(poke_tcg_rewrite == tcg, "auto: the workaround is %s, and TCG is %s (%s)",
		       poke_tcg_rewrite ? "on" : "off", tcg ? "detected" : "not detected", how);
	else
		report_info("patch.tcg_rewrite forces the workaround %s (TCG %s: %s)", poke_tcg_rewrite ? "on" : "off",
			    tcg ? "detected" : "not detected", how);
	const struct patch_site_def *s = site_by_name("call");
	struct poke_stats st;
	for (int i = 0; i < 2; i++) {
		int err = site_patch(s, variant_by_name(s, i ? "a" : "b"));
		poke_get_stats(&st);
		report(err == 0 && (st.cycles_write[3] != 0) == poke_tcg_rewrite,
		       "call -> %s: first bytes rewritten after the last round: %s (%lu cycles), as decided",
		       i ? "a" : "b", st.cycles_write[3] ? "yes" : "no", st.cycles_write[3]);
	}
}
KTEST("patch.tcg_rewrite_follows_decision", test_tcg_rewrite);

/*
 * An int3 that no batch knows, hit over and over while batches are
 * published and retired: each trap must end on the normal #BP path once
 * (counted, continued), never re-run as a vanished int3, however often a
 * publication lands while the handler looks (it then looks again).
 */
#define PLAIN_FLIPS 300

static uint32_t plain_stop;
static uint64_t plain_calls, plain_bad;

static void plain_int3_loop(void *unused)
{
	(void)unused;
	struct percpu *pc = this_cpu();
	pc->int3_quiet = 1;
	while (!__atomic_load_n(&plain_stop, __ATOMIC_ACQUIRE)) {
		plain_bad += stale_int3_fn() != 0x44;
		plain_calls++;
	}
	pc->int3_quiet = 0;
}

static void test_plain_int3_under_batches(void)
{
	const struct patch_site_def *s = site_by_name("call");
	struct percpu *c1 = percpu_of(1);
	uint64_t int3s = c1->int3_count, vanished = c1->patch.bp_vanished, again = c1->patch.bp_looked_again;
	unsigned done = 0;
	plain_stop = 0;
	plain_calls = plain_bad = 0;
	if (!report(on_cpu_async(1, plain_int3_loop, NULL) == 0, "CPU 1 runs a plain int3 in a loop"))
		return;
	for (; done < PLAIN_FLIPS; done++)
		if (site_patch(s, variant_by_name(s, done % 2 ? "a" : "b")))
			break;
	__atomic_store_n(&plain_stop, 1, __ATOMIC_RELEASE);
	cpu_wait_done(1, 10000000);
	report(done == PLAIN_FLIPS, "CPU 0 flipped the call site %u times meanwhile", done);
	report(plain_calls > 0 && plain_bad == 0, "%lu int3s, each resumed right after it", plain_calls);
	report(c1->int3_count - int3s == plain_calls, "the normal #BP path counted each once (%lu)",
	       c1->int3_count - int3s);
	report(c1->patch.bp_vanished == vanished, "none was re-run as a vanished int3 (%lu)", c1->patch.bp_vanished - vanished);
	report_info("looks repeated because a batch was published meanwhile: %lu", c1->patch.bp_looked_again - again);
}
KTEST("patch.plain_int3_under_batches", test_plain_int3_under_batches, .min_cpus = 2);
