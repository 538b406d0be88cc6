/*
 * strategies/int3/int3_selftest.c — does the #BP handler's call emulation
 * return to the right place with every register intact? Runs at boot
 * (patch_init: the strategy's selftest) and as the self-test
 * patch.int3_selftest.
 *
 * A one-site batch is published without writing anything: the site's int3
 * is already in the text (int3_selftest_code.asm). Executing it makes the
 * handler emulate "call int3_selftest_magic", whose return address must be
 * int3_selftest_after; the push lands in the gap the #BP entry leaves
 * below the interrupted stack pointer, and must not corrupt the frame the
 * handler returns through. Both alignments of the interrupted RSP are tried:
 * only a 16-byte-aligned one puts the CPU's frame where the push goes.
 */
#include "arch/x86/cpu.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "patch/live.h"
#include "patch/text_poke.h"
#include "strategies/int3/int3.h"

extern const char int3_selftest_site[], int3_selftest_after[], int3_selftest_magic[];

static struct poke_site selftest_site;
static struct poke_batch selftest_batch = { .strategy = &int3_strategy, .sites = &selftest_site, .nr = 1, .cap = 1 };

void int3_selftest_arm(void)
{
	selftest_site = (struct poke_site){
		.addr = (uintptr_t)int3_selftest_site, .len = CALL_INSN_SIZE,
		.old = { INT3_INSN_OPCODE, 0x0f, 0x1f, 0x40, 0x00 },   /* what the view shows meanwhile */
		.emu = { .kind = EMU_CALL, .len = CALL_INSN_SIZE, .target = (uintptr_t)int3_selftest_magic },
	};
	spin_lock(&text_lock);
	live_publish(&selftest_batch);
}

void int3_selftest_disarm(void)
{
	live_retire();
	spin_unlock(&text_lock);
}

const char *int3_selftest(void)
{
	static char why[160];

	for (uint64_t skew = 0; skew <= 8; skew += 8) {
		uint64_t seen = 0, before = this_cpu()->patch.bp_handled[BP_THREAD];

		int3_selftest_arm();
		uint32_t changed = int3_selftest_run(&seen, skew);
		int3_selftest_disarm();

		uint64_t emulated = this_cpu()->patch.bp_handled[BP_THREAD] - before;
		if (emulated != 1)
			snprintf(why, sizeof(why), "RSP%%16 = %lu: the #BP handler did not emulate the site (%lu emulations)",
				 skew, emulated);
		else if (seen != (uintptr_t)int3_selftest_after)
			snprintf(why, sizeof(why), "RSP%%16 = %lu: the emulated call pushed %#lx, expected %p", skew,
				 seen, int3_selftest_after);
		else if (changed)
			snprintf(why, sizeof(why), "RSP%%16 = %lu: registers changed across the emulated call (mask %#x)",
				 skew, changed);
		else
			continue;
		return why;
	}
	return NULL;
}
