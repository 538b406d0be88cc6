/*
 * tests/kernel/test_tsc.c — is the TSC calibration right?
 */
#include <stddef.h>
#include "arch/x86/acpi.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"

static uint64_t absdiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* Over 100 ms of PIT time, does the TSC advance by tsc_khz * 100 (+-5%)? */
static void test_vs_pit(void)
{
	uint64_t ticks = pit_measure_tsc(50);
	ticks += pit_measure_tsc(50);
	uint64_t expect = tsc_khz * 100;
	report(ticks != 0, "the PIT counted");
	uint64_t permille = absdiff(ticks, expect) * 1000 / expect;
	report(permille < 50, "100 ms of PIT = %lu TSC cycles; calibration says %lu (off by %lu.%lu%%)",
	       ticks, expect, permille / 10, permille % 10);
}
KTEST("tsc.calibration_vs_pit", test_vs_pit);

/* Cross-check against an independent clock: the ACPI PM timer. */
static const char *no_pm_timer(void) { return acpi.pm_tmr_port ? NULL : "no ACPI PM timer in the FADT"; }

static void test_vs_pm_timer(void)
{
	uint32_t mask = acpi.pm_tmr_32bit ? 0xffffffffu : 0xffffffu;
	uint32_t want = ACPI_PM_TIMER_HZ / 10;          /* 100 ms */
	uint32_t p0 = acpi_pm_timer_read();
	uint64_t t0 = rdtsc();
	uint32_t p1;
	do
		p1 = acpi_pm_timer_read();
	while (((p1 - p0) & mask) < want);
	uint64_t t1 = rdtsc();
	uint64_t us = (uint64_t)((p1 - p0) & mask) * 1000000 / ACPI_PM_TIMER_HZ;
	uint64_t expect = tsc_khz * us / 1000;
	uint64_t permille = absdiff(t1 - t0, expect) * 1000 / expect;
	report(permille < 50, "%lu us of PM timer = %lu TSC cycles; calibration says %lu (off by %lu.%lu%%)",
	       us, t1 - t0, expect, permille / 10, permille % 10);
}
KTEST("tsc.calibration_vs_acpi_pm_timer", test_vs_pm_timer, .skip = no_pm_timer);
