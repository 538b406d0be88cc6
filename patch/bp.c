/*
 * patch/bp.c — #BP handling for live batches (see bp.h). In the no-patch
 * region: everything here runs in #BP context, possibly nested in NMI or
 * #MC, on any CPU. It takes no lock and calls only code that cannot be a
 * patch site.
 *
 * Publication and retirement. The batch being applied is live_batch. A
 * reader (the #BP handler, or validation reading text through the view)
 * pins it in its own CPU's word, percpu->live_pin: bit 0 is a gate the
 * publisher opens on every CPU, and each pin adds 2, taken only while the
 * gate is open (compare-and-swap on the reader's own word). Retirement
 * closes every gate and waits for every word to drain:
 *
 *   reader (any CPU, any context)          patching CPU
 *   -----------------------------          ------------
 *                                          publish: live_batch = b
 *                                                   open every gate (|= 1)
 *                                                   gen++, then write
 *   w = my word; if !(w & 1): none          ...
 *   cmpxchg w -> w + 2 (seq_cst)           retire: live_batch = NULL
 *   b = live_batch; NULL: unpin, none              close every gate (&= ~1)
 *   ... use b ...                                  wait for every word == 0
 *   my word -= 2   (release)
 *
 * A pin taken before the gate closed holds the retirement up until it is
 * dropped; no pin can be taken after it closed, so readers that validate
 * in a tight loop cannot starve a retirement, and the next batch cannot be
 * published while any pin is held, so a pinned reader sees b or NULL.
 * Each word is its CPU's own cache line: the #BP path takes no global
 * lock-prefixed operation. Recovery, which abandons every context of a
 * CPU, drops that CPU's pins in one atomic step (live_batch_drop_pins).
 * No CPU can still reach an int3 of the batch when it is withdrawn: the
 * last rendezvous round made every CPU serialize after the int3s were gone.
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
 * the last round where TCG runs us (text_poke_smp.c), which discards such
 * translations, so a retry here ends after at most a few passes; a CPU that
 * keeps meeting the same vanished int3 is reported by name
 * (BP_VANISHED_MAX), not looped forever. An "int $3" (CD 03) traps here
 * too, with RIP after its two bytes: the byte before RIP is 03, which is
 * never the first byte of an instruction the int3 protocol writes (call,
 * jmp, jcc, nop and ret only: validate.c), and an int $3 is never the old
 * instruction of a site (validate.c refuses it: a CPU trapped on it whose
 * handler looks after the site changed would see neither CD 03 nor an
 * int3), so CD 03 before RIP is an int $3, left to the normal #BP path.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/bp.h"
#include "patch/rendezvous.h"
#include "patch/site_table.h"
#include "patch/text_poke.h"

#define RETIRE_REPORT_US 10000000ull    /* name the CPUs still inside, every 10 s */
#define RETIRE_TIMEOUT_US 60000000ull   /* then panic: a handler never takes this long */

#define BP_VANISHED_MAX 10000         /* re-runs of one vanished int3 in a row, then panic */
#define BP_LOOKS 4                      /* looks at the live batch per #BP while batches are published */

const char *const bp_ctx_names[BP_CTX_COUNT] = { "thread", "irq", "nmi", "mce" };
static const struct poke_batch *live_batch;
static uint64_t live_gen;               /* publications since boot */
/* Test only (tests/kernel): an int3 at this address is taken for a stale
 * fetch of a vanished one, as TCG can make a CPU see, so the re-run bound
 * can be shown to hold. 0: none. */
uintptr_t bp_test_stale_int3;

#define PIN_GATE 1u                     /* percpu->live_pin: bit 0 open, pins count 2 each */
#define PIN_ONE  2u

