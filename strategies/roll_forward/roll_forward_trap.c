/*
 * strategies/roll_forward/roll_forward_trap.c — the roll-forward strategy's
 * #BP side (timeline: roll_forward.c). A CPU that executes the int3 of a
 * site in flight:
 *   - a bystander (any CPU but the patching one, in any context) waits
 *     here until the site's first byte is no longer the int3, answering
 *     the rounds that open meanwhile, then runs the site again: the whole
 *     new instruction (its return serializes: IRET, or sync_core() before
 *     the return without IRET into an NMI handler, arch/x86/traps.c);
 *   - the patching CPU (one of its own IRQ, NMI or #MC handlers, or its
 *     thread through a phase hook) cannot wait for itself: it completes
 *     the site itself, with the rounds the thread has not run yet, then
 *     runs it.
 * In the no-patch region: #BP context, nested in anything, on any CPU. No
 * lock, nothing patchable; it calls the rendezvous (sync_all_cpus,
 * sync_ack), the trap writer (text_poke_many_in_trap), and prints only on
 * the way to a panic.
 */
#include "arch/x86/dump.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/rendezvous.h"
#include "patch/text_poke.h"
#include "strategies/roll_forward/roll_forward.h"

static uint8_t first_byte(const struct poke_site *s)
{
	return __atomic_load_n((const uint8_t *)s->addr, __ATOMIC_SEQ_CST);
}

/* #BP context, on the way to a panic: the wait for s ran out. */
static void wait_timed_out(const struct poke_site *s, enum bp_ctx ctx, uint64_t t0)
{
	char sym[96];
	unsigned me = cpu_id();
	int32_t patcher = __atomic_load_n(&rf_state.patcher, __ATOMIC_SEQ_CST);
	const struct patch_strategy *cur = __atomic_load_n(&poke_current_strategy, __ATOMIC_ACQUIRE);
	uint32_t phase = __atomic_load_n(&poke_current_phase, __ATOMIC_ACQUIRE);
	const char *phase_name = cur && phase < cur->nr_phases ? cur->phase_names[phase] : "?";

	printk("roll-forward: CPU %u waited %lu ms in #BP (%s context) for the site at %016lx <%s> to be completed",
	       me, tsc_to_ms(rdtsc() - t0), bp_ctx_names[ctx], s->addr, format_symbol(sym, sizeof(sym), s->addr));
	if (patcher == (int32_t)me) {
		printk("roll-forward: CPU %u is the patching CPU: it waits for itself (its own handlers must complete "
		       "the site, not wait)", me);
	} else if (patcher >= 0) {
		struct cpumask m;
		cpumask_clear_all(&m);
		cpumask_set(&m, (unsigned)patcher);
		cpus_report_where(&m, "roll-forward wait: the patching CPU");
	}
	panic("roll-forward: CPU %u gave up waiting for site %#lx after %llu ms: the patching CPU %d (phase %s) "
	      "never completed it", me, s->addr, RF_WAIT_TIMEOUT_US / 1000, patcher, phase_name);
}

/* #BP context. A bystander: wait until s is complete. Bounded; reports. */
static void wait_for_site(const struct poke_site *s, enum bp_ctx ctx)
{
	struct percpu *pc = this_cpu();
	struct rf_cpu *me = &rf_cpu[pc->cpu];
	uint64_t t0 = rdtsc(), deadline = tsc_deadline_us(RF_WAIT_TIMEOUT_US);

	patch_hazard(RF_HAZARD_WAITED);
	while (first_byte(s) == INT3_INSN_OPCODE) {
		/* A round may open while we wait. Inside #BP we count as
		 * acknowledged (rendezvous.h), but not while an NMI or #MC
		 * nested in this #BP raises bp_nested; if that one waits here
		 * too, nobody else can answer for this CPU: answer every pass
		 * (we leave #BP serialized, before any patched code). */
		sync_ack(pc);
		if (tsc_expired(deadline))
			wait_timed_out(s, ctx, t0);
		cpu_relax();
	}
	/* This CPU's own counters; an NMI nested in this #BP may update
	 * them too, hence the atomics. */
	uint64_t took = rdtsc() - t0, max = __atomic_load_n(&me->wait_max, __ATOMIC_RELAXED);
	__atomic_fetch_add(&me->waits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&me->wait_cycles, took, __ATOMIC_RELAXED);
	while (took > max && !__atomic_compare_exchange_n(&me->wait_max, &max, took, false, __ATOMIC_RELAXED,
							  __ATOMIC_RELAXED))
		;
}

