/*
 * tests/kernel/gdb_arena.c — the guest half of the gdb race scenarios
 * (tests/gdb/). Hidden test gdb.arena: CPU 0 (the patcher) and CPU 1 (the
 * intruder) wait for commands that gdb writes into gdb_arena, and call a
 * marker function after each, where gdb stops them. gdb freezes and
 * releases them one at a time (scheduler-locking) to replay an interleaving
 * exactly.
 *
 *   gdb_arena.patch_cmd = 1     CPU 0 flips the "call" site (a <-> b) once,
 *                               then calls gdb_patch_finished()
 *   gdb_arena.intrude_cmd = N   CPU 1 runs the site, then calls
 *                               gdb_intruder_finished():
 *                                 1 from thread context
 *                                 2 from an IRQ (a self-IPI, VEC_TEST)
 *                                 3 from an NMI (a self-NMI)
 *                                 4 sends an NMI to CPU 0, whose handler
 *                                   runs the site (result: nmi_result_cpu0)
 *   gdb_arena.quit = 1          both leave; the test passes
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"
#include "patch/patch.h"
#include "patch/sites.h"
#include "tests/kernel/patch_sites.h"

struct gdb_arena {
	uint32_t patch_cmd;
	uint32_t patch_done;
	int32_t patch_err;
	uint32_t intrude_cmd;
	uint32_t intrude_done;
	uint32_t result;                /* what the intruder's run of the site returned */
	uint32_t nmi_result_cpu0;       /* command 4: what CPU 0's NMI handler got */
	uint32_t quit;
};

__attribute__((used)) struct gdb_arena gdb_arena;

/* Markers where gdb stops the CPUs. */
__attribute__((noinline)) void gdb_arena_ready(void) { barrier(); }
__attribute__((noinline)) void gdb_patch_finished(void) { barrier(); }
__attribute__((noinline)) void gdb_intruder_finished(void) { barrier(); }

static volatile uint32_t pending_nmi_call, pending_irq_call;

/* NMI context: command 3 (on CPU 1) and command 4 (on CPU 0). */
static void arena_nmi(struct regs *r)
{
	(void)r;
	if (!__atomic_exchange_n(&pending_nmi_call, 0, __ATOMIC_SEQ_CST))
		return;
	uint32_t v = flip_call_fn();
	if (cpu_id() == 0)
		gdb_arena.nmi_result_cpu0 = v;
	else
		gdb_arena.result = v;
}

/* IRQ context: command 2. */
static void arena_irq(struct regs *r)
{
	(void)r;
	if (__atomic_exchange_n(&pending_irq_call, 0, __ATOMIC_SEQ_CST))
		gdb_arena.result = flip_call_fn();
}

/* Commands 2 and 3: the self-IPI / self-NMI is taken right away; wait for
 * its handler so the marker comes after it. */
static void wait_handled(volatile uint32_t *pending)
{
	for (int i = 0; i < 10000000 && *pending; i++)
		cpu_relax();
}

static void intruder(void *unused)
{
	(void)unused;
	while (!__atomic_load_n(&gdb_arena.quit, __ATOMIC_ACQUIRE)) {
		uint32_t cmd = __atomic_exchange_n(&gdb_arena.intrude_cmd, 0, __ATOMIC_ACQ_REL);
		switch (cmd) {
		case 0:
			cpu_relax();
			continue;
		case 1:
			gdb_arena.result = flip_call_fn();
			break;
		case 2:
			pending_irq_call = 1;
			apic_send_ipi_self(VEC_TEST);
			wait_handled(&pending_irq_call);
			break;
		case 3:
			pending_nmi_call = 1;
			__atomic_fetch_or(&this_cpu()->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
			apic_send_nmi_self();
			wait_handled(&pending_nmi_call);
			break;
		case 4:
			pending_nmi_call = 1;
			nmi_send(0, NMI_TEST);
			break;
		}
		__atomic_fetch_add(&gdb_arena.intrude_done, 1, __ATOMIC_RELEASE);
		gdb_intruder_finished();
	}
}

static void test_gdb_arena(void)
{
	const struct patch_site_def *s = site_by_name("call");
	irq_register(VEC_TEST, arena_irq);
	nmi_set_test_hook(arena_nmi);
	if (!report(on_cpu_async(1, intruder, NULL) == 0, "intruder started on CPU 1"))
		return;
	printk("gdb.arena: ready (CPU 0 patches, CPU 1 intrudes; waiting for gdb)");
	gdb_arena_ready();
	while (!__atomic_load_n(&gdb_arena.quit, __ATOMIC_ACQUIRE)) {
		if (!__atomic_exchange_n(&gdb_arena.patch_cmd, 0, __ATOMIC_ACQ_REL)) {
			cpu_relax();
			continue;
		}
		const struct site_variant *cur = site_current_variant(s);
		gdb_arena.patch_err = site_patch(s, cur == &s->var[0] ? &s->var[1] : &s->var[0]);
		__atomic_fetch_add(&gdb_arena.patch_done, 1, __ATOMIC_RELEASE);
		gdb_patch_finished();
	}
	cpu_wait_done(1, 5000000);
	report(true, "gdb ended the arena");
}
KTEST("gdb.arena", test_gdb_arena, .min_cpus = 2, .flags = KTEST_HIDDEN, .timeout_ms = 1800000);
