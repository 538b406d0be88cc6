/*
 * tests/kernel/test_patch_order.c — the order of writes and rounds, as an
 * observer CPU records it (per-phase stamps), for every strategy that puts
 * int3s in. Like test_patch_rounds.c, it does not lean on TCG's instruction
 * fetch: the observer reads the site's bytes as data and compares what it
 * saw with what it had acknowledged.
 *
 *   patcher (this CPU)                        observer (another CPU)
 *   ------------------                        ----------------------
 *   writes step k (int3, tails, first)        loop, IRQs off in SLICE_US slices:
 *   phase hook: stamp[p] = {rounds started,     read the site's bytes, classify
 *     the bytes' level}; after a write,         them (old, int3+old tail,
 *     wait until the observer saw it            int3+other tail, new, torn); at
 *   round: IPI to all ------------------->      the first sight of each level,
 *     waits for the observer's ack   <-------   note its own last acknowledged
 *                                               round
 *   writes step k+1                           between slices: IRQs on, the
 *                                               round's IPI acknowledges
 *
 * The promises checked, from the stamps alone:
 *  1. (patcher) between two phases whose writes changed the bytes, a round
 *     started; after the last one, a round too;
 *  2. (observer) when it first saw the bytes of a step, it had already
 *     acknowledged every round started before that step was written: no
 *     CPU sees step k+1 before it has serialized after step k;
 *  3. (observer) no torn state (a first byte that is neither the int3 nor
 *     the new byte over a mixed tail), and every state the patcher wrote
 *     was seen (the patcher waits for that, bounded: the hazard was there
 *     to be seen).
 * A rendezvous that waits for nobody breaks 2 (the observer, IRQs off,
 * sees the next step before acknowledging); a dropped round breaks 1.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "clients/sites/sites.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"

#define SLICE_US 1000                   /* observer: IRQs off this long at a time */
#define SEEN_TIMEOUT_US 500000         /* patcher: waits this long for the observer to see a step */
#define SITE_MAX 16

enum level { L_OLD, L_INT3_OLD, L_INT3_OTHER, L_NEW, L_TORN, L_COUNT };
static const char *const level_names[L_COUNT] = { "old", "int3+old tail", "int3+new/mixed tail", "new", "torn" };

static const uint8_t *site_addr;
static uint8_t site_len, old_bytes[SITE_MAX], new_bytes[SITE_MAX];

static enum level classify(const volatile uint8_t *p)
{
	uint8_t b[SITE_MAX];
	for (unsigned i = 0; i < site_len; i++)
		b[i] = p[i];
	if (!memcmp(b, old_bytes, site_len))
		return L_OLD;
	if (!memcmp(b, new_bytes, site_len))
		return L_NEW;
	if (b[0] == 0xcc)
		return memcmp(b + 1, old_bytes + 1, site_len - 1u) ? L_INT3_OTHER : L_INT3_OLD;
	return L_TORN;
}

/* The observer's first sight of each level. */
static struct sight {
	bool seen;
	uint64_t acked;                 /* its own last acknowledged round then */
} sights[L_COUNT];
/* The patcher's stamps, one per phase of the strategy. */
static struct stamp {
	bool reached;
	uint64_t rounds;                /* rounds started when the phase was reached */
	enum level level;               /* what the site held then */
} stamps[POKE_PHASES_MAX];

