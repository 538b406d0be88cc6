/*
 * tests/kernel/gdb_arena.c — the guest half of the gdb race scenarios
 * (tests/gdb/). Hidden test gdb.arena: CPU 0 (the patcher) and CPU 1 (the
 * intruder) wait for commands that gdb writes into gdb_arena, and call a
 * marker function after each, where gdb stops them. gdb freezes and
 * releases them one at a time (scheduler-locking) to replay an interleaving
 * exactly.
 *
 *   gdb_arena.patch_cmd = N     CPU 0 patches, then calls gdb_patch_finished():
 *                                 1 flips the "call" site (a <-> b) once
 *                                 2 flips view_fn's early site (nop5 <->
 *                                   call flip_set_b)
 *                                 3 the torn batch: "call" a <-> b, and
 *                                   flip_nop5_site's nop5 -> jmp to byte 2
 *                                   of the call (accepted only with
 *                                   patch.unsafe_targets=1)
 *                                 5 livepatch: applies two_funcs, then
 *                                   stack_over over it (tests/livepatch/,
 *                                   or hand-made: tests/kernel/lp_fake.h
 *                                   when not loaded), for xp-lp
 *                                 4 resets the arena for the next scenario
 *                                   of the same boot: every site above
 *                                   back to its bytes at the start, each
 *                                   through a real batch, every payload
 *                                   command 5 applied reverted; the results
 *                                   cleared (gdb_arena.resets counts it,
 *                                   reset_err says how it went); then
 *                                   calls gdb_arena_ready() again
 *   gdb_arena.intrude_cmd = N   CPU 1 runs the site, then calls
 *                               gdb_intruder_finished():
 *                                 1 from thread context
 *                                 2 from an IRQ (a self-IPI, VEC_TEST)
 *                                 3 from an NMI (a self-NMI)
 *                                 4 sends an NMI to CPU 0, whose handler
 *                                   runs the site (result: nmi_result_cpu0)
 *                                 5 validates view_fn's late site, and a
 *                                   request in the middle of its mov
 *                                   (results: validate_err[0], [1])
 *                                 6 calls flip_nop5_fn
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
#include "kernel/string.h"
#include "patch/insn.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"
#include "lab/fixture_sites.h"
#include "tests/kernel/lp_fake.h"

struct gdb_arena {
	uint32_t patch_cmd;
	uint32_t patch_done;
	int32_t patch_err;
	uint32_t intrude_cmd;
	uint32_t intrude_done;
	uint32_t result;                /* what the intruder's run of the site returned */
	uint32_t nmi_result_cpu0;       /* command 4: what CPU 0's NMI handler got */
	int32_t validate_err[2];        /* command 5 */
	uint32_t resets;                /* patch_cmd 4 */
	int32_t reset_err;
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

/* Command 5: validate beside view_fn's early site (CPU 1). */
static struct poke_site validate_storage;

static void validate_view_fn(void)
{
	const uint8_t *nop5 = insn_nop_bytes[5];
	struct poke_batch b = POKE_BATCH_INIT(&validate_storage, 1);
	uint8_t call[CALL_INSN_SIZE], mid[1];
	insn_call(VIEW_LATE_SITE, (uintptr_t)flip_set_b, call);
	gdb_arena.validate_err[0] = smp_text_poke_batch_add(&b, (void *)VIEW_LATE_SITE, nop5, call, 5);
	smp_text_poke_batch_reset(&b);
	memcpy(mid, (const uint8_t *)view_fn + 6, 1);          /* inside "mov eax, imm32" at +5 */
	gdb_arena.validate_err[1] = smp_text_poke_batch_add(&b, (uint8_t *)view_fn + 6, mid, mid, 1);
	smp_text_poke_batch_reset(&b);
}

/* Commands 2 and 3 of CPU 0. */
POKE_BATCH_DEFINE(arena_batch, 2);

static int patch_view_fn(void)
{
	const uint8_t *nop5 = insn_nop_bytes[5];
	uint8_t call[CALL_INSN_SIZE];
	insn_call((uintptr_t)view_fn, (uintptr_t)flip_set_b, call);
	bool is_nop = !memcmp((const void *)view_fn, nop5, 5);
	return smp_text_poke_single((void *)view_fn, is_nop ? nop5 : call, is_nop ? call : nop5, 5);
}

static int patch_torn_batch(const struct patch_site_def *s)
{
	const struct site_variant *cur = site_current_variant(s);
	uint8_t old[CALL_INSN_SIZE], new[CALL_INSN_SIZE], nop5[5], jmp[JMP32_INSN_SIZE];
	site_encode(s, cur, old);
	site_encode(s, cur == &s->var[0] ? &s->var[1] : &s->var[0], new);
	memcpy(nop5, flip_nop5_site, 5);
	insn_jmp32((uintptr_t)flip_nop5_site, (uintptr_t)flip_call_site + 2, jmp);
	int err = smp_text_poke_batch_add(&arena_batch, (void *)flip_call_site, old, new, CALL_INSN_SIZE);
	if (!err)
		err = smp_text_poke_batch_add(&arena_batch, (void *)flip_nop5_site, nop5, jmp, JMP32_INSN_SIZE);
	if (!err)
		err = smp_text_poke_batch_finish(&arena_batch);
	smp_text_poke_batch_reset(&arena_batch);
	return err;
}

