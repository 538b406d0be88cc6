/*
 * tests/kernel/test_static_call.c — static calls (clients/static_call/):
 * one batch for any number of sites, callers reaching only the old or the
 * new target under bystanders and NMIs, NULL and ret0, and the console's
 * refusals.
 */
#include "arch/x86/nmi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ksyms.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "lab/crew.h"
#include "lab/static_calls.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"


/* Update k to fn with strategy int3 (the three-round protocol); the
 * rendezvous rounds and batches it took. */
static int update_counted(struct static_call_key *k, void *fn, uint64_t *rounds, uint64_t *batches,
			  unsigned *sites)
{
	struct poke_stats st;
	struct static_call_result r;
	poke_get_stats(&st);
	uint64_t r0 = sync_rounds_total(), b0 = st.batches;
	int err = static_call_update_key(k, fn, patch_strategy_find("int3"), false, &r);
	poke_get_stats(&st);
	*rounds = sync_rounds_total() - r0;
	*batches = st.batches - b0;
	*sites = r.sites;
	return err;
}

/* 64 sites cost the rounds of 1: all sites and the trampoline in one batch. */
static void test_rounds(void)
{
	uint64_t r1, b1, r64, b64;
	unsigned s1, s64;
	struct static_call_key *one = &STATIC_CALL_KEY(lab_call_one), *many = &STATIC_CALL_KEY(lab_call);

	report(static_call_nr_sites(one) == 1 && static_call_nr_sites(many) == LAB_CALL_SITES,
	       "lab_call_one has %u site, lab_call %u", static_call_nr_sites(one), static_call_nr_sites(many));
	int e1 = update_counted(one, (void *)lab_fn_b, &r1, &b1, &s1);
	int e64 = update_counted(many, (void *)lab_fn_b, &r64, &b64, &s64);
	report(!e1 && !e64, "both updates applied (%s, %s)", patch_errname(e1), patch_errname(e64));
	report_info("1 site: %lu rounds in %lu batches; %u sites: %lu rounds in %lu batches", r1, b1, s64, r64, b64);
	report(b1 == 1 && b64 == 1, "each update is one batch (1 site: %lu, %u sites: %lu)", b1, s64, b64);
	report(r1 == 3 && r64 == 3, "each update takes int3's 3 rounds (1 site: %lu, %u sites: %lu)", r1, s64, r64);
	report(lab_call_sites[7](0) == LAB_CALL_B && lab_call_one_run(0) == LAB_CALL_B && static_call_addr(lab_call)(0) ==
	       LAB_CALL_B, "sites and trampoline now reach lab_fn_b");
	update_counted(one, (void *)lab_fn_a, &r1, &b1, &s1);
	update_counted(many, (void *)lab_fn_a, &r64, &b64, &s64);
}
KTEST("static_call.rounds_64_sites_as_1", test_rounds);

static uint64_t sc_bad[MAX_CPUS];
static uint32_t sc_bad_value[MAX_CPUS];

/* The crew's job: every site of lab_call, lab_call_one and the trampoline,
 * each result checked; an NMI to itself every 4th round (its hook runs
 * lab_nmi_call's site). */
static void sc_bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)unused;
	for (unsigned i = 0; i < LAB_CALL_SITES + 2; i++) {
		uint32_t v = i < LAB_CALL_SITES ? lab_call_sites[i](i)
			     : i == LAB_CALL_SITES ? lab_call_one_run(i) : static_call_addr(lab_call)(i);
		if (v != LAB_CALL_A && v != LAB_CALL_B) {
			sc_bad[cpu]++;
			sc_bad_value[cpu] = v;
		}
	}
	if (round % 4 == 0)
		nmi_send(cpu, NMI_TEST);        /* to itself: runs sc_nmi_hook */
}

/* NMI context: the lab's NMI-path site. Calls nothing patchable but it. */
static void sc_nmi_hook(struct regs *r)
{
	(void)r;
	lab_nmi_call_run();
}

/* The patcher, at each phase of a batch after "published": an NMI to one
 * bystander, whose hook runs lab_nmi_call's site while the batch may hold
 * it in flight. The bystanders' own NMIs land in the window rarely at
 * -smp 2 (3 to 16 times in 3 s, and once 0): these make the hazard a
 * certainty in every batch of lab_nmi_call. Thread context. */
static int sc_nmi_target = -1;

static void sc_phase_nmi(unsigned p)
{
	if (p != POKE_PHASE_PUBLISHED && sc_nmi_target >= 0)
		nmi_send((unsigned)sc_nmi_target, NMI_TEST);
}

