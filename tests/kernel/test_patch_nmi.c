/*
 * tests/kernel/test_patch_nmi.c — the nmi strategy's own promises
 * (strategies/nmi/nmi.c), tested without leaning on TCG's instruction
 * fetch: where its writes happen, who acknowledges its rounds from NMI
 * context, what the patching CPU's own NMIs and a #MC inside its NMI meet.
 * int3 is the control wherever the two differ.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "clients/sites/sites.h"
#include "lab/context_sites.h"
#include "lab/fixture_sites.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "strategies/int3/int3.h"
#include "strategies/nmi/nmi.h"

#define BATCH_N 16

POKE_BATCH_DEFINE(nmi_test_batch, BATCH_N);

/* Runs of bytes the single writer stored, by context, summed over CPUs. */
static void writes_by_context(uint64_t w[BP_CTX_COUNT])
{
	for (int k = 0; k < BP_CTX_COUNT; k++)
		w[k] = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		for (int k = 0; k < BP_CTX_COUNT; k++)
			w[k] += __atomic_load_n(&percpu_of(c)->patch.text_writes[k], __ATOMIC_RELAXED);
}

/* Flip the call site a -> b -> a and BATCH_N batch sites there and back
 * with st; the writes by context meanwhile. */
static int flip_and_count(const struct patch_strategy *st, uint64_t d[BP_CTX_COUNT])
{
	const struct patch_site_def *s = site_by_name("call");
	uint64_t w0[BP_CTX_COUNT], w1[BP_CTX_COUNT];
	writes_by_context(w0);
	int err = site_patch_by(st, s, variant_by_name(s, "b"));
	if (!err)
		err = site_patch_by(st, s, variant_by_name(s, "a"));
	for (int i = 0; i < 2 && !err; i++)
		if (!batch_sites_flip(&nmi_test_batch, st, BATCH_N, &err) && !err)
			err = -1;
	writes_by_context(w1);
	for (int k = 0; k < BP_CTX_COUNT; k++)
		d[k] = w1[k] - w0[k];
	return err;
}

/* Does the nmi strategy write nothing outside the patching CPU's NMI,
 * where int3 (the control) writes in thread context? */
static void test_writes_only_in_nmi(void)
{
	uint64_t d[BP_CTX_COUNT], batches = nmi_batch_state.batches;
	int err = flip_and_count(&int3_strategy, d);
	uint64_t int3_writes = d[BP_THREAD];
	report(err == 0 && d[BP_THREAD] > 0 && d[BP_NMI] == 0 && d[BP_IRQ] == 0 && d[BP_MCE] == 0,
	       "int3 (the control): %lu writes in thread context, %lu in NMI, %lu in IRQ, %lu in #MC (%d)",
	       d[BP_THREAD], d[BP_NMI], d[BP_IRQ], d[BP_MCE], err);
	err = flip_and_count(&nmi_strategy, d);
	report(err == 0 && d[BP_NMI] > 0 && d[BP_THREAD] == 0 && d[BP_IRQ] == 0 && d[BP_MCE] == 0,
	       "nmi: %lu writes in NMI context, %lu in thread context, %lu in IRQ, %lu in #MC (%d)", d[BP_NMI],
	       d[BP_THREAD], d[BP_IRQ], d[BP_MCE], err);
	report(d[BP_NMI] == int3_writes, "nmi: as many writes as int3 for the same batches (%lu, %lu): int3's steps",
	       d[BP_NMI], int3_writes);
	report(nmi_batch_state.batches - batches == 4, "nmi: its 4 batches were applied inside the patching CPU's "
	       "NMI (%lu; the last one %lu us from self-NMI to its end, %lu us of it in the NMI)",
	       nmi_batch_state.batches - batches,
	       tsc_to_us(nmi_batch_state.cycles_to_nmi + nmi_batch_state.cycles_in_nmi),
	       tsc_to_us(nmi_batch_state.cycles_in_nmi));
}
KTEST("patch.nmi_strategy_writes_only_in_nmi", test_writes_only_in_nmi);

/*
 * A bystander in NMI context while an nmi batch is applied. Its NMI begins
 * once the batch is published (the thread hook at "published" sends it
 * and waits until that NMI takes part in the rounds); the rest of its NMI
 * handler then waits for the batch to return, as seed 002's NMI handler
 * waits for a lock whose holder needs the patched code. It cannot take
 * the rounds' IPI: only its on_nmi can acknowledge them.
 */
#define HOLD_MAX_US (SYNC_TIMEOUT_US + 5000000ull)      /* beyond the rendezvous' deadline: it reports first */

static unsigned bystander;
static volatile uint32_t batch_returned, hold_left, bystander_in_rounds;
static uint64_t batch_returned_at, hold_left_at;

