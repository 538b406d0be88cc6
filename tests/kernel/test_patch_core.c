/*
 * tests/kernel/test_patch_core.c — the patch core's building blocks: the
 * #BP call emulation, the private alias, W^X after patching, the single
 * writer's refusal to run in an interrupt handler.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/paging.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/recover.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "strategies/int3_2round/int3_2round.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"
#include "patch/text_poke.h"
#include "lab/fixture_sites.h"

/* Does an emulated call return to the right place with every register
 * intact, for both alignments of the interrupted stack? */
static void test_int3_selftest(void)
{
	const char *why = int3_selftest();
	report(!why, "int3 self-test: %s", why ? why : "call emulated, returned after the slot, registers intact");
}
KTEST("patch.int3_selftest", test_int3_selftest);

static void write_byte(void *p) { *(volatile uint8_t *)p = 0xcc; }

/* After patching, is the site still read-only through the text mapping, and
 * is the private alias gone? */
static void test_wx_after_patch(void)
{
	const struct patch_site_def *s = site_by_name("call");
	int err = site_patch(s, variant_by_name(s, "b"));
	report(err == 0, "patched call -> b (%s)", patch_errname(err));
	report(flip_call_fn() == FLIP_B, "the site now calls b");

	uint8_t before[POKE_MAX_LEN];
	memcpy(before, s->addr, s->len);
	struct fault_catch f;
	int v = catch_exception(write_byte, (void *)s->addr, &f);
	report(v == 14 && (f.error & 3) == 3 && f.cr2 == (uintptr_t)s->addr,
	       "a direct write to the patched site faults: vector %d, error %#lx", v, f.error);
	report(!memcmp(before, s->addr, s->len), "the site is unchanged by the attempt");
	report(paging_lookup(POKE_AREA_BASE, NULL) == NULL, "the private poke window is unmapped again");
	report(paging_lookup(POKE_AREA_BASE + PAGE_SIZE, NULL) == NULL, "both of its pages");

	err = site_patch(s, variant_by_name(s, "a"));
	report(err == 0 && flip_call_fn() == FLIP_A, "patched back to a");
}
KTEST("patch.wx_holds_after_patching", test_wx_after_patch);

/*
 * Hidden, booted by a stanza of tests/boots.cfg: the patching CPU's own NMI
 * handler calls the single writer in the middle of a batch, when text_lock
 * is held by this CPU and IRQs are off, as the writer requires. It must
 * still refuse, by name: a write from there would land in the middle of a
 * protocol step (only the handler a strategy opens for the writer, as the
 * nmi strategy opens its own NMI, may write; int3 opens none). (It
 * rewrites the site's first byte with itself, so a
 * writer that let it through would do no harm before this test fails.)
 */
static volatile uint32_t writer_nmi_pending, writer_nmi_returned;

static void writer_from_nmi(struct regs *r)     /* NMI context, on the patching CPU */
{
	(void)r;
	if (!__atomic_exchange_n(&writer_nmi_pending, 0, __ATOMIC_SEQ_CST))
		return;
	struct poke_write w = { (uintptr_t)flip_call_site, (const uint8_t *)flip_call_site, 1, NULL };
	text_poke_many(&w, 1);
	writer_nmi_returned = 1;
}

