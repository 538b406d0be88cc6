/*
 * tests/kernel/test_imv.c — immediate values (clients/imv/): every site in
 * one batch of the ool strategy, readers under bystander load seeing only
 * the old or the new value (never a torn immediate) while the window is
 * hit, and refusals writing nothing.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "lab/crew.h"
#include "lab/imvs.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "strategies/ool/ool.h"


/* imv_set of var to v; the rendezvous rounds and batches it took. */
static int set_counted(struct imv_var *var, uint32_t v, uint64_t *rounds, uint64_t *batches, unsigned *sites)
{
	struct poke_stats st;
	struct imv_result r;
	poke_get_stats(&st);
	uint64_t r0 = sync_rounds_total(), b0 = st.batches;
	int err = imv_set_var(var, v, false, &r);
	poke_get_stats(&st);
	*rounds = sync_rounds_total() - r0;
	*batches = st.batches - b0;
	*sites = r.sites;
	return err;
}

static unsigned sites_reading(uint32_t v)
{
	unsigned n = 0;
	for (unsigned i = 0; i < LAB_IMV_SITES; i++)
		n += lab_imv_sites[i]() == v;
	return n;
}

/* All sites in one batch of ool's 3 rounds, as many for 16 sites as for 1. */
static void test_one_batch(void)
{
	uint64_t r1, b1, r16, b16;
	unsigned s1, s16;
	struct imv_var *one = &IMV_VAR(lab_imv_one), *many = &IMV_VAR(lab_imv);

	report(imv_nr_sites(one) == 1 && imv_nr_sites(many) == LAB_IMV_SITES, "lab_imv_one has %u site, lab_imv %u",
	       imv_nr_sites(one), imv_nr_sites(many));
	report(sites_reading(LAB_IMV_A) == LAB_IMV_SITES && lab_imv_one_read() == -1,
	       "every site reads its first value");
	int e1 = set_counted(one, (uint32_t)-123456789, &r1, &b1, &s1);
	int e16 = set_counted(many, LAB_IMV_B, &r16, &b16, &s16);
	report(!e1 && !e16, "both sets applied (%s, %s)", patch_errname(e1), patch_errname(e16));
	report_info("1 site: %lu rounds in %lu batches; %u sites: %lu rounds in %lu batches", r1, b1, s16, r16, b16);
	report(b1 == 1 && b16 == 1, "each set is one batch (1 site: %lu, %u sites: %lu)", b1, s16, b16);
	struct poke_stats st;
	poke_get_stats(&st);
	report(st.strategy == patch_strategy_find("ool"), "applied by strategy ool (%s)",
	       patch_strategy_name(st.strategy));
	report(r1 == 3 && r16 == 3, "each set takes ool's 3 rounds (1 site: %lu, %u sites: %lu)", r1, s16, r16);
	report(sites_reading(LAB_IMV_B) == LAB_IMV_SITES && lab_imv_one_read() == -123456789 &&
	       IMV_VAR(lab_imv).value == LAB_IMV_B, "every site now reads the new value (%u of %u; one site %d)",
	       sites_reading(LAB_IMV_B), LAB_IMV_SITES, lab_imv_one_read());
	imv_set(lab_imv_one, -1);
	imv_set(lab_imv, LAB_IMV_A);
}
KTEST("imv.one_batch_for_all_sites", test_one_batch);

static uint64_t imv_torn[MAX_CPUS], imv_old[MAX_CPUS], imv_new[MAX_CPUS], imv_back[MAX_CPUS];
static uint32_t imv_torn_value[MAX_CPUS];
static const uint32_t imv_values[2] = { LAB_IMV_A, LAB_IMV_B };
static uint64_t imv_gen;        /* set number g writes imv_values[g % 2]; bumped before it starts */

