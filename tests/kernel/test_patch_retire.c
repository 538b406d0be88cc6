/*
 * tests/kernel/test_patch_retire.c — retiring a batch cannot be starved by
 * CPUs that read it (validation pins the live batch: patch/live.c), and
 * validation sees the text as it really is while batches fly.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"
#include "lab/fixture_sites.h"

#define READERS 3                       /* CPUs 1..3; CPU 0 patches */

/* --- Three CPUs validate in a loop while CPU 0 flips -------------------- */

#define VALIDATE_FLIPS 100

static uint32_t val_stop;
static uint64_t val_runs[READERS + 1], val_busy[READERS + 1], val_late_bad[READERS + 1];
static int val_late_err[READERS + 1];
static struct poke_site val_storage[READERS + 1];

/* Thread context on CPUs 1..3. Validates, over and over: the "call" site
 * itself (0, or PATCH_EBUSY while CPU 0's batch is in flight, or
 * PATCH_EOLD_MISMATCH when it holds b), and the ret right after it, in the
 * same function, which must always be accepted: while the batch is in
 * flight the decoder walks over the site, and through the view it sees
 * the old call, not an int3 and a half-written tail. */
static void validator(void *unused)
{
	(void)unused;
	unsigned c = cpu_id();
	const struct patch_site_def *s = site_by_name("call");
	struct poke_batch b = POKE_BATCH_INIT(&val_storage[c], 1);
	uint8_t call_a[CALL_INSN_SIZE], ret[1] = { RET_INSN_OPCODE };
	site_encode(s, variant_by_name(s, "a"), call_a);
	b.quiet = true;
	while (!__atomic_load_n(&val_stop, __ATOMIC_ACQUIRE)) {
		int err = smp_text_poke_batch_add(&b, (void *)s->addr, call_a, call_a, CALL_INSN_SIZE);
		val_busy[c] += err == -PATCH_EBUSY;
		smp_text_poke_batch_reset(&b);
		err = smp_text_poke_batch_add(&b, (void *)(flip_call_site + CALL_INSN_SIZE), ret, ret, 1);
		if (err) {
			val_late_bad[c]++;
			val_late_err[c] = err;
		}
		smp_text_poke_batch_reset(&b);
		val_runs[c]++;
	}
}

static void test_validators(void)
{
	const struct patch_site_def *s = site_by_name("call");
	uint64_t retire_max = 0, retire_sum = 0;
	unsigned done = 0;
	memset(val_runs, 0, sizeof(val_runs));
	memset(val_busy, 0, sizeof(val_busy));
	memset(val_late_bad, 0, sizeof(val_late_bad));
	__atomic_store_n(&val_stop, 0, __ATOMIC_SEQ_CST);
	for (unsigned c = 1; c <= READERS; c++)
		if (!report(on_cpu_async(c, validator, NULL) == 0, "validator started on CPU %u", c))
			goto out;
	for (; done < VALIDATE_FLIPS; done++) {
		struct poke_stats st;
		if (site_patch(s, variant_by_name(s, done % 2 ? "a" : "b")))
			break;
		poke_get_stats(&st);
		retire_max = st.cycles_retire > retire_max ? st.cycles_retire : retire_max;
		retire_sum += st.cycles_retire;
	}
out:
	__atomic_store_n(&val_stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned c = 1; c <= READERS; c++)
		cpu_wait_done(c, 10000000);
	report(done == VALIDATE_FLIPS, "CPU 0 flipped the call site %u times: every retirement completed", done);
	report(site_current_variant(s) == &s->var[0] || site_patch(s, variant_by_name(s, "a")) == 0,
	       "the site holds a again");
	uint64_t runs = 0, busy = 0, bad = 0;
	for (unsigned c = 1; c <= READERS; c++) {
		runs += val_runs[c];
		busy += val_busy[c];
		bad += val_late_bad[c];
		report(val_runs[c] > 0, "CPU %u validated %lu times meanwhile", c, val_runs[c]);
		if (val_late_bad[c])
			report_info("CPU %u: the ret after the site was refused %lu times, last with %s", c,
				    val_late_bad[c], patch_errname(val_late_err[c]));
	}
	report(busy > 0, "%lu validations found the site in a batch in flight (the window was hit)", busy);
	report(bad == 0, "the ret right after the site in flight was accepted every time (%lu refusals in %lu runs)",
	       bad, runs);
	if (done)
		report_info("retirement: %lu us at most, %lu us on average over %u batches", tsc_to_us(retire_max),
			    tsc_to_us(retire_sum / done), done);
}
KTEST("patch.retire_not_starved_by_validators", test_validators, .min_cpus = READERS + 1);

/* --- A relay of pins across the withdrawal ------------------------------ */

