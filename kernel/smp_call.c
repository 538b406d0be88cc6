/*
 * kernel/smp_call.c — see smp_call.h.
 *
 * Slot protocol (percpu->call), one sender at a time per target:
 *
 *   sender                              target (smp_call_loop)
 *   ------                              ----------------------
 *   cmpxchg claimed 0 -> 1
 *   fn, arg = ...
 *   queued_seq++ (release)  --------->  cli; sees queued_seq != done_seq
 *   IPI VEC_CALL (wakes hlt)            sti; run fn(arg) under a recovery point
 *   wait done_seq == queued_seq <-----  result = 0 / -EABORTED
 *                                       done_seq = queued_seq (release)
 *                                       claimed = 0
 *
 * The target checks for work with interrupts off and halts with "sti; hlt",
 * whose interrupt shadow guarantees the wake-up IPI is not lost between the
 * check and the halt.
 *
 * Abandoning work (cpu_abort_work, NMI_ABORT), as the target sees it:
 *
 * The sender first names the item, abort_seq = TAG|q, then sends NMIs:
 *
 *   target                               NMI_ABORT lands ...
 *   ------                               -------------------
 *   recover_save(); recover = &rp        before: recover is NULL; nothing
 *                                        to do, the item cancels itself:
 *   abort_seq == TAG|q? return -EABORTED
 *   fn(arg)                              during: recover_frame() resumes
 *                                        recover_save(): -EABORTED
 *   recover = NULL                       after, even once q+1 is queued:
 *   done_seq = q                         abort_seq names q, not q+1: ignored
 *
 * The sender re-sends until done_seq moves, since NMIs coalesce.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/recover.h"
#include "kernel/smp_call.h"
#include "patch/trap.h"

static void call_ipi(struct regs *r)
{
	(void)r;                        /* waking the CPU from hlt is the point */
}

void smp_call_init(void)
{
	irq_register(VEC_CALL, call_ipi);
}

