/*
 * strategies/stop_machine/stop_machine_trap.c — the spinning side of the
 * stop-machine strategies. In the no-patch region: IRQ and NMI context, no
 * lock, no print, nothing patchable.
 *
 *   patching CPU                          every other CPU
 *   ------------                          ---------------
 *   how = IPI | NMI, release = 0
 *   IPI VEC_STOP / NMI, all but self -->  stop_ipi (IRQs off) or stop_on_nmi
 *                                         (NMIs blocked): join 'arrived'
 *   wait: arrived = every other CPU <--   spin until release; by IPI, NMIs
 *   write every site (no int3)            still arrive here and run the NMI
 *   sync_core(); release = 1 -------->    path's sites, half written
 *                                         sync_core(); join 'left'
 *   wait: left = every other CPU    <--   return (IRET)
 *
 * stop-machine-nmi may release one CPU alone before the writes (kick: it
 * was stopped inside a multi-instruction site) and stop it again: see
 * stop_inside.c.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/serialize.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/percpu.h"
#include "strategies/stop_machine/stop_machine.h"

struct stop_state stop_state;
uint32_t stop_nmi_us, stop_mce_us;

/* May the lab's software machine check (INT 18) run here? Not while any
 * #MC entry is in progress on this CPU: one that has not moved its frame
 * off the #MC IST stack yet (interrupted by this NMI or IRQ: r->rsp is on
 * that stack) would have it overwritten (arch/x86/mce_entry.asm), a hazard
 * of the lab's INT 18, not of the strategy. */
static bool soft_mce_allowed(const struct regs *r)
{
	const struct percpu *pc = this_cpu();
	return pc->mce_depth == 0 && !(r->rsp > pc->ist_lo[IST_MCE] && r->rsp <= pc->ist_hi[IST_MCE]);
}

/*
 * IRQ or NMI context: record the RIP of every context this handler and
 * the ones under it interrupted (the frames traps.c keeps per nesting
 * level: thread, then IRQ or exception handlers, then this one), for the
 * patcher's inside check, tagged with the stop it answers (want_seq, read
 * now: a stop wanted after this report is not answered by it); published
 * by the 'arrived' bit that follows.
 *
 * The list is complete only if no handler was entering or leaving: a
 * handler's frame is recorded by trap_dispatch, after the CPU pushed it
 * and the entry stub ran, and dropped before the IRETQ. An NMI in between
 * finds the interrupted RIP (the thread's, say) in no recorded frame, and
 * its own frame's RIP in the trap entry/exit path. So any RIP there makes
 * the report "unknown", and so does nesting deeper than the frames kept;
 * the patcher counts unknown as inside (kicks this CPU, stops it again):
 *
 *   patching CPU                       CPU c
 *   ------------                       -----
 *                                      thread at site+3; IRQ: CPU pushes
 *                                      {site+3}; isr_N, isr_common
 *   stop NMI  ---------------------->  NMI at isr_common+x: ctx_frames[0]
 *                                      = NMI frame (the IRQ's not yet
 *                                      stored): rips {isr_common+x}:
 *                                      in the entry path -> unknown
 *   c unknown: kick, stop again  ---->  leaves, finishes the IRQ, IRETs
 *                                      to site+3, runs the OLD rest ...
 *   ... writes only once c reports known and outside
 */
static void report_rips(unsigned me)
{
	const struct percpu *pc = this_cpu();
	struct stop_report *rep = &stop_state.report[me];
	uint32_t seq = __atomic_load_n(&stop_state.want_seq[me], __ATOMIC_ACQUIRE);
	uint32_t n = pc->ctx_depth < STOP_RIPS_MAX ? pc->ctx_depth : STOP_RIPS_MAX;
	uint32_t unknown = pc->ctx_depth > STOP_RIPS_MAX ? STOP_UNKNOWN_DEEP : STOP_KNOWN;
	uint64_t unknown_rip = 0;
	for (uint32_t d = 0; d < n; d++) {
		uint64_t rip = pc->ctx_frames[d]->rip;
		rep->rips[d] = rip;
		if (rip_in_trap_entry(rip) && !unknown) {
			unknown = STOP_UNKNOWN_ENTRY;
			unknown_rip = rip;
		}
	}
	rep->n = n;
	rep->unknown = unknown;
	rep->unknown_rip = unknown_rip;
	__atomic_store_n(&rep->seq, seq, __ATOMIC_RELEASE);
}