/*
 * The crew's job: read every site of lab_imv in order, each value checked
 * (torn: neither A nor B), and the pass checked as a whole: when no new
 * set began during the pass (imv_gen the same before and after), only set
 * g can have been in flight, so the pass reads g's old value at some sites
 * then g's value at the rest, never g's value at a site and then the old
 * one at a later site (counted in imv_back: the sites were not switched
 * at one point, e.g. one batch per site):
 *
 *   updater                              bystander
 *   imv_gen = g; imv_set(values[g%2])    g0 = imv_gen
 *     ... one batch, one switch point    site 0 .. site 15: old* new*
 *                                        g1 = imv_gen; g0 == g1: checked
 */
static void imv_bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	uint64_t g0 = __atomic_load_n(&imv_gen, __ATOMIC_ACQUIRE);
	bool seen_new = false, back = false;
	for (unsigned i = 0; i < LAB_IMV_SITES; i++) {
		uint32_t v = lab_imv_sites[i]();
		if (v == LAB_IMV_A) {
			imv_old[cpu]++;
		} else if (v == LAB_IMV_B) {
			imv_new[cpu]++;
		} else {
			imv_torn[cpu]++;
			imv_torn_value[cpu] = v;
		}
		if (v == imv_values[g0 % 2])
			seen_new = true;
		else if (seen_new)
			back = true;
	}
	if (back && __atomic_load_n(&imv_gen, __ATOMIC_ACQUIRE) == g0)
		imv_back[cpu]++;
}

/* At least IMV_FLIPS sets, then more until the bystanders ran both the old
 * and the new copy out of line IMV_OOL_HITS times each, for at most
 * IMV_MAX_MS. */
#define IMV_FLIPS    8
#define IMV_OOL_HITS 4
#define IMV_MAX_MS   2000

static void test_bystanders(void)
{
	uint64_t h0[OOL_HAZARD_COUNT], h[OOL_HAZARD_COUNT];
	int err = 0;

	if (nr_cpus_online < 2) {
		report_skip("needs a second CPU to read the sites while they are patched");
		return;
	}
	memset(imv_torn, 0, sizeof(imv_torn));
	memset(imv_old, 0, sizeof(imv_old));
	memset(imv_new, 0, sizeof(imv_new));
	memset(imv_back, 0, sizeof(imv_back));
	for (unsigned i = 0; i < OOL_HAZARD_COUNT; i++)
		h0[i] = patch_hazard_all(i);
	uint64_t bp0 = patch_bp_handled_all(BP_THREAD);
	unsigned helpers = crew_start(imv_bystander, NULL);
	uint64_t t0 = rdtsc();
	unsigned f = 1;
	__atomic_store_n(&imv_gen, 0, __ATOMIC_RELEASE);        /* lab_imv holds A = imv_values[0] */
	for (; !err && (f <= IMV_FLIPS || ((patch_hazard_all(OOL_HAZARD_OLD) - h0[OOL_HAZARD_OLD] < IMV_OOL_HITS ||
					    patch_hazard_all(OOL_HAZARD_NEW) - h0[OOL_HAZARD_NEW] < IMV_OOL_HITS) &&
					   tsc_to_us(rdtsc() - t0) < IMV_MAX_MS * 1000ull)); f++) {
		__atomic_store_n(&imv_gen, f, __ATOMIC_RELEASE);
		err = imv_set_var(&IMV_VAR(lab_imv), imv_values[f % 2], false, NULL);
	}
	crew_stop(-1);
	for (unsigned i = 0; i < OOL_HAZARD_COUNT; i++)
		h[i] = patch_hazard_all(i) - h0[i];
	uint64_t bp = patch_bp_handled_all(BP_THREAD) - bp0, torn = 0, old = 0, new = 0, back = 0;
	uint32_t torn_value = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		torn += imv_torn[c];
		old += imv_old[c];
		new += imv_new[c];
		back += imv_back[c];
		if (imv_torn[c])
			torn_value = imv_torn_value[c];
	}
	report(helpers > 0, "%u bystanders ran", helpers);
	report(!err, "%u sets of lab_imv (%u sites each) applied (%s)", f - 1, LAB_IMV_SITES, patch_errname(err));
	report_info("reads: old %lu, new %lu, torn %lu; out of line: %lu runs (old copy %lu, new copy %lu, moved %lu); "
		    "#BP handled %lu", old, new, torn, h[OOL_HAZARD_RAN], h[OOL_HAZARD_OLD], h[OOL_HAZARD_NEW],
		    h[OOL_HAZARD_MOVED], bp);
	report(torn == 0, "every read was the old or the new value (%lu were not, e.g. %08x)", torn, torn_value);
	report(back == 0, "the sites switched at one point: no pass read the new value at a site, then the old at a "
	       "later one (%lu did)", back);
	report(old > 0 && new > 0, "both values read (old %lu, new %lu)", old, new);
	report(h[OOL_HAZARD_OLD] > 0 && h[OOL_HAZARD_NEW] > 0,
	       "the window was hit: sites ran out of line, the old copy %lu times, the new %lu", h[OOL_HAZARD_OLD],
	       h[OOL_HAZARD_NEW]);
	imv_set(lab_imv, LAB_IMV_A);
}
KTEST("imv.bystanders_old_or_new", test_bystanders, .timeout_ms = 60000);