/* #BP context, the patching CPU: one round of its own. */
static void trap_round(uint32_t *rounds)
{
	sync_all_cpus();
	(*rounds)++;
}

/* #BP context, the patching CPU: write part of a site through the trap
 * writer. */
static void trap_write(uintptr_t addr, const uint8_t *bytes, uint8_t len)
{
	struct poke_write w = { addr, bytes, len, NULL };
	text_poke_many_in_trap(&w, 1);
}

/*
 * #BP context, the patching CPU: one of its own handlers hit site s of b.
 * Complete it (timeline: roll_forward.c): done[] first, for the thread's
 * write steps; then the rest of the new bytes with the rounds the thread
 * has not run yet, then the first byte.
 */
static void roll_forward(const struct poke_batch *b, const struct poke_site *s, enum bp_ctx ctx)
{
	uint32_t i = (uint32_t)(s - b->sites), rounds = 0;
	uint32_t stage = __atomic_load_n(&rf_state.stage, __ATOMIC_SEQ_CST);

	__atomic_store_n(&rf_state.done[i], 1, __ATOMIC_SEQ_CST);
	if (s->len > INT3_INSN_SIZE) {
		/* Round 1 not complete: a CPU may still fetch the old first byte
		 * of s; it must see the int3 before the tail changes. */
		if (stage < RF_STAGE_INT3_SYNCED)
			trap_round(&rounds);
		/* Round 2 not complete: the tail may be unwritten, or written
		 * but unseen by some CPU; it must be seen before the first byte
		 * changes. */
		if (stage < RF_STAGE_TAILS_SYNCED) {
			trap_write(s->addr + 1, s->new + 1, (uint8_t)(s->len - 1));
			trap_round(&rounds);
		}
	}
	trap_write(s->addr, s->new, 1);
	/* The return re-runs s: it must not find the int3 again. */
	if (first_byte(s) == INT3_INSN_OPCODE)
		panic("roll-forward: CPU %u completed the site at %#lx, yet its first byte is still int3: the re-run "
		      "would trap again", cpu_id(), s->addr);

	uint32_t left = 0;              /* for the record: the sites still in flight */
	for (uint32_t k = 0; k < b->nr; k++)
		left += k != i && __atomic_load_n((const uint8_t *)b->sites[k].addr, __ATOMIC_RELAXED) == INT3_INSN_OPCODE;
	uint32_t n = __atomic_fetch_add(&rf_state.rolled, 1, __ATOMIC_SEQ_CST);
	if (n < RF_LOG)
		rf_state.log[n] = (struct rf_rolled){ .addr = s->addr, .stage = stage, .trap_rounds = rounds,
						      .int3_left = left, .ctx = (uint8_t)ctx };
	__atomic_fetch_add(&rf_state.trap_rounds, rounds, __ATOMIC_SEQ_CST);
	patch_hazard(RF_HAZARD_ROLLED_FORWARD);
}

/*
 * #BP context, the patching CPU: it trapped on an int3 that memory no
 * longer holds. Under QEMU's TCG that can be a translation made while the
 * site was being written (patch/trap.c, "A vanished int3"), which every
 * CPU keeps running until its page is written again; the thread's TCG step
 * rewrites every first byte at the end of the batch, but a handler of the
 * patching CPU that runs the site again and again would never let the
 * thread get there. So it writes the byte there now back (the same value:
 * no CPU can fetch anything it could not before), which discards the
 * translation for every CPU; only where TCG runs us (patch.tcg_rewrite),
 * as the thread's step.
 */
static void rewrite_vanished(const struct poke_site *s)
{
	if (!poke_tcg_rewrite)
		return;
	uint8_t now = first_byte(s);
	trap_write(s->addr, &now, 1);
	__atomic_fetch_add(&rf_state.stale_rewrites, 1, __ATOMIC_RELAXED);
}

/* #BP context, b pinned, this CPU's acknowledgement given (patch/trap.c).
 * No lock, no print, nothing patchable. */
bool rf_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx)
{
	bool patcher = __atomic_load_n(&rf_state.patcher, __ATOMIC_SEQ_CST) == (int32_t)cpu_id();
	if (first_byte(s) != INT3_INSN_OPCODE) {
		/* Complete since this CPU fetched the int3, or a stale
		 * translation: run it again (a bystander's stale one goes at
		 * the thread's next write to that page, its TCG step at the
		 * latest). */
		if (patcher)
			rewrite_vanished(s);
		return false;
	}
	if (patcher)
		roll_forward(b, s, ctx);
	else
		wait_for_site(s, ctx);
	r->rip = s->addr;       /* the whole new instruction, after the serializing return */
	return true;
}