int on_cpu_async(unsigned cpu, cpu_fn_t fn, void *arg)
{
	if (cpu >= MAX_CPUS || !cpumask_test(&cpu_online_mask, cpu))
		return -ENODEV;
	if (cpu == cpu_id() || cpu == 0)
		return -EINVAL;
	struct cpu_call *c = &percpu_of(cpu)->call;
	uint64_t deadline = tsc_deadline_us(CALL_TIMEOUT_US);
	uint32_t expect = 0;
	while (!__atomic_compare_exchange_n(&c->claimed, &expect, 1, false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		expect = 0;
		if (tsc_expired(deadline)) {
			struct cpumask m;
			cpumask_clear_all(&m);
			cpumask_set(&m, cpu);
			printk("on_cpu: CPU %u still busy with earlier work after %llu ms", cpu,
			       CALL_TIMEOUT_US / 1000);
			cpus_report_where(&m, "on_cpu");
			return -EBUSY;
		}
		cpu_relax();
	}
	c->fn = fn;
	c->arg = arg;
	c->result = 0;
	__atomic_store_n(&c->queued_seq, c->queued_seq + 1, __ATOMIC_RELEASE);
	apic_send_ipi(percpu_of(cpu)->apic_id, VEC_CALL);
	return 0;
}

static int done(unsigned cpu)
{
	struct cpu_call *c = &percpu_of(cpu)->call;
	return __atomic_load_n(&c->done_seq, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&c->queued_seq, __ATOMIC_ACQUIRE);
}

bool cpu_work_pending(unsigned cpu)
{
	return !done(cpu);
}

/* Wait for every CPU in m; report the ones that miss the deadline. */
static int wait_all(const struct cpumask *m, uint64_t timeout_us, const char *what)
{
	uint64_t deadline = tsc_deadline_us(timeout_us);
	struct cpumask late;
	int err = 0;
	for (;;) {
		cpumask_clear_all(&late);
		for_each_cpu_in(c, m)
			if (!done(c))
				cpumask_set(&late, c);
		if (cpumask_empty(&late))
			break;
		if (tsc_expired(deadline)) {
			printk("%s: %u CPU(s) did not finish within %llu ms:", what,
			       cpumask_weight(&late), (unsigned long long)(timeout_us / 1000));
			cpus_report_where(&late, what);
			return -ETIMEDOUT;
		}
		cpu_relax();
	}
	for_each_cpu_in(c, m)
		if (percpu_of(c)->call.result && !err)
			err = percpu_of(c)->call.result;
	return err;
}

int cpu_wait_done(unsigned cpu, uint64_t timeout_us)
{
	struct cpumask m;
	cpumask_clear_all(&m);
	cpumask_set(&m, cpu);
	return wait_all(&m, timeout_us, "cpu_wait_done");
}

int on_cpu(unsigned cpu, cpu_fn_t fn, void *arg)
{
	if (cpu == cpu_id()) {
		fn(arg);
		return 0;
	}
	int err = on_cpu_async(cpu, fn, arg);
	return err ? err : cpu_wait_done(cpu, CALL_TIMEOUT_US);
}

int on_cpus_timeout(const struct cpumask *m, cpu_fn_t fn, void *arg, uint64_t timeout_us)
{
	struct cpumask sent;
	int err = 0;
	cpumask_clear_all(&sent);
	for_each_cpu_in(c, m) {
		if (c == cpu_id())
			continue;
		int e = on_cpu_async(c, fn, arg);
		if (e && !err)
			err = e;
		if (!e)
			cpumask_set(&sent, c);
	}
	if (cpumask_test(m, cpu_id()))
		fn(arg);
	int e = wait_all(&sent, timeout_us, "on_cpus");
	return err ? err : e;
}

int on_cpus(const struct cpumask *m, cpu_fn_t fn, void *arg)
{
	return on_cpus_timeout(m, fn, arg, CALL_TIMEOUT_US);
}

int cpu_abort_work(unsigned cpu)
{
	/* Re-send until it takes: NMIs can coalesce, and the work may not
	 * have started when the first one lands. */
	uint64_t deadline = tsc_deadline_us(1000000);
	struct cpu_call *c = &percpu_of(cpu)->call;
	/* Name the item: the target acts on this one only (nmi.c, run_queued). */
	__atomic_store_n(&c->abort_seq, CALL_ABORT_TAG | __atomic_load_n(&c->queued_seq, __ATOMIC_ACQUIRE),
			 __ATOMIC_SEQ_CST);
	while (!done(cpu) && !tsc_expired(deadline)) {
		nmi_send(cpu, NMI_ABORT);
		uint64_t step = tsc_deadline_us(10000);
		while (!done(cpu) && !tsc_expired(step))
			cpu_relax();
	}
	if (!done(cpu)) {
		struct cpumask m;
		cpumask_clear_all(&m);
		cpumask_set(&m, cpu);
		printk("cpu_abort_work: CPU %u did not abandon its work", cpu);
		cpus_report_where(&m, "cpu_abort_work");
		return -ETIMEDOUT;
	}
	return percpu_of(cpu)->call.result;
}

/* Run the queued work under a recovery point; -EABORTED if it was abandoned.
 * Nothing local is used after recover_save() returns a second time. */
__attribute__((noinline))
static int run_queued(uint32_t seq)
{
	struct recover_point rp;
	if (recover_save(&rp)) {
		this_cpu()->recover = NULL;
		return -EABORTED;
	}
	this_cpu()->recover = &rp;
	/* Partner: nmi_handle() sets abort_seq only while recover is NULL, and
	 * tags it with the work it meant to cancel. */
	if (__atomic_load_n(&this_cpu()->call.abort_seq, __ATOMIC_SEQ_CST) == (CALL_ABORT_TAG | seq)) {
		this_cpu()->recover = NULL;
		return -EABORTED;
	}
	this_cpu()->call.fn(this_cpu()->call.arg);
	this_cpu()->recover = NULL;
	return 0;
}

void smp_call_loop(void)
{
	struct percpu *pc = this_cpu();
	struct cpu_call *c = &pc->call;

	for (;;) {
		irq_disable();
		uint32_t q = __atomic_load_n(&c->queued_seq, __ATOMIC_ACQUIRE);
		if (q == c->done_seq) {
			cpu_set_state(pc, CPU_IDLE);
			patch_idle_enter();     /* deferring rounds may skip us: patch/trap.c */
			irq_enable_and_halt();
			patch_idle_exit();
			continue;
		}
		cpu_set_state(pc, CPU_BUSY);
		irq_enable();
		c->result = run_queued(q);
		__atomic_store_n(&c->done_seq, q, __ATOMIC_RELEASE);
		__atomic_store_n(&c->claimed, 0, __ATOMIC_RELEASE);
	}
}
