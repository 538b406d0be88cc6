/*
 * tests/kernel/test_trace.c — function tracing (clients/trace/): all
 * MASS_N corpus functions traced in one batch and counted exactly once per
 * call, untraced again with .text as it was; the trace flipped under
 * bystanders calling traced functions; the refusals.
 */
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/string.h"
#include "clients/poke/text_crc.h"
#include "clients/trace/trace.h"
#include "lab/crew.h"
#include "patch/rendezvous.h"
#include "mass/mass_corpus.h"

/* Flips of the bystander test at least (patch.trace_flips; the stress
 * stanza raises it), and at most ten times as many while no bystander has
 * met a site in flight yet. */
static uint32_t trace_test_flips = 6;
KPARAM_UINT("trace.test_flips", trace_test_flips, 2, 1000000,
	    "N: flips of trace.flip_under_bystanders (default 6)");

static uint64_t hits_before[MASS_N];

/* Call every corpus function once; how many returned what they compute. */
static uint32_t call_all(void)
{
	uint32_t good = 0;
	for (uint32_t i = 0; i < MASS_N; i++)
		good += mass_fns[i]((int)i) == (int)(i * 3 + i);
	return good;
}

/* Corpus functions whose hits grew by exactly `want` since hits_before. */
static uint32_t counted(uint64_t want, uint32_t *first_bad)
{
	uint32_t n = 0;
	*first_bad = MASS_N;
	for (uint32_t i = 0; i < MASS_N; i++) {
		bool ok = trace_hits_of((const void *)mass_fns[i]) - hits_before[i] == want;
		n += ok;
		if (!ok && *first_bad == MASS_N)
			*first_bad = i;
	}
	return n;
}

static int switch_counted(bool on, const char *glob, struct trace_result *r, uint64_t *rounds, char *why,
			  size_t why_len)
{
	uint64_t r0 = sync_rounds_total();
	int err = trace_set(on, glob, patch_strategy_find("int3"), r, why, why_len);
	*rounds = sync_rounds_total() - r0;
	return err;
}

/* trace on / call each once / trace off / call each again. */
static void test_mass_on_off(void)
{
	static char why[POKE_WHY_LEN + 96];
	struct trace_result r;
	uint64_t rounds;
	uint32_t bad;

	uint32_t crc0 = text_crc();
	for (uint32_t i = 0; i < MASS_N; i++)
		hits_before[i] = trace_hits_of((const void *)mass_fns[i]);
	uint64_t strays0 = trace_strays();

	int err = switch_counted(true, "mass_fn_*", &r, &rounds, why, sizeof(why));
	report_info("trace on: %u sites in %lu ms, %u batch(es), %u rounds (%lu counted by the rendezvous)", r.sites,
		    tsc_to_us(r.cycles) / 1000, r.batches, r.rounds, rounds);
	if (!report(err == 0, "trace on mass_fn_*: %s %s", patch_errname(err), why))
		return;
	report(r.sites == MASS_N && r.matched == MASS_N, "all %u corpus functions traced (%u patched, %u matched)",
	       MASS_N, r.sites, r.matched);
	report(r.batches == 1 && rounds == 3 && r.rounds == 3, "in one batch of 3 rounds (%u batches, %lu rounds)",
	       r.batches, rounds);
	uint32_t good = call_all();
	report(good == MASS_N, "%u of %u traced functions returned what they compute", good, MASS_N);
	uint32_t once = counted(1, &bad);
	report(once == MASS_N, "%u of %u called once were counted exactly once", once, MASS_N);
	if (bad < MASS_N)
		report_info("mass_fn %u: %lu hits since the start", bad,
			    trace_hits_of((const void *)mass_fns[bad]) - hits_before[bad]);

	err = switch_counted(false, "mass_fn_*", &r, &rounds, why, sizeof(why));
	report_info("trace off: %u sites in %lu ms, %u batch(es), %u rounds", r.sites, tsc_to_us(r.cycles) / 1000,
		    r.batches, r.rounds);
	report(err == 0 && r.sites == MASS_N && r.batches == 1 && rounds == 3,
	       "trace off: %u sites in one batch of %lu rounds: %s %s", r.sites, rounds, patch_errname(err), why);
	good = call_all();
	once = counted(1, &bad);
	report(good == MASS_N && once == MASS_N, "called again untraced: %u returned right, %u still counted once",
	       good, once);
	report(trace_strays() == strays0, "no call of the tracer from outside a site (%lu)", trace_strays() - strays0);
	uint32_t crc1 = text_crc();
	report(crc1 == crc0, ".text CRC back to %#x (now %#x)", crc0, crc1);
}
KTEST("trace.mass_on_off", test_mass_on_off, .flags = KTEST_HIDDEN, .timeout_ms = 240000);

