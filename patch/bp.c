/*
 * patch/bp.c — #BP handling for live batches (see bp.h). In the no-patch
 * region: everything here runs in #BP context, possibly nested in NMI or
 * #MC, on any CPU. It takes no lock and calls only code that cannot be a
 * patch site.
 *
 * Retirement. Each CPU counts the #BP handlers it is running inside a batch
 * (percpu->bp_refs). The handler increments its count before it reads
 * live_batch; the retiring CPU clears live_batch before it reads the counts:
 *
 *   #BP handler (any CPU)              retiring CPU
 *   ---------------------              ------------
 *   bp_refs++          (seq_cst)       live_batch = NULL   (seq_cst)
 *   b = live_batch     (seq_cst)       wait for every bp_refs == 0
 *   ... use b ...
 *   bp_refs--          (release)
 *
 * Either the handler sees NULL and never touches the batch, or the retirer
 * sees its count and waits for it: the batch is never freed under a handler.
 * No CPU can still reach an int3 of the batch: the last rendezvous round made
 * every CPU serialize after the int3s were gone.
 *
 * A vanished int3. If the byte at the trapping address is no longer 0xcc,
 * the int3 was removed after this CPU fetched it: back up and run whatever
 * is there now (kprobes does the same for a breakpoint removed under it).
 * On hardware this happens only to an int3 fetched just before its site was
 * finished. Under QEMU's TCG it also catches stale translations: a vCPU can
 * publish a translation of a page that was written while it was reading it,
 * and go on executing the old bytes after every serializing instruction.
 * The patcher rewrites each site's first byte once more after the last
 * round (text_poke_smp.c), which discards such translations, so a retry
 * here ends after at most a few passes.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/bp.h"
#include "patch/rendezvous.h"
#include "patch/site_table.h"
#include "patch/text_poke.h"

#define RETIRE_REPORT_US 10000000ull    /* name the CPUs still inside, every 10 s */
#define RETIRE_TIMEOUT_US 60000000ull   /* then panic: a handler never takes this long */

const char *const bp_ctx_names[BP_CTX_COUNT] = { "thread", "irq", "nmi", "mce" };
const struct poke_batch *live_batch;

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

/* #BP context, nested in anything. No lock, nothing patchable (no-patch
 * region), no printing: the only calls are site_find() and emulate_insn(). */
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
	 * second read finds it. (It cannot be withdrawn meanwhile: bp_retire()
	 * waits for this CPU's bp_refs.)
	 */
	for (int look = 0; look < 2 && !handled; look++) {
		const struct poke_batch *b = __atomic_load_n(&live_batch, __ATOMIC_SEQ_CST);
		const struct poke_site *s = b ? site_find(b->sites, b->nr, addr) : NULL;
		if (s) {
			/* Invariant 2 of rendezvous.h: IRET follows before this CPU
			 * can reach patched code. */
			sync_ack(pc);
			emulate_insn(&s->emu, s->addr, r);
			pc->bp_emulated[context_of(pc)]++;
			handled = true;
		} else if (__atomic_load_n((const uint8_t *)addr, __ATOMIC_SEQ_CST) != INT3_INSN_OPCODE) {
			r->rip = addr;          /* the int3 is gone: run what is there now */
			pc->bp_vanished++;
			handled = true;
		}
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
}

/* Thread context, under text_lock. Waits, without ever retiring early, until
 * no #BP handler of any CPU can still use the batch; names the CPUs still
 * inside every RETIRE_REPORT_US and panics after RETIRE_TIMEOUT_US. */
void bp_retire(void)
{
	if (!spin_held_by_me(&text_lock))
		panic("bp_retire: CPU %u does not hold text_lock", cpu_id());
	__atomic_store_n(&live_batch, NULL, __ATOMIC_SEQ_CST);
	uint64_t report = tsc_deadline_us(RETIRE_REPORT_US), give_up = tsc_deadline_us(RETIRE_TIMEOUT_US);
	for (;;) {
		struct cpumask inside;
		cpumask_clear_all(&inside);
		for_each_cpu_in(c, &cpu_online_mask)
			if (__atomic_load_n(&percpu_of(c)->bp_refs, __ATOMIC_SEQ_CST))
				cpumask_set(&inside, c);
		if (cpumask_empty(&inside))
			return;
		if (tsc_expired(give_up)) {
			cpus_report_where(&inside, "patch retire");
			panic("patch: retiring the batch: %u CPU(s) still inside the #BP handler after %llu s",
			      cpumask_weight(&inside), RETIRE_TIMEOUT_US / 1000000);
		}
		if (tsc_expired(report)) {
			printk("patch: retiring the batch still waits for %u CPU(s) inside the #BP handler",
			       cpumask_weight(&inside));
			cpus_report_where(&inside, "patch retire");
			report = tsc_deadline_us(RETIRE_REPORT_US);
		}
		cpu_relax();
	}
}

/*
 * Thread context, any CPU. The live batch may belong to another CPU and be
 * retired while we read it, so pin it the way the #BP handler does
 * (bp_refs); IRQs stay off meanwhile and sync_core() follows, because a
 * rendezvous counts a CPU with bp_refs > 0 as acknowledged (rendezvous.h).
 */
bool bp_site_busy(uintptr_t addr, size_t len)
{
	struct percpu *pc = this_cpu();
	bool busy = false;
	uint64_t flags = irq_save();

	__atomic_fetch_add(&pc->bp_refs, 1, __ATOMIC_SEQ_CST);
	const struct poke_batch *b = __atomic_load_n(&live_batch, __ATOMIC_SEQ_CST);
	for (uint32_t i = 0; b && i < b->nr && !busy; i++)
		busy = addr < b->sites[i].addr + b->sites[i].len && addr + len > b->sites[i].addr;
	__atomic_fetch_sub(&pc->bp_refs, 1, __ATOMIC_RELEASE);
	sync_core();
	irq_restore(flags);
	return busy;
}
