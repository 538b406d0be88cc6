/*
 * strategies/nmi/nmi.c — the nmi strategy: the patching CPU raises an NMI
 * on itself and applies the batch inside that NMI handler, with int3's
 * writes and rounds (strategies/int3/int3_steps.c, the same code int3
 * runs in thread context), so that no NMI of its own can run a site half
 * patched: NMIs do not nest. Another CPU whose NMI begins while the
 * writes are in flight cannot take the rounds' IPI, so it acknowledges
 * them from its NMI handler until the writes are done (nmi_trap.c), and
 * the patching CPU never waits on a CPU stuck in NMI context (Ankur
 * Arora's RFC, seed 002, and the deadlock it fixes). A CPU that hits a
 * site in flight in thread, IRQ or #MC context is emulated in #BP, as
 * under int3 (int3_on_bp, int3's check).
 *
 *   patching CPU                                 another CPU
 *   ------------                                 -----------
 *   thread (core: text_lock, recheck,
 *   sort, publish b)                             an NMI that begins from here on:
 *   IRQs off; armed = 1                          on_nmi waits in the rounds (below)
 *   NMI to itself (NMI_PATCH)
 *     NMI: serialize on entry; NMIs are
 *     now blocked until its IRET
 *     on_nmi: armed 1 -> 0; open this
 *     handler for the writer
 *     Step 1: int3 on every first byte
 *     round 1  -- IPI VEC_SYNC ------------->    thread, IRQs on: serialize, ack, IRET
 *                                                in #BP at a site: counts as acked
 *                                                in NMI (on_nmi): sees its bit owed:
 *                                                  serialize, ack, wait on
 *     Step 2: tails; round 2 --------------->    (the same)
 *     Step 3: first bytes; round 3 --------->    (the same)
 *     (TCG: first bytes again)
 *     close the handler; done_gen = gen ---->    on_nmi: done: serialize, leave; its
 *     return: the NMI path's sites run,          NMI path runs the sites, all new
 *     all new; IRET (an NMI that arrived
 *     meanwhile was held: it runs now)
 *   done_gen == gen: IRQs on
 *   (core: retire b, figures, unlock)
 *
 * What can still meet a site in flight, and what it gets:
 *  - thread or IRQ context on another CPU, or an NMI that did not wait in
 *    on_nmi for b: one already past on_nmi when b was published (or
 *    while live_publish() had set the strategy but not yet the
 *    generation), or one that waited for the previous batch and saw b
 *    begin before it left (a vCPU descheduled under TCG: storm.nmi_sites
 *    at -smp 4 shows dozens a second): the int3, emulated in #BP; the
 *    rounds wait for such an NMI to end (it cannot take the IPI), or for
 *    its #BP;
 *  - #MC, on any CPU, the patching CPU inside its NMI included: the #MC
 *    path's site traps on its int3 and is emulated in #BP, as under int3.
 *    A #MC nested in the patching CPU's NMI delays the batch by its own
 *    length and cannot write (the writer refuses it); nothing here can
 *    keep a #MC from arriving (Xen's discussion, seed 000).
 *  - the patching CPU's own NMIs: never (blocked while it writes); its
 *    IRQs: never (off from arming to the end of the writes).
 *
 * The price: another CPU's NMI that waits in the rounds spins there, NMIs
 * and IRQs off, for the rest of the batch (a round is then only as quick
 * as the slowest CPU's next look at its bit). With more vCPUs than host
 * cores this is dear: a spinning vCPU waits for its turn on the host,
 * where a halted one woken by the round's IPI runs at once, so under an
 * NMI storm rounds take milliseconds instead of ~100 us (README, "The
 * strategies today").
 *
 * Phases are int3's. In the NMI they are recorded and the debugger's stop
 * (poke_phase_stop, xp-break-phase) is passed as in thread context; the
 * tests' thread hook is not called there (patch/phase.c). While a debugger
 * holds the patching CPU there, other CPUs' NMIs wait in the rounds for
 * NMI_WAIT_US, then report and go on.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "patch/live.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "strategies/int3/int3_check.h"
#include "strategies/nmi/nmi.h"

#define NMI_MAX_ROUNDS 3
/* The thread waits for its NMI: it runs at most every round to its
 * deadline, and the writes. */