/* IRQ or NMI context: join, spin until released, serialize, leave. */
static void spin(const struct regs *r)
{
	unsigned me = cpu_id();
	uint32_t every = __atomic_load_n(&stop_nmi_us, __ATOMIC_RELAXED);
	uint32_t every_mce = soft_mce_allowed(r) ? __atomic_load_n(&stop_mce_us, __ATOMIC_RELAXED) : 0;
	uint64_t next = every ? tsc_deadline_us(every) : 0, next_mce = every_mce ? tsc_deadline_us(every_mce) : 0;
	report_rips(me);
	cpumask_set(&stop_state.arrived, me);
	patch_hazard(STOP_HAZARD_STOPPED);
	while (!__atomic_load_n(&stop_state.release, __ATOMIC_ACQUIRE) && !cpumask_test(&stop_state.kick, me)) {
		if (every && tsc_expired(next)) {
			nmi_send(me, NMI_STORM);        /* lab: this CPU's own NMI source (perf, watchdog) */
			__atomic_fetch_add(&stop_state.pings, 1, __ATOMIC_RELAXED);
			next = tsc_deadline_us(every);
		}
		if (every_mce && tsc_expired(next_mce)) {
			__asm__ volatile("int $18" ::: "memory");      /* lab: a machine check here */
			__atomic_fetch_add(&stop_state.soft_mces, 1, __ATOMIC_RELAXED);
			next_mce = tsc_deadline_us(every_mce);
		}
		cpu_relax();
	}
	sync_core();                    /* the writes are done: nothing stale runs after this */
	cpumask_set(&stop_state.left, me);
}

/* IRQ context (VEC_STOP): no lock, no print, nothing patchable. */
void stop_ipi(struct regs *r)
{
	if (__atomic_load_n(&stop_state.how, __ATOMIC_ACQUIRE) == STOP_BY_IPI &&
	    !cpumask_test(&stop_state.arrived, cpu_id()))
		spin(r);
}

/* NMI context (patch_on_nmi, before the NMI path's site): no lock, no
 * print, nothing patchable. The first NMI a CPU takes while a stop by NMI
 * is wanted makes it spin here, NMIs blocked. */
void stop_on_nmi(struct regs *r)
{
	unsigned me = cpu_id();
	if (__atomic_load_n(&stop_state.how, __ATOMIC_ACQUIRE) == STOP_BY_NMI &&
	    me != __atomic_load_n(&stop_state.patcher, __ATOMIC_RELAXED) && !cpumask_test(&stop_state.arrived, me))
		spin(r);
}

/* NMI context (patch_on_nmi) under stop-machine: no lock, no print,
 * nothing patchable. An NMI on a CPU spinning in the stop IPI runs the NMI
 * path's sites while they may be half written: count it. */
void stop_count_nmi(struct regs *r)
{
	(void)r;
	unsigned me = cpu_id();
	if (__atomic_load_n(&stop_state.how, __ATOMIC_ACQUIRE) == STOP_BY_IPI && cpumask_test(&stop_state.arrived, me) &&
	    !cpumask_test(&stop_state.left, me))
		patch_hazard(STOP_HAZARD_NMI_WHILE_STOPPED);
}

/* #BP context: no int3 is ever written by these strategies; a trap at one
 * of their sites can only be a stale fetch: run the address again. */
bool stop_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx)
{
	(void)b;
	(void)s;
	(void)r;
	(void)ctx;
	return false;
}
