/*
 * tests/kernel/test_static_key.c — static keys (clients/static_key/) under
 * bystander load: one batch per key change (sites run in thread context and
 * by every NMI), a transaction of two keys in one batch, and the refusals
 * that change nothing.
 *
 * With int3 a site hit in flight is emulated as its new instruction from the
 * first int3 on, so within one batch a pass over several sites can be torn
 * only while the int3s themselves are being stored (one short loop); between
 * two batches it can be torn for the whole gap. The transaction test tells
 * a pass that met one switch point (torn) from one that met two (split: the
 * middle site differs from both ends): two separate enables (the control)
 * must show split passes, a transaction applied by ool (every site switches
 * at its new-copies phase) never may; int3's are printed (test_key_txn).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "clients/static_key/static_key.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/string.h"
#include "lab/crew.h"
#include "lab/key_sites.h"
#include "patch/patch.h"
#include "patch/strategy.h"
#include "strategies/ool/ool.h"

#define KEY_FLIPS 20

static struct {
	uint64_t passes, torn, split, bad;
	uint32_t bad_value;
} key_tally[MAX_CPUS];

static void many_job(unsigned cpu, uint64_t round, void *arg)
{
	(void)round;
	(void)arg;
	uint32_t n = key_sites_many();
	key_tally[cpu].passes++;
	if (n > KEY_MANY_SITES) {
		key_tally[cpu].bad++;
		key_tally[cpu].bad_value = n;
	} else if (n && n != KEY_MANY_SITES) {
		key_tally[cpu].torn++;
	}
}

static void ab_job(unsigned cpu, uint64_t round, void *arg)
{
	(void)round;
	(void)arg;
	uint32_t v = key_sites_ab();
	key_tally[cpu].passes++;
	if (v & ~0xdu) {
		key_tally[cpu].bad++;
		key_tally[cpu].bad_value = v;
	} else if (v && v != 0xd) {
		key_tally[cpu].torn++;
		/* The pass runs lab_key_a's first site, lab_key_b's, lab_key_a's
		 * second. One switch point of both keys can show it a prefix
		 * of old sites and a suffix of new ones (0x8, 0xc flipping on;
		 * 0x5, 0x1 flipping off); 0x4 and 0x9 (the middle site differs
		 * from both ends) take two: the keys did not change together. */
		if (v == 0x4 || v == 0x9)
			key_tally[cpu].split++;
	}
}

static uint64_t emulations(void)
{
	uint64_t n = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != cpu_id())
			n += patch_bp_handled(c, BP_THREAD);
	return n;
}

static void tally_sum(uint64_t *passes, uint64_t *torn, uint64_t *bad)
{
	*passes = *torn = *bad = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		*passes += key_tally[c].passes;
		*torn += key_tally[c].torn;
		*bad += key_tally[c].bad;
		if (key_tally[c].bad)
			report_info("CPU %u: %lu bad passes, e.g. %#x", c, key_tally[c].bad, key_tally[c].bad_value);
	}
}

/* The bytes of site e in state on: its jmp (rel8 or rel32) or a NOP of
 * its length. */
static void key_site_want(const struct jump_entry *e, bool on, uint8_t want[JMP32_INSN_SIZE])
{
	unsigned len = jump_entry_len(e);
	if (!on)
		insn_nop(len, want);
	else if (len == JMP8_INSN_SIZE)
		insn_jmp8(jump_entry_code(e), jump_entry_target(e), want);
	else
		insn_jmp32(jump_entry_code(e), jump_entry_target(e), want);
}

/* Do k's sites all hold its state's bytes? */
static bool key_bytes_are(const struct static_key *k, bool on)
{
	for (uint32_t i = 0; i < k->nr_sites; i++) {
		uint8_t want[JMP32_INSN_SIZE];
		const struct jump_entry *e = &k->sites[i];
		key_site_want(e, on, want);
		if (memcmp((const void *)jump_entry_code(e), want, jump_entry_len(e)))
			return false;
	}
	return true;
}

