/*
 * tests/kernel/test_patch_rollfwd.c — the roll-forward strategy's promises
 * (strategies/roll_forward/), tested where TCG cannot hide them: what the
 * patching CPU's own NMI completes and when, how many times a bystander
 * waits, who acknowledges a round while bystanders wait, and values that a
 * torn instruction would give.
 *
 * Hidden (run by the ktest-roll-forward stanza of tests/boots.cfg, which
 * names them): each picks the roll-forward strategy per batch.
 *
 * Lab knob used here: patch.write_delay_us (200 us between byte stores in
 * rollfwd.nmi_value_never_torn, so that a half-written site stays half
 * written long enough for a CPU that left #BP too early to run it).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "clients/sites/sites.h"
#include "lab/context_sites.h"
#include "lab/crew.h"
#include "lab/fixture_sites.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/text_poke.h"
#include "strategies/roll_forward/roll_forward.h"

POKE_BATCH_DEFINE(rf_batch, 8);

/* One named site of a batch, with both variants' bytes. */
struct rf_site {
	const struct patch_site_def *def;
	uint8_t a[POKE_MAX_LEN], b[POKE_MAX_LEN];
};

static bool rf_site_init(struct rf_site *s, const char *name)
{
	s->def = site_by_name(name);
	return s->def && site_encode(s->def, &s->def->var[0], s->a) > 0 && site_encode(s->def, &s->def->var[1], s->b) > 0;
}

static bool holds(const struct rf_site *s, const uint8_t *bytes)
{
	return !memcmp(s->def->addr, bytes, s->def->len);
}

/* Every site of sites[0..n) from a to b (to_b) or back, as one roll-forward
 * batch. */
static int rf_flip(struct rf_site *sites, unsigned n, bool to_b)
{
	rf_batch.strategy = &roll_forward_strategy;
	for (unsigned i = 0; i < n; i++) {
		int err = smp_text_poke_batch_add(&rf_batch, (void *)sites[i].def->addr, to_b ? sites[i].a : sites[i].b,
						  to_b ? sites[i].b : sites[i].a, sites[i].def->len);
		if (err) {
			smp_text_poke_batch_reset(&rf_batch);
			return err;
		}
	}
	return smp_text_poke_batch_finish(&rf_batch);
}

static uint64_t hazard_of(unsigned cpu, unsigned i)
{
	return __atomic_load_n(&percpu_of(cpu)->patch.hazard[i], __ATOMIC_RELAXED);
}

static uint64_t value_hits(unsigned cpu, enum value_result v)
{
	return __atomic_load_n(&lab_cpu[cpu].value_hits[v], __ATOMIC_RELAXED);
}

static uint64_t torn_total(void)
{
	uint64_t n = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		n += value_hits(c, VALUE_TORN);
	return n;
}

/* ------------------------------------------------------------------------
 * 1. The patching CPU's own NMI completes exactly the site it ran.
 */
#define T1_SITES 6
static struct rf_site t1[T1_SITES];     /* [0]: the NMI path's value site; the NMI runs no other */
static unsigned t1_fire_at;

/* What the NMI's test hook saw, right after the NMI path ran its sites. */
static struct {
	uint32_t taken;
	bool value_complete;            /* t1[0] held its whole new instruction */
	uint32_t int3s, complete;       /* the other sites: first byte int3 / whole new instruction */
} t1_seen;

/* NMI context (the test hook), after nmi_value ran in the same NMI. */
static void t1_look(struct regs *r)
{
	(void)r;
	t1_seen.taken++;
	t1_seen.value_complete = holds(&t1[0], t1[0].b);
	for (unsigned i = 1; i < T1_SITES; i++) {
		t1_seen.int3s += *(const volatile uint8_t *)t1[i].def->addr == INT3_INSN_OPCODE;
		t1_seen.complete += holds(&t1[i], t1[i].b);
	}
}

