/*
 * strategies/stop_machine/stop_machine.c — stop every other CPU, write the
 * new bytes directly, release (timeline: stop_machine_trap.c). No int3:
 * any one instruction can be replaced (stop_machine_check.c), and nobody
 * is emulated; the price is that every other CPU stalls for the whole
 * write, and that whatever still runs while the bytes are half written
 * runs them half written:
 *   stop-machine      the other CPUs spin in an IRQ handler: NMIs still
 *                     arrive there and run the NMI path's sites (and the
 *                     patching CPU's own NMIs and #MCs run them too);
 *   stop-machine-nmi  they spin in an NMI handler: their NMIs wait until
 *                     they leave; #MC, and the patching CPU's own NMIs,
 *                     still run half-written sites.
 * The lab measures this (lab/context_sites: the NMI and #MC paths' value
 * sites; patch.write_delay_us widens the windows, patch.stop_nmi_us and
 * patch.stop_mce_us are an NMI source and a (software) machine check
 * source that keep firing on the stopped CPUs).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "arch/x86/serialize.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/text_poke.h"
#include "strategies/stop_machine/stop_machine.h"
#include "strategies/stop_machine/stop_machine_check.h"

#define STOP_TIMEOUT_US 10000000ull     /* then panic, naming who is missing */

KPARAM_UINT("patch.stop_nmi_us", stop_nmi_us, 0, 1000000,
	    "US: lab knob: CPUs stopped by stop-machine send themselves an NMI every US microseconds (default 0: never)");

KPARAM_UINT("patch.stop_mce_us", stop_mce_us, 0, 1000000,
	    "US: lab knob: CPUs stopped by stop-machine run INT 18 (the #MC path) every US microseconds (default 0: never)");

static const char *const stop_phase_names[STOP_PHASE_COUNT] = {
	[STOP_PHASE_PUBLISHED] = "published",
	[STOP_PHASE_STOPPED] = "stopped",
	[STOP_PHASE_WRITTEN] = "written",
	[STOP_PHASE_RELEASED] = "released",
	[STOP_PHASE_RETIRED] = "retired",
};

enum stop_step { STOP_STEP_WRITE, STOP_STEP_TCG, STOP_STEP_COUNT };
static const char *const stop_step_names[STOP_STEP_COUNT] = {
	[STOP_STEP_WRITE] = "new bytes",
	[STOP_STEP_TCG] = "first bytes again (TCG)",
};

_Static_assert(STOP_PHASE_COUNT <= POKE_PHASES_MAX, "stop-machine: too many phases for the core");
_Static_assert(STOP_STEP_COUNT <= POKE_STEPS_MAX, "stop-machine: too many write steps for the core");

/* Wait until mask holds every other online CPU; panic naming the missing. */
static void wait_all(const struct cpumask *mask, const char *what)
{
	unsigned me = cpu_id();
	uint64_t deadline = tsc_deadline_us(STOP_TIMEOUT_US);
	for (;;) {
		struct cpumask missing;
		cpumask_clear_all(&missing);
		for_each_cpu_in(c, &cpu_online_mask)
			if (c != me && !cpumask_test(mask, c))
				cpumask_set(&missing, c);
		if (cpumask_empty(&missing))
			return;
		if (tsc_expired(deadline)) {
			cpus_report_where(&missing, what);
			panic("stop-machine: %u CPU(s) did not %s within %llu ms", cpumask_weight(&missing), what,
			      STOP_TIMEOUT_US / 1000);
		}
		cpu_relax();
	}
}

/* Every site's new bytes, or just its first byte again (TCG). */
static uint64_t write_sites(const struct poke_batch *b, enum stop_step step, struct poke_stats *st)
{
	struct poke_write *w = poke_write_buffer();
	for (uint32_t i = 0; i < b->nr; i++)
		w[i] = (struct poke_write){ b->sites[i].addr, b->sites[i].new,
					    step == STOP_STEP_WRITE ? b->sites[i].len : 1, NULL };
	return poke_write_step(w, b->nr, st);
}