/* Every site of every key holds its key's state, 2 or 5 bytes as the
 * assembler made its jmp; the lab has sites of both lengths, and a key
 * that starts off had its jmps made NOPs at boot. */
static void test_key_site_lengths(void)
{
	unsigned n2 = 0, n5 = 0, bad = 0;
	for (const struct jump_entry *e = __jump_table_start; e < __jump_table_end; e++) {
		const struct static_key *k = jump_entry_key(e);
		uint8_t want[JMP32_INSN_SIZE];
		key_site_want(e, k->enabled, want);
		if (memcmp((const void *)jump_entry_code(e), want, jump_entry_len(e))) {
			const uint8_t *p = (const uint8_t *)jump_entry_code(e);
			if (!bad++)
				report_info("site %lx of %s (%u bytes, %s): %02x %02x", jump_entry_code(e), k->name,
					    jump_entry_len(e), k->enabled ? "on" : "off", p[0], p[1]);
		}
		if (jump_entry_len(e) == JMP8_INSN_SIZE)
			n2++;
		else
			n5++;
	}
	report(!bad, "every site holds its key's state: %u of %u wrong", bad, n2 + n5);
	report(n2 && n5, "sites of both forms: %u of 2 bytes (jmp rel8 / 2-byte NOP), %u of 5", n2, n5);
	report(!lab_key_a.key.enabled && key_bytes_are(&lab_key_a.key, false),
	       "lab_key_a starts off: its %u sites are NOPs", lab_key_a.key.nr_sites);
}
KTEST("static_key.site_lengths", test_key_site_lengths);

/* Enable/disable lab_key_many (76 sites) KEY_FLIPS times under bystanders. */
static void test_key_flips(void)
{
	struct static_key *k = &lab_key_many.key;
	if (!report(k->nr_sites == KEY_MANY_SITES && k->enabled && key_bytes_are(k, true),
		    "lab_key_many: %u sites, on, every site a jmp", k->nr_sites))
		return;
	memset(key_tally, 0, sizeof(key_tally));
	uint64_t emu0 = emulations();
	unsigned helpers = crew_start(many_job, NULL);
	unsigned one_batch = 0, three_rounds = 0, bytes_ok = 0, done = 0;
	uint64_t us = 0;
	int err = 0;
	for (; done < KEY_FLIPS && !err; done++) {
		bool on = done % 2;
		struct poke_stats b0, st;
		poke_get_stats(&b0);
		uint64_t t0 = rdtsc();
		err = static_key_set(k, on);
		uint64_t took = tsc_to_us(rdtsc() - t0);
		us += took;
		crew_flip_took(took, NULL);
		poke_get_stats(&st);
		one_batch += st.batches == b0.batches + 1 && st.sites == KEY_MANY_SITES;
		three_rounds += st.rounds == 3;
		bytes_ok += key_bytes_are(k, on) && k->enabled == on;
	}
	crew_stop(-1);
	uint64_t passes, torn, bad, emu = emulations() - emu0;
	tally_sum(&passes, &torn, &bad);
	report_info("%u flips of %u sites, %lu us each; %u bystanders made %lu passes, %lu torn within a batch, "
		    "%lu site hits emulated", done, k->nr_sites, done ? us / done : 0, helpers, passes, torn, emu);
	report(err == 0, "every flip applied (%s)", err ? static_key_errname(err) : "no error");
	report(one_batch == done, "%u of %u flips were one batch of all %u sites", one_batch, done, KEY_MANY_SITES);
	report(three_rounds == done, "%u of %u flips took 3 rounds", three_rounds, done);
	report(bytes_ok == done, "%u of %u flips left every site holding the key's state", bytes_ok, done);
	report(bad == 0, "no pass saw a site do anything but branch or fall through (%lu bad)", bad);
	report(helpers == 0 || passes > 0, "bystanders ran the sites (%lu passes)", passes);
	report(helpers == 0 || emu > 0, "the window was hit: %lu site hits emulated in flight", emu);
	if (!k->enabled)
		static_key_enable(k);
}
KTEST("static_key.flips_one_batch", test_key_flips, .min_cpus = 2, .flags = KTEST_HIDDEN, .timeout_ms = 120000);