/* The phase hook: the patcher sends itself an NMI at one phase. */
static void t1_nmi_self_at(unsigned p)
{
	if (p == t1_fire_at) {
		__atomic_fetch_or(&this_cpu()->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
		apic_send_nmi_self();
	}
}

/* A six-site batch; at each phase in turn the patching CPU takes an NMI
 * whose handler runs one site of it (the NMI path's value site, a mov no
 * emulation could run). Is that site, and only that one, completed right
 * there, with as many rounds of its own as the thread had not run yet; does
 * the batch then complete with every site new and the figures true? */
static void test_completes_the_interrupted_site(void)
{
	static const struct {
		unsigned phase;
		uint32_t rolled, trap_rounds;   /* expected */
	} cases[] = {
		{ RF_PHASE_INT3_WRITTEN, 1, 2 },        /* before round 1: a round before the tail, one after */
		{ RF_PHASE_INT3_SYNCED, 1, 1 },         /* round 1 done: the tail, a round, the first byte */
		{ RF_PHASE_TAILS_WRITTEN, 1, 1 },       /* tails written but round 2 not run: the same */
		{ RF_PHASE_TAILS_SYNCED, 1, 0 },        /* round 2 done: the first byte alone */
		{ RF_PHASE_FIRST_WRITTEN, 0, 0 },       /* every site new: the NMI runs it, nothing to do */
	};
	static const char *const names[T1_SITES] = { "nmi_value", "call", "jmp32", "jcc32", "nop5", "nop2" };
	struct percpu *pc = this_cpu();
	unsigned me = pc->cpu;

	for (unsigned i = 0; i < T1_SITES; i++)
		if (!report(rf_site_init(&t1[i], names[i]) && holds(&t1[i], t1[i].a), "site %s holds variant a", names[i]))
			return;
	nmi_set_test_hook(t1_look);
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *phase = roll_forward_strategy.phase_names[cases[k].phase];
		uint64_t rounds0 = sync_rounds_total(), rolled0 = hazard_of(me, RF_HAZARD_ROLLED_FORWARD);
		uint64_t bp0 = pc->patch.bp_handled[BP_NMI], got_a0 = value_hits(me, VALUE_GOT_A);
		uint64_t got_b0 = value_hits(me, VALUE_GOT_B), torn0 = value_hits(me, VALUE_TORN);
		memset(&t1_seen, 0, sizeof(t1_seen));
		t1_fire_at = cases[k].phase;
		poke_set_phase_hook(t1_nmi_self_at);
		int err = rf_flip(t1, T1_SITES, true);
		poke_set_phase_hook(NULL);
		struct poke_stats st;
		poke_get_stats(&st);
		uint64_t rounds = sync_rounds_total() - rounds0;

		unsigned all_b = 0;
		for (unsigned i = 0; i < T1_SITES; i++)
			all_b += holds(&t1[i], t1[i].b);
		report(err == 0 && all_b == T1_SITES, "NMI at %s: the batch completed, %u of %u sites hold their new bytes (%s)",
		       phase, all_b, T1_SITES, patch_errname(err));
		report(t1_seen.taken == 1, "NMI at %s: the patcher took its NMI once (%u)", phase, t1_seen.taken);
		report(rf_state.rolled == cases[k].rolled &&
		       hazard_of(me, RF_HAZARD_ROLLED_FORWARD) - rolled0 == cases[k].rolled &&
		       pc->patch.bp_handled[BP_NMI] - bp0 == cases[k].rolled,
		       "NMI at %s: %u roll-forward(s) expected: %u recorded, %lu counted (hazard), %lu #BP hit(s) handled "
		       "in NMI context", phase, cases[k].rolled, rf_state.rolled,
		       hazard_of(me, RF_HAZARD_ROLLED_FORWARD) - rolled0, pc->patch.bp_handled[BP_NMI] - bp0);
		if (cases[k].rolled) {
			const struct rf_rolled *l = &rf_state.log[0];
			report(l->addr == (uintptr_t)t1[0].def->addr && l->ctx == BP_NMI,
			       "NMI at %s: the roll-forward completed %#lx in %s context, the site the NMI ran (%p)",
			       phase, l->addr, bp_ctx_names[l->ctx < BP_CTX_COUNT ? l->ctx : 0], t1[0].def->addr);
			report(l->int3_left == T1_SITES - 1 && t1_seen.value_complete && t1_seen.int3s == T1_SITES - 1 &&
			       t1_seen.complete == 0,
			       "NMI at %s: right after it, that site was whole and the %u others still held their int3 "
			       "(recorded %u; the NMI saw the value site %s, %u int3s, %u others complete)", phase,
			       T1_SITES - 1, l->int3_left, t1_seen.value_complete ? "whole" : "NOT whole", t1_seen.int3s,
			       t1_seen.complete);
			report(l->trap_rounds == cases[k].trap_rounds && rf_state.trap_rounds == cases[k].trap_rounds,
			       "NMI at %s: it ran %u round(s) of its own (expected %u: the ones the thread had not run)",
			       phase, l->trap_rounds, cases[k].trap_rounds);
		} else {
			report(t1_seen.value_complete && t1_seen.complete == T1_SITES - 1,
			       "NMI at %s: every site was already whole when the NMI ran (%u others)", phase,
			       t1_seen.complete);
		}
		report(st.strategy == &roll_forward_strategy && st.rounds == 3 && rounds == 3 + cases[k].trap_rounds,
		       "NMI at %s: the figures: %u rounds of the thread, %lu rounds in all (expected 3 + %u of the NMI's)", phase,
		       st.rounds, rounds, cases[k].trap_rounds);
		report(value_hits(me, VALUE_GOT_B) - got_b0 == 1 && value_hits(me, VALUE_GOT_A) == got_a0 &&
		       value_hits(me, VALUE_TORN) == torn0,
		       "NMI at %s: the NMI's value site gave the new value B, once (a %lu, b %lu, torn %lu)", phase,
		       value_hits(me, VALUE_GOT_A) - got_a0, value_hits(me, VALUE_GOT_B) - got_b0,
		       value_hits(me, VALUE_TORN) - torn0);
		int back = rf_flip(t1, T1_SITES, false);
		unsigned all_a = 0;
		for (unsigned i = 0; i < T1_SITES; i++)
			all_a += holds(&t1[i], t1[i].a);
		report(back == 0 && all_a == T1_SITES, "NMI at %s: patched back to a (%s)", phase, patch_errname(back));
	}
	nmi_set_test_hook(NULL);
}
KTEST("rollfwd.completes_only_the_interrupted_site", test_completes_the_interrupted_site, .flags = KTEST_HIDDEN);

