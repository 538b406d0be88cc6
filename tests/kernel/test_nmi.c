/*
 * tests/kernel/test_nmi.c — NMI IPIs: delivered exactly where sent, once,
 * on the NMI IST stack.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"

static uint32_t nmi_hits[MAX_CPUS];
static uint32_t off_ist[MAX_CPUS];

/* NMI context: count, and check we run on this CPU's NMI IST stack. */
static void nmi_probe(struct regs *r)
{
	(void)r;
	struct percpu *pc = this_cpu();
	uintptr_t sp = read_rsp();
	if (sp < pc->ist_lo[IST_NMI] || sp >= pc->ist_hi[IST_NMI])
		__atomic_fetch_add(&off_ist[pc->cpu], 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&nmi_hits[pc->cpu], 1, __ATOMIC_SEQ_CST);
}

static bool wait_nmis(const uint32_t *want)
{
	uint64_t deadline = tsc_deadline_us(2000000);
	for (;;) {
		bool all = true;
		for_each_cpu_in(c, &cpu_online_mask)
			all &= __atomic_load_n(&nmi_hits[c], __ATOMIC_ACQUIRE) >= want[c];
		if (all || tsc_expired(deadline))
			break;
		cpu_relax();
	}
	mdelay(20);                     /* let a duplicate show up if there is one */
	bool exact = true;
	for_each_cpu_in(c, &cpu_online_mask)
		exact &= nmi_hits[c] == want[c];
	return exact;
}

static void set_reason(unsigned c) { __atomic_fetch_or(&percpu_of(c)->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST); }

/* Is an NMI IPI to each CPU taken exactly once, by that CPU, on its IST stack? */
static void test_nmi_each(void)
{
	static uint32_t want[MAX_CPUS];
	unsigned me = cpu_id();
	for (unsigned c = 0; c < MAX_CPUS; c++)
		nmi_hits[c] = off_ist[c] = want[c] = 0;
	nmi_set_test_hook(nmi_probe);

	bool each = true;
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me) {
			set_reason(c);
			apic_send_nmi_self();
		} else {
			nmi_send(c, NMI_TEST);
		}
		want[c] = 1;
		each &= wait_nmis(want);
	}
	report(each, "one NMI to each of %u CPUs in turn: each taken once, by its target only", nr_cpus_online);

	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me) {
			set_reason(c);
			want[c]++;
		}
	apic_send_nmi_allbutself();
	report(wait_nmis(want), "NMI all-but-self: every other CPU took exactly one more");

	for_each_cpu_in(c, &cpu_online_mask) {
		set_reason(c);
		want[c]++;
	}
	apic_send_nmi_all();
	report(wait_nmis(want), "NMI all-including-self: every CPU took exactly one more");

	unsigned off = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		off += off_ist[c];
		if (nmi_hits[c] != want[c])
			report_info("CPU %u: %u NMIs, expected %u", c, nmi_hits[c], want[c]);
	}
	report(off == 0, "every NMI ran on its CPU's NMI IST stack (%u did not)", off);
	nmi_set_test_hook(NULL);
}
KTEST("nmi.ipi_each_cpu_once_on_ist", test_nmi_each);

/* Does an NMI with no reason bit count as unclaimed, not vanish? */
static void test_nmi_unclaimed(void)
{
	struct percpu *pc = this_cpu();
	uint64_t before = pc->nmi_unclaimed;
	apic_send_nmi_self();
	uint64_t deadline = tsc_deadline_us(1000000);
	while (pc->nmi_unclaimed == before && !tsc_expired(deadline))
		cpu_relax();
	report(pc->nmi_unclaimed == before + 1, "an NMI nobody asked for was counted as unclaimed (%lu)",
	       pc->nmi_unclaimed - before);
}
KTEST("nmi.unclaimed_counted", test_nmi_unclaimed);