struct ab_result {
	uint64_t torn, split;   /* passes torn; of them, split (two switch points) */
	uint64_t ool_old, ool_new;      /* ool: site hits run as old / new copies */
	unsigned one_batch;
	int err;
};

/* Flip lab_key_a and lab_key_b together KEY_FLIPS times, either as two
 * separate changes or as one transaction applied by strategy st (NULL:
 * the default). */
static void ab_flips(bool txn, const struct patch_strategy *st, const char *what, struct ab_result *r)
{
	memset(key_tally, 0, sizeof(key_tally));
	memset(r, 0, sizeof(*r));
	uint64_t old0 = patch_hazard_all(OOL_HAZARD_OLD), new0 = patch_hazard_all(OOL_HAZARD_NEW);
	crew_start(ab_job, NULL);
	for (unsigned i = 0; i < KEY_FLIPS && !r->err; i++) {
		bool on = !(i % 2);
		struct poke_stats b0, stats;
		poke_get_stats(&b0);
		uint64_t t0 = rdtsc();
		if (txn) {
			static_key_txn_begin();
			static_key_txn_strategy(st);
			static_key_txn_add(&lab_key_a.key, on);
			static_key_txn_add(&lab_key_b.key, on);
			r->err = static_key_txn_commit();
		} else {
			r->err = static_key_set(&lab_key_a.key, on);
			if (!r->err)
				r->err = static_key_set(&lab_key_b.key, on);
		}
		crew_flip_took(tsc_to_us(rdtsc() - t0), NULL);
		poke_get_stats(&stats);
		r->one_batch += stats.batches == b0.batches + 1 && stats.rounds == 3 && stats.sites == 3 &&
				key_bytes_are(&lab_key_a.key, on) && key_bytes_are(&lab_key_b.key, on);
	}
	crew_stop(-1);
	if (st == patch_strategy_find("ool")) {
		r->ool_old = patch_hazard_all(OOL_HAZARD_OLD) - old0;
		r->ool_new = patch_hazard_all(OOL_HAZARD_NEW) - new0;
	}
	uint64_t passes, bad;
	tally_sum(&passes, &r->torn, &bad);
	for_each_cpu_in(c, &cpu_online_mask)
		r->split += key_tally[c].split;
	report_info("%s: %lu passes, %lu torn (one key flipped without the other), %lu of them split (0x4, 0x9: "
		    "two switch points), %lu bad", what, passes, r->torn, r->split, bad);
	report(bad == 0, "%s: no pass saw a site do anything but branch or fall through", what);
}

/* Both keys in one batch. A pass is torn (one key flipped, not the other)
 * whenever the switch falls inside it; "split" passes, where the middle
 * site differs from both ends, need two switch points: the two separate
 * enables (the control) show them; ool, which switches every site of its
 * batch at one point, never may; int3's are printed (it emulates each site
 * as new from its own int3 on, so while the int3s are stored a pass can
 * see a later site old after an earlier one new). */
