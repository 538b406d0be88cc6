/*
 * arch/x86/nmi.c — the NMI handler and the NMI-based requests of nmi.h.
 *
 * nmi_handle() runs on the NMI IST stack with NMIs blocked until its IRET
 * (and nothing else IRETs into it: arch/x86/entry.asm). It takes no lock,
 * prints only through printk (lock-free), and calls no patchable code
 * (linker.ld's no-patch region holds it and its callees, the storm hook
 * included) except, on purpose, one live patch site on every entry
 * (nmi_site_run, lab/context_sites_code.asm) that the storm tests flip while
 * NMIs fly, and a test's own NMI hook (tests/kernel/), which that test keeps
 * out of its batches.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/dump.h"
#include "arch/x86/nmi.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "clients/alternative/alternative.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/recover.h"
#include "kernel/string.h"
#include "lab/context_sites.h"
#include "lab/key_sites.h"
#include "patch/trap.h"

#define WHERE_WAIT_US 50000


static void (*test_hook)(struct regs *r);
static void (*storm_hook)(struct regs *r);
int nmi_unsafe_iret;

KPARAM_BOOL_NOTE("nmi.unsafe_iret", nmi_unsafe_iret,
		 "nmi: nmi.unsafe_iret=1: exceptions IRET into NMI handlers; nested NMIs are possible (negative control)",
		 "0|1: 1 turns off the nested-NMI protection (negative control)");

void nmi_set_storm_hook(void (*fn)(struct regs *r))
{
	__atomic_store_n(&storm_hook, fn, __ATOMIC_SEQ_CST);
}

/* NMI context: no lock, nothing patchable (no-patch region), prints only through lock-free printk. */
void nmi_nested_entry(struct regs *r)
{
	struct percpu *pc = this_cpu();
	pc->nmi_nested++;
	panic("nested NMI on CPU %u: an NMI began inside an NMI handler (interrupted RIP %#lx), so the first "
	      "one's frame on the NMI IST stack was overwritten%s", pc->cpu, r->rip,
	      nmi_unsafe_iret ? " (nmi.unsafe_iret=1)" : "");
}

void nmi_set_test_hook(void (*fn)(struct regs *r))
{
	__atomic_store_n(&test_hook, fn, __ATOMIC_SEQ_CST);
}

void nmi_send(unsigned cpu, uint32_t reason)
{
	struct percpu *pc = percpu_of(cpu);
	__atomic_fetch_or(&pc->nmi_reasons, reason, __ATOMIC_SEQ_CST);
	apic_send_nmi(pc->apic_id);
}

