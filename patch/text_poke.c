/*
 * patch/text_poke.c — see text_poke.h: the single write, its ways in
 * (thread context or the handler a strategy opened for it; the patching
 * CPU's own trap handlers), and the write steps of strategies
 * (poke_write_*, patch/strategy.h). In the no-patch region (linker.ld): a
 * strategy that applies its batch in the patching CPU's NMI
 * (strategies/nmi), or completes a site from its own trap handlers
 * (strategies/roll_forward), writes through this same code from there.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/strategy.h"
#include "patch/text_poke.h"

spinlock_t text_lock = SPINLOCK_INIT("text");

static struct poke_write writes[POKE_BATCH_MAX];        /* under text_lock */

/* Lab knob: wait this long between byte stores, to widen the windows in
 * which a strategy that writes live bytes directly (stop-machine) leaves
 * an instruction half written. Tests and make compare set it, and say so;
 * 0 (the default) writes each run of bytes at once. */
uint32_t poke_write_delay_us;
KPARAM_UINT("patch.write_delay_us", poke_write_delay_us, 0, 100000,
	    "US: lab knob: wait between byte stores of every write (widens torn windows; default 0)");

#define PAGE_MASK (~(uintptr_t)(PAGE_SIZE - 1))

/* The context the writer runs in on this CPU (its figures, and the nmi
 * strategy's test: thread, or the NMI it opened). */
static enum bp_ctx write_context(const struct percpu *pc)
{
	return pc->mce_depth ? BP_MCE : pc->nmi_depth ? BP_NMI : pc->irq_depth ? BP_IRQ : BP_THREAD;
}

/* The patching CPU's handler running now, opened for the writer: see
 * text_poke.h. Trap context: no lock, no print, nothing patchable. */
void text_poke_open_handler(void)
{
	struct percpu *pc = this_cpu();
	if (!spin_held_by_me(&text_lock) || !pc->ctx_depth || irqs_enabled())
		panic("text_poke_open_handler: CPU %u (nesting %u, IRQs %s) is not the patching CPU in a handler: "
		      "text_lock held %s", pc->cpu, pc->ctx_depth, irqs_enabled() ? "on" : "off",
		      spin_held_by_me(&text_lock) ? "yes" : "no");
	pc->patch.poke_handler_depth = pc->ctx_depth;
}

void text_poke_close_handler(void)
{
	this_cpu()->patch.poke_handler_depth = 0;
}

/* Copy n bytes into a page of code in as few stores as it takes (8, 4, 2,
 * 1 bytes each, unaligned as x86 allows): under TCG every store into a
 * page that holds translated code takes the slow path that looks for
 * translations to discard (about 1000 cycles here), so a 4-byte tail is
 * one of them, not four (a 256-site batch's writes: 725 -> 546 us at
 * -smp 1). No CPU runs these bytes while they are written (the strategy's
 * protocol), so their order within one write does not matter. */
static void text_copy(uint8_t *dst, const uint8_t *src, unsigned n)
{
	while (n >= 8) {
		uint64_t v;
		__builtin_memcpy(&v, src, 8);
		__builtin_memcpy(dst, &v, 8);
		dst += 8, src += 8, n -= 8;
	}
	if (n >= 4) {
		uint32_t v;
		__builtin_memcpy(&v, src, 4);
		__builtin_memcpy(dst, &v, 4);
		dst += 4, src += 4, n -= 4;
	}
	if (n >= 2) {
		uint16_t v;
		__builtin_memcpy(&v, src, 2);
		__builtin_memcpy(dst, &v, 2);
		dst += 2, src += 2, n -= 2;
	}
	if (n)
		*dst = *src;
}

/* The one write (see text_poke.h): w[0..n) through window `slot` of this
 * CPU, page by page, each checked back through the text mapping. Any
 * context; the callers below check who may write. */
static unsigned text_write(const struct poke_write *w, unsigned n, unsigned slot)
{
	unsigned passes = 0;
	struct percpu *pc = this_cpu();
	pc->patch.text_writes[write_context(pc)] += n;
	for (unsigned i = 0; i < n;) {
		uintptr_t page = w[i].addr & PAGE_MASK;
		unsigned j = i;
		int spill = 0;                  /* a write runs into the next page */
		for (; j < n && (w[j].addr & PAGE_MASK) == page; j++)
			spill |= w[j].addr + w[j].len > page + PAGE_SIZE;

		uint8_t *alias = poke_window_map(slot, KIMG_V2P(page), spill ? KIMG_V2P(page + PAGE_SIZE) : 0);
		uint32_t delay = __atomic_load_n(&poke_write_delay_us, __ATOMIC_RELAXED);
		for (unsigned k = i; k < j; k++) {
			if (!delay) {
				text_copy(alias + (w[k].addr - page), w[k].bytes, w[k].len);
				continue;
			}
			for (unsigned b = 0; b < w[k].len; b++) {       /* lab knob: one byte at a time */
				if (b)
					udelay(delay);
				__atomic_store_n(alias + (w[k].addr - page) + b, w[k].bytes[b], __ATOMIC_RELAXED);
			}
		}
		poke_window_unmap(slot);

		for (unsigned k = i; k < j; k++) {
			if (!memcmp((const void *)w[k].addr, w[k].bytes, w[k].len))
				continue;
			/* Completed meanwhile by this CPU's own trap handler
			 * (roll-forward): its bytes, not a wrong write. */
			if (w[k].done && __atomic_load_n(w[k].done, __ATOMIC_SEQ_CST))
				continue;
			panic("text_poke: %u byte(s) at %#lx read back wrong after the write", w[k].len, w[k].addr);
		}
		passes++;
		i = j;
	}
	return passes;
}

