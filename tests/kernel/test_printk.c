/*
 * tests/kernel/test_printk.c — the console from every CPU and every context:
 * no deadlock, no line interleaving, nothing lost.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"

static char capbuf[2 * 1024 * 1024];
static struct console_capture cap = { .buf = capbuf, .size = sizeof(capbuf), .quiet = 1 };

static uint32_t self_nmi_done;

static void nmi_print_marker(struct regs *r)
{
	(void)r;
	printk("~pk-self printed from NMI on CPU %u", cpu_id());
	__atomic_store_n(&self_nmi_done, 1, __ATOMIC_RELEASE);
}

/* An NMI on a CPU that holds the console: is its line queued (no deadlock)
 * and printed once the interrupted holder lets go? */
static void test_nmi_while_held(void)
{
	struct printk_stats before, after;
	cap.prefix = "~pk-self";
	console_capture_start(&cap);
	printk_get_stats(&before);
	self_nmi_done = 0;
	nmi_set_test_hook(nmi_print_marker);

	if (!report(console_trylock(), "took the console as a drainer would"))
		return;
	__atomic_fetch_or(&this_cpu()->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
	apic_send_nmi_self();
	uint64_t deadline = tsc_deadline_us(1000000);
	while (!__atomic_load_n(&self_nmi_done, __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
		cpu_relax();
	bool returned = self_nmi_done;
	size_t while_held = cap.len;
	console_unlock();
	nmi_set_test_hook(NULL);
	console_capture_stop();
	printk_get_stats(&after);

	report(returned, "the NMI handler's printk returned while this CPU held the console");
	report(after.deferred_self == before.deferred_self + 1, "it was queued as deferred (%lu)",
	       after.deferred_self - before.deferred_self);
	report(while_held == 0, "nothing reached the console while it was held");
	report(cap.len > 0 && mem_contains(capbuf, cap.len, "~pk-self printed from NMI"),
	       "the line came out when the holder released the console");
}
KTEST("printk.nmi_while_console_held", test_nmi_while_held);

/*
 * Storm: every AP prints numbered lines in thread context while the BSP
 * fires NMIs at them whose handler prints too. Every line must arrive
 * intact, each CPU's thread lines in order, and every line must be either
 * printed exactly once or counted as dropped (a full ring can force an NMI
 * that interrupted its own CPU's drain to drop its line: never silently).
 */
#define STORM_PAD       "-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-"
#define STORM_LINE_LEN  95              /* bytes per captured line, newline included */
#define WANT_DEFERRED   3

static unsigned storm_lines;            /* per AP per round */
static uint32_t storm_thread_printed[MAX_CPUS];
static uint32_t storm_nmi_printed[MAX_CPUS];

/* NMI context. */
static void storm_nmi(struct regs *r)
{
	(void)r;
	uint32_t c = cpu_id();
	uint32_t n = storm_nmi_printed[c]++;
	printk("~pks c=%03u x=n s=%06u %s end", c, n, STORM_PAD);
}

static void storm_printer(void *unused)
{
	(void)unused;
	uint32_t c = cpu_id();
	for (unsigned i = 0; i < storm_lines; i++) {
		uint32_t n = storm_thread_printed[c]++;
		printk("~pks c=%03u x=t s=%06u %s end", c, n, STORM_PAD);
	}
}

static bool parse_line(const char *s, size_t n, unsigned *cpu, char *ctx, unsigned *seq)
{
	char expect[192];
	if (n < 24 || memcmp(s, "~pks c=", 7))
		return false;
	*cpu = (unsigned)((s[7] - '0') * 100 + (s[8] - '0') * 10 + (s[9] - '0'));
	*ctx = s[13];
	*seq = 0;
	for (int i = 0; i < 6; i++)
		*seq = *seq * 10 + (unsigned)(s[17 + i] - '0');
	int len = snprintf(expect, sizeof(expect), "~pks c=%03u x=%c s=%06u %s end", *cpu, *ctx, *seq, STORM_PAD);
	return (size_t)len == n && !memcmp(expect, s, n);
}

static bool any_pending(unsigned me)
{
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me && cpu_work_pending(c))
			return true;
	return false;
}

static void test_storm(void)
{
	static uint32_t seen_t[MAX_CPUS], seen_n[MAX_CPUS];
	static int32_t last_t[MAX_CPUS];
	struct printk_stats before, after;
	unsigned me = cpu_id(), aps = nr_cpus_online - 1;

	storm_lines = 1500 / aps < 100 ? 1500 / aps : 100;
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		storm_thread_printed[c] = storm_nmi_printed[c] = seen_t[c] = seen_n[c] = 0;
		last_t[c] = -1;
	}
	cap.prefix = "~pks";
	console_capture_start(&cap);
	printk_get_stats(&before);
	nmi_set_test_hook(storm_nmi);

	/* Rounds until NMIs have hit CPUs holding the console a few times, as
	 * long as another round fits in the capture buffer. */
	unsigned rounds = 0, nmis = 0, target = me;
	/* At most as many NMIs as thread lines per round: an NMI every few
	 * microseconds would otherwise starve a lone printer (and fill the
	 * capture with NMI lines). */
	unsigned nmi_budget = aps * storm_lines;
	size_t round_bytes = (size_t)aps * storm_lines * STORM_LINE_LEN * 2 + 64 * STORM_LINE_LEN;
	uint64_t deadline = tsc_deadline_us(20000000);
	do {
		for_each_cpu_in(c, &cpu_online_mask)
			if (c != me && on_cpu_async(c, storm_printer, NULL))
				report(false, "could not queue the printer on CPU %u", c);
		unsigned round_nmis = 0;
		while (any_pending(me)) {
			if (round_nmis++ >= nmi_budget) {
				cpu_relax();
				continue;
			}
			/* Every other NMI goes to whoever is draining the console
			 * right now: that is the hazard. The rest go round-robin. */
			int owner = console_owner_cpu();
			if (nmis % 2 == 0 && owner >= 0 && (unsigned)owner != me) {
				target = (unsigned)owner;
			} else {
				do {
					target = cpumask_next(&cpu_online_mask, target + 1);
					if (target >= MAX_CPUS)
						target = cpumask_next(&cpu_online_mask, 0);
				} while (target == me);
			}
			nmi_send(target, NMI_TEST);
			nmis++;
			udelay(2);
		}
		rounds++;
		printk_get_stats(&after);
	} while (after.deferred_self - before.deferred_self < WANT_DEFERRED && !tsc_expired(deadline) &&
		 cap.len + round_bytes <= cap.size);

	/* NMIs are handled in order, one at a time: once every CPU has answered
	 * a WHERE NMI, every test NMI sent before it has finished printing. */
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me && !cpu_where(c, NULL))
			report(false, "CPU %u did not answer an NMI after the storm", c);
	nmi_set_test_hook(NULL);
	console_capture_stop();
	printk_get_stats(&after);

	unsigned lines = 0, broken = 0, disorder = 0;
	for (size_t pos = 0; pos < cap.len;) {
		const char *s = capbuf + pos;
		size_t n = 0;
		while (pos + n < cap.len && s[n] != '\n')
			n++;
		unsigned cpu, seq;
		char ctx;
		if (!parse_line(s, n, &cpu, &ctx, &seq) || cpu >= MAX_CPUS) {
			if (broken++ < 3)
				report_info("broken line: '%.*s'", (int)(n < 100 ? n : 100), s);
		} else if (ctx == 't') {
			disorder += (int32_t)seq <= last_t[cpu];
			last_t[cpu] = (int32_t)seq;
			seen_t[cpu]++;
		} else {
			seen_n[cpu]++;
		}
		lines++;
		pos += n + 1;
	}

	unsigned missing = 0, extra = 0, nmi_lines = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			continue;
		uint32_t want = storm_thread_printed[c] + storm_nmi_printed[c], got = seen_t[c] + seen_n[c];
		missing += want > got ? want - got : 0;
		extra += got > want ? got - want : 0;
		nmi_lines += seen_n[c];
	}
	uint64_t dropped = after.dropped - before.dropped;
	report_info("%u round(s) of %u lines per AP, %u NMIs sent, %u lines captured (%u from NMI handlers), %lu dropped",
		    rounds, storm_lines, nmis, lines, nmi_lines, dropped);
	report(broken == 0, "every line intact: no interleaving (%u broken)", broken);
	report(disorder == 0, "each CPU's thread lines in order (%u out of order)", disorder);
	report(extra == 0 && missing == dropped && cap.overflow == 0,
	       "every line printed exactly once or counted as dropped (%u missing, %lu dropped, %u duplicated)",
	       missing, dropped, extra);
	report(nmi_lines > 0, "NMI handlers printed %u lines during the storm", nmi_lines);
	report(after.deferred_self - before.deferred_self >= WANT_DEFERRED,
	       "NMIs hit CPUs while they held the console: %lu times (hazard exercised)",
	       after.deferred_self - before.deferred_self);
}
KTEST("printk.storm_all_cpus_with_nmis", test_storm, .min_cpus = 2);