static void test_key_txn(void)
{
	struct ab_result control, int3, ool;
	const struct patch_strategy *ool_st = patch_strategy_find("ool");
	if (!report(!lab_key_a.key.enabled && !lab_key_b.key.enabled && lab_key_a.key.nr_sites == 2 &&
		    lab_key_b.key.nr_sites == 1, "lab_key_a (2 sites) and lab_key_b (1 site) start off"))
		return;
	ab_flips(false, NULL, "two enables", &control);
	report(control.err == 0, "control: every enable applied (%s)", static_key_errname(control.err));
	report(control.split > 0, "control: two separate enables are seen split (%lu passes): the check can fail",
	       control.split);
	ab_flips(true, NULL, "one transaction (int3)", &int3);
	report(int3.err == 0, "transaction: every commit applied (%s)", static_key_errname(int3.err));
	report(int3.one_batch == KEY_FLIPS, "transaction: %u of %u commits were one batch of 3 sites in 3 rounds, "
	       "bytes right", int3.one_batch, KEY_FLIPS);
	ab_flips(true, ool_st, "one transaction (ool)", &ool);
	report(ool.err == 0 && ool.one_batch == KEY_FLIPS, "transaction with ool: %u of %u commits one batch of 3 sites "
	       "in 3 rounds (%s)", ool.one_batch, KEY_FLIPS, static_key_errname(ool.err));
	report(ool.ool_old > 0 && ool.ool_new > 0, "transaction with ool: the window was hit: %lu site hits ran old "
	       "copies, %lu new", ool.ool_old, ool.ool_new);
	report(ool.split == 0, "transaction with ool: no pass saw the keys change at two points (%lu split, against "
	       "%lu with two enables; int3: %lu)", ool.split, control.split, int3.split);
}
KTEST("static_key.txn_two_keys_one_batch", test_key_txn, .min_cpus = 2, .flags = KTEST_HIDDEN,
      .timeout_ms = 120000);

/* lab_key_nmi's site runs in every NMI: bystanders send themselves NMIs
 * in a loop while the key is flipped KEY_FLIPS times, one batch each. */
static void nmi_job(unsigned cpu, uint64_t round, void *arg)
{
	(void)round;
	(void)arg;
	uint64_t before = key_nmi_hits[cpu][0] + key_nmi_hits[cpu][1];
	apic_send_nmi_self();
	for (unsigned spin = 0; spin < 100000 && key_nmi_hits[cpu][0] + key_nmi_hits[cpu][1] == before; spin++)
		cpu_relax();
	key_tally[cpu].passes++;
}

static void test_key_nmi_site(void)
{
	struct static_key *k = &lab_key_nmi.key;
	uint64_t hits0[2] = { 0, 0 }, hits[2] = { 0, 0 }, emu0 = 0, emu = 0;
	if (!report(k->nr_sites == 1 && !k->enabled, "lab_key_nmi: 1 site, off"))
		return;
	for_each_cpu_in(c, &cpu_online_mask) {
		hits0[0] += key_nmi_hits[c][0];
		hits0[1] += key_nmi_hits[c][1];
		emu0 += patch_bp_handled(c, BP_NMI);
	}
	memset(key_tally, 0, sizeof(key_tally));
	unsigned helpers = crew_start(nmi_job, NULL);
	unsigned one_batch = 0, done = 0;
	int err = 0;
	for (; done < KEY_FLIPS && !err; done++) {
		struct poke_stats b0, st;
		poke_get_stats(&b0);
		uint64_t t0 = rdtsc();
		err = static_key_set(k, !(done % 2));
		crew_flip_took(tsc_to_us(rdtsc() - t0), NULL);
		poke_get_stats(&st);
		one_batch += st.batches == b0.batches + 1 && st.rounds == 3 && key_bytes_are(k, !(done % 2));
	}
	crew_stop(-1);
	for_each_cpu_in(c, &cpu_online_mask) {
		hits[0] += key_nmi_hits[c][0];
		hits[1] += key_nmi_hits[c][1];
		emu += patch_bp_handled(c, BP_NMI);
	}
	hits[0] -= hits0[0];
	hits[1] -= hits0[1];
	emu -= emu0;
	report_info("%u flips; %u bystanders' NMIs ran the site %lu times off, %lu on; %lu hits emulated in NMI "
		    "context", done, helpers, hits[0], hits[1], emu);
	report(err == 0, "every flip applied (%s)", static_key_errname(err));
	report(one_batch == done, "%u of %u flips were one batch of 3 rounds, the site's bytes right after", one_batch,
	       done);
	report(hits[0] > 0 && hits[1] > 0, "NMIs took both branches (%lu off, %lu on)", hits[0], hits[1]);
	report(emu > 0, "the window was hit from NMI context: %lu site hits emulated in #BP inside an NMI", emu);
}
KTEST("static_key.nmi_site", test_key_nmi_site, .min_cpus = 2, .flags = KTEST_HIDDEN, .timeout_ms = 120000);

