/*
 * tests/kernel/test_patch_flip.c — flip a live site back and forth while
 * every other CPU executes it in a tight loop.
 *
 * Each flip is a full int3 protocol run (smp_text_poke_single). A bystander
 * that ever returns something other than FLIP_A or FLIP_B executed a torn
 * or half-patched instruction. The bystanders must also have trapped on the
 * int3 and been emulated (thread-context #BP emulations on their CPUs > 0):
 * otherwise the race window was never hit and the test proves nothing.
 *
 * Bystanders start calling the site back to back. If the first flips show
 * rendezvous rounds slower than NAP_THRESHOLD_US, vCPUs outnumber host
 * cores: a vCPU that never sleeps is scheduled once per host time slice,
 * and every round waits out whole slices (about 50 ms a flip at -smp 8 on
 * 2 cores). The bystanders then switch to bursts of patch.burst calls with
 * a patch.nap_us halt between bursts (under 1 ms a flip): a halted vCPU is
 * woken at once by the next IPI and runs its burst while the site is in
 * transition, so the window is hit as often (see the emulation counts).
 * patch.nap_us=N fixes the nap from the start (0: never nap).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "patch/bp.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"
#include "lab/fixture_sites.h"

static unsigned flips;                  /* 0: the default, see flips_now() */

static int set_flips(const char *v)
{
	uint64_t n;
	if (!v || !parse_u64(v, &n) || n < 2 || n > 100000000 || (n & 1)) {
		printk("patch.flips: needs an even count from 2 to 100000000 (the site ends as it began)");
		return -EINVAL;
	}
	flips = (unsigned)n;
	return 0;
}
KPARAM("patch.flips", set_flips, "N: flips per site in the patch.flip_* tests (default 10000; fewer above 4 CPUs)");

/* 10000 flips up to 4 CPUs. Above that every round waits for more vCPUs
 * (on 2 host cores: about 1.5 ms a flip at -smp 8, which make test runs,
 * and 17 ms at -smp 64), so the default shrinks in proportion (5000 at
 * -smp 8), to no fewer than 1000; patch.flips=N sets any count (make
 * stress: 20000). */
static unsigned flips_now(void)
{
	if (flips)
		return flips;
	if (nr_cpus_online <= 4)
		return 10000;
	unsigned n = (10000u * 4 / nr_cpus_online) & ~1u;
	return n < 1000 ? 1000 : n;
}

static struct {
	flip_fn_t fn;
	uint32_t stop;
	uint32_t nap;                   /* current nap in us, 0: back to back */
	uint32_t started;
	uint64_t a[MAX_CPUS], b[MAX_CPUS], bad[MAX_CPUS];
	uint32_t bad_value[MAX_CPUS];
} run;

#define NAP_DEFAULT_US      200
#define NAP_THRESHOLD_US    1000        /* per round, over the first flips */
#define NAP_PROBE_FLIPS     16
static int nap_us = -1;                 /* -1: decide from the first flips */
static unsigned burst = 16;

static int set_u32(const char *v, unsigned *out, unsigned max, const char *name)
{
	uint64_t n;
	if (!v || !parse_u64(v, &n) || n > max) {
		printk("%s: needs a number from 0 to %u", name, max);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}
static int set_nap(const char *v)
{
	unsigned us;
	int err = set_u32(v, &us, 100000, "patch.nap_us");
	if (!err)
		nap_us = (int)us;
	return err;
}
static int set_burst(const char *v) { return set_u32(v, &burst, 1u << 30, "patch.burst"); }
KPARAM("patch.nap_us", set_nap, "US: flip-test bystanders halt this long between bursts (0: never; default: 200 if rounds are slow)");
KPARAM("patch.burst", set_burst, "N: calls per flip-test bystander burst (default 16)");

static void bystander(void *unused)
{
	(void)unused;
	unsigned c = cpu_id();
	uint64_t na = 0, nb = 0, bad = 0;
	__atomic_fetch_add(&run.started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&run.stop, __ATOMIC_ACQUIRE)) {
		for (unsigned i = 0; i < burst; i++) {
			uint32_t v = run.fn();
			if (v == FLIP_A) {
				na++;
			} else if (v == FLIP_B) {
				nb++;
			} else {
				bad++;
				run.bad_value[c] = v;
			}
		}
		uint32_t nap = __atomic_load_n(&run.nap, __ATOMIC_RELAXED);
		if (nap)
			cpu_nap(nap);
	}
	run.a[c] = na;
	run.b[c] = nb;
	run.bad[c] = bad;
}