static void sum_hits(struct lab_call_hits *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		t->a += lab_call_hits[c].a;
		t->b += lab_call_hits[c].b;
		t->c += lab_call_hits[c].c;
		t->nmi_a += lab_call_hits[c].nmi_a;
		t->nmi_b += lab_call_hits[c].nmi_b;
	}
}

/* At least SC_FLIPS flips, then more until the NMI path's site was hit in
 * flight SC_NMI_HITS times (NMIs land in the window rarely at -smp 2), for
 * at most SC_MAX_MS. */
#define SC_FLIPS    8
#define SC_NMI_HITS 16
#define SC_MAX_MS   3000

static void test_bystanders(void)
{
	struct static_call_key *many = &STATIC_CALL_KEY(lab_call), *one = &STATIC_CALL_KEY(lab_call_one),
			       *nmi = &STATIC_CALL_KEY(lab_nmi_call);
	void *targets[2] = { (void *)lab_fn_a, (void *)lab_fn_b };
	void *nmi_targets[2] = { (void *)lab_nmi_fn_a, (void *)lab_nmi_fn_b };
	struct lab_call_hits t;
	int err = 0;

	if (nr_cpus_online < 2) {
		report_skip("needs a second CPU to run the sites while they are patched");
		return;
	}
	memset(lab_call_hits, 0, sizeof(lab_call_hits));
	memset(sc_bad, 0, sizeof(sc_bad));
	uint64_t bp_thread = patch_bp_handled_all(BP_THREAD), bp_nmi = patch_bp_handled_all(BP_NMI);
	nmi_set_test_hook(sc_nmi_hook);
	sc_nmi_target = -1;
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != cpu_id() && sc_nmi_target < 0)
			sc_nmi_target = (int)c;
	unsigned helpers = crew_start(sc_bystander, NULL);
	poke_set_phase_hook(sc_phase_nmi);
	uint64_t t0 = rdtsc();
	unsigned f = 1;
	for (; !err && (f <= SC_FLIPS || (patch_bp_handled_all(BP_NMI) - bp_nmi < SC_NMI_HITS &&
					   tsc_to_us(rdtsc() - t0) < SC_MAX_MS * 1000ull)); f++) {
		err = static_call_update_key(many, targets[f % 2], NULL, false, NULL);
		err = err ? err : static_call_update_key(one, targets[f % 2], NULL, false, NULL);
		err = err ? err : static_call_update_key(nmi, nmi_targets[f % 2], NULL, false, NULL);
	}
	poke_set_phase_hook(NULL);
	crew_stop(-1);
	nmi_set_test_hook(NULL);
	bp_thread = patch_bp_handled_all(BP_THREAD) - bp_thread;
	bp_nmi = patch_bp_handled_all(BP_NMI) - bp_nmi;
	sum_hits(&t);
	uint64_t bad = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		bad += sc_bad[c];
	report(helpers > 0, "%u bystanders ran", helpers);
	report(!err, "%u flips of lab_call, lab_call_one and lab_nmi_call applied (%s)", f - 1, patch_errname(err));
	report_info("calls: lab_fn_a %lu, lab_fn_b %lu, lab_fn_c %lu; NMI: a %lu, b %lu; sites hit in flight: "
		    "thread %lu, NMI %lu", t.a, t.b, t.c, t.nmi_a, t.nmi_b, bp_thread, bp_nmi);
	report(bad == 0, "every call returned lab_fn_a's or lab_fn_b's value (%lu did not)", bad);
	report(t.c == 0 && t.a > 0 && t.b > 0, "both targets reached, nothing else (a %lu, b %lu, c %lu)", t.a, t.b,
	       t.c);
	report(t.nmi_a > 0 && t.nmi_b > 0, "the NMI path's site reached both targets (a %lu, b %lu)", t.nmi_a,
	       t.nmi_b);
	report(bp_thread > 0, "the window was hit: %lu sites handled in #BP from thread context", bp_thread);
	report(bp_nmi > 0, "the window was hit on the NMI path: %lu sites handled in #BP from NMI context", bp_nmi);
	static_call_update(lab_call, lab_fn_a);
	static_call_update(lab_call_one, lab_fn_a);
	static_call_update(lab_nmi_call, lab_nmi_fn_a);
}
KTEST("static_call.bystanders_old_or_new", test_bystanders, .timeout_ms = 120000);

/* NULL: NOPs at the sites and a returning trampoline; ret0: every call
 * returns 0. */