static void writer_hook(unsigned p)
{
	if (p != PHASE_INT3_WRITTEN)
		return;
	writer_nmi_pending = 1;
	__atomic_fetch_or(&this_cpu()->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
	apic_send_nmi_self();
	for (int i = 0; i < 10000000 && writer_nmi_pending; i++)
		cpu_relax();
}

static void test_writer_in_nmi(void)
{
	const struct patch_site_def *s = site_by_name("call");
	nmi_set_test_hook(writer_from_nmi);
	poke_set_phase_hook(writer_hook);
	int err = site_patch(s, variant_by_name(s, "b"));
	poke_set_phase_hook(NULL);
	nmi_set_test_hook(NULL);
	report(false, "the writer ran in the patching CPU's NMI handler (returned: %u) and the batch went on (%s)",
	       writer_nmi_returned, patch_errname(err));
}
KTEST("patch.writer_in_nmi_panics", test_writer_in_nmi, .flags = KTEST_HIDDEN);

/* Phase hook: which phases of int3-2round the batch went through. */
static uint32_t r2_phases_seen;
static void note_r2_phase(unsigned p)
{
	if (poke_current_strategy == &int3_2round_strategy && p < 32)
		r2_phases_seen |= 1u << p;
}

/* Does the registry find the int3 strategy by name and refuse an unknown
 * one, and does a batch that names its strategy get applied by it (the
 * figures say which, with its rounds)? */
static void test_strategy_per_batch(void)
{
	const struct patch_strategy *int3 = patch_strategy_find("int3");
	report(int3 == &int3_strategy, "patch_strategy_find(\"int3\") is the int3 strategy");
	report(patch_strategy_find("no-such-strategy") == NULL, "an unknown name finds nothing");
	report(patch_default_strategy() == &int3_strategy, "the default (no patch.strategy on the command line) is int3");

	const struct patch_site_def *s = site_by_name("call");
	uint8_t a[POKE_MAX_LEN], b[POKE_MAX_LEN];
	site_encode(s, variant_by_name(s, "a"), a);
	site_encode(s, variant_by_name(s, "b"), b);
	static struct poke_site storage[1];
	struct poke_batch batch = POKE_BATCH_INIT(storage, 1);
	batch.strategy = int3;
	int err = smp_text_poke_batch_add(&batch, (void *)s->addr, a, b, s->len);
	if (!err)
		err = smp_text_poke_batch_finish(&batch);
	struct poke_stats st;
	poke_get_stats(&st);
	report(err == 0 && flip_call_fn() == FLIP_B, "a batch naming int3 patched call -> b (%s)", patch_errname(err));
	report(st.strategy == int3 && st.rounds == 3, "the figures name its strategy, %s, and 3 rounds (%u)",
	       patch_strategy_name(st.strategy), st.rounds);
	report(!strcmp(poke_phase_name(poke_current_phase), "retired"), "the phase is back at '%s'",
	       poke_phase_name(poke_current_phase));
	err = site_patch(s, variant_by_name(s, "a"));
	report(err == 0 && flip_call_fn() == FLIP_A, "patched back to a");

	/* The second strategy, through the same seam: its rounds and phases. */
	const struct patch_strategy *r2 = patch_strategy_find("int3-2round");
	report(r2 == &int3_2round_strategy, "patch_strategy_find(\"int3-2round\") is hpa's variant");
	r2_phases_seen = 0;
	poke_set_phase_hook(note_r2_phase);
	err = site_patch_by(r2, s, variant_by_name(s, "b"));
	poke_set_phase_hook(NULL);
	poke_get_stats(&st);
	report(err == 0 && flip_call_fn() == FLIP_B, "int3-2round patched call -> b (%s)", patch_errname(err));
	report(st.strategy == r2 && st.rounds == 2, "in 2 rounds (%u), by %s", st.rounds, patch_strategy_name(st.strategy));
	report(r2_phases_seen == (1u << R2_PHASE_COUNT) - 1, "it went through its %u phases, by its own names "
	       "(seen mask %#x; rest-written at %u)", R2_PHASE_COUNT, r2_phases_seen, R2_PHASE_REST_WRITTEN);
	report(!strcmp(poke_phase_name(R2_PHASE_REST_WRITTEN), "rest-written"), "phase %u is '%s'",
	       R2_PHASE_REST_WRITTEN, poke_phase_name(R2_PHASE_REST_WRITTEN));
	err = site_patch(s, variant_by_name(s, "a"));
	report(err == 0 && flip_call_fn() == FLIP_A, "patched back to a with the default");
}
KTEST("patch.strategy_per_batch", test_strategy_per_batch);