/* Stop every other CPU (by IPI or NMI) and wait until each spins. */
static void stop_others(enum stop_how how, unsigned me)
{
	cpumask_clear_all(&stop_state.arrived);
	cpumask_clear_all(&stop_state.left);
	cpumask_clear_all(&stop_state.kick);
	for (unsigned c = 0; c < MAX_CPUS; c++)     /* a report from an earlier stop is stale */
		__atomic_fetch_add(&stop_state.want_seq[c], 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&stop_state.release, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&stop_state.patcher, me, __ATOMIC_SEQ_CST);
	__atomic_store_n(&stop_state.how, how, __ATOMIC_SEQ_CST);
	if (nr_cpus_online > 1) {
		if (how == STOP_BY_IPI)
			apic_send_ipi_allbutself(VEC_STOP);
		else {
			for_each_cpu_in(c, &cpu_online_mask)    /* claimed: not counted as external */
				if (c != me)
					__atomic_fetch_or(&percpu_of(c)->nmi_reasons, NMI_PATCH, __ATOMIC_SEQ_CST);
			apic_send_nmi_allbutself();
		}
	}
	wait_all(&stop_state.arrived, "stop");
}

/* Release them; each serializes before it leaves. */
static void release_others(void)
{
	__atomic_store_n(&stop_state.release, 1, __ATOMIC_SEQ_CST);
	wait_all(&stop_state.left, "leave the stop");
	__atomic_store_n(&stop_state.how, STOP_NONE, __ATOMIC_SEQ_CST);
}

/* Thread context, IRQs on, text_lock held, b published (patch/strategy.h). */
static int stop_apply(const struct patch_strategy *self, enum stop_how how, struct poke_batch *b,
		      struct poke_stats *st)
{
	unsigned me = cpu_id();
	uint64_t t0 = rdtsc();

	stop_others(how, me);
	/* A multi_insn strategy (stop-machine-nmi) writes only while no
	 * stopped CPU is inside a site: those that are go on alone until
	 * they are out, and are stopped again (stop_inside.c). */
	if (self->multi_insn && !stop_unsafe_inside) {
		int err = stop_move_out(self, b, st);
		if (err) {
			release_others();
			return err;
		}
	}
	poke_phase_reached(STOP_PHASE_STOPPED);

	/* Write every site whole, with IRQs off (text_poke_many). */
	st->cycles_write[STOP_STEP_WRITE] = write_sites(b, STOP_STEP_WRITE, st);
	sync_core();
	poke_phase_reached(STOP_PHASE_WRITTEN);

	release_others();
	/* the stop that wrote (after any re-stops of stop_move_out) */
	st->cycles_sync[st->rounds < POKE_ROUNDS_MAX - 1 ? st->rounds : POKE_ROUNDS_MAX - 1] = rdtsc() - t0;
	st->rounds++;
	poke_phase_reached(STOP_PHASE_RELEASED);
	if (poke_tcg_rewrite)           /* TCG's stale translations out (strategies/int3/int3.c) */
		st->cycles_write[STOP_STEP_TCG] = write_sites(b, STOP_STEP_TCG, st);
	return 0;
}

static int stop_ipi_apply(struct poke_batch *b, struct poke_stats *st)
{
	return stop_apply(&stop_machine_strategy, STOP_BY_IPI, b, st);
}

static int stop_nmi_apply(struct poke_batch *b, struct poke_stats *st)
{
	return stop_apply(&stop_machine_nmi_strategy, STOP_BY_NMI, b, st);
}

/* Boot: the stop IPI's handler. */
static void stop_init(void)
{
	irq_register(VEC_STOP, stop_ipi);
}