/* A transaction whose second key is refused changes no byte and no state;
 * so does a set of an unknown key. */
static void test_key_refusals(void)
{
	static struct static_key stray = { .name = "stray" };
	uint8_t a_before[JMP32_INSN_SIZE];
	struct static_key *a = &lab_key_a.key;
	unsigned alen = jump_entry_len(&a->sites[0]);
	struct poke_stats b0, st;
	uint32_t a_state = a->enabled;
	memcpy(a_before, (const void *)jump_entry_code(&a->sites[0]), alen);
	poke_get_stats(&b0);

	int err = static_key_set(&stray, true);
	report(err == -STATIC_KEY_EUNKNOWN, "a key outside .static_keys is refused: %s (%s)", static_key_errname(err),
	       static_key_why());

	static_key_txn_begin();
	int e1 = static_key_txn_add(a, !a_state);
	int e2 = static_key_txn_add(&stray, true);
	err = static_key_txn_commit();
	report(e1 == 0 && e2 == -STATIC_KEY_EUNKNOWN && err == -STATIC_KEY_EUNKNOWN,
	       "transaction {lab_key_a, stray}: add %s, add %s, commit %s", static_key_errname(e1),
	       static_key_errname(e2), static_key_errname(err));

	static_key_txn_begin();
	e1 = static_key_txn_add(a, !a_state);
	e2 = static_key_txn_add(a, a_state);
	err = static_key_txn_commit();
	report(err == -STATIC_KEY_EDUPLICATE, "transaction {lab_key_a, lab_key_a}: commit %s (%s)",
	       static_key_errname(err), static_key_why());

	poke_get_stats(&st);
	report(st.batches == b0.batches, "no batch was applied for the client's refusals (%lu before, %lu after)",
	       b0.batches, st.batches);

	/* The core refuses the second key: lab_key_b's site holds another
	 * instruction than the NOP its state says (PATCH_EOLD_MISMATCH): a
	 * jmp to the next instruction (2 bytes) or another 5-byte NOP. */
	struct static_key *b = &lab_key_b.key;
	const struct jump_entry *be = &b->sites[0];
	unsigned blen = jump_entry_len(be);
	uint8_t nop[JMP32_INSN_SIZE], other[JMP32_INSN_SIZE] = { 0x0f, 0x1f, 0x44, 0x00, 0x01 };
	void *b_site = (void *)jump_entry_code(be);
	insn_nop(blen, nop);
	if (blen == JMP8_INSN_SIZE) {
		other[0] = JMP8_INSN_OPCODE;
		other[1] = 0;
	}
	if (!b->enabled && !smp_text_poke_single(b_site, nop, other, blen)) {
		poke_get_stats(&b0);
		static_key_txn_begin();
		e1 = static_key_txn_add(a, !a_state);
		e2 = static_key_txn_add(b, true);
		err = static_key_txn_commit();
		poke_get_stats(&st);
		report(st.batches == b0.batches, "no batch was applied for the core's refusal");
		report(e1 == 0 && e2 == 0 && err == -PATCH_EOLD_MISMATCH,
		       "transaction {lab_key_a, lab_key_b} with lab_key_b's site altered: commit %s (%s)",
		       static_key_errname(err), static_key_why());
		report(!b->enabled && !memcmp(b_site, other, blen), "lab_key_b unchanged: off, its site as altered");
		smp_text_poke_single(b_site, other, nop, blen);
	} else {
		report(false, "lab_key_b's site could not be altered for the core's refusal");
	}

	report(a->enabled == a_state && !memcmp(a_before, (const void *)jump_entry_code(&a->sites[0]), alen) &&
		       key_bytes_are(a, a_state),
	       "lab_key_a unchanged: state %s, bytes as before", a->enabled ? "on" : "off");
}
KTEST("static_key.refusals_change_nothing", test_key_refusals);
