/*
 * tests/kernel/test_patch_batch.c — batches: many sites in three rounds,
 * and the patching CPU interrupted in the middle of one.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "patch/insn.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "clients/sites/sites.h"
#include "lab/fixture_sites.h"

POKE_BATCH_DEFINE(big, BATCH_SITES);

static void call_bytes(uintptr_t at, const void *target, uint8_t *out)
{
	insn_call(at, (uintptr_t)target, out);
}

static uint32_t batch_stop;
static uint64_t batch_bad[MAX_CPUS], batch_calls[MAX_CPUS];

static void batch_bystander(void *unused)
{
	(void)unused;
	unsigned c = cpu_id();
	for (unsigned i = 0; !__atomic_load_n(&batch_stop, __ATOMIC_ACQUIRE); i = (i + 1) % BATCH_SITES) {
		uint32_t v = batch_fns[i]();
		batch_bad[c] += v != FLIP_A && v != FLIP_B;
		batch_calls[c]++;
		if (i == 0)
			cpu_nap(50);    /* let vCPUs outnumbering host cores answer IPIs: see test_patch_flip.c */
	}
}

/* flip all 256 sites from "call a" to "call b" (or back) in one batch */
static bool flip_all(const void *from, const void *to, struct poke_stats *st, uint64_t *rounds)
{
	uint8_t old[CALL_INSN_SIZE], new[CALL_INSN_SIZE];
	for (unsigned i = 0; i < BATCH_SITES; i++) {
		uintptr_t at = (uintptr_t)batch_fns[i];
		call_bytes(at, from, old);
		call_bytes(at, to, new);
		int err = smp_text_poke_batch_add(&big, (void *)at, old, new, CALL_INSN_SIZE);
		if (err) {
			report(false, "site %u refused: %s", i, patch_errname(err));
			smp_text_poke_batch_reset(&big);
			return false;
		}
	}
	uint64_t r0 = sync_rounds_total();
	int err = smp_text_poke_batch_finish(&big);
	*rounds = sync_rounds_total() - r0;
	poke_get_stats(st);
	return report(err == 0, "batch of %u sites applied (%s)", BATCH_SITES, patch_errname(err));
}

/* Do 256 sites flip in one batch with exactly 3 rendezvous rounds? */
static void test_batch_256(void)
{
	unsigned me = cpu_id();
	struct poke_stats st;
	uint64_t rounds;

	memset(batch_bad, 0, sizeof(batch_bad));
	memset(batch_calls, 0, sizeof(batch_calls));
	batch_stop = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me)
			on_cpu_async(c, batch_bystander, NULL);

	for (int dir = 0; dir < 2; dir++) {
		const void *from = dir ? batch_ret_b : batch_ret_a, *to = dir ? batch_ret_a : batch_ret_b;
		if (!flip_all(from, to, &st, &rounds))
			break;
		report(rounds == 3 && st.rounds == 3, "%s: %lu rendezvous rounds (stats say %u), expected 3",
		       dir ? "b -> a" : "a -> b", rounds, st.rounds);
		report(st.sites == BATCH_SITES, "stats count %u sites", st.sites);
		report_info("%u page passes, %lu us in all", st.page_passes, tsc_to_us(st.cycles_total));
		unsigned wrong = 0;
		for (unsigned i = 0; i < BATCH_SITES; i++) {
			uint8_t want[CALL_INSN_SIZE];
			call_bytes((uintptr_t)batch_fns[i], to, want);
			wrong += memcmp((const void *)batch_fns[i], want, CALL_INSN_SIZE) != 0 ||
				 batch_fns[i]() != (dir ? FLIP_A : FLIP_B);
		}
		report(wrong == 0, "every site holds its new call and returns %s (%u wrong)", dir ? "a" : "b", wrong);
	}

	__atomic_store_n(&batch_stop, 1, __ATOMIC_RELEASE);
	uint64_t bad = 0, calls = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c != me)
			cpu_wait_done(c, 5000000);
		bad += batch_bad[c];
		calls += batch_calls[c];
	}
	report(bad == 0, "bystanders made %lu calls through the sites, none returned anything but a or b", calls);
}
KTEST("patch.batch_256_sites_3_rounds", test_batch_256, .timeout_ms = 300000);

/* The patching CPU takes an IRQ whose handler runs a site mid-batch. */
static uint32_t irq_result, irq_calls;

static void test_irq(struct regs *r)
{
	(void)r;
	irq_result = flip_call_fn();
	irq_calls++;
}

static void raise_irq_at_int3(unsigned p)
{
	if (p == PHASE_INT3_WRITTEN)
		apic_send_ipi_self(VEC_TEST);   /* IRQs are on: taken right here */
}

static void test_irq_mid_batch(void)
{
	const struct patch_site_def *s = site_by_name("call");
	uint64_t before = this_cpu()->patch.bp_handled[BP_IRQ];
	irq_calls = 0;
	irq_result = 0;
	irq_register(VEC_TEST, test_irq);
	poke_set_phase_hook(raise_irq_at_int3);
	int err = site_patch(s, variant_by_name(s, "b"));
	poke_set_phase_hook(NULL);

	report(err == 0, "the batch completed (%s)", patch_errname(err));
	report(irq_calls == 1, "the IRQ handler ran once while the int3 was in place (%u)", irq_calls);
	report(irq_result == FLIP_B, "it got b: the #BP handler ran the instruction the site was becoming (%#x)",
	       irq_result);
	report(this_cpu()->patch.bp_handled[BP_IRQ] == before + 1,
	       "one #BP emulation in IRQ context on the patching CPU (%lu)", this_cpu()->patch.bp_handled[BP_IRQ] - before);
	report(flip_call_fn() == FLIP_B, "the site calls b afterwards");
	report(site_patch(s, variant_by_name(s, "a")) == 0, "patched back to a");
}
KTEST("patch.irq_on_patching_cpu_mid_batch", test_irq_mid_batch);