static void test_null_ret0(void)
{
	struct static_call_key *many = &STATIC_CALL_KEY(lab_call);
	struct lab_call_hits t;
	int err;
	uint8_t nop[CALL_INSN_SIZE];
	insn_nop(CALL_INSN_SIZE, nop);
	err = static_call_update(lab_call, NULL);
	memset(lab_call_hits, 0, sizeof(lab_call_hits));
	unsigned nops = 0;
	extern const struct static_call_site __static_call_sites_start[], __static_call_sites_end[];
	for (const struct static_call_site *s = __static_call_sites_start; s < __static_call_sites_end; s++)
		nops += s->key == many && !memcmp((void *)s->addr, nop, CALL_INSN_SIZE);
	for (unsigned i = 0; i < LAB_CALL_SITES; i++)
		lab_call_sites[i](i);
	static_call_addr(lab_call)(0);
	sum_hits(&t);
	report(!err && nops == LAB_CALL_SITES, "NULL: %u of %u sites are 5-byte NOPs (%s)", nops, LAB_CALL_SITES,
	       patch_errname(err));
	report(t.a + t.b + t.c == 0, "NULL: no target called by the sites or the trampoline (%lu calls)",
	       t.a + t.b + t.c);

	/* ret0 */
	err = static_call_update_ret0(lab_call);
	unsigned zeros = 0;
	for (unsigned i = 0; i < LAB_CALL_SITES; i++)
		zeros += lab_call_sites[i](i) == 0;
	zeros += static_call_addr(lab_call)(0) == 0;
	report(!err && zeros == LAB_CALL_SITES + 1, "ret0: %u of %u calls (the sites and the trampoline) return 0 (%s)",
	       zeros, LAB_CALL_SITES + 1, patch_errname(err));

	static_call_update(lab_call, lab_fn_a);
}
KTEST("static_call.null_nops_and_ret0", test_null_ret0);

/* The text of every site of k and its trampoline, concatenated. */
static unsigned snapshot(const struct static_call_key *k, uint8_t *out)
{
	unsigned n = 0;
	extern const struct static_call_site __static_call_sites_start[], __static_call_sites_end[];
	for (const struct static_call_site *s = __static_call_sites_start; s < __static_call_sites_end; s++)
		if (s->key == k) {
			memcpy(out + n, (void *)s->addr, CALL_INSN_SIZE);
			n += CALL_INSN_SIZE;
		}
	memcpy(out + n, k->tramp, CALL_INSN_SIZE);
	return n + CALL_INSN_SIZE;
}

static int run_cmd(const char *name, char *arg1, char *arg2)
{
	char *argv[4] = { (char *)name, arg1, arg2, NULL };
	const struct shell_cmd *c = shell_find(name);
	return c ? c->fn(3, argv) : -1000;
}

/* call-set refuses a symbol that is no function, and a function the call
 * does not allow, and writes nothing. */
static void test_refusals(void)
{
	static uint8_t before[(LAB_CALL_SITES + 1) * CALL_INSN_SIZE], after[sizeof(before)];
	struct static_call_key *k = &STATIC_CALL_KEY(lab_call);
	char name[] = "lab_call", not_allowed[] = "lab_fn_c", nosuch[] = "no_such_fn";
	char not_fn[64] = "";
	for (uint32_t i = 0; i < ksym_count && !not_fn[0]; i++)     /* a label, not a function */
		if (!ksym_table[i].fn_size && strlen(ksym_name(&ksym_table[i])) < sizeof(not_fn))
			memcpy(not_fn, ksym_name(&ksym_table[i]), strlen(ksym_name(&ksym_table[i])) + 1);
	if (!report(not_fn[0], "found a text label that is not a function: %s", not_fn))
		return;
	unsigned n = snapshot(k, before);
	void *cur = static_call_current(k);
	int e1 = run_cmd("call-set", name, not_fn);
	int e2 = run_cmd("call-set", name, not_allowed);
	int e3 = run_cmd("call-set", name, nosuch);
	snapshot(k, after);
	report(e1 && e2 && e3, "call-set refused a non-function, a function not allowed, an unknown name (%d %d %d)", e1,
	       e2, e3);
	report(!memcmp(before, after, n) && static_call_current(k) == cur, "no byte of %u sites and the trampoline "
	       "changed, target unchanged", LAB_CALL_SITES);
	report(lab_call_sites[0](0) != LAB_CALL_C, "lab_fn_c is not reached");
}
KTEST("static_call.console_refusals_write_nothing", test_refusals);