unsigned text_poke_many(const struct poke_write *w, unsigned n)
{
	if (!spin_held_by_me(&text_lock))
		panic("text_poke: text_lock is not held by CPU %u", cpu_id());
	if (irqs_enabled())
		panic("text_poke: called with IRQs on");
	/* The patching CPU's own NMI, #MC or #BP handlers run while it holds
	 * text_lock with IRQs off: the two checks above hold there too, and
	 * a write from one of them would land in the middle of a protocol
	 * step of the interrupted batch. Only the one handler a strategy
	 * opened (text_poke_open_handler) may write here, and nothing nested
	 * in it: a #MC or #BP inside that NMI has a deeper nesting. Trap
	 * handlers that complete a site have their own way in, below. */
	struct percpu *pc = this_cpu();
	if (pc->ctx_depth && pc->ctx_depth != pc->patch.poke_handler_depth)
		panic("text_poke: called in %s context on CPU %u (nesting %u); the writer runs in thread context, "
		      "or in the one handler its strategy opened (%s %u)", pc->mce_depth ? "#MC" : pc->nmi_depth ?
		      "NMI" : pc->patch.bp_refs ? "#BP" : pc->irq_depth ? "IRQ" : "exception", pc->cpu, pc->ctx_depth,
		      pc->patch.poke_handler_depth ? "nesting" : "none is open: nesting",
		      pc->patch.poke_handler_depth);
	if (pc->ctx_depth >= POKE_WINDOWS)
		panic("text_poke: CPU %u at nesting %u: no poke window that deep (%u)", pc->cpu, pc->ctx_depth,
		      POKE_WINDOWS);
	return text_write(w, n, pc->ctx_depth);
}

/* Trap context, the patching CPU: no lock, nothing patchable (no-patch
 * region), prints only on the way to a panic. */
unsigned text_poke_many_in_trap(const struct poke_write *w, unsigned n)
{
	struct percpu *pc = this_cpu();
	if (!spin_held_by_me(&text_lock))
		panic("text_poke_many_in_trap: CPU %u does not hold text_lock: only the patching CPU's own "
		      "handlers may write", pc->cpu);
	if (irqs_enabled())
		panic("text_poke_many_in_trap: called with IRQs on");
	if (pc->ctx_depth == 0 || pc->ctx_depth >= POKE_WINDOWS)
		panic("text_poke_many_in_trap: CPU %u at nesting %u: a trap handler at nesting 1..%u only "
		      "(one poke window each)", pc->cpu, pc->ctx_depth, POKE_WINDOWS - 1);
	return text_write(w, n, pc->ctx_depth);
}

/* patch/patch.h. Trap context, boot: no lock, nothing patchable (no-patch
 * region), prints only on the way to a panic. */
void text_poke_boot_in_trap(uintptr_t addr, const uint8_t *bytes, unsigned len)
{
	if (__atomic_load_n(&nr_cpus_online, __ATOMIC_ACQUIRE) != 1)
		panic("text_poke_boot_in_trap: %u CPUs online; a direct write is safe only before the APs start",
		      nr_cpus_online);
	struct poke_write w = { addr, bytes, (uint8_t)len, NULL };
	text_poke_many_in_trap(&w, 1);
	live_text_written();    /* walks cached before this write are stale */
}

/* patch/strategy.h. Under text_lock: thread context, or the handler its
 * strategy opened. */
struct poke_write *poke_write_buffer(void)
{
	if (!spin_held_by_me(&text_lock))
		panic("poke_write_buffer: CPU %u does not hold text_lock", cpu_id());
	return writes;
}

/* patch/strategy.h. IRQs off only while it writes (a handler has them off
 * already). */
uint64_t poke_write_step(const struct poke_write *w, unsigned n, struct poke_stats *st)
{
	uint64_t t0 = rdtsc();
	uint64_t flags = irq_save();
	st->page_passes += text_poke_many(w, n);
	irq_restore(flags);
	return rdtsc() - t0;
}
