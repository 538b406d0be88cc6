/*
 * tests/kernel/test_nmi.c — NMI IPIs: delivered exactly where sent, once,
 * on the NMI IST stack; and the return without IRET into an NMI handler
 * (arch/x86/entry.asm): right for an unmoved interrupt frame at either
 * stack alignment, and refusing by name what it cannot do.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
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

/*
 * Does a software interrupt taken inside an NMI handler come back right,
 * at either stack alignment? It returns without IRET (POPFQ; RET on the
 * interrupted stack, arch/x86/entry.asm) through a frame the CPU pushed
 * right below the interrupted RSP, unmoved: with that RSP 16-byte aligned,
 * the frame's own RSP slot is one of the two words the return path writes.
 */
uint32_t soft_int_regs_check(uint64_t misalign);       /* nmi_helpers.asm */
extern const char soft_int_ret_site[];
extern uint64_t soft_int_rsp, soft_int_flags[2];

static struct soft_int_seen {
	uint32_t hits;
	uint64_t rip, rsp;
} soft_seen;
static uint64_t soft_misalign;
static volatile uint32_t soft_changed, soft_done;

/* Interrupt context (nested in the NMI handler below). */
static void soft_int_handler(struct regs *r)
{
	soft_seen.hits++;
	soft_seen.rip = r->rip;
	soft_seen.rsp = r->rsp;
}

/* NMI context: the INT under test, from inside the handler. */
static void soft_int_from_nmi(struct regs *r)
{
	(void)r;
	soft_changed = soft_int_regs_check(soft_misalign);
	soft_done = 1;
}

static void test_noiret_soft_int(void)
{
	struct percpu *pc = this_cpu();
	irq_register_soft(VEC_SOFT_TEST, soft_int_handler);
	nmi_set_test_hook(soft_int_from_nmi);
	for (soft_misalign = 0; soft_misalign <= 8; soft_misalign += 8) {
		uint64_t noiret = pc->nmi_noiret;
		soft_seen = (struct soft_int_seen){ 0 };
		soft_changed = ~0u;
		soft_done = 0;
		set_reason(pc->cpu);
		apic_send_nmi_self();
		uint64_t deadline = tsc_deadline_us(1000000);
		while (!soft_done && !tsc_expired(deadline))
			cpu_relax();
		unsigned m = (unsigned)soft_misalign;
		if (!report(soft_done, "RSP %u mod 16: the NMI handler ran the INT and got back", m))
			continue;
		report(soft_seen.hits == 1 && soft_seen.rip == (uintptr_t)soft_int_ret_site &&
		       soft_seen.rsp == soft_int_rsp && soft_int_rsp % 16 == m,
		       "RSP %u mod 16: INT %#x taken once (%u), frame RIP %#lx RSP %#lx (INT at RSP %#lx, returns to %p)",
		       m, VEC_SOFT_TEST, soft_seen.hits, soft_seen.rip, soft_seen.rsp, soft_int_rsp, soft_int_ret_site);
		report(soft_changed == 0,
		       "RSP %u mod 16: RAX..R15, RSP and RFLAGS intact (changed mask %#x; RFLAGS %#lx before, %#lx after)",
		       m, soft_changed, soft_int_flags[0], soft_int_flags[1]);
		report(pc->nmi_noiret == noiret + 1, "RSP %u mod 16: it returned without IRET (nmi_noiret +%lu)", m,
		       pc->nmi_noiret - noiret);
	}
	nmi_set_test_hook(NULL);
	irq_register(VEC_SOFT_TEST, NULL);
}
KTEST("nmi.noiret_soft_int_both_alignments", test_noiret_soft_int);

/*
 * Hidden, for the nmi-noiret-refusals stanza of tests/boots.cfg: what a return
 * without IRET cannot do right is refused by name, not done wrong. Each
 * must end "not ok" with the refusal as its reason.
 */
void nmi_single_step(void);                              /* nmi_helpers.asm */
void nmi_tf_soft_int(void);

static volatile uint32_t refuse_returned;

/* NMI context. */
static void single_step_in_nmi(struct regs *r)
{
	(void)r;
	nmi_single_step();
	refuse_returned = 1;
}

/* NMI context. */
static void tf_int_from_nmi(struct regs *r)
{
	(void)r;
	nmi_tf_soft_int();
	refuse_returned = 1;
}

static void refuse_in_nmi(void (*hook)(struct regs *r), const char *what)
{
	refuse_returned = 0;
	irq_register_soft(VEC_SOFT_TEST, soft_int_handler);
	nmi_set_test_hook(hook);
	set_reason(cpu_id());
	apic_send_nmi_self();
	mdelay(100);
	nmi_set_test_hook(NULL);
	irq_register(VEC_SOFT_TEST, NULL);
	report(false, "%s in an NMI handler was not refused (%s)", what,
	       refuse_returned ? "the handler went on" : "and the NMI did not come back");
}

static void test_refuse_db(void) { refuse_in_nmi(single_step_in_nmi, "a single-step #DB"); }
KTEST("nmi.refuse_db_with_nmis_blocked", test_refuse_db, .flags = KTEST_HIDDEN);

static void test_refuse_tf(void) { refuse_in_nmi(tf_int_from_nmi, "INT n with TF set"); }
KTEST("nmi.refuse_tf_without_iret", test_refuse_tf, .flags = KTEST_HIDDEN);