/* NMI context (NMI_TEST hook), on the bystander: spins on the TSC only. */
static void hold_until_batch_returned(struct regs *r)
{
	(void)r;
	if (cpu_id() != bystander)
		return;
	uint64_t deadline = tsc_deadline_us(HOLD_MAX_US);
	while (!__atomic_load_n(&batch_returned, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
		cpu_relax();
	hold_left_at = rdtsc();
	__atomic_store_n(&hold_left, 1, __ATOMIC_RELEASE);
}

/* Thread hook, the patching CPU, at "published": NMI the bystander, and go
 * on (to the self-NMI and the writes) once its NMI takes part in the
 * rounds, or after 1 s. */
static void nmi_bystander_at_published(unsigned p)
{
	if (p != POKE_PHASE_PUBLISHED || poke_current_strategy != &nmi_strategy)
		return;
	nmi_send(bystander, NMI_TEST);
	uint64_t deadline = tsc_deadline_us(1000000);
	while (!cpumask_test(&nmi_batch_state.in_rounds, bystander) && !tsc_expired(deadline))
		cpu_relax();
	bystander_in_rounds = cpumask_test(&nmi_batch_state.in_rounds, bystander);
}

/* Does a bystander whose NMI is in flight acknowledge every round of an
 * nmi batch from NMI context, so that the batch completes while it is
 * still inside its NMI handler? */
static void test_bystander_acks_in_nmi(void)
{
	const struct patch_site_def *s = site_by_name("call");
	struct poke_stats st;
	bystander = cpumask_next(&cpu_online_mask, cpu_id() == 0 ? 1 : 0);
	struct patch_cpu *bp = &percpu_of(bystander)->patch;
	uint64_t acks = bp->hazard[NMI_HAZARD_ACK_IN_NMI], nmis = percpu_of(bystander)->nmi_count;
	batch_returned = hold_left = bystander_in_rounds = 0;

	nmi_set_test_hook(hold_until_batch_returned);
	poke_set_phase_hook(nmi_bystander_at_published);
	int err = site_patch_by(&nmi_strategy, s, variant_by_name(s, "b"));
	batch_returned_at = rdtsc();
	__atomic_store_n(&batch_returned, 1, __ATOMIC_RELEASE);
	poke_set_phase_hook(NULL);
	uint64_t deadline = tsc_deadline_us(1000000);
	while (!__atomic_load_n(&hold_left, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
		cpu_relax();
	nmi_set_test_hook(NULL);
	poke_get_stats(&st);
	acks = bp->hazard[NMI_HAZARD_ACK_IN_NMI] - acks;

	report(bystander_in_rounds, "CPU %u's NMI was taking part in the rounds before the first write", bystander);
	report(err == 0 && site_current_variant(s) == variant_by_name(s, "b"), "the batch applied call -> b (%s)",
	       patch_errname(err));
	report(hold_left && hold_left_at > batch_returned_at, "and returned while CPU %u was still inside that NMI "
	       "handler (it left %lu us later)", bystander,
	       hold_left_at > batch_returned_at ? tsc_to_us(hold_left_at - batch_returned_at) : 0);
	report(st.rounds == 3 && acks == st.rounds, "CPU %u acknowledged all %u rounds from NMI context (hazard "
	       "'acknowledged a round in NMI': %lu)", bystander, st.rounds, acks);
	report(percpu_of(bystander)->nmi_count == nmis + 1, "in one NMI (%lu taken)",
	       percpu_of(bystander)->nmi_count - nmis);
	report(site_patch_by(&nmi_strategy, s, variant_by_name(s, "a")) == 0, "patched back to a");
}
KTEST("patch.nmi_strategy_bystander_acks_in_nmi", test_bystander_acks_in_nmi, .min_cpus = 2);

/*
 * The patching CPU's own NMIs: sent to itself at every phase of the batch
 * that may hold a site in flight (int3-written .. first-synced), from the
 * phase hook of whichever context reaches it (thread for int3, its NMI for
 * nmi), while the batch flips the NMI path's own site.
 */
static volatile uint32_t own_nmis, own_sent;

static void count_own_nmi(struct regs *r)       /* NMI context (NMI_TEST hook) */
{
	(void)r;
	own_nmis++;
}

static void self_nmi_at_phase(unsigned p)       /* thread or NMI context: sends an NMI only */
{
	if (p < PHASE_INT3_WRITTEN || p > PHASE_FIRST_SYNCED)
		return;
	__atomic_fetch_or(&this_cpu()->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
	apic_send_nmi_self();
	own_sent++;
}

/* Flip the nmi site a -> b with st under self-NMIs at every phase: #BP
 * emulations in NMI context on this CPU, and NMI-path runs of a and b. */
static int flip_under_own_nmis(const struct patch_strategy *st, uint64_t *bp, uint64_t *a, uint64_t *b)
{
	struct percpu *pc = this_cpu();
	const struct patch_site_def *s = site_by_name("nmi");
	uint64_t bp0 = pc->patch.bp_handled[BP_NMI];
	uint64_t a0 = lab_cpu[pc->cpu].site_hits[SITE_NMI][CTX_VARIANT_A];
	uint64_t b0 = lab_cpu[pc->cpu].site_hits[SITE_NMI][CTX_VARIANT_B];
	own_nmis = own_sent = 0;
	nmi_set_test_hook(count_own_nmi);
	poke_set_phase_hook(self_nmi_at_phase);
	poke_set_phase_hook_nmi(self_nmi_at_phase);
	int err = site_patch_by(st, s, variant_by_name(s, "b"));
	poke_set_phase_hook_nmi(NULL);
	poke_set_phase_hook(NULL);
	uint64_t deadline = tsc_deadline_us(100000);   /* a held NMI is taken at the IRET: it is in by now */
	while (!own_nmis && !tsc_expired(deadline))
		cpu_relax();
	nmi_set_test_hook(NULL);
	*bp = pc->patch.bp_handled[BP_NMI] - bp0;
	*a = lab_cpu[pc->cpu].site_hits[SITE_NMI][CTX_VARIANT_A] - a0;
	*b = lab_cpu[pc->cpu].site_hits[SITE_NMI][CTX_VARIANT_B] - b0;
	if (site_patch_by(st, s, variant_by_name(s, "a")) && !err)
		err = -1;
	return err;
}

/* Do the patching CPU's own NMIs never meet a site in flight under nmi
 * (held off until its writes are done), where under int3 (the control)
 * they meet it and are emulated? */
static void test_own_nmis_held_off(void)
{
	const struct patch_site_def *v = site_by_name("nmi_value");
	uint64_t bp, a, b;
	int err = flip_under_own_nmis(&int3_strategy, &bp, &a, &b);
	report(err == 0 && own_sent == 6 && bp > 0, "int3 (the control): of %u self-NMIs sent at its phases, %u "
	       "taken, %lu met the NMI path's site in flight and were emulated in #BP (%d)", own_sent, own_nmis, bp,
	       err);
	err = flip_under_own_nmis(&nmi_strategy, &bp, &a, &b);
	report(err == 0 && own_sent == 6 && own_nmis >= 1 && bp == 0, "nmi: of %u self-NMIs sent at its phases (from "
	       "inside its NMI), %u taken (held NMIs coalesce), %lu met the site in flight: held off until the writes "
	       "were done (%d)", own_sent, own_nmis, bp, err);
	report(a == 0 && b >= 2, "nmi: every NMI of the patching CPU during the batch ran the NMI path's new "
	       "variant (b %lu times, a %lu): its own, after its writes, and the held one", b, a);
	report(site_patch_by(&nmi_strategy, v, variant_by_name(v, "b")) == -PATCH_ENOT_EMULATABLE,
	       "nmi refuses the NMI path's value site (mov) as int3 does: its check is int3's");
}
KTEST("patch.nmi_strategy_own_nmis_held_off", test_own_nmis_held_off);

/*
 * A #MC on the patching CPU inside its NMI, mid-batch: INT 18 (the #MC
 * path without a machine check) from the NMI phase hook at int3-written,
 * while the batch flips the #MC path's own site. Nothing holds a #MC off.
 */
static volatile uint32_t int18_nmi_depth, int18_sent;

static void int18_at_int3_written(unsigned p)   /* NMI context */
{
	if (p != PHASE_INT3_WRITTEN)
		return;
	int18_nmi_depth = this_cpu()->nmi_depth;
	int18_sent++;
	asm volatile("int $18" ::: "memory");
}

/* Does a #MC nested in the patching CPU's NMI, running the #MC path's site
 * while its int3 is in place, get the new instruction through #BP
 * emulation, as under int3, and does the batch complete? */
static void test_mce_on_patcher_mid_batch(void)
{
	struct percpu *pc = this_cpu();
	const struct patch_site_def *s = site_by_name("mce");
	uint64_t bp = pc->patch.bp_handled[BP_MCE], soft = pc->mce_software, noiret = pc->nmi_noiret;
	uint64_t b = lab_cpu[pc->cpu].site_hits[SITE_MCE][CTX_VARIANT_B];
	int18_sent = int18_nmi_depth = 0;
	poke_set_phase_hook_nmi(int18_at_int3_written);
	int err = site_patch_by(&nmi_strategy, s, variant_by_name(s, "b"));
	poke_set_phase_hook_nmi(NULL);

	report(err == 0, "the batch completed (%s)", patch_errname(err));
	report(int18_sent == 1 && int18_nmi_depth == 1 && pc->mce_software == soft + 1,
	       "INT 18 raised once from the patching CPU's NMI at int3-written (%u, NMI depth %u), taken once (%lu)",
	       int18_sent, int18_nmi_depth, pc->mce_software - soft);
	report(pc->patch.bp_handled[BP_MCE] == bp + 1, "the #MC handler met the #MC path's site in flight and was "
	       "emulated in #BP (%lu)", pc->patch.bp_handled[BP_MCE] - bp);
	report(lab_cpu[pc->cpu].site_hits[SITE_MCE][CTX_VARIANT_B] == b + 1,
	       "it ran variant b, the one being installed");
	report(pc->nmi_noiret > noiret, "and returned into the NMI handler without IRET (%lu)", pc->nmi_noiret - noiret);
	report(site_patch_by(&nmi_strategy, s, variant_by_name(s, "a")) == 0, "patched back to a");
}
KTEST("patch.nmi_strategy_mce_on_patcher_mid_batch", test_mce_on_patcher_mid_batch);