static const struct patch_hazard stop_ipi_hazards[STOP_HAZARD_COUNT] = {
	[STOP_HAZARD_STOPPED] = { "stopped in an IRQ handler", PATCH_EV_IRQ },
	[STOP_HAZARD_NMI_WHILE_STOPPED] = { "NMIs run while stopped (the hazard)", PATCH_EV_NMI },
	[STOP_HAZARD_INSIDE_RETRY] = { "a CPU stopped inside a multi-instruction site (never: not multi_insn)", 0 },
	[STOP_HAZARD_INSIDE_NESTED] = { "... in a frame under a handler (never: not multi_insn)", 0 },
	[STOP_HAZARD_INSIDE_UNKNOWN] = { "... or could not tell (never: not multi_insn)", 0 },
};

static const struct patch_hazard stop_nmi_hazards[STOP_HAZARD_COUNT] = {
	[STOP_HAZARD_STOPPED] = { "stopped in an NMI handler", PATCH_EV_IRQ | PATCH_EV_NMI },
	[STOP_HAZARD_NMI_WHILE_STOPPED] = { "NMIs run while stopped (never: they wait)", 0 },
	[STOP_HAZARD_INSIDE_RETRY] = { "a CPU stopped inside a multi-instruction site: released, stopped again", 0 },
	[STOP_HAZARD_INSIDE_NESTED] = { "... found in the frame of a context an IRQ or exception handler interrupted", 0 },
	[STOP_HAZARD_INSIDE_UNKNOWN] = { "a stopped CPU that could not tell (a handler entering or leaving, or "
					 "nested too deep): counted inside, stopped again", 0 },
};

/* What the two stop strategies share: phases, steps, one rendezvous (the
 * stop), the site check, and no int3. */
#define STOP_STRATEGY_COMMON \
	.phase_names = stop_phase_names, \
	.nr_phases = STOP_PHASE_COUNT, \
	.trap_phases = 0, \
	.new_phases = ~((1u << STOP_PHASE_WRITTEN) - 1) & ((1u << STOP_PHASE_COUNT) - 1), \
	.step_names = stop_step_names, \
	.nr_steps = STOP_STEP_COUNT, \
	.max_rounds = 1,                /* stop-machine-nmi: plus one per re-stop (stop_inside.c) */ \
	.check = stop_machine_check_site, \
	.on_bp = stop_on_bp

const struct patch_strategy stop_machine_strategy = {
	.name = "stop-machine",
	.can_patch = "any one instruction but a branch the core cannot check (no emulation needed)",
	.summary = "every other CPU spins with IRQs off (stop IPI); new bytes written directly; released",
	.safe_against = "IRQs only: NMIs on the stopped CPUs, and the patcher's own NMIs and #MCs, run "
			"half-written sites",
	.safe_events = PATCH_EV_IRQ,
	.hazards = stop_ipi_hazards,
	.nr_hazards = STOP_HAZARD_COUNT,
	STOP_STRATEGY_COMMON,
	.on_nmi = stop_count_nmi,
	.init = stop_init,
	.apply = stop_ipi_apply,
};

const struct patch_strategy stop_machine_nmi_strategy = {
	.name = "stop-machine-nmi",
	.can_patch = "any one instruction but a branch the core cannot check (no emulation needed), and "
		     "multi-instruction sequences (no CPU stopped inside one when it is written)",
	.summary = "every other CPU spins inside an NMI handler (stop NMI); new bytes written directly; released",
	.safe_against = "IRQs and the other CPUs' NMIs (they wait); not #MC, nor the patcher's own NMIs",
	.safe_events = PATCH_EV_IRQ | PATCH_EV_NMI,
	.hazards = stop_nmi_hazards,
	.nr_hazards = STOP_HAZARD_COUNT,
	STOP_STRATEGY_COMMON,
	.apply = stop_nmi_apply,
	.on_nmi = stop_on_nmi,
	.multi_insn = true,             /* no CPU inside a site when it is written (stop_inside.c) */
};