/* The text of every site of var, concatenated. */
static unsigned snapshot(const struct imv_var *var, uint8_t *out)
{
	unsigned n = 0;
	for (const struct imv_site *s = __imv_sites_start; s < __imv_sites_end; s++)
		if (s->var == var) {
			memcpy(out + n, (void *)s->addr, s->len);
			n += (unsigned)s->len;
		}
	return n;
}

static int run_cmd(const char *name, char *arg1, char *arg2)
{
	char *argv[4] = { (char *)name, arg1, arg2, NULL };
	const struct shell_cmd *c = shell_find(name);
	return c ? c->fn(3, argv) : -1000;
}

/* imv-set refuses an unknown name and a value that is not one of the
 * variable's, and writes nothing. */
static void test_refusals(void)
{
	static uint8_t before[LAB_IMV_SITES * 6 + 6], after[sizeof(before)];
	static uint8_t before1[6], after1[6];
	char name[] = "lab_imv", one[] = "lab_imv_one", nosuch[] = "no_such_imv", val[] = "0xa5a5a5a5";
	char neg[] = "-5", big[] = "0x100000000", junk[] = "12z";
	unsigned n = snapshot(&IMV_VAR(lab_imv), before), n1 = snapshot(&IMV_VAR(lab_imv_one), before1);
	uint32_t v0 = IMV_VAR(lab_imv).value, v1 = IMV_VAR(lab_imv_one).value;
	int e1 = run_cmd("imv-set", nosuch, val);
	int e2 = run_cmd("imv-set", name, neg);        /* lab_imv is unsigned */
	int e3 = run_cmd("imv-set", name, big);
	int e4 = run_cmd("imv-set", one, junk);
	snapshot(&IMV_VAR(lab_imv), after);
	snapshot(&IMV_VAR(lab_imv_one), after1);
	report(e1 && e2 && e3 && e4, "imv-set refused an unknown name, a negative unsigned, a 33-bit value, junk "
	       "(%d %d %d %d)", e1, e2, e3, e4);
	report(!memcmp(before, after, n) && !memcmp(before1, after1, n1) && IMV_VAR(lab_imv).value == v0 &&
	       IMV_VAR(lab_imv_one).value == v1, "no byte of the %u + %u sites changed, values unchanged",
	       LAB_IMV_SITES, 1);
	report(sites_reading(LAB_IMV_A) == LAB_IMV_SITES, "every site still reads %08x", LAB_IMV_A);
}
KTEST("imv.console_refusals_write_nothing", test_refusals);
