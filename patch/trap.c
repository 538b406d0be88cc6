/*
 * patch/trap.c — the patch core's trap entry points (see trap.h): the #BP
 * side of every strategy, and NMI/#MC entry and exit. In the no-patch
 * region: everything here runs in trap context, possibly nested in NMI or
 * #MC, on any CPU. It takes no lock and calls only code that cannot be a
 * patch site.
 *
 * A CPU that executes the int3 of a site of the live batch traps here: the
 * handler pins the batch (live.c), finds the site by binary search, and
 * hands it to the batch's strategy (int3 emulates the new instruction).
 *
 * Missed batches. A CPU inside the #BP handler does not hold up a
 * retirement unless it pins the batch, so between its trap and its look a
 * batch may retire and the next one write an int3 at the same address. If
 * the handler finds no site for an int3 that is still there, but a batch
 * was published during its look (live_gen moved), it looks again (and
 * after BP_LOOKS looks, runs the address again: the fresh trap starts
 * over). "gen++ after the gates" makes that sound: whoever sees an int3 of
 * a batch, then reads the generation, sees that batch's increment; and if
 * the look began after that increment, the gate was open and the pin found
 * the batch, or the batch was withdrawn, its writes complete, and the int3
 * is not its.
 *
 * A vanished int3. If the byte at the trapping address is no longer 0xcc,
 * the int3 was removed after this CPU fetched it: back up and run whatever
 * is there now (kprobes does the same for a breakpoint removed under it).
 * With a correct protocol on hardware, the handler of an int3 fetched from
 * a live site always finds the batch still live (the last round waits for
 * it). Under QEMU's TCG it also catches stale translations: a vCPU can
 * publish a translation of a page that was written while it was reading
 * it, and go on executing the old bytes after every serializing
 * instruction. The patcher rewrites each site's first byte once more after
 * the last round where TCG runs us (strategies/int3/int3.c), which discards such
 * translations, so a retry here ends after at most a few passes; a CPU that
 * keeps meeting the same vanished int3 is reported by name
 * (BP_VANISHED_MAX), not looped forever. An "int $3" (CD 03) traps here
 * too, with RIP after its two bytes: the byte before RIP is 03, which is
 * never the first byte of an instruction the int3 protocol writes (call,
 * jmp, jcc, nop and ret only: strategies/int3/int3_check.c; a strategy that
 * writes other instructions must keep 03 out of first bytes), and an int $3 is never the old
 * instruction of a site (validate.c refuses it: a CPU trapped on it whose
 * handler looks after the site changed would see neither CD 03 nor an
 * int3), so CD 03 before RIP is an int $3, left to the normal #BP path.
 */
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/serialize.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "patch/live.h"
#include "patch/rendezvous.h"
#include "patch/site_table.h"
#include "patch/strategy.h"
#include "patch/trap.h"

#define BP_VANISHED_MAX 10000           /* re-runs of one vanished int3 in a row, then panic */
#define BP_LOOKS 4                      /* looks at the live batch per #BP while batches are published */

const char *const bp_ctx_names[BP_CTX_COUNT] = { "thread", "irq", "nmi", "mce" };
/* Test only (tests/kernel): an int3 at this address is taken for a stale
 * fetch of a vanished one, as TCG can make a CPU see, so the re-run bound
 * can be shown to hold. 0: none. */
uintptr_t bp_test_stale_int3;

static enum bp_ctx context_of(const struct percpu *pc)        /* #BP context: reads counters */
{
	if (pc->mce_depth)
		return BP_MCE;
	if (pc->nmi_depth)
		return BP_NMI;
	if (pc->irq_depth)
		return BP_IRQ;
	return BP_THREAD;
}

/* Did "int $3" (CD 03) trap here, RIP two bytes past it? See the top of
 * the file. Any context: reads rip-2 only if it lies in .text or on the
 * page of rip-1, which the CPU just fetched from. */
