/*
 * patch/bp.c — #BP handling for live batches (see bp.h). In the no-patch
 * region: everything here runs in #BP context, possibly nested in NMI or
 * #MC, on any CPU. It takes no lock and calls only code that cannot be a
 * patch site.
 *
 * Publication and retirement. The batch being applied is live_batch; a
 * reader (the #BP handler, or validation reading text through the view)
 * pins it by raising live_refs, and only while it is still live:
 * increment-if-not-zero, then a second look that it was not withdrawn
 * meanwhile (Linux's text_poke_bp descriptor works the same way). The
 * publisher holds one reference of its own from publication to retirement.
 *
 *   reader (any CPU, any context)          retiring CPU
 *   -----------------------------          ------------
 *   b = live_batch         (seq_cst)       live_batch = NULL     (seq_cst)
 *   if b: refs 0 -> fail,                  refs--  (its own)     (seq_cst)
 *         else refs++      (cmpxchg)       wait until refs == 0
 *   b == live_batch again? else refs--
 *   ... use b ...
 *   refs--                 (release)
 *
 * A reader either pins b before the retirer's wait sees refs reach zero, so
 * the retirer waits for it, or it fails and never touches b. Once
 * live_batch is NULL no new reader can even try, so the retirer waits at
 * most for the readers that looked before the withdrawal: readers that
 * validate in a tight loop cannot keep the count from reaching zero (they
 * could when each CPU raised its own count unconditionally). live_pins
 * counts each CPU's pins, to name the CPUs a retirement waits for.
 * No CPU can still reach an int3 of the batch when it is withdrawn: the
 * last rendezvous round made every CPU serialize after the int3s were gone.
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
 * jmp, jcc, nop and ret only: validate.c), so CD 03 before RIP is an
 * int $3, left to the normal #BP path.
 */
#include "arch/x86/cpu.h"
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

const char *const bp_ctx_names[BP_CTX_COUNT] = { "thread", "irq", "nmi", "mce" };
const struct poke_batch *live_batch;
static uint32_t live_refs;              /* the publisher's + one per pin; 0 once retired */
static uint64_t live_gen;               /* publications since boot */
static uint64_t pins_refused;           /* pins that lost to a withdrawal */
/* Test only (tests/kernel): an int3 at this address is taken for a stale
 * fetch of a vanished one, as TCG can make a CPU see, so the re-run bound
 * can be shown to hold. 0: none. */
uintptr_t bp_test_stale_int3;