/* ------------------------------------------------------------------------
 * 2. Bystanders wait in #BP, never run anything else, and never hold a
 *    round up.
 */
#define T2_FLIPS 200

/* Crew job: an NMI to this CPU, whose handler runs the value site. */
static void nmi_self_job(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	nmi_send(cpu, NMI_STORM);
	udelay(5);
}

/* Every other CPU's NMIs run the NMI path's value site while it flips,
 * T2_FLIPS times: do they wait in #BP when they meet it in flight, each at
 * most once per batch (a wait that ended early would trap again on the
 * same int3), does every batch complete, and is no value ever torn? */
static void test_bystanders_wait(void)
{
	static uint64_t waits0[MAX_CPUS], last[MAX_CPUS], cycles0[MAX_CPUS];
	struct rf_site v;
	unsigned me = cpu_id();
	if (!report(rf_site_init(&v, "nmi_value") && holds(&v, v.a), "the value site holds variant a"))
		return;
	for_each_cpu_in(c, &cpu_online_mask) {
		waits0[c] = last[c] = hazard_of(c, RF_HAZARD_WAITED);
		cycles0[c] = rf_cpu[c].wait_cycles;
	}
	uint64_t torn0 = torn_total(), twice = 0, max_per_flip = 0;
	unsigned crew = crew_start(nmi_self_job, NULL);
	int err = 0;
	unsigned done = 0;
	for (; done < T2_FLIPS && !err; done++) {
		err = rf_flip(&v, 1, done % 2 == 0);
		for_each_cpu_in(c, &cpu_online_mask) {
			uint64_t now = hazard_of(c, RF_HAZARD_WAITED), d = now - last[c];
			twice += d > 1;
			max_per_flip = d > max_per_flip ? d : max_per_flip;
			last[c] = now;
		}
	}
	crew_stop(-1);

	uint64_t waits = 0, cycles = 0, max = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			continue;
		waits += hazard_of(c, RF_HAZARD_WAITED) - waits0[c];
		cycles += rf_cpu[c].wait_cycles - cycles0[c];
		max = rf_cpu[c].wait_max > max ? rf_cpu[c].wait_max : max;
	}
	report_info("%u bystander(s), %u flips: %lu waits in #BP, %lu us each on average, longest since boot %lu us",
		    crew, done, waits, waits ? tsc_to_us(cycles / waits) : 0, tsc_to_us(max));
	report(err == 0 && done == T2_FLIPS && holds(&v, v.a), "%u flips applied, the site holds a again (%s)", done,
	       patch_errname(err));
	report(waits > 0, "bystanders' NMIs met the site in flight and waited in #BP %lu times (the window was hit)",
	       waits);
	report(twice == 0, "no bystander waited twice in one batch (%lu times; at most %lu waits of one CPU in a batch): "
	       "each wait lasted until the site was whole", twice, max_per_flip);
	report(hazard_of(me, RF_HAZARD_WAITED) == waits0[me], "the patching CPU never waited (%lu)",
	       hazard_of(me, RF_HAZARD_WAITED) - waits0[me]);
	report(torn_total() == torn0, "no NMI got a torn value (%lu)", torn_total() - torn0);
}
KTEST("rollfwd.bystanders_wait_until_complete", test_bystanders_wait, .flags = KTEST_HIDDEN, .min_cpus = 2);

