/*
 * strategies/nmi/nmi_trap.c — the nmi strategy's NMI side (timeline:
 * nmi.c): the patching CPU's own NMI applies the batch, and another CPU's
 * NMI that begins while the batch's writes are in flight takes part in
 * its rounds. In the no-patch region: NMI context, on any CPU. No lock,
 * nothing patchable; it prints, through the lock-free printk, only when a
 * wait expires. The writer, the steps, the rounds and the phase record it
 * calls are the ones int3 uses in thread context (patch/text_poke.c,
 * strategies/int3/int3_steps.c, patch/rendezvous.c, patch/phase.c), all
 * in the region too.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/serialize.h"
#include "arch/x86/tsc.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/live.h"
#include "patch/rendezvous.h"
#include "patch/text_poke.h"
#include "strategies/nmi/nmi.h"

struct nmi_batch_state nmi_batch_state;

/* Are the writes of the batch published as generation gen still to come,
 * or under way? False once they are done, or the batch is gone. NMI
 * context. */
static bool writes_in_flight(const struct nmi_batch_state *s, uint64_t gen)
{
	return __atomic_load_n(&live_strategy, __ATOMIC_ACQUIRE) == &nmi_strategy && live_batch_gen() == gen &&
	       __atomic_load_n(&s->done_gen, __ATOMIC_ACQUIRE) != gen;
}

/*
 * The patching CPU, in the NMI its thread raised: int3's writes and rounds
 * (int3_apply_steps), with this handler opened for the writer. NMIs stay
 * blocked until this handler's IRET, so no NMI of this CPU runs a site
 * half written; IRQs are off, so no IRQ handler of it either. A #MC may
 * still nest here, and the #MC path's site may be in the batch: it traps
 * on the int3 and is emulated (int3_on_bp), as under int3; it cannot write
 * (the writer refuses any nesting deeper than this handler's), and it
 * returns into this handler without IRET (arch/x86/entry.asm), so NMIs
 * stay blocked.
 */
static void apply_in_nmi(struct nmi_batch_state *s)
{
	uint64_t t0 = rdtsc();
	text_poke_open_handler();
	int err = int3_apply_steps(&nmi_strategy, s->batch, s->st);
	text_poke_close_handler();
	s->err = err;
	s->cycles_in_nmi = rdtsc() - t0;
	/* After every write and round; partner: writes_in_flight() in the
	 * other CPUs' NMIs and the thread's wait (nmi.c). */
	__atomic_store_n(&s->done_gen, s->gen, __ATOMIC_RELEASE);
}

/*
 * Another CPU, in an NMI that began while the writes of the batch live
 * now are in flight (that batch only: it leaves when they are done, or
 * the batch is gone): it cannot take the rounds' IPI (IRQs are off in
 * NMI context), so it acknowledges them here, serializing each time
 * (sync_ack_owed), until the writes are done; then it serializes once
 * more and lets its NMI handler go on to the NMI path's sites, all new by
 * then. The patching
 * CPU, itself in NMI context, thus never waits on a CPU stuck in an NMI
 * handler (seed 002's deadlock). Bounded: after NMI_WAIT_US (a debugger
 * holding the patching CPU at a phase, a round held up by some other
 * CPU) it reports and goes on; the sites it meets then still hold their
 * int3 and are emulated, and it owes the rounds as under int3 (through
 * #BP, or by IPI once its NMI is over).
 */
static void take_part_in_rounds(struct nmi_batch_state *s, struct percpu *pc)
{
	uint64_t gen = live_batch_gen();
	if (!writes_in_flight(s, gen))
		return;
	cpumask_set(&s->in_rounds, pc->cpu);
	uint64_t t0 = rdtsc(), deadline = tsc_deadline_us(NMI_WAIT_US);
	for (;;) {
		if (sync_ack_owed(pc))
			patch_hazard(NMI_HAZARD_ACK_IN_NMI);
		if (!writes_in_flight(s, gen))
			break;
		if (tsc_expired(deadline)) {
			__atomic_fetch_add(&s->wait_timeouts, 1, __ATOMIC_RELAXED);
			printk("nmi: CPU %u's NMI waited %lu ms for the writes of the batch in flight (patching CPU's "
			       "phase: %s) and goes on: its sites in flight are emulated, its rounds owed by #BP or IPI",
			       pc->cpu, tsc_to_us(rdtsc() - t0) / 1000, poke_phase_name(poke_current_phase));
			break;
		}
		cpu_relax();
	}
	cpumask_clear(&s->in_rounds, pc->cpu);
	sync_core();            /* after the last write (done_gen read): nothing stale runs from here */
}

/* NMI context, from patch_on_nmi() before the NMI path's sites, while a
 * batch of this strategy is published. The patching CPU is the one that
 * holds text_lock (its thread took it; nobody else can hold it now). */
void nmi_strategy_on_nmi(struct regs *r)
{
	(void)r;
	struct nmi_batch_state *s = &nmi_batch_state;
	struct percpu *pc = this_cpu();
	if (!spin_held_by_me(&text_lock)) {
		take_part_in_rounds(s, pc);
		return;
	}
	/* The patching CPU. Not armed: an NMI before its thread armed the
	 * batch (nothing written yet) or after the one that applied it (all
	 * written): nothing to do. Armed, but for another batch than the one
	 * published (left over by a batch abandoned through recovery): never
	 * applied. And only an NMI that interrupted the thread itself applies
	 * it: one nested in a #MC handler (which its thread took after arming)
	 * leaves it armed, and the thread sends its NMI again. */
	if (pc->nmi_depth != 1 || pc->mce_depth || !__atomic_load_n(&s->armed, __ATOMIC_ACQUIRE))
		return;
	if (s->gen != live_batch_gen()) {
		__atomic_store_n(&s->armed, 0, __ATOMIC_RELEASE);
		return;
	}
	if (__atomic_exchange_n(&s->armed, 0, __ATOMIC_ACQ_REL))
		apply_in_nmi(s);
}
