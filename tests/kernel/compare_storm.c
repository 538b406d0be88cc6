/*
 * tests/kernel/compare_storm.c — compare.storm (hidden; make compare boots
 * it): the mixed storm (lab/storm.h: NMIs, IPIs and INT 18 from every
 * other CPU, sites flipping in thread, IRQ, NMI and #MC context) for
 * compare.seconds with every strategy of the registry in turn, after half
 * as long (at most 2 s) of the same storm without patching, for the NMI
 * rate idle.
 *
 * storm_fit() fits the storm to each strategy's claim: where it does not
 * claim safety against an event the storm fires, that path's call site
 * stays put (a torn call would crash, not be counted) and its value site
 * flips instead, so tearing is counted (expected unsafe, detected). For
 * those runs the lab widens the windows with the knobs the storm-stop-
 * machine stanzas of tests/boots.cfg use, and says so ("knobs" line): a
 * 200 us delay between byte stores, and on CPUs a stop-machine strategy
 * stopped, an NMI every 3 us (if the strategy is unsafe against NMIs) and
 * INT 18 every 20 us (if against #MC). Those runs' latency and flips/s
 * are the knobs', not the strategy's.
 *
 * Figures, not a verdict: "# compare: storm|knobs|hazard|stall|cdf ..."
 * lines (compare_report.h). A run's status: ok; unsafe-detected (torn
 * executions counted where the strategy claims no safety); unsafe-unseen
 * (none happened to tear); or failed, with what failed (refused flips,
 * bad results, lost site entries, a stuck CPU, nested NMIs, or tearing
 * where the strategy claims safety). A failed run does not stop the next.
 */
#include <stdarg.h>
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "clients/sites/sites.h"
#include "lab/storm.h"
#include "patch/patch.h"
#include "patch/strategy.h"
#include "patch/text_poke.h"
#include "strategies/stop_machine/stop_machine.h"
#include "tests/kernel/compare_report.h"

#define IDLE_MS_MAX     2000
#define KNOB_WRITE_DELAY_US     200     /* as tests/boots.cfg's storm-stop-machine stanzas */
#define KNOB_STOP_NMI_US        3
#define KNOB_STOP_MCE_US        20

static unsigned seconds = 3;
KPARAM_UINT("compare.seconds", seconds, 1, 600, "S: make compare's mixed storm: seconds per strategy (default 3)");

static struct storm_result res;


/* The lab knobs for a run expected unsafe against the events unsafe:
 * set them (on) or back to what they were; the "knobs" line. */
static void lab_knobs(bool on, uint32_t unsafe, const struct patch_strategy *s, char *set, size_t size)
{
	static uint32_t saved[3];
	if (!on) {
		poke_write_delay_us = saved[0];
		stop_nmi_us = saved[1];
		stop_mce_us = saved[2];
		return;
	}
	saved[0] = poke_write_delay_us;
	saved[1] = stop_nmi_us;
	saved[2] = stop_mce_us;
	int n = snprintf(set, size, "patch.write_delay_us=%u", KNOB_WRITE_DELAY_US);
	poke_write_delay_us = KNOB_WRITE_DELAY_US;
	if (unsafe & PATCH_EV_NMI) {
		stop_nmi_us = KNOB_STOP_NMI_US;
		n += snprintf(set + n, size - (size_t)n, ",patch.stop_nmi_us=%u", KNOB_STOP_NMI_US);
	}
	if (unsafe & PATCH_EV_MCE) {
		stop_mce_us = KNOB_STOP_MCE_US;
		snprintf(set + n, size - (size_t)n, ",patch.stop_mce_us=%u", KNOB_STOP_MCE_US);
	}
	char evs[48];
	storm_event_names(unsafe, evs, sizeof(evs));
	printk("# compare: knobs strategy=%s smp=%u set=%s why=expected unsafe against %s: the lab widens the "
	       "windows (as tests/boots.cfg's storm-stop-machine stanzas do); this run's latency and flips/s are "
	       "the knobs'", s->name, nr_cpus_online, set, evs);
}

static uint64_t per_s(uint64_t n, uint64_t ms) { return ms ? n * 1000 / ms : 0; }

/* Append one failure to buf (comma-separated). */
static void __attribute__((format(printf, 4, 5))) add_failure(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	if (*n + 1 >= size)
		return;
	if (*n)
		buf[(*n)++] = ',';
	va_start(ap, fmt);
	int w = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	*n = *n + (size_t)w < size ? *n + (size_t)w : size - 1;
}

