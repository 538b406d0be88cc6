/*
 * patch/rendezvous.c — see rendezvous.h. In the no-patch region.
 *
 *   initiator                          every other online CPU
 *   ---------                          ----------------------
 *   (writes done)
 *   sync_pending = online - self
 *   IPI all-but-self VEC_SYNC  ------> sync_ipi(): sync_core(); clear own bit
 *                                      IRET (serializing too)
 *        or, if it is in the middle of hitting a site:
 *                                      #BP: clear own bit, emulate, IRET
 *   wait: sync_pending empty   <------
 *   sync_core() (the initiator runs patched code too)
 *
 * The serializing instruction is arch/x86/serialize.c's sync_core().
 *
 * A CPU inside the #BP handler (bp_refs > 0) has its bit cleared by the
 * initiator, unless an NMI or #MC nested in that handler may be running
 * patch sites (bp_nested > 0, set by patch_trap_enter() before it serializes
 * and runs anything):
 *
 *   initiator                          CPU inside #BP, then NMI
 *   ---------                          ------------------------
 *   writes; lock add sync_round        NMI: lock add bp_nested
 *   load bp_refs, bp_nested                  sync_core()
 *   (1, 0): clear its bit                    run the NMI path's sites
 *
 * Both sides order a store before a load with a locked instruction. If the
 * initiator read bp_nested == 0, the NMI's increment, and so its
 * sync_core(), came after the writes: the sites it runs are seen as
 * written. Otherwise the initiator waits for a real acknowledgement (the
 * nested #BP handler's, or the IPI's once the CPU is out). An NMI that
 * lands after the handler's bp_refs-- but before its IRET finds bp_refs 0
 * and raises nothing, but serializes all the same (every NMI and #MC does):
 * the initiator read bp_refs == 1, so that decrement, and the sync_core()
 * after it, came after the writes.
 *
 * A CPU may stay in #BP for a whole round or more: the roll-forward
 * strategy's bystanders wait there until their site is complete. The rule
 * covers it for as long as it stays. While an NMI or #MC nested in that
 * #BP raises bp_nested it does not, and if that handler waits in #BP in
 * turn (for another site, or the same), nothing else can answer for the
 * CPU: every wait loop calls sync_ack() on each pass (its CPU leaves #BP
 * serialized, invariant 2).
 *
 * Nested rounds. The patching CPU's own trap handler (a roll-forward) may
 * run a round while its thread is anywhere in one of its own:
 *
 *   patcher's thread                   patcher's handler (same CPU)
 *   ----------------                   ----------------------------
 *   writes W1
 *   sync_round++
 *   sync_pending = all but me    <-- interrupted anywhere in here -->
 *   IPI; wait until empty              writes W2; sync_round++
 *                                      sync_pending = all but me; IPI
 *                                      wait until empty; sync_core()
 *                                      return
 *   resumes: the rest of its mask
 *   copy, its IPI, or its wait
 *
 * Every acknowledgement the handler's round collects came after W2, so
 * after W1 (program order on one CPU, with the lock-prefixed increment
 * between). Resumed, the thread's round finds the mask empty, or sets the
 * bits it had not set yet and collects those afresh: either way every CPU
 * acknowledged after W1. A CPU the in-#BP rule cleared was seen inside #BP
 * after W2 just the same. The deferring variant (patch.defer_idle) nests
 * the same way: each sets and collects its bits after its writes.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "arch/x86/serialize.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/rendezvous.h"
#include "patch/text_poke.h"

struct cpumask sync_pending;
uint64_t sync_round;                    /* rounds started; one at a time, under text_lock */
static uint64_t acks_in_bp;

/* Any context, #BP included: no lock, no print, nothing patchable. The
 * bit is tested before it is cleared, so the #BP path takes no locked
 * instruction on the line the initiator polls when no round waits for it
 * (a bit set just after the test is answered by the IPI, or by the rule
 * for CPUs inside #BP). */
void sync_ack(struct percpu *pc)
{
	pc->patch.sync_acked = __atomic_load_n(&sync_round, __ATOMIC_ACQUIRE);
	if (cpumask_test(&sync_pending, pc->cpu))
		cpumask_clear(&sync_pending, pc->cpu);
}
/* IRQ context: no lock, no print, nothing patchable (no-patch region). */
static void sync_ipi(struct regs *r)
{
	(void)r;
	sync_core();
	sync_ack(this_cpu());
}

/* The same from a handler that cannot take the IPI (a strategy's on_nmi,
 * strategies/nmi): if this CPU owes the round in progress, serialize and
 * acknowledge it. Its caller runs nothing patchable before it serializes
 * again after the batch's last write. Any context: no lock, no print,
 * nothing patchable. */