bool patch_bp_is_int_imm3(uintptr_t rip)
{
	uintptr_t a = rip - 2;
	if ((a >> PAGE_SHIFT) != ((rip - 1) >> PAGE_SHIFT) && (a < (uintptr_t)__text_start || a >= (uintptr_t)__text_end))
		return false;
	return __atomic_load_n((const uint8_t *)a, __ATOMIC_RELAXED) == 0xcd &&
	       __atomic_load_n((const uint8_t *)(rip - 1), __ATOMIC_RELAXED) == 0x03;
}

/* Run addr again: its int3 is gone. #BP context: counts the re-runs of
 * one address by this context in a row (a stale fetch of an int3 ends
 * within a few passes; an emulation at that address, or a re-run
 * elsewhere, ends the row) and panics, naming the CPU and address, past
 * BP_VANISHED_MAX. */
static void rerun_vanished(struct percpu *pc, enum bp_ctx ctx, uintptr_t addr, struct regs *r)
{
	struct bp_rerun *v = &pc->patch.bp_rerun[ctx];
	if (v->addr == addr) {
		if (++v->run >= BP_VANISHED_MAX)
			panic("patch: CPU %u met the vanished int3 at %#lx %u times in a row: memory holds %02x "
			      "there, but the CPU keeps executing an int3 (stale instruction fetch)", pc->cpu, addr,
			      v->run, *(const volatile uint8_t *)addr);
	} else {
		v->addr = addr;
		v->run = 1;
	}
	r->rip = addr;
	pc->patch.bp_vanished++;
}

/* #BP context, nested in anything. No lock, nothing patchable (no-patch
 * region), no printing: the only calls are site_find(), the strategy's
 * on_bp(), and panic() if a vanished int3 never goes away. */
bool patch_on_bp(struct regs *r)
{
	struct percpu *pc = this_cpu();
	struct patch_cpu *p = &pc->patch;
	uintptr_t addr = r->rip - INT3_INSN_SIZE;
	enum bp_ctx ctx = context_of(pc);
	bool handled = false;

	__atomic_fetch_add(&p->bp_refs, 1, __ATOMIC_SEQ_CST);
	for (unsigned look = 1; ; look++) {
		uint64_t gen = live_batch_gen();
		const struct poke_batch *b = live_batch_get();
		const struct poke_site *s = b ? site_find(b->sites, b->nr, addr) : NULL;
		bool again = false;
		if (s) {
			/* Invariant 2 of rendezvous.h: IRET follows before this
			 * CPU can reach patched code (whatever the strategy does). */
			sync_ack(pc);
			if (b->strategy->on_bp(b, s, r, ctx)) {
				p->bp_handled[ctx]++;
				if (p->bp_rerun[ctx].addr == addr)
					p->bp_rerun[ctx].run = 0;
			} else if (__atomic_load_n((const uint8_t *)addr, __ATOMIC_SEQ_CST) != INT3_INSN_OPCODE) {
				/* Declined and the int3 is gone: a re-run like
				 * any other, counted, so that a stale fetch that
				 * never ends is named instead of looping. */
				rerun_vanished(pc, ctx, addr, r);
			} else {
				r->rip = addr;  /* not now: run the site again (never past its int3) */
			}
			handled = true;
		} else if (patch_bp_is_int_imm3(r->rip)) {
			/* an int $3: the normal #BP path */
		} else if (__atomic_load_n((const uint8_t *)addr, __ATOMIC_SEQ_CST) != INT3_INSN_OPCODE ||
			   addr == __atomic_load_n(&bp_test_stale_int3, __ATOMIC_RELAXED)) {
			rerun_vanished(pc, ctx, addr, r);       /* the int3 is gone: run what is there now */
			handled = true;
		} else if (live_batch_gen() != gen) {
			/* A batch was published while we looked: the int3 may
			 * be its (see "Missed batches" above). Look again; if
			 * batches keep coming, trap again for a fresh start. */
			p->bp_looked_again++;
			again = look < BP_LOOKS;
			if (!again) {
				r->rip = addr;
				handled = true;
			}
		}
		/* else: an int3 no batch knows, for the normal #BP path */
		if (b)
			live_batch_put();
		if (!again)
			break;
	}
	__atomic_fetch_sub(&p->bp_refs, 1, __ATOMIC_RELEASE);
	return handled;
}

