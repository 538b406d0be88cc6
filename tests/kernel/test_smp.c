/*
 * tests/kernel/test_smp.c — every CPU online, distinct, and reachable by
 * on_cpu()/on_cpus() and by fixed-vector IPIs in each destination mode.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/fwcfg.h"
#include "arch/x86/irq.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"

struct cpu_facts {
	uint64_t gs_base;
	uintptr_t rsp;
	uintptr_t tss;
	uint32_t apic_id;
	uint32_t cpu;
	uint32_t ran;
};

static struct cpu_facts facts[MAX_CPUS];

static void record_facts(void *unused)
{
	(void)unused;
	struct percpu *pc = this_cpu();
	struct cpu_facts *f = &facts[pc->cpu];
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr;
	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	const uint64_t *gdt = (const uint64_t *)gdtr.base;
	uint16_t tr = read_tr();
	uint64_t lo = gdt[tr / 8], hi = gdt[tr / 8 + 1];
	f->tss = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);
	f->gs_base = rdmsr(MSR_GS_BASE);
	f->rsp = read_rsp();
	f->apic_id = apic_read_id();
	f->cpu = cpu_id();
	__atomic_fetch_add(&f->ran, 1, __ATOMIC_SEQ_CST);
}

/* Are all CPUs QEMU was given online, each with its own percpu, stack, TSS? */
static void test_all_online(void)
{
	int qemu = fwcfg_nb_cpus();
	report(nr_cpus_online == nr_cpus_present, "%u CPUs online, %u enabled in the MADT", nr_cpus_online, nr_cpus_present);
	if (qemu >= 0)
		report(nr_cpus_online == (unsigned)qemu, "QEMU (fw_cfg) was given %d CPUs", qemu);
	else
		report_info("no fw_cfg: cannot ask QEMU how many CPUs it was given");
	report(cpumask_weight(&cpu_online_mask) == nr_cpus_online, "online mask has %u bits", cpumask_weight(&cpu_online_mask));

	for (unsigned c = 0; c < MAX_CPUS; c++)
		facts[c] = (struct cpu_facts){ 0 };
	report(on_cpus(&cpu_online_mask, record_facts, NULL) == 0, "on_cpus reached every CPU");

	unsigned bad = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		struct percpu *pc = percpu_of(c);
		struct cpu_facts *f = &facts[c];
		bool ok = f->ran == 1 && f->cpu == c && f->gs_base == (uintptr_t)pc &&
			  f->rsp >= pc->stack_lo && f->rsp < pc->stack_hi &&
			  f->tss == (uintptr_t)&pc->tss && f->apic_id == pc->apic_id;
		for_each_cpu_in(d, &cpu_online_mask)
			if (d < c && (facts[d].apic_id == f->apic_id || facts[d].tss == f->tss ||
				      facts[d].gs_base == f->gs_base ||
				      (facts[d].rsp >> 14) == (f->rsp >> 14)))
				ok = false;
		if (!ok) {
			bad++;
			report(false, "CPU %u: ran %u, cpu %u, GS %#lx, RSP %#lx, TSS %#lx, APIC %u", c, f->ran,
			       f->cpu, f->gs_base, f->rsp, f->tss, f->apic_id);
		}
	}
	report(bad == 0, "%u CPUs: own GS base, RSP inside own stack, own TSS, distinct APIC IDs", nr_cpus_online);
	for_each_cpu_in(c, &cpu_online_mask)
		report_info("CPU %u: APIC ID %u", c, percpu_of(c)->apic_id);
}
KTEST("smp.all_cpus_online", test_all_online);

static uint32_t ran_on[MAX_CPUS];

static void note_cpu(void *slot)
{
	*(uint32_t *)slot = cpu_id() + 1;
}

/* Does on_cpu(c) run the function on c, and only there? */
static void test_on_cpu_each(void)
{
	unsigned bad = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		ran_on[c] = 0;
		int err = on_cpu(c, note_cpu, &ran_on[c]);
		if (err || ran_on[c] != c + 1) {
			bad++;
			report(false, "on_cpu(%u): error %d, ran on CPU %d", c, err, (int)ran_on[c] - 1);
		}
	}
	report(bad == 0, "on_cpu reached each of %u CPUs and ran there", nr_cpus_online);
}
KTEST("smp.on_cpu_each", test_on_cpu_each);

/* Does on_cpus() reach every CPU exactly once? */
static uint32_t hits[MAX_CPUS];

static void count_hit(void *unused)
{
	(void)unused;
	__atomic_fetch_add(&hits[cpu_id()], 1, __ATOMIC_SEQ_CST);
}

static void test_on_cpus(void)
{
	for (unsigned c = 0; c < MAX_CPUS; c++)
		hits[c] = 0;
	int err = on_cpus(&cpu_online_mask, count_hit, NULL);
	unsigned bad = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		bad += hits[c] != 1;
	report(err == 0 && bad == 0, "broadcast on_cpus: every CPU ran it exactly once (error %d, %u wrong)", err, bad);
}
KTEST("smp.on_cpus_broadcast", test_on_cpus);

/* Do fixed-vector IPIs reach exactly the CPUs each destination mode names? */
static uint32_t ipi_hits[MAX_CPUS];

static void test_ipi(struct regs *r)
{
	(void)r;
	__atomic_fetch_add(&ipi_hits[cpu_id()], 1, __ATOMIC_SEQ_CST);
}

/* Wait until the online CPUs' counts reach want[], then a little longer so
 * extra deliveries show. */
static bool wait_counts(const uint32_t *want)
{
	uint64_t deadline = tsc_deadline_us(2000000);
	for (;;) {
		bool all = true;
		for_each_cpu_in(c, &cpu_online_mask)
			all &= __atomic_load_n(&ipi_hits[c], __ATOMIC_ACQUIRE) >= want[c];
		if (all)
			break;
		if (tsc_expired(deadline))
			break;
		cpu_relax();
	}
	mdelay(20);
	bool exact = true;
	for_each_cpu_in(c, &cpu_online_mask)
		exact &= ipi_hits[c] == want[c];
	return exact;
}

static void test_ipi_modes(void)
{
	static uint32_t want[MAX_CPUS];
	unsigned me = cpu_id();
	irq_register(VEC_TEST, test_ipi);
	for (unsigned c = 0; c < MAX_CPUS; c++)
		ipi_hits[c] = want[c] = 0;

	for_each_cpu_in(c, &cpu_online_mask) {
		apic_send_ipi(percpu_of(c)->apic_id, VEC_TEST);
		want[c]++;
	}
	report(wait_counts(want), "IPI to each CPU by APIC ID: each took exactly one");

	apic_send_ipi_allbutself(VEC_TEST);
	for_each_cpu_in(c, &cpu_online_mask)
		want[c] += c != me;
	report(wait_counts(want), "all-but-self: every other CPU took one, this CPU none");

	apic_send_ipi_all(VEC_TEST);
	for_each_cpu_in(c, &cpu_online_mask)
		want[c]++;
	report(wait_counts(want), "all-including-self: every CPU took one");

	apic_send_ipi_self(VEC_TEST);
	want[me]++;
	report(wait_counts(want), "self: only this CPU took one");

	for_each_cpu_in(c, &cpu_online_mask)
		if (ipi_hits[c] != want[c])
			report_info("CPU %u: %u IPIs, expected %u", c, ipi_hits[c], want[c]);
}
KTEST("smp.ipi_destination_modes", test_ipi_modes);