/* --- the trace flipped under bystanders ---------------------------------- */

/* mass_fn_00000 .. 00999 (all of them in a smaller corpus): FLIP_GLOB */
#define FLIP_FNS   (MASS_N < 1000 ? MASS_N : 1000)
#define FLIP_GLOB  "mass_fn_00*"
_Static_assert(MASS_N <= 100000, "FLIP_GLOB matches the first 1000 functions only while names have 5 digits");

static struct {
	uint64_t calls, bad;
	int bad_i, bad_ret;
} __attribute__((aligned(64))) flip_tally[MAX_CPUS];

static void flip_job(unsigned cpu, uint64_t round, void *arg)
{
	(void)arg;
	for (unsigned k = 0; k < 64; k++) {
		int i = (int)((round * 64 + k + cpu * 97) % FLIP_FNS);
		int v = mass_fns[i](i);
		flip_tally[cpu].calls++;
		if (v != i * 4) {
			flip_tally[cpu].bad++;
			flip_tally[cpu].bad_i = i;
			flip_tally[cpu].bad_ret = v;
		}
	}
}

static uint64_t flip_hits(void)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < FLIP_FNS; i++)
		n += trace_hits_of((const void *)mass_fns[i]);
	return n;
}

static void test_flip(void)
{
	static char why[POKE_WHY_LEN + 96];
	struct trace_result r;
	memset(flip_tally, 0, sizeof(flip_tally));
	uint32_t crc0 = text_crc();
	uint64_t hits0 = flip_hits(), strays0 = trace_strays(), emu0 = patch_bp_handled_all(BP_THREAD);
	unsigned helpers = crew_start(flip_job, NULL);
	unsigned done = 0, sites_ok = 0;
	int err = 0;
	uint64_t us = 0;
	for (; !err && (done < trace_test_flips ||
			(done < 10 * trace_test_flips && patch_bp_handled_all(BP_THREAD) == emu0) || done % 2); done++) {
		uint64_t t0 = rdtsc();
		err = trace_set(done % 2 == 0, FLIP_GLOB, patch_strategy_find("int3"), &r, why, sizeof(why));
		uint64_t took = tsc_to_us(rdtsc() - t0);
		us += took;
		crew_flip_took(took, NULL);
		sites_ok += r.sites == FLIP_FNS;
	}
	crew_stop(-1);
	uint64_t calls = 0, bad = 0, emu = patch_bp_handled_all(BP_THREAD) - emu0;
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		calls += flip_tally[c].calls;
		bad += flip_tally[c].bad;
		if (flip_tally[c].bad)
			report_info("CPU %u: mass_fn %d returned %d", c, flip_tally[c].bad_i, flip_tally[c].bad_ret);
	}
	uint64_t hits = flip_hits() - hits0;
	report_info("%u flips of %u sites, %lu us each; %u bystanders made %lu calls, %lu counted, %lu site hits "
		    "emulated", done, FLIP_FNS, done ? us / done : 0, helpers, calls, hits, emu);
	report(err == 0, "every flip applied: %s %s", patch_errname(err), why);
	report(sites_ok == done, "%u of %u flips patched all %u sites", sites_ok, done, FLIP_FNS);
	report(bad == 0, "every call returned what its function computes (%lu did not)", bad);
	report(hits <= calls && (helpers == 0 || hits > 0), "every call was counted at most once: %lu hits, %lu calls",
	       hits, calls);
	report(trace_strays() == strays0, "no call of the tracer from outside a site (%lu)", trace_strays() - strays0);
	report(helpers == 0 || emu > 0, "the window was hit: %lu site hits emulated in flight", emu);
	report(text_crc() == crc0, ".text CRC back to %#x after an even number of flips", crc0);
}
KTEST("trace.flip_under_bystanders", test_flip, .min_cpus = 2, .flags = KTEST_HIDDEN, .timeout_ms = 3600000);

/* --- refusals ------------------------------------------------------------- */

static void test_refusals(void)
{
	static char why[POKE_WHY_LEN + 96];
	struct trace_result r;
	uint32_t crc0 = text_crc();
	int err = trace_set(true, "no_such_function_*", NULL, &r, why, sizeof(why));
	report(err == -TRACE_ENOMATCH, "a glob matching nothing: %d (expected %d): %s", err, -TRACE_ENOMATCH, why);
	err = trace_set(false, "mass_fn_00001", NULL, &r, why, sizeof(why));
	report(err == -TRACE_EALREADY, "off when already off: %d (expected %d): %s", err, -TRACE_EALREADY, why);
	report(text_crc() == crc0, ".text unchanged by the refusals");
}
KTEST("trace.refusals_change_nothing", test_refusals, .flags = KTEST_HIDDEN);
