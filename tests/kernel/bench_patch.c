/*
 * tests/kernel/bench_patch.c — figures for `make bench` (hidden tests: never
 * part of "all", never pass/fail on speed). Median TSC cycles of:
 *   an empty rendezvous of all CPUs; a single-site patch; batches of 1, 16
 *   and 256 sites; a #BP-emulated call against a bare int3 + IRET.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/sort.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "patch/insn.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "clients/sites/sites.h"
#include "patch/text_poke.h"
#include "lab/fixture_sites.h"

#define RUNS 64

static uint64_t median(uint64_t *v, unsigned n)
{
	sort_u64(v, n);
	return v[n / 2];
}

POKE_BATCH_DEFINE(bench_batch, BATCH_SITES);

static uint64_t batch_of(unsigned n)
{
	return batch_sites_flip(&bench_batch, NULL, n, NULL);
}

static void bench_patch(void)
{
	static uint64_t v[RUNS];
	uint64_t empty, single, b1, b16, b256, emu, bare;

	spin_lock(&text_lock);          /* a rendezvous needs it: one round at a time */
	for (unsigned i = 0; i < RUNS; i++)
		v[i] = sync_all_cpus();
	spin_unlock(&text_lock);
	empty = median(v, RUNS);

	const struct patch_site_def *s = site_by_name("call");
	for (unsigned i = 0; i < RUNS; i++) {
		uint64_t t0 = rdtsc();
		site_patch(s, &s->var[(i + 1) % 2]);
		v[i] = rdtsc() - t0;
	}
	single = median(v, RUNS);

	for (unsigned i = 0; i < RUNS; i++)
		v[i] = batch_of(1);
	b1 = median(v, RUNS);
	for (unsigned i = 0; i < RUNS; i++)
		v[i] = batch_of(16);
	b16 = median(v, RUNS);
	for (unsigned i = 0; i < 16; i++)
		v[i] = batch_of(BATCH_SITES);
	b256 = median(v, 16);

	/* #BP-emulated call: the int3 self-test's slot, published as a live site. */
	uint64_t seen;
	int3_selftest_arm();
	for (unsigned i = 0; i < RUNS; i++) {
		uint64_t t0 = rdtsc();
		int3_selftest_run(&seen, 0);
		v[i] = rdtsc() - t0;
	}
	int3_selftest_disarm();
	emu = median(v, RUNS);

	this_cpu()->int3_quiet = 1;
	for (unsigned i = 0; i < RUNS; i++) {
		uint64_t t0 = rdtsc();
		__asm__ volatile("int3" ::: "memory");
		v[i] = rdtsc() - t0;
	}
	this_cpu()->int3_quiet = 0;
	bare = median(v, RUNS);

	report_info("bench: %u CPUs, TSC %lu kHz, serializing with %s, median of %u runs", nr_cpus_online, tsc_khz,
		    sync_core_method(), RUNS);
	report_info("bench: empty rendezvous of all CPUs   %10lu cycles  %7lu us", empty, tsc_to_us(empty));
	report_info("bench: single-site patch              %10lu cycles  %7lu us", single, tsc_to_us(single));
	report_info("bench: batch of   1 site              %10lu cycles  %7lu us", b1, tsc_to_us(b1));
	report_info("bench: batch of  16 sites             %10lu cycles  %7lu us", b16, tsc_to_us(b16));
	report_info("bench: batch of 256 sites             %10lu cycles  %7lu us", b256, tsc_to_us(b256));
	report_info("bench: #BP-emulated call              %10lu cycles", emu);
	report_info("bench: bare int3 + iret               %10lu cycles", bare);
	report_info("bench: single-site / (3 x empty rendezvous) = %lu.%02lu", single / (3 * empty),
		    single * 100 / (3 * empty) % 100);
	report_info("bench: 256-site batch / 1-site batch = %lu.%02lu", b256 / b1, b256 * 100 / b1 % 100);
	report(true, "figures printed");
}
KTEST("bench.patch", bench_patch, .flags = KTEST_HIDDEN, .timeout_ms = 600000);