/* A bystander waiting in #BP in thread context, with an NMI nested in that
 * #BP waiting in #BP too: the in-#BP rule no longer counts it, so only its
 * own wait can acknowledge. */
static struct rf_site t2b[2];           /* the call site (thread context) and the value site (its NMI) */
static unsigned t2b_cpu;
static volatile uint32_t t2b_result;
static struct {
	bool thread_waiting, nmi_waiting;
	uint32_t refs, nested;                  /* at int3-synced, after the NMI */
	uint32_t refs2, nested2;                /* at tails-synced (round 2 done) */
	uint64_t acked2, round2;
} t2b_seen;

/* Thread context on the bystander: one call through the site. Started
 * only once the int3s are in place: a CPU that translated the site while
 * it was being written could run that translation for as long as TCG
 * keeps it (README, "What TCG can and cannot show"). */
static void t2b_call(void *unused)
{
	(void)unused;
	t2b_result = flip_call_fn();
}

/* Until the bystander has begun its n-th wait of the test (its hazard
 * counter moves as a wait begins). */
static uint64_t t2b_waits0;
static bool wait_waits(uint64_t n)
{
	uint64_t deadline = tsc_deadline_us(2000000);
	while (hazard_of(t2b_cpu, RF_HAZARD_WAITED) - t2b_waits0 < n)
		if (tsc_expired(deadline))
			return false;
	return true;
}

/* Phase hook: at int3-synced, have the bystander call the site and, once
 * it waits in #BP, NMI it (its handler meets the value site's int3 and
 * waits too); at tails-synced, see who acknowledged round 2. */
