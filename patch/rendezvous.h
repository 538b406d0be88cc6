/*
 * patch/rendezvous.h — "sync": every other online CPU executes a serializing
 * instruction and acknowledges. The one rendezvous primitive of the patch
 * core.
 *
 * Invariants (hpa, seed 001):
 *  1. The initiator sets every other online CPU's bit in sync_pending after
 *     the writes that need synchronizing are complete.
 *  2. A CPU clears only its own bit, and only where an IRET follows before
 *     it can reach patched code: in the VEC_SYNC handler (after SERIALIZE or
 *     MOV to CR2) and in the #BP handler when it traps on a site; or, in
 *     an NMI handler that cannot take the IPI (strategies/nmi, through
 *     sync_ack_owed), where it runs no patchable code until it has
 *     serialized again after the batch's last write.
 *  3. The initiator proceeds only when sync_pending is empty.
 * A CPU inside the #BP handler (percpu->patch.bp_refs > 0) counts as having
 * acknowledged: it runs only no-patch code until it leaves, and it leaves
 * through IRET, or through sync_core() before a return without IRET
 * (arch/x86/traps.c), so it serializes after this round's writes before it
 * can reach patched code. An NMI or #MC nested in the handler is the
 * exception, since those paths run patch sites: patch_trap_enter() raises
 * percpu->patch.bp_nested and serializes before it runs anything, and while
 * bp_nested is raised the CPU must acknowledge for real (the timeline is in
 * rendezvous.c). Without this a CPU held inside the handler (a debugger,
 * or the roll-forward strategy's bystanders, which wait there until their
 * site is complete) would stall every later round; with it, the batch
 * proceeds to retirement, which then waits for that CPU (patch/live.c).
 * A CPU that waits in #BP also acknowledges every round from its wait
 * (sync_ack): the only acknowledgement left when an NMI nested in its #BP
 * waits in #BP in turn.
 */
#ifndef XPOKE_PATCH_RENDEZVOUS_H
#define XPOKE_PATCH_RENDEZVOUS_H

#include <stdint.h>
#include "arch/x86/serialize.h"         /* sync_core(): the serializing instruction */
#include "kernel/cpumask.h"

struct percpu;

#define SYNC_TIMEOUT_US 10000000ull     /* then panic, naming who is missing */

extern struct cpumask sync_pending;
extern uint64_t sync_round;             /* number of the round in progress / last one */

/* Clear this CPU's bit and note the round (IPI handler, #BP handler). */
void sync_ack(struct percpu *pc);

/* From a handler that cannot take the IPI (strategies/nmi: an NMI): if
 * this CPU owes the round in progress, serialize and acknowledge it (true).
 * The caller runs nothing patchable until it serializes again after the
 * batch's last write (invariant 2's IRET, in its place). */
bool sync_ack_owed(struct percpu *pc);

void sync_init(void);                   /* VEC_SYNC handler; pick the serializer */

/* One round. The patching CPU, text_lock held: thread context (IRQs on or
 * off); the handler its strategy applies the batch in (strategies/nmi:
 * its own NMI); or a trap handler of its own that interrupted a round of
 * its thread (strategies/roll_forward: "Nested rounds" in rendezvous.c).
 * Returns TSC cycles taken; on timeout names each CPU that owes the
 * round, its nesting and RIP, and panics. */
uint64_t sync_all_cpus(void);


uint64_t sync_rounds_total(void);

/* Leave CPUs halted in the idle loop out of the rounds (the batch's
 * defer_idle, or patch.defer_idle=1); text_lock held. CPUs left out so
 * far. */
void sync_defer_idle(bool on);
uint64_t sync_deferred_total(void);
/* Acknowledgements given on behalf of CPUs inside the #BP handler. */
uint64_t sync_acks_in_bp_total(void);

#endif