/*
 * The worst case for retirement, made deterministic: three CPUs pass the
 * live batch's pin along, each letting go only once a newer pin is held,
 * so the reference count never falls to zero while new pins are granted:
 *
 *   CPU 0 (patching)           CPU 1          CPU 2          CPU 3
 *   ----------------           -----          -----          -----
 *   publish b, rounds...       pin b
 *                              (holders 1)    pin b (2)
 *                              unpin                         pin b (2)
 *                                             unpin ...      ...
 *   withdraw b; wait refs 0                   pin: refused --> the holder
 *                                                              lets go
 *   retired                    (relay idle until the next batch)
 *
 * Pins are granted only while the batch is live (its gates open), so
 * after the withdrawal every new pin is refused, the last holder sees a
 * refusal and lets go, and the retirement completes. If pins were granted
 * regardless (as the per-CPU counts of old were raised), the relay would
 * hold the batch until its own deadline: the test fails on that.
 */
#define RELAY_FLIPS 20
#define RELAY_MAX_US 20000000ull

static struct {
	uint32_t stop;
	uint32_t holders;               /* relay CPUs pinning the batch now */
	uint32_t refusals;              /* pins refused while another one was held */
	uint32_t timed_out;
	uint64_t pins;                  /* pins taken by the relay, numbered */
	uint64_t handoffs;              /* pins taken while another relay CPU held one */
} relay;

static void relay_cpu(void *unused)
{
	(void)unused;
	uint64_t deadline = tsc_deadline_us(RELAY_MAX_US);
	while (!__atomic_load_n(&relay.stop, __ATOMIC_ACQUIRE)) {
		if (tsc_expired(deadline)) {
			__atomic_store_n(&relay.timed_out, 1, __ATOMIC_RELEASE);
			return;
		}
		uint32_t refusals = __atomic_load_n(&relay.refusals, __ATOMIC_ACQUIRE);
		bool held = __atomic_load_n(&relay.holders, __ATOMIC_ACQUIRE) != 0;
		const struct poke_batch *b = live_batch_get();
		if (!b) {
			if (held)       /* another relay CPU pins a batch we could not: withdrawn */
				__atomic_fetch_add(&relay.refusals, 1, __ATOMIC_ACQ_REL);
			cpu_relax();
			continue;
		}
		if (__atomic_add_fetch(&relay.holders, 1, __ATOMIC_ACQ_REL) >= 2)
			__atomic_fetch_add(&relay.handoffs, 1, __ATOMIC_RELAXED);
		/* Let go only once a newer pin is held (the newest holder
		 * always holds on), or a pin was refused. */
		uint64_t mine = __atomic_add_fetch(&relay.pins, 1, __ATOMIC_ACQ_REL);
		while (__atomic_load_n(&relay.pins, __ATOMIC_ACQUIRE) == mine &&
		       __atomic_load_n(&relay.refusals, __ATOMIC_ACQUIRE) == refusals &&
		       !__atomic_load_n(&relay.stop, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
			cpu_relax();
		__atomic_fetch_sub(&relay.holders, 1, __ATOMIC_ACQ_REL);
		live_batch_put();
	}
}

static void test_relay(void)
{
	const struct patch_site_def *s = site_by_name("call");
	memset(&relay, 0, sizeof(relay));
	unsigned done = 0;
	for (unsigned c = 1; c <= READERS; c++)
		if (!report(on_cpu_async(c, relay_cpu, NULL) == 0, "relay started on CPU %u", c))
			goto out;
	for (; done < RELAY_FLIPS && !__atomic_load_n(&relay.timed_out, __ATOMIC_ACQUIRE); done++)
		if (site_patch(s, variant_by_name(s, done % 2 ? "a" : "b")))
			break;
out:
	__atomic_store_n(&relay.stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned c = 1; c <= READERS; c++)
		cpu_wait_done(c, RELAY_MAX_US + 5000000);
	report(done == RELAY_FLIPS && !relay.timed_out,
	       "%u of %u batches retired while the relay ran (%s)", done, RELAY_FLIPS,
	       relay.timed_out ? "the relay held a batch until its deadline" : "the relay never outlasted one");
	report(relay.handoffs > 0, "the pin was handed on %lu times: the count never fell to zero meanwhile",
	       relay.handoffs);
	report(relay.refusals > 0, "%u pins were refused while another was held: the withdrawal broke the relay",
	       relay.refusals);
	report(site_current_variant(s) == &s->var[0] || site_patch(s, variant_by_name(s, "a")) == 0,
	       "the site holds a again");
}
KTEST("patch.retire_not_starved_by_pin_relay", test_relay, .min_cpus = READERS + 1, .timeout_ms = 60000);