/* NMI context: no lock, nothing patchable (no-patch region), prints only through lock-free printk. */
void nmi_handle(struct regs *r)
{
	struct percpu *pc = this_cpu();
	uint32_t why = __atomic_exchange_n(&pc->nmi_reasons, 0, __ATOMIC_SEQ_CST);
	char sym[96];

	pc->nmi_count++;
	if (!(why & NMI_STOP))          /* a stopping machine runs no more rounds */
		patch_on_nmi(r);        /* the strategy of a batch in flight first */
	nmi_site_run();                 /* a live patch site, on every NMI */
	nmi_key_site_run();             /* and a static key's site (lab/key_sites.c) */
	if (why & NMI_STOP) {
		printk("CPU %u stopped at RIP %016lx <%s>", pc->cpu, r->rip,
		       format_symbol(sym, sizeof(sym), r->rip));
		cpu_set_state(pc, CPU_STOPPED);
		for (;;)                /* NMIs stay blocked: we never IRET */
			halt();
	}
	if (why & NMI_ALT)
		alt_apply_nmi();        /* boot: the alternatives, written where no NMI can interrupt */
	if (why & NMI_WHERE) {
		pc->where_rip = r->rip;
		pc->where_depth = pc->ctx_depth - 1;
		__atomic_fetch_add(&pc->where_seq, 1, __ATOMIC_RELEASE);
	}
	if (why & NMI_STORM) {
		pc->nmi_storm++;
		void (*fn)(struct regs *) = __atomic_load_n(&storm_hook, __ATOMIC_ACQUIRE);
		if (fn)
			fn(r);
	}
	if (why & NMI_TEST) {
		void (*fn)(struct regs *) = __atomic_load_n(&test_hook, __ATOMIC_ACQUIRE);
		if (fn)
			fn(r);
	}
	if (why & NMI_ABORT) {
		/* The sender named the work item (abort_seq): an NMI that arrives
		 * late, after that item finished, must not touch the next one.
		 * Only work interrupted in thread context can be abandoned safely;
		 * work not started yet cancels itself when it starts (smp_call.c). */
		uint32_t q = __atomic_load_n(&pc->call.queued_seq, __ATOMIC_ACQUIRE);
		bool meant = __atomic_load_n(&pc->call.abort_seq, __ATOMIC_SEQ_CST) == (CALL_ABORT_TAG | q) &&
			     q != __atomic_load_n(&pc->call.done_seq, __ATOMIC_ACQUIRE);
		if (meant && pc->recover) {     /* else stale, or not started yet */
			/* Not in an entry stub or trap_dispatch before it has
			 * counted its context: the NMI's own depth 1 would look
			 * like thread context, and the abandoned handler would
			 * never send its EOI (the sender asks again). */
			bool entering = rip_in_trap_entry(r->rip);
			if (pc->ctx_depth == 1 && !entering && recover_possible())
				recover_frame(r, RECOVER_ABORT);
			else
				printk("CPU %u: cannot abort its work here (RIP %016lx <%s>, nesting %u, locks %u, "
				       "in printk %u)", pc->cpu, r->rip, format_symbol(sym, sizeof(sym), r->rip),
				       pc->ctx_depth - 1, pc->locks_held, pc->printk_depth);
		}
	}
	if (!why)
		pc->nmi_unclaimed++;
}

/*
 * Where is that CPU? Thread or any context that may wait 50 ms.
 *
 *   asker                               target (NMI)
 *   -----                               ------------
 *   seq = where_seq (acquire)
 *   nmi_reasons |= WHERE; NMI  ------>  where_rip, where_depth = ...
 *   wait where_seq != seq      <------  where_seq++ (release)
 *   read where_rip, where_depth
 *
 * Two askers at once may both see one answer (the later NMI coalesces into
 * the first): both get a RIP from after their request, which is all they
 * need. No answer within WHERE_WAIT_US (NMIs blocked, CPU stopped) is 0.
 */
uint64_t cpu_where(unsigned cpu, uint32_t *depth)
{
	struct percpu *pc = percpu_of(cpu);
	if (cpu == cpu_id())
		return 0;
	uint32_t seq = __atomic_load_n(&pc->where_seq, __ATOMIC_ACQUIRE);
	nmi_send(cpu, NMI_WHERE);
	uint64_t deadline = tsc_deadline_us(WHERE_WAIT_US);
	while (__atomic_load_n(&pc->where_seq, __ATOMIC_ACQUIRE) == seq) {
		if (tsc_expired(deadline))
			return 0;
		cpu_relax();
	}
	if (depth)
		*depth = pc->where_depth;
	return pc->where_rip;
}

void cpus_report_where(const struct cpumask *m, const char *what)
{
	char sym[96];
	for_each_cpu_in(c, m) {
		uint32_t depth = 0;
		uint64_t rip = cpu_where(c, &depth);
		if (c == cpu_id())
			printk("%s: CPU %u is the reporting CPU", what, c);
		else if (!rip)
			printk("%s: CPU %u (APIC %u, %s) did not answer an NMI within %u ms",
			       what, c, percpu_of(c)->apic_id, cpu_state_name(cpu_state(c)), WHERE_WAIT_US / 1000);
		else
			printk("%s: CPU %u (APIC %u, %s) at RIP %016lx <%s>%s", what, c,
			       percpu_of(c)->apic_id, cpu_state_name(cpu_state(c)), rip,
			       format_symbol(sym, sizeof(sym), rip), depth ? " (in a handler)" : "");
	}
}