#define SELF_NMI_TIMEOUT_US ((NMI_MAX_ROUNDS + 1) * SYNC_TIMEOUT_US)
#define SELF_NMI_AGAIN_US 10000ull    /* still armed after this long: the NMI met a #MC handler; send it again */

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int nmi_apply(struct poke_batch *b, struct poke_stats *st)
{
	struct nmi_batch_state *s = &nmi_batch_state;
	struct percpu *pc = this_cpu();
	s->batch = b;
	s->st = st;
	s->err = 0;
	s->gen = live_batch_gen();      /* b's: we published it, under text_lock */

	/* IRQs off from here to the end of the writes: the NMI interrupts
	 * this thread, never one of its IRQ handlers. */
	uint64_t flags = irq_save();
	__atomic_store_n(&s->armed, 1, __ATOMIC_SEQ_CST);
	uint64_t t0 = rdtsc();
	nmi_send(pc->cpu, NMI_PATCH);
	/* The NMI is taken within a few instructions and runs to its end
	 * before this thread goes on: by then the writes are done. Bounded
	 * all the same. */
	uint64_t deadline = tsc_deadline_us(SELF_NMI_TIMEOUT_US), again = tsc_deadline_us(SELF_NMI_AGAIN_US);
	while (__atomic_load_n(&s->done_gen, __ATOMIC_ACQUIRE) != s->gen) {
		if (tsc_expired(again) && __atomic_load_n(&s->armed, __ATOMIC_ACQUIRE)) {
			nmi_send(pc->cpu, NMI_PATCH);   /* it met a #MC handler, not this thread */
			again = tsc_deadline_us(SELF_NMI_AGAIN_US);
		}
		if (tsc_expired(deadline))
			panic("nmi: CPU %u's own NMI did not apply its batch of %u site(s) from %#lx within %llu ms "
			      "(armed %u, NMIs taken %lu)", pc->cpu, b->nr, b->sites[0].addr,
			      SELF_NMI_TIMEOUT_US / 1000, __atomic_load_n(&s->armed, __ATOMIC_RELAXED), pc->nmi_count);
		cpu_relax();
	}
	uint64_t t1 = rdtsc();
	irq_restore(flags);
	s->cycles_to_nmi = t1 - t0 - s->cycles_in_nmi;
	s->batches++;
	return s->err;
}

static const struct patch_hazard nmi_hazards[NMI_HAZARD_COUNT] = {
	[BP_THREAD] = { "emulated in thread context", 0 },
	[BP_IRQ] = { "emulated in an IRQ handler", PATCH_EV_IRQ },
	[BP_NMI] = { "emulated in an NMI handler (one that began before the batch)", 0 },
	/* Storm senders spend the batch acknowledging in NMI, so their INT 18
	 * seldom meets a site in flight: patch.nmi_strategy_mce_on_patcher_
	 * mid_batch shows it deterministically instead. */
	[BP_MCE] = { "emulated in a #MC handler", 0 },
	[NMI_HAZARD_ACK_IN_NMI] = { "acknowledged a round in NMI", PATCH_EV_NMI },
};

const struct patch_strategy nmi_strategy = {
	.name = "nmi",
	.summary = "int3's writes and rounds inside the patching CPU's own NMI (self-NMI); other CPUs' NMIs "
		   "acknowledge rounds from their handler; #BP emulates the new instruction",
	.can_patch = "as int3: nop, ret, call/jmp/jcc rel",
	.safe_against = "IRQ; NMI: the patcher's own are held off until its writes are done, the others' wait "
			"in the rounds and run the NMI path after the writes; #MC, the patcher's inside its NMI "
			"included: emulated in #BP at a site in flight (a #MC cannot be held off)",
	.safe_events = PATCH_EV_ALL,
	.hazards = nmi_hazards,
	.nr_hazards = NMI_HAZARD_COUNT,
	.phase_names = int3_phase_names,        /* int3's steps, int3's phases */
	.nr_phases = PHASE_COUNT,
	.trap_phases = INT3_TRAP_PHASES,
	.new_phases = ~1u & ((1u << PHASE_COUNT) - 1),   /* as int3 */
	.step_names = int3_step_names,
	.nr_steps = INT3_STEP_COUNT,
	.max_rounds = NMI_MAX_ROUNDS,
	.check = int3_check_site,
	.apply = nmi_apply,
	.on_bp = int3_on_bp,
	.on_nmi = nmi_strategy_on_nmi,
};