static void t2b_hook(unsigned p)
{
	const struct patch_cpu *x = &percpu_of(t2b_cpu)->patch;
	if (p == RF_PHASE_INT3_SYNCED) {
		t2b_seen.thread_waiting = on_cpu_async(t2b_cpu, t2b_call, NULL) == 0 && wait_waits(1);
		nmi_send(t2b_cpu, NMI_STORM);
		t2b_seen.nmi_waiting = wait_waits(2);
		t2b_seen.refs = x->bp_refs;
		t2b_seen.nested = x->bp_nested;
	} else if (p == RF_PHASE_TAILS_SYNCED) {
		t2b_seen.refs2 = x->bp_refs;
		t2b_seen.nested2 = x->bp_nested;
		t2b_seen.acked2 = __atomic_load_n(&x->sync_acked, __ATOMIC_ACQUIRE);
		t2b_seen.round2 = sync_rounds_total();
	}
}

/* Does round 2 complete while the bystander stays in #BP (thread context)
 * with an NMI nested in it that waits in #BP as well, because the nested
 * wait acknowledges the round itself? */
static void test_nested_wait_acknowledges(void)
{
	t2b_cpu = cpumask_next(&cpu_online_mask, cpu_id() == 0 ? 1 : 0);
	if (!report(rf_site_init(&t2b[0], "call") && rf_site_init(&t2b[1], "nmi_value") && holds(&t2b[0], t2b[0].a) &&
		    holds(&t2b[1], t2b[1].a), "the call and value sites hold variant a"))
		return;
	uint64_t waits0 = t2b_waits0 = hazard_of(t2b_cpu, RF_HAZARD_WAITED);
	const struct patch_cpu *x = &percpu_of(t2b_cpu)->patch;
	uint64_t thr0 = x->bp_handled[BP_THREAD], nmi0 = x->bp_handled[BP_NMI];
	memset(&t2b_seen, 0, sizeof(t2b_seen));
	t2b_result = 0;
	poke_set_phase_hook(t2b_hook);
	int err = rf_flip(t2b, 2, true);
	poke_set_phase_hook(NULL);
	report(cpu_wait_done(t2b_cpu, 5000000) == 0, "CPU %u returned from its call through the site", t2b_cpu);

	report(err == 0, "the batch completed (%s)", patch_errname(err));
	report(t2b_seen.thread_waiting && t2b_seen.nmi_waiting && t2b_seen.refs == 2 && t2b_seen.nested == 1,
	       "after round 1, CPU %u waited in #BP at the call site, and an NMI nested in that #BP waited in #BP at "
	       "the value site (bp_refs %u, bp_nested %u): the in-#BP rule does not count it", t2b_cpu, t2b_seen.refs,
	       t2b_seen.nested);
	report(t2b_seen.refs2 == 2 && t2b_seen.nested2 == 1 && t2b_seen.acked2 == t2b_seen.round2,
	       "round 2 completed with CPU %u still in both waits (bp_refs %u, bp_nested %u): it acknowledged round %lu "
	       "from its nested wait (its last acknowledgement: round %lu)", t2b_cpu, t2b_seen.refs2, t2b_seen.nested2,
	       t2b_seen.round2, t2b_seen.acked2);
	report(hazard_of(t2b_cpu, RF_HAZARD_WAITED) - waits0 == 2 && x->bp_handled[BP_THREAD] - thr0 == 1 &&
	       x->bp_handled[BP_NMI] - nmi0 == 1, "CPU %u waited twice: once in thread context, once in NMI context "
	       "(%lu waits; #BP hits handled: thread %lu, nmi %lu)", t2b_cpu, hazard_of(t2b_cpu, RF_HAZARD_WAITED) - waits0,
	       x->bp_handled[BP_THREAD] - thr0, x->bp_handled[BP_NMI] - nmi0);
	report(t2b_result == FLIP_B, "and then ran the new call: it got b (%#x)", t2b_result);
	report(rf_flip(t2b, 2, false) == 0 && holds(&t2b[0], t2b[0].a) && holds(&t2b[1], t2b[1].a), "patched back to a");
}
KTEST("rollfwd.nested_wait_acknowledges_rounds", test_nested_wait_acknowledges, .flags = KTEST_HIDDEN,
      .min_cpus = 2);

/* ------------------------------------------------------------------------
 * 3. The NMI path's value site under NMIs on every CPU, the patcher's too.
 */