bool sync_ack_owed(struct percpu *pc)
{
	if (!cpumask_test(&sync_pending, pc->cpu))
		return false;
	sync_core();
	sync_ack(pc);
	return true;
}

void sync_init(void)
{
	serialize_init();
	irq_register(VEC_SYNC, sync_ipi);
	printk("patch: rendezvous serializes with %s", sync_core_method());
}

/* Deferred idle for the batch being applied (batch.c sets it under
 * text_lock): CPUs halted in the idle loop are left out of the rounds and
 * serialize on their next trap entry instead (timeline: patch/trap.c). */
static bool defer_idle;
static uint64_t deferred;               /* CPUs left out of rounds since boot */

void sync_defer_idle(bool on)
{
	defer_idle = on;
}

uint64_t sync_deferred_total(void)
{
	return __atomic_load_n(&deferred, __ATOMIC_RELAXED);
}

uint64_t sync_all_cpus(void)
{
	uint64_t t0 = rdtsc();
	unsigned me = cpu_id();

	/* One round at a time: sync_pending is global. */
	if (!spin_held_by_me(&text_lock))
		panic("sync_all_cpus: CPU %u does not hold text_lock", me);

	/* Invariant 1: the bits go up after the writes (program order, and
	 * the lock-prefixed updates are full barriers). */
	__atomic_fetch_add(&sync_round, 1, __ATOMIC_SEQ_CST);
	if (!defer_idle) {
		cpumask_copy(&sync_pending, &cpu_online_mask);
		cpumask_clear(&sync_pending, me);
		if (!cpumask_empty(&sync_pending))
			apic_send_ipi_allbutself(VEC_SYNC);
	} else {
		/* Partner: idle_wake() in trap.c exchanges idle_deferred to 0
		 * before it serializes. */
		cpumask_clear_all(&sync_pending);
		for_each_cpu_in(c, &cpu_online_mask) {
			if (c == me)
				continue;
			if (__atomic_load_n(&percpu_of(c)->patch.idle_deferred, __ATOMIC_SEQ_CST)) {
				__atomic_fetch_add(&deferred, 1, __ATOMIC_RELAXED);
				continue;
			}
			cpumask_set(&sync_pending, c);
			apic_send_ipi(percpu_of(c)->apic_id, VEC_SYNC);
		}
	}

	uint64_t deadline = tsc_deadline_us(SYNC_TIMEOUT_US);
	while (!cpumask_empty(&sync_pending)) {
		/* A CPU inside the #BP handler will serialize before it runs
		 * patchable code (see above and rendezvous.h): it has
		 * acknowledged, unless an NMI or #MC nested in it may be. */
		for_each_cpu_in(c, &sync_pending)
			if (__atomic_load_n(&percpu_of(c)->patch.bp_refs, __ATOMIC_SEQ_CST) &&
			    !__atomic_load_n(&percpu_of(c)->patch.bp_nested, __ATOMIC_SEQ_CST)) {
				cpumask_clear(&sync_pending, c);
				__atomic_fetch_add(&acks_in_bp, 1, __ATOMIC_RELAXED);
			}
		if (tsc_expired(deadline)) {
			struct cpumask late;
			cpumask_copy(&late, &sync_pending);
			for_each_cpu_in(c, &late) {
				const struct percpu *pc = percpu_of(c);
				printk("sync: CPU %u owes round %lu: nesting %u (IRQ %u, NMI %u, #MC %u, #BP %u)", c,
				       sync_round, pc->ctx_depth, pc->irq_depth, pc->nmi_depth, pc->mce_depth,
				       pc->patch.bp_refs);
			}
			cpus_report_where(&late, "sync");
			panic("sync: %u CPU(s) did not acknowledge within %llu ms (the initiator, CPU %u, in %s "
			      "context)", cpumask_weight(&late), SYNC_TIMEOUT_US / 1000, me,
			      this_cpu()->nmi_depth ? "NMI" : this_cpu()->ctx_depth ? "a handler's" : "thread");
		}
		cpu_relax();
	}
	sync_core();
	return rdtsc() - t0;
}

uint64_t sync_acks_in_bp_total(void)
{
	return __atomic_load_n(&acks_in_bp, __ATOMIC_RELAXED);
}

/* Rounds started; between rounds (a round ends or panics) also those done. */
uint64_t sync_rounds_total(void)
{
	return __atomic_load_n(&sync_round, __ATOMIC_RELAXED);
}