/* Any context: no lock, no print, nothing patchable. */
const struct poke_batch *live_batch_get(void)
{
	const struct poke_batch *b = __atomic_load_n(&live_batch, __ATOMIC_SEQ_CST);
	if (!b)
		return NULL;
	uint32_t r = __atomic_load_n(&live_refs, __ATOMIC_RELAXED);
	do {
		if (!r) {               /* retired meanwhile */
			__atomic_fetch_add(&pins_refused, 1, __ATOMIC_RELAXED);
			return NULL;
		}
	} while (!__atomic_compare_exchange_n(&live_refs, &r, r + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	if (__atomic_load_n(&live_batch, __ATOMIC_SEQ_CST) != b) {
		/* Withdrawn between the two looks (or retired and another one
		 * published): our reference may hold up a retirement, drop it. */
		__atomic_fetch_sub(&live_refs, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&pins_refused, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	__atomic_fetch_add(&this_cpu()->live_pins, 1, __ATOMIC_RELAXED);
	return b;
}

/* Any context: no lock, no print, nothing patchable. */
void live_batch_put(void)
{
	__atomic_fetch_sub(&this_cpu()->live_pins, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&live_refs, 1, __ATOMIC_RELEASE);
}

uint64_t live_batch_gen(void)
{
	return __atomic_load_n(&live_gen, __ATOMIC_SEQ_CST);
}

uint64_t live_pins_refused(void)
{
	return __atomic_load_n(&pins_refused, __ATOMIC_RELAXED);
}

/* Recovery abandons this CPU's handlers and readers: their pins go too.
 * Any context, this CPU only. */
void live_batch_drop_pins(struct percpu *pc)
{
	uint32_t n = __atomic_exchange_n(&pc->live_pins, 0, __ATOMIC_SEQ_CST);
	if (n)
		__atomic_fetch_sub(&live_refs, n, __ATOMIC_SEQ_CST);
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

/* Is the instruction that trapped an "int $3" (CD 03, RIP after it)? See
 * the top of the file. #BP context: reads two bytes. */
static bool is_int_imm3(uintptr_t rip)
{
	return __atomic_load_n((const uint8_t *)(rip - 2), __ATOMIC_RELAXED) == 0xcd &&
	       __atomic_load_n((const uint8_t *)(rip - 1), __ATOMIC_RELAXED) == 0x03;
}

/* A vanished int3 at addr, to be run again. #BP context: counts re-runs of
 * the same address with no batch published in between (a stale fetch of
 * one batch's int3 ends within a few passes; a new batch resets the count);
 * panics, naming the CPU and address, past BP_VANISHED_MAX. */
static void rerun_vanished(struct percpu *pc, uintptr_t addr, struct regs *r)
{
	uint64_t gen = __atomic_load_n(&live_gen, __ATOMIC_RELAXED);
	if (pc->bp_vanished_addr == addr && pc->bp_vanished_gen == gen) {
		if (++pc->bp_vanished_run >= BP_VANISHED_MAX)
			panic("patch: CPU %u met the vanished int3 at %#lx %u times in a row: memory holds %02x "
			      "there, but the CPU keeps executing an int3 (stale instruction fetch)", pc->cpu, addr,
			      pc->bp_vanished_run, *(const volatile uint8_t *)addr);
	} else {
		pc->bp_vanished_addr = addr;
		pc->bp_vanished_gen = gen;
		pc->bp_vanished_run = 1;
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
	bool handled = false;

	__atomic_fetch_add(&pc->bp_refs, 1, __ATOMIC_SEQ_CST);
	/*
	 * Two looks at most. A batch publishes itself before it writes its
	 * first int3, so if the byte is 0xcc but the batch we read did not
	 * know the site, a batch was published between our two reads: the
	 * second read finds it. (A batch we pinned cannot be retired while
	 * we hold it.)
	 */
	for (int look = 0; look < 2 && !handled; look++) {
		const struct poke_batch *b = live_batch_get();
		const struct poke_site *s = b ? site_find(b->sites, b->nr, addr) : NULL;
		if (s) {
			/* Invariant 2 of rendezvous.h: IRET follows before this CPU
			 * can reach patched code. */
			sync_ack(pc);
			emulate_insn(&s->emu, s->addr, r);
			pc->bp_emulated[context_of(pc)]++;
			handled = true;
		} else if ((__atomic_load_n((const uint8_t *)addr, __ATOMIC_SEQ_CST) != INT3_INSN_OPCODE ||
			    addr == __atomic_load_n(&bp_test_stale_int3, __ATOMIC_RELAXED)) && !is_int_imm3(r->rip)) {
			rerun_vanished(pc, addr, r);    /* the int3 is gone: run what is there now */
			handled = true;
		}
		if (b)
			live_batch_put();
	}
	__atomic_fetch_sub(&pc->bp_refs, 1, __ATOMIC_RELEASE);
	return handled;
}

/* Thread context, under text_lock. */
void bp_publish(const struct poke_batch *b)
{
	if (!spin_held_by_me(&text_lock))
		panic("bp_publish: CPU %u does not hold text_lock", cpu_id());
	if (__atomic_load_n(&live_refs, __ATOMIC_SEQ_CST))
		panic("bp_publish: the previous batch still has %u reference(s)", live_refs);
	/* The generation first: a reader of the view that saw no batch and
	 * then sees the same generation saw no write of this one. */
	__atomic_fetch_add(&live_gen, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&live_refs, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&live_batch, b, __ATOMIC_SEQ_CST);
}

/* Thread context, under text_lock. Withdraws the batch, then waits,
 * without ever retiring early, until no reader of any CPU still pins it;
 * names the CPUs still pinning it every RETIRE_REPORT_US and panics after
 * RETIRE_TIMEOUT_US. */
void bp_retire(void)
{
	if (!spin_held_by_me(&text_lock))
		panic("bp_retire: CPU %u does not hold text_lock", cpu_id());
	__atomic_store_n(&live_batch, NULL, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&live_refs, 1, __ATOMIC_SEQ_CST);    /* the publisher's own */
	uint64_t report = tsc_deadline_us(RETIRE_REPORT_US), give_up = tsc_deadline_us(RETIRE_TIMEOUT_US);
	while (__atomic_load_n(&live_refs, __ATOMIC_ACQUIRE)) {
		if (tsc_expired(report) || tsc_expired(give_up)) {
			struct cpumask inside;
			cpumask_clear_all(&inside);
			for_each_cpu_in(c, &cpu_online_mask)
				if (__atomic_load_n(&percpu_of(c)->live_pins, __ATOMIC_SEQ_CST))
					cpumask_set(&inside, c);
			printk("patch: retiring the batch still waits for %u reference(s), held by %u CPU(s)",
			       __atomic_load_n(&live_refs, __ATOMIC_RELAXED), cpumask_weight(&inside));
			cpus_report_where(&inside, "patch retire");
			if (tsc_expired(give_up))
				panic("patch: retiring the batch: %u CPU(s) still pin it after %llu s",
				      cpumask_weight(&inside), RETIRE_TIMEOUT_US / 1000000);
			report = tsc_deadline_us(RETIRE_REPORT_US);
		}
		cpu_relax();
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
		 * copied (writes happen only while one is live). */
		if (b || live_batch_gen() == gen)
			return;
	}
}