#define T3_FLIPS        20
#define T3_DELAY_US     200

static unsigned t3_patcher;

/* Crew job: an NMI to the patching CPU, then one to this CPU; each runs
 * the value site. */
static void nmi_both_job(unsigned cpu, uint64_t round, void *unused)
{
	(void)unused;
	nmi_send(round % 2 ? cpu : t3_patcher, NMI_STORM);
	udelay(10);
}

/* Flipped by roll-forward T3_FLIPS times with 200 us between byte stores
 * while NMIs hit every CPU: are NMI handlers on the other CPUs made to wait
 * and the patcher's own rolled forward, and does none ever get a torn
 * value? And what roll-forward will patch that int3 will not. */
static void test_nmi_value_never_torn(void)
{
	static uint64_t waits0[MAX_CPUS];
	struct rf_site v, nop2;
	unsigned me = cpu_id();
	if (!report(rf_site_init(&v, "nmi_value") && holds(&v, v.a) && rf_site_init(&nop2, "nop2") &&
		    holds(&nop2, nop2.a), "the value and nop2 sites hold variant a"))
		return;

	/* What it may patch. */
	static const uint8_t jmp_rax[2] = { 0xff, 0xe0 }, add_eax[2] = { 0x03, 0xc0 };
	int e1 = smp_text_poke_one(patch_strategy_find("int3"), (void *)v.def->addr, v.a, v.b, v.def->len);
	int e2 = smp_text_poke_one(&roll_forward_strategy, (void *)nop2.def->addr, nop2.a, jmp_rax, 2);
	int e3 = smp_text_poke_one(&roll_forward_strategy, (void *)nop2.def->addr, nop2.a, add_eax, 2);
	report(e1 == -PATCH_ENOT_EMULATABLE && holds(&v, v.a), "int3 cannot patch the value site (a mov): %s",
	       patch_errname(e1));
	report(e2 == -PATCH_EBRANCH_UNCHECKED && e3 == -PATCH_EFIRST_BYTE_03 && holds(&nop2, nop2.a),
	       "roll-forward refuses jmp rax (%s) and add eax, eax, which begins with 03 (%s); nothing written",
	       patch_errname(e2), patch_errname(e3));

	t3_patcher = me;
	for_each_cpu_in(c, &cpu_online_mask)
		waits0[c] = hazard_of(c, RF_HAZARD_WAITED);
	uint64_t rolled0 = hazard_of(me, RF_HAZARD_ROLLED_FORWARD), torn0 = torn_total();
	unsigned crew = crew_start(nmi_both_job, NULL);
	int err = 0;
	unsigned done = 0;
	poke_write_delay_us = T3_DELAY_US;
	for (; done < T3_FLIPS && !err; done++)
		err = site_patch_by(&roll_forward_strategy, v.def, &v.def->var[(done + 1) % 2]);
	poke_write_delay_us = 0;
	crew_stop(-1);

	uint64_t waits = 0, rolled = hazard_of(me, RF_HAZARD_ROLLED_FORWARD) - rolled0, torn = torn_total() - torn0;
	for_each_cpu_in(c, &cpu_online_mask)
		waits += hazard_of(c, RF_HAZARD_WAITED) - waits0[c];
	report(err == 0 && done == T3_FLIPS && holds(&v, v.a), "roll-forward flipped the value site %u times with %u us "
	       "between byte stores (%s)", done, T3_DELAY_US, patch_errname(err));
	report(crew == 0 || waits > 0, "%u other CPU(s)' NMIs met it in flight and waited in #BP %lu times", crew, waits);
	report(crew == 0 || rolled > 0, "the patching CPU's own NMIs met it in flight and completed it %lu times", rolled);
	report(torn == 0, "no NMI ran it half written (%lu torn values)", torn);
}
KTEST("rollfwd.nmi_value_never_torn", test_nmi_value_never_torn, .flags = KTEST_HIDDEN, .min_cpus = 2);