static void flip_test(const char *site_name, flip_fn_t fn)
{
	static uint64_t bp_before[MAX_CPUS], vanished_before[MAX_CPUS];
	const struct patch_site_def *s = site_by_name(site_name);
	uint8_t va[POKE_MAX_LEN], vb[POKE_MAX_LEN];
	unsigned me = cpu_id(), helpers = 0;

	if (!report(s && s->nvar == 2, "site %s is registered with two variants", site_name))
		return;
	site_encode(s, &s->var[0], va);
	site_encode(s, &s->var[1], vb);
	if (!report(!memcmp(s->addr, va, s->len), "site %s holds variant a before the test", site_name))
		return;

	memset(&run, 0, sizeof(run));
	run.fn = fn;
	run.nap = nap_us > 0 ? (uint32_t)nap_us : 0;
	if (run.nap)
		report_info("bystanders: bursts of %u calls, %u us naps between (patch.nap_us)", burst, run.nap);
	for_each_cpu_in(c, &cpu_online_mask) {
		bp_before[c] = percpu_of(c)->bp_emulated[BP_THREAD];
		vanished_before[c] = percpu_of(c)->bp_vanished;
	}
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me && on_cpu_async(c, bystander, NULL) == 0)
			helpers++;
	uint64_t deadline = tsc_deadline_us(5000000);
	while (__atomic_load_n(&run.started, __ATOMIC_ACQUIRE) < helpers && !tsc_expired(deadline))
		cpu_relax();

	uint64_t t0 = rdtsc(), sync_cycles = 0, write_cycles = 0;
	unsigned done = 0, flips = flips_now();
	int err = 0;
	for (; done < flips && !err; done++) {
		err = smp_text_poke_single((void *)s->addr, done % 2 ? vb : va, done % 2 ? va : vb, s->len);
		struct poke_stats st;
		poke_get_stats(&st);
		for (int k = 0; k < 3; k++)
			sync_cycles += st.cycles_sync[k];
		for (int k = 0; k < 4; k++)
			write_cycles += st.cycles_write[k];
		if (done + 1 == NAP_PROBE_FLIPS && nap_us < 0 && helpers &&
		    tsc_to_us(sync_cycles) / (3 * NAP_PROBE_FLIPS) > NAP_THRESHOLD_US) {
			__atomic_store_n(&run.nap, NAP_DEFAULT_US, __ATOMIC_RELAXED);
			report_info("rounds averaged %lu us over %u flips: vCPUs outnumber host cores; bystanders now "
				    "call in bursts of %u with %u us naps", tsc_to_us(sync_cycles) / (3 * NAP_PROBE_FLIPS),
				    NAP_PROBE_FLIPS, burst, NAP_DEFAULT_US);
		}
	}
	uint64_t us = tsc_to_us(rdtsc() - t0);
	if (done)
		report_info("per flip: %lu us in rendezvous rounds, %lu us writing", tsc_to_us(sync_cycles) / done,
			    tsc_to_us(write_cycles) / done);

	__atomic_store_n(&run.stop, 1, __ATOMIC_RELEASE);
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me)
			cpu_wait_done(c, 5000000);

	uint64_t na = 0, nb = 0, bad = 0, emulated = 0, vanished = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		na += run.a[c];
		nb += run.b[c];
		bad += run.bad[c];
		if (run.bad[c])
			report_info("CPU %u got %lu bad result(s), e.g. %#x", c, run.bad[c], run.bad_value[c]);
		if (c != me)
			emulated += percpu_of(c)->bp_emulated[BP_THREAD] - bp_before[c];
		vanished += percpu_of(c)->bp_vanished - vanished_before[c];
	}
	report_info("%u flips in %lu ms (%lu us each); %u bystanders made %lu calls (%lu a, %lu b), "
		    "%lu took the #BP emulation, %lu re-ran a vanished int3", done, us / 1000, done ? us / done : 0,
		    helpers, na + nb + bad, na, nb, emulated, vanished);
	report(err == 0, "every flip applied (%s)", err ? patch_errname(err) : "no error");
	report(done == flips, "%u of %u flips done", done, flips);
	report(!memcmp(s->addr, va, s->len), "site %s holds variant a again", site_name);
	report(bad == 0, "bystanders only ever saw results of variant a or b (%lu others)", bad);
	if (helpers) {
		report(na > 0 && nb > 0, "bystanders saw both variants (a %lu, b %lu)", na, nb);
		report(emulated > 0, "bystanders hit the int3 and were emulated %lu times (the window was hit)", emulated);
	} else {
		report_info("one CPU: no bystanders, the protocol ran alone");
	}
}

#define FLIP_TEST(kind) \
	static void test_flip_##kind(void) { flip_test(#kind, flip_##kind##_fn); } \
	KTEST("patch.flip_" #kind, test_flip_##kind, .timeout_ms = 600000)

FLIP_TEST(call);
FLIP_TEST(jmp8);
FLIP_TEST(jmp32);
FLIP_TEST(jcc8);
FLIP_TEST(jcc32);
FLIP_TEST(nop2);
FLIP_TEST(nop5);
FLIP_TEST(ret);