/* Command 4 of CPU 0: the sites the commands patch, and their bytes when
 * the arena started. Restored in reverse order of how the torn batch
 * (command 3) depends on them: its jmp into the call site goes first. */
#define NR_PRISTINE 3
static struct {
	uint8_t *addr;
	uint8_t bytes[5];
} pristine[NR_PRISTINE];

static void remember_pristine(void)
{
	pristine[0].addr = (uint8_t *)flip_nop5_site;
	pristine[1].addr = (uint8_t *)view_fn;
	pristine[2].addr = (uint8_t *)flip_call_site;
	for (unsigned i = 0; i < NR_PRISTINE; i++)
		memcpy(pristine[i].bytes, pristine[i].addr, sizeof(pristine[i].bytes));
}

/* The test payload of that name (tests/livepatch/) if the loader has it,
 * else the hand-made one. */
static struct lp_payload *arena_payload(struct lp_payload *fake)
{
	lp_fake_init();
	struct lp_payload *p = lp_find(fake->name);
	return p ? p : fake;
}

static int reset_arena(void)
{
	int err = 0;
	for (unsigned i = 0; i < NR_PRISTINE && !err; i++) {
		uint8_t now[sizeof(pristine[i].bytes)];
		memcpy(now, pristine[i].addr, sizeof(now));
		if (memcmp(now, pristine[i].bytes, sizeof(now)))
			err = smp_text_poke_single(pristine[i].addr, now, pristine[i].bytes, sizeof(now));
		if (err)
			printk("gdb.arena: reset: restoring the site at %p failed: %s (%s)", pristine[i].addr,
			       patch_errname(err), patch_strerror(err));
	}
	static char why[192];
	struct lp_payload *lps[4] = { arena_payload(&lp_fake_stack_over), arena_payload(&lp_fake_two_funcs),
				      &lp_fake_stack_over, &lp_fake_two_funcs };
	for (unsigned i = 0; i < 4 && !err; i++)
		if (lps[i]->state == LP_APPLIED && (err = lp_revert(lps[i], NULL, NULL, why, sizeof(why))))
			printk("gdb.arena: reset: reverting payload %s failed: %s", lps[i]->name, why);
	pending_nmi_call = pending_irq_call = 0;
	gdb_arena.result = gdb_arena.nmi_result_cpu0 = 0;
	gdb_arena.validate_err[0] = gdb_arena.validate_err[1] = 0;
	gdb_arena.patch_err = 0;
	return err;
}

/* Command 5: two_funcs, then stack_over over it (lp_target_a twice). */
static int apply_two_payloads(void)
{
	static char why[192];
	int err = lp_apply(arena_payload(&lp_fake_two_funcs), NULL, NULL, why, sizeof(why));
	if (!err)
		err = lp_apply(arena_payload(&lp_fake_stack_over), NULL, NULL, why, sizeof(why));
	if (err)
		printk("gdb.arena: livepatch: %s", why);
	return err;
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
		case 5:
			validate_view_fn();
			break;
		case 6:
			gdb_arena.result = flip_nop5_fn();
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
	remember_pristine();
	printk("gdb.arena: ready (CPU 0 patches, CPU 1 intrudes; waiting for gdb)");
	gdb_arena_ready();
	while (!__atomic_load_n(&gdb_arena.quit, __ATOMIC_ACQUIRE)) {
		uint32_t cmd = __atomic_exchange_n(&gdb_arena.patch_cmd, 0, __ATOMIC_ACQ_REL);
		if (!cmd) {
			cpu_relax();
			continue;
		}
		if (cmd == 4) {
			gdb_arena.reset_err = reset_arena();
			__atomic_fetch_add(&gdb_arena.resets, 1, __ATOMIC_RELEASE);
			printk("gdb.arena: reset for the next scenario (%u)", gdb_arena.resets);
			gdb_arena_ready();
			continue;
		}
		const struct site_variant *cur = site_current_variant(s);
		if (cmd == 2)
			gdb_arena.patch_err = patch_view_fn();
		else if (cmd == 3)
			gdb_arena.patch_err = patch_torn_batch(s);
		else if (cmd == 5)
			gdb_arena.patch_err = apply_two_payloads();
		else
			gdb_arena.patch_err = site_patch(s, cur == &s->var[0] ? &s->var[1] : &s->var[0]);
		__atomic_fetch_add(&gdb_arena.patch_done, 1, __ATOMIC_RELEASE);
		gdb_patch_finished();
	}
	cpu_wait_done(1, 5000000);
	report(true, "gdb ended the arena");
}
KTEST("gdb.arena", test_gdb_arena, .min_cpus = 2, .flags = KTEST_HIDDEN, .timeout_ms = 1800000);