/*
 * Deferred idle (patch.defer_idle). A CPU halted in the idle loop may be
 * left out of a round; it serializes on its next trap entry instead,
 * before anything patchable runs:
 *
 *   initiator (after its writes)        halted CPU
 *   ---------                           ----------
 *   load idle_deferred (seq_cst)        idle: idle_deferred = 1; sti; hlt
 *   1: skip it (no bit, no IPI)         wake, trap entry:
 *   0: set its bit, IPI it                xchg idle_deferred -> 0 (seq_cst)
 *                                         1 was there: sync_core()
 *
 * If the initiator read 1, the CPU's exchange comes after that read, so
 * after the writes, and its sync_core() after the exchange: it runs
 * nothing fetched before the writes. If it read 0, the CPU was awake (or
 * not yet halted) and gets the IPI like anybody else. Exchange before
 * serializing, never after: serializing first could fetch before a write
 * the initiator then skipped it for.
 */
static inline void idle_wake(struct patch_cpu *p)
{
	if (__atomic_load_n(&p->idle_deferred, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&p->idle_deferred, 0, __ATOMIC_SEQ_CST)) {
		sync_core();
		p->idle_serialized++;
	}
}

/* Idle loop, IRQs off: no lock, no print, nothing patchable. */
void patch_idle_enter(void)
{
	__atomic_store_n(&this_cpu()->patch.idle_deferred, 1, __ATOMIC_SEQ_CST);
}

void patch_idle_exit(void)
{
	idle_wake(&this_cpu()->patch);
}

/*
 * NMI and #MC run patch sites, and may interrupt code that a rendezvous
 * counts as having acknowledged (rendezvous.h): the #BP handler (its IRQs
 * are off, so nothing else can), or the few instructions between its
 * bp_refs-- and its IRET. If it is inside, withdraw that claim first
 * (bp_nested); in any case serialize before running anything (timeline:
 * patch/rendezvous.c). Trap context: no lock, no print, nothing
 * patchable.
 */
bool patch_trap_enter(struct regs *r)
{
	struct patch_cpu *p = &this_cpu()->patch;
	idle_wake(p);                   /* any trap may wake a CPU halted with deferred rounds */
	const struct patch_strategy *st = __atomic_load_n(&live_strategy, __ATOMIC_ACQUIRE);
	if (st && st->on_trap_entry)
		st->on_trap_entry(r);
	if (r->vector != 2 && r->vector != 18)
		return false;
	bool in_bp = __atomic_load_n(&p->bp_refs, __ATOMIC_RELAXED) != 0;
	if (in_bp)
		__atomic_fetch_add(&p->bp_nested, 1, __ATOMIC_SEQ_CST);
	sync_core();
	return in_bp;
}

/* NMI context: no lock, no print, nothing patchable. */
void patch_on_nmi(struct regs *r)
{
	const struct patch_strategy *st = __atomic_load_n(&live_strategy, __ATOMIC_ACQUIRE);
	if (st && st->on_nmi)
		st->on_nmi(r);
}

/* Trap context: no lock, no print, nothing patchable. */
void patch_trap_exit(bool entered)
{
	if (entered)
		__atomic_fetch_sub(&this_cpu()->patch.bp_nested, 1, __ATOMIC_RELEASE);
}

/* Any context, this CPU only: no lock, no print, nothing patchable. */
void patch_recover(struct percpu *pc)
{
	__atomic_store_n(&pc->patch.bp_nested, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&pc->patch.bp_refs, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&pc->patch.poke_handler_depth, 0, __ATOMIC_SEQ_CST);   /* that handler is gone */
	live_batch_drop_pins(pc);
}

/* Sites hit in flight and handled, for tests and figures. Any context. */
uint64_t patch_bp_handled(unsigned cpu, enum bp_ctx ctx)
{
	return __atomic_load_n(&percpu_of(cpu)->patch.bp_handled[ctx], __ATOMIC_RELAXED);
}