/* Any context: no lock, no print, nothing patchable. */
const struct poke_batch *live_batch_get(void)
{
	uint32_t *word = &this_cpu()->live_pin;
	uint32_t w = __atomic_load_n(word, __ATOMIC_RELAXED);
	do {
		if (!(w & PIN_GATE))
			return NULL;    /* no batch, or it is being retired */
	} while (!__atomic_compare_exchange_n(word, &w, w + PIN_ONE, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	const struct poke_batch *b = __atomic_load_n(&live_batch, __ATOMIC_SEQ_CST);
	if (!b)                 /* withdrawn, its gate not closed yet */
		__atomic_fetch_sub(word, PIN_ONE, __ATOMIC_RELEASE);
	return b;
}

/* Any context: no lock, no print, nothing patchable. */
void live_batch_put(void)
{
	__atomic_fetch_sub(&this_cpu()->live_pin, PIN_ONE, __ATOMIC_RELEASE);
}

uint64_t live_batch_gen(void)
{
	return __atomic_load_n(&live_gen, __ATOMIC_SEQ_CST);
}

/* Recovery abandons this CPU's handlers and readers: their pins go too,
 * the gate stays as it is. Any context, this CPU only. */
void live_batch_drop_pins(struct percpu *pc)
{
	__atomic_fetch_and(&pc->live_pin, PIN_GATE, __ATOMIC_SEQ_CST);
}

/* Does condition code cc (low nibble of Jcc) hold for rflags? #BP context:
 * pure computation. */
static bool cc_holds(uint8_t cc, uint64_t f)
{
	bool cf = f & 0x001, pf = f & 0x004, zf = f & 0x040, sf = f & 0x080, of = f & 0x800;
	bool r;
	switch (cc >> 1) {
	case 0: r = of; break;                  /* O */
	case 1: r = cf; break;                  /* B */
	case 2: r = zf; break;                  /* E */
	case 3: r = cf || zf; break;            /* BE */
	case 4: r = sf; break;                  /* S */
	case 5: r = pf; break;                  /* P */
	case 6: r = sf != of; break;            /* L */
	default: r = zf || sf != of; break;     /* LE */
	}
	return (cc & 1) ? !r : r;               /* odd codes are the negations */
}

/* #BP context. The frame's rsp is the interrupted stack pointer; an emulated
 * push lands just below it, in the gap arch/x86/entry.asm left by moving the
 * exception frame down. */
void emulate_insn(const struct emu_insn *emu, uintptr_t addr, struct regs *r)
{
	uintptr_t next = addr + emu->len;
	switch (emu->kind) {
	case EMU_NOP:
		r->rip = next;
		break;
	case EMU_JMP:
		r->rip = emu->target;
		break;
	case EMU_CALL:
		r->rsp -= 8;
		*(uint64_t *)r->rsp = next;
		r->rip = emu->target;
		break;
	case EMU_JCC:
		r->rip = cc_holds(emu->cc, r->rflags) ? emu->target : next;
		break;
	case EMU_RET:
		r->rip = *(uint64_t *)r->rsp;
		r->rsp += 8;
		break;
	default:
		panic("patch: site %#lx has no emulation (kind %u)", addr, emu->kind);
	}
}

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
bool bp_is_int_imm3(uintptr_t rip)
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
	struct bp_rerun *v = &pc->bp_rerun[ctx];
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
	pc->bp_vanished++;
}

/* #BP context, nested in anything. No lock, nothing patchable (no-patch
 * region), no printing: the only calls are site_find() and emulate_insn(),
 * and panic() if a vanished int3 never goes away. */
bool text_poke_bp_handler(struct regs *r)
{
	struct percpu *pc = this_cpu();
	uintptr_t addr = r->rip - INT3_INSN_SIZE;
	enum bp_ctx ctx = context_of(pc);
	bool handled = false;

	__atomic_fetch_add(&pc->bp_refs, 1, __ATOMIC_SEQ_CST);
	for (unsigned look = 1; ; look++) {
		uint64_t gen = __atomic_load_n(&live_gen, __ATOMIC_SEQ_CST);
		const struct poke_batch *b = live_batch_get();
		const struct poke_site *s = b ? site_find(b->sites, b->nr, addr) : NULL;
		bool again = false;
		if (s) {
			/* Invariant 2 of rendezvous.h: IRET follows before this
			 * CPU can reach patched code. */
			sync_ack(pc);
			emulate_insn(&s->emu, s->addr, r);
			pc->bp_emulated[ctx]++;
			if (pc->bp_rerun[ctx].addr == addr)
				pc->bp_rerun[ctx].run = 0;
			handled = true;
		} else if (bp_is_int_imm3(r->rip)) {
			/* an int $3: the normal #BP path */
		} else if (__atomic_load_n((const uint8_t *)addr, __ATOMIC_SEQ_CST) != INT3_INSN_OPCODE ||
			   addr == __atomic_load_n(&bp_test_stale_int3, __ATOMIC_RELAXED)) {
			rerun_vanished(pc, ctx, addr, r);       /* the int3 is gone: run what is there now */
			handled = true;
		} else if (__atomic_load_n(&live_gen, __ATOMIC_SEQ_CST) != gen) {
			/* A batch was published while we looked: the int3 may
			 * be its (see "Missed batches" above). Look again; if
			 * batches keep coming, trap again for a fresh start. */
			pc->bp_looked_again++;
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
	__atomic_fetch_sub(&pc->bp_refs, 1, __ATOMIC_RELEASE);
	return handled;
}

/* Thread context, under text_lock. */
void bp_publish(const struct poke_batch *b)
{
	if (!spin_held_by_me(&text_lock))
		panic("bp_publish: CPU %u does not hold text_lock", cpu_id());
	__atomic_store_n(&live_batch, b, __ATOMIC_SEQ_CST);
	for_each_cpu_in(c, &cpu_online_mask) {
		uint32_t w = __atomic_fetch_or(&percpu_of(c)->live_pin, PIN_GATE, __ATOMIC_SEQ_CST);
		if (w)
			panic("bp_publish: CPU %u still pins the previous batch (word %#x)", c, w);
	}
	/* After the gates, before the first write: see "Missed batches" and
	 * live_batch_read(). */
	__atomic_fetch_add(&live_gen, 1, __ATOMIC_SEQ_CST);
}

/* Thread context, under text_lock. Withdraws the batch and closes every
 * gate, then waits, without ever retiring early, until no CPU still pins
 * it; names the CPUs still pinning it every RETIRE_REPORT_US and panics
 * after RETIRE_TIMEOUT_US. */
void bp_retire(void)
{
	if (!spin_held_by_me(&text_lock))
		panic("bp_retire: CPU %u does not hold text_lock", cpu_id());
	__atomic_store_n(&live_batch, NULL, __ATOMIC_SEQ_CST);
	for_each_cpu_in(c, &cpu_online_mask)
		__atomic_fetch_and(&percpu_of(c)->live_pin, ~PIN_GATE, __ATOMIC_SEQ_CST);
	uint64_t report = tsc_deadline_us(RETIRE_REPORT_US), give_up = tsc_deadline_us(RETIRE_TIMEOUT_US);
	for_each_cpu_in(c, &cpu_online_mask) {
		while (__atomic_load_n(&percpu_of(c)->live_pin, __ATOMIC_ACQUIRE)) {
			if (tsc_expired(report) || tsc_expired(give_up)) {
				struct cpumask inside;
				cpumask_clear_all(&inside);
				for_each_cpu_in(d, &cpu_online_mask)
					if (__atomic_load_n(&percpu_of(d)->live_pin, __ATOMIC_SEQ_CST))
						cpumask_set(&inside, d);
				printk("patch: retiring the batch still waits for %u CPU(s) pinning it",
				       cpumask_weight(&inside));
				cpus_report_where(&inside, "patch retire");
				if (tsc_expired(give_up))
					panic("patch: retiring the batch: %u CPU(s) still pin it after %llu s",
					      cpumask_weight(&inside), RETIRE_TIMEOUT_US / 1000000);
				report = tsc_deadline_us(RETIRE_REPORT_US);
			}
			cpu_relax();
		}
	}
}

/* Thread context, any CPU. IRQs stay off while the batch is pinned, so a
 * retirement never waits on an interrupt handler of ours. */
bool live_site_overlapping(uintptr_t addr, size_t len, uintptr_t *site, uint8_t *site_len)
{
	uint64_t flags = irq_save();
	const struct poke_batch *b = live_batch_get();
	const struct poke_site *s = b ? site_overlapping(b->sites, b->nr, addr, len) : NULL;
	if (s) {
		*site = s->addr;
		*site_len = s->len;
	}
	if (b)
		live_batch_put();
	irq_restore(flags);
	return s != NULL;
}

/* Thread context, any CPU: see bp.h. */
void live_batch_read(uintptr_t addr, uint8_t *buf, size_t n)
{
	for (;;) {
		uint64_t gen = live_batch_gen();
		uint64_t flags = irq_save();
		const struct poke_batch *b = live_batch_get();
		memcpy(buf, (const void *)addr, n);
		if (b) {
			sites_overlay_old(b->sites, b->nr, addr, buf, n);
			live_batch_put();
		}
		irq_restore(flags);
		/* Pinned: nobody else writes text, and its own sites show their
		 * old bytes. Not pinned: good if no batch was published while we
		 * copied: writes happen only while one is live, and come after
		 * its gen++, which comes after its gates opened (so a gen read
		 * that already counted it would have found our gate open). */
		if (b || live_batch_gen() == gen)
			return;
	}
}