/* What failed in res ("" if nothing): where the strategy claims safety,
 * anything; where it does not (unsafe), anything but the tearing. */
static void failures(uint32_t unsafe, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = 0;
	if (res.flips == 0)
		add_failure(buf, size, &n, "no-flip");
	if (res.flip_errors)
		add_failure(buf, size, &n, "refused:%lu:%s", res.flip_errors, patch_errname(res.first_err));
	if (res.bad)
		add_failure(buf, size, &n, "bad-results:%lu", res.bad);
	if (res.sites_lost)
		add_failure(buf, size, &n, "lost-entries:%lu", res.sites_lost);
	if (res.stuck_cpu >= 0)
		add_failure(buf, size, &n, "watchdog:cpu%d", res.stuck_cpu);
	if (res.total.nested)
		add_failure(buf, size, &n, "nested-nmis:%lu", res.total.nested);
	if (res.torn && !unsafe)
		add_failure(buf, size, &n, "torn-where-claimed-safe:%lu", res.torn);
}

static void one_storm(const struct patch_strategy *s)
{
	static struct hist all;
	struct storm_cfg cfg = { .kind = STORM_MIXED, .strategy = s, .ms = seconds * 1000,
				 .idle_ms = seconds * 500 < IDLE_MS_MAX ? seconds * 500 : IDLE_MS_MAX,
				 .flip_thread = true, .flip_irq = true, .flip_nmi = true, .flip_mce = true,
				 .soft_mce = true, .stuck_sender = -1 };
	bool can_detect;
	uint32_t unsafe = storm_fit(&cfg, &can_detect);
	char knobs[128] = "-", evs[48], failed[192], tags[96], lat[128], stall[128];

	if (unsafe && can_detect)
		lab_knobs(true, unsafe, s, knobs, sizeof(knobs));
	storm_run(&cfg, &res);
	if (unsafe && can_detect)
		lab_knobs(false, 0, s, NULL, 0);
	storm_print(&cfg, &res);

	failures(unsafe, failed, sizeof(failed));
	const char *status = failed[0] ? "failed"
			     : !unsafe ? "ok"
			     : res.torn ? "unsafe-detected"
			     : can_detect ? "unsafe-unseen" : "unsafe-undetectable";
	storm_event_names(unsafe, evs, sizeof(evs));
	snprintf(tags, sizeof(tags), "workload=storm strategy=%s smp=%u sites=-", s->name, nr_cpus_online);
	compare_print_stall(tags, &all);
	compare_percentiles(lat, sizeof(lat), "lat_", &res.latency);
	compare_percentiles(stall, sizeof(stall), "stall_", &all);
	for (unsigned k = 0; k < s->nr_hazards; k++)
		printk("# compare: hazard strategy=%s smp=%u count=%lu name=%s", s->name, nr_cpus_online,
		       res.total.hazard[k], s->hazards[k].name);
	printk("# compare: storm strategy=%s smp=%u ms=%lu idle_ms=%lu status=%s flips=%lu flips_per_s=%lu %s %s "
	       "nmis=%lu nmis_idle=%lu nmi_per_s=%lu nmi_idle_per_s=%lu torn=%lu bad=%lu lost=%lu stuck=%d refused=%lu "
	       "nested=%lu unsafe=%s knobs=%s error=%s", s->name, nr_cpus_online, res.ms, res.idle_ms, status, res.flips,
	       per_s(res.flips, res.ms), lat, stall, res.total.nmis, res.total.nmis_idle, per_s(res.total.nmis, res.ms),
	       per_s(res.total.nmis_idle, res.idle_ms), res.torn, res.bad, res.sites_lost, res.stuck_cpu,
	       res.flip_errors, res.total.nested, evs, knobs, failed[0] ? failed : "-");
}

static void compare_storm(void)
{
	printk("# compare: info cpus=%u tsc_khz=%lu seconds=%u", nr_cpus_online, tsc_khz, seconds);
	for (const struct patch_strategy *const *p = patch_strategies; *p; p++)
		one_storm(*p);
	static const char *const names[] = { "call", "irq", "nmi", "mce", "nmi_value", "mce_value" };
	bool back = true;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct patch_site_def *s = site_by_name(names[i]);
		back &= site_current_variant(s) == &s->var[0];
	}
	report(back, "every storm site holds variant a again");
}
KTEST("compare.storm", compare_storm, .flags = KTEST_HIDDEN, .timeout_ms = 14400000);