/* Thread or NMI context (the nmi strategy): no lock, bounded wait. */
static void stamp_phase(unsigned p)
{
	if (p >= POKE_PHASES_MAX)
		return;
	stamps[p] = (struct stamp){ true, sync_rounds_total(), classify(site_addr) };
	/* After a write, before its round: wait until the observer has seen
	 * the step (bounded: its vCPU may be descheduled by the host). Never
	 * after a round: that would give a rendezvous that did not wait the
	 * time to be acknowledged anyway. */
	if (p > 0 && stamps[p - 1].reached && stamps[p].level != stamps[p - 1].level) {
		uint64_t deadline = tsc_deadline_us(SEEN_TIMEOUT_US);
		while (!__atomic_load_n(&sights[stamps[p].level].seen, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
			cpu_relax();
	}
}

static volatile uint32_t stop_observing;
static uint64_t observer_acked_at_end;

static void observe(void *unused)
{
	(void)unused;
	struct percpu *pc = this_cpu();
	while (!__atomic_load_n(&stop_observing, __ATOMIC_ACQUIRE)) {
		uint64_t flags = irq_save();
		uint64_t end = tsc_deadline_us(SLICE_US);
		bool last;
		do {    /* read once more after the deadline: a vCPU descheduled
			 * mid-slice must look before it opens its window */
			last = tsc_expired(end);
			enum level l = classify(site_addr);
			if (!sights[l].seen)
				sights[l] = (struct sight){ true, __atomic_load_n(&pc->patch.sync_acked, __ATOMIC_ACQUIRE) };
		} while (!last);
		irq_restore(flags);
		for (int i = 0; i < 8; i++)     /* past STI's shadow: a pending IPI lands here */
			cpu_relax();
	}
	observer_acked_at_end = __atomic_load_n(&pc->patch.sync_acked, __ATOMIC_ACQUIRE);
}

/* One batch a -> b of the "call" site with strategy st under the observer;
 * reports every promise. */
static void check_strategy(const struct patch_strategy *st, unsigned other)
{
	const struct patch_site_def *s = site_by_name("call");
	site_addr = s->addr;
	site_len = s->len;
	memcpy(old_bytes, s->addr, s->len);
	if (!report(site_encode(s, variant_by_name(s, "b"), new_bytes) == s->len, "%s: encode call b", st->name))
		return;
	memset(stamps, 0, sizeof(stamps));
	memset(sights, 0, sizeof(sights));
	stop_observing = 0;
	int err = on_cpu_async(other, observe, NULL);
	uint64_t deadline = tsc_deadline_us(1000000);
	while (!err && !__atomic_load_n(&sights[L_OLD].seen, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
		cpu_relax();            /* it has looked at the site once: old */
	if (!err) {
		poke_set_phase_hook(stamp_phase);
		poke_set_phase_hook_nmi(stamp_phase);   /* the nmi strategy reaches its phases in NMI */
		err = site_patch_by(st, s, variant_by_name(s, "b"));
		poke_set_phase_hook_nmi(NULL);
		poke_set_phase_hook(NULL);
	}
	__atomic_store_n(&stop_observing, 1, __ATOMIC_SEQ_CST);
	int werr = cpu_wait_done(other, CALL_TIMEOUT_US);
	report(err == 0 && werr == 0, "%s: the batch completed (%s) under the observer on CPU %u", st->name,
	       patch_errname(err), other);

	for (unsigned p = 0; p < st->nr_phases; p++)
		if (stamps[p].reached)
			report_info("%s: phase %-14s rounds started %lu, site %s", st->name, st->phase_names[p],
				    stamps[p].rounds, level_names[stamps[p].level]);
	for (unsigned l = 0; l < L_COUNT; l++)
		if (sights[l].seen)
			report_info("%s: observer first saw %-20s having acknowledged round %lu", st->name, level_names[l],
				    sights[l].acked);

	/* 1: a round between writes, and after the last. */
	int last = -1;
	unsigned changes = 0, missing_rounds = 0;
	for (unsigned p = 0; p < st->nr_phases; p++) {
		if (!stamps[p].reached)
			continue;
		if (last >= 0 && stamps[p].level != stamps[last].level) {
			changes++;
			if (changes > 1 && stamps[p].rounds == stamps[last].rounds) {
				missing_rounds++;
				report_info("%s: no round between phase %s and phase %s", st->name, st->phase_names[last],
					    st->phase_names[p]);
			}
			last = (int)p;
		} else if (last < 0) {
			last = (int)p;
		}
	}
	unsigned ret = st->nr_phases - 1;
	bool final_round = stamps[ret].reached && last >= 0 && stamps[ret].rounds > stamps[last].rounds;
	report(changes >= 2 && missing_rounds == 0 && final_round,
	       "%s: %u phases changed the bytes, each write step followed by a round (%u missing; after the last: %s)",
	       st->name, changes, missing_rounds, final_round ? "yes" : "no");

	/* 2: the observer acknowledged every round started before a step was
	 * written before it saw that step. */
	unsigned early = 0, checked = 0;
	for (unsigned p = 0; p < st->nr_phases; p++) {
		enum level l = stamps[p].level;
		if (!stamps[p].reached || l == L_OLD || !sights[l].seen)
			continue;
		if (p > 0 && stamps[p - 1].reached && stamps[p - 1].level == l)
			continue;       /* not the phase that wrote it */
		checked++;
		/* stamps[p].rounds: rounds started before this step's writes
		 * (stamped right after them, before the next round). */
		if (sights[l].acked < stamps[p].rounds) {
			early++;
			report_info("%s: the observer saw '%s' (phase %s) having acknowledged round %lu of %lu", st->name,
				    level_names[l], st->phase_names[p], sights[l].acked, stamps[p].rounds);
		}
	}
	report(checked >= 2 && early == 0,
	       "%s: the observer saw %u write steps only after acknowledging every round before them (%u early)",
	       st->name, checked, early);
	report(last < 0 || observer_acked_at_end >= stamps[ret].rounds,
	       "%s: and it acknowledged the last round (%lu of %lu)", st->name, observer_acked_at_end,
	       stamps[ret].rounds);

	/* 3: what it saw. */
	unsigned unseen = 0;
	for (unsigned p = 0; p < st->nr_phases; p++)
		if (stamps[p].reached && !sights[stamps[p].level].seen) {
			unseen++;
			report_info("%s: the observer never saw '%s' (phase %s)", st->name, level_names[stamps[p].level],
				    st->phase_names[p]);
		}
	report(!sights[L_TORN].seen && unseen == 0, "%s: the observer saw every state written (%u unseen), nothing torn "
	       "(%s)", st->name, unseen, sights[L_TORN].seen ? "TORN seen" : "none");
	report(site_patch_by(st, s, variant_by_name(s, "a")) == 0, "%s: patched back to a", st->name);
}

static void test_observer_order(void)
{
	unsigned other = cpumask_next(&cpu_online_mask, 1);
	for (const struct patch_strategy *const *p = patch_strategies; *p; p++) {
		if (!(*p)->trap_phases) {
			report_info("%s puts no int3 in: its stopped CPUs cannot observe (test_patch_stop.c instead)",
				    (*p)->name);
			continue;
		}
		check_strategy(*p, other);
	}
}
KTEST("patch.observer_sees_rounds_between_writes", test_observer_order, .min_cpus = 2);
