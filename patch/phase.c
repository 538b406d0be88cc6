/*
 * patch/phase.c — where the patching CPU is in its batch: the phase it
 * last reached, of which strategy (names in the strategy's phase_names),
 * a stable place for a debugger's breakpoint (poke_phase_stop), and the
 * test hooks. The patching CPU, text_lock held, in thread context or in
 * the handler its strategy applies the batch in (strategies/nmi: its own
 * NMI). In the no-patch region for that reason: no lock, no print,
 * nothing patchable but the test hooks (scripts/lint-allow.txt).
 *
 * In a handler (NMI context) a phase is recorded and the debugger's stop
 * is passed exactly as in thread context: a breakpoint on poke_phase_stop
 * (xp-break-phase) freezes the vCPU wherever it is, so a debugger stops
 * an nmi batch inside the patching CPU's NMI, between two of its steps.
 * While it is held there, that CPU takes no NMI, and the other CPUs'
 * NMIs wait in the strategy's on_nmi for a bounded time (strategies/nmi).
 * The thread hook (poke_set_phase_hook) is not called in a handler: the
 * tests' hooks queue work, take locks, raise IRQs; a hook that is safe
 * there is registered as such (poke_set_phase_hook_nmi).
 */
#include "arch/x86/cpu.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "patch/strategy.h"

static void (*phase_hook)(unsigned p);          /* thread context only */
static void (*phase_hook_nmi)(unsigned p);      /* in a handler (NMI context) */
const struct patch_strategy *poke_current_strategy;
uint32_t poke_current_phase;            /* meaningless until patch_init sets the default's "retired"
					 * (poke_current_strategy is NULL until then) */
int32_t poke_patcher_cpu = -1;

void poke_set_phase_hook(void (*fn)(unsigned p))
{
	__atomic_store_n(&phase_hook, fn, __ATOMIC_SEQ_CST);
}

void poke_set_phase_hook_nmi(void (*fn)(unsigned p))
{
	__atomic_store_n(&phase_hook_nmi, fn, __ATOMIC_SEQ_CST);
}

const char *poke_phase_name(unsigned p)
{
	const struct patch_strategy *s = __atomic_load_n(&poke_current_strategy, __ATOMIC_ACQUIRE);
	return s && p < s->nr_phases ? s->phase_names[p] : "?";
}

/* Where a debugger stops the patching CPU at a phase (xp-break-phase):
 * the phase is already published in poke_current_phase. Any context. */
__attribute__((noinline))
void poke_phase_stop(unsigned p)
{
	(void)p;
	barrier();
}

/* The patching CPU: thread context, or the handler its strategy applies
 * the batch in. No lock, no print; the hooks are the tests'. */
void poke_phase_reached(unsigned p)
{
	const struct patch_strategy *s = poke_current_strategy;
	if (!s || p >= s->nr_phases)
		panic("poke_phase_reached(%u): no batch has begun, or its strategy %s has %u phases", p,
		      s ? s->name : "(none)", s ? s->nr_phases : 0);
	bool retired = p + 1 == s->nr_phases;
	__atomic_store_n(&poke_current_phase, p, __ATOMIC_RELEASE);
	__atomic_store_n(&poke_patcher_cpu, retired ? -1 : (int32_t)cpu_id(), __ATOMIC_RELEASE);
	poke_phase_stop(p);
	void (*fn)(unsigned) = __atomic_load_n(this_cpu()->ctx_depth ? &phase_hook_nmi : &phase_hook,
					       __ATOMIC_ACQUIRE);
	if (fn)
		fn(p);
}

/* Phase 0 first: it is "published" in every strategy, so a debugger that
 * stops between the two stores reads a valid name. Thread context. */
void poke_phase_begin(const struct patch_strategy *s)
{
	__atomic_store_n(&poke_current_phase, POKE_PHASE_PUBLISHED, __ATOMIC_RELEASE);
	__atomic_store_n(&poke_current_strategy, s, __ATOMIC_RELEASE);
	poke_phase_reached(POKE_PHASE_PUBLISHED);
}
