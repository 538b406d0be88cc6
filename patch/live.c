/*
 * patch/live.c — publication and retirement of the batch being applied
 * (see live.h). In the no-patch region: the readers run in #BP context,
 * possibly nested in NMI or #MC, on any CPU; they take no lock and call
 * only code that cannot be a patch site.
 *
 * Publication and retirement. The batch being applied is live_batch. A
 * reader (the #BP handler, or validation reading text through the view)
 * pins it in its own CPU's word, percpu->patch.live_pin: bit 0 is a gate the
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
 * A pin may outlive the reader that took it (live_batch_hold): the
 * out-of-line strategy's #BP handler sends the CPU to a copy of the site's
 * instruction and that copy's way out drops the pin, so retirement also
 * waits for every CPU still running a copy of the batch.
 * The #BP side of a reader, and the batches it may miss, are in trap.c.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/site_table.h"
#include "patch/text_poke.h"

#define RETIRE_REPORT_US 10000000ull    /* name the CPUs still inside, every 10 s */
#define RETIRE_TIMEOUT_US 60000000ull   /* then panic: a handler never takes this long */

static const struct poke_batch *live_batch;
static uint64_t live_gen;               /* publications since boot */
const struct patch_strategy *live_strategy;     /* of the batch published, or NULL */

#define PIN_GATE 1u                     /* percpu->patch.live_pin: bit 0 open, pins count 2 each */
#define PIN_ONE  LIVE_PIN_ONE

/* Any context: no lock, no print, nothing patchable. */
const struct poke_batch *live_batch_get(void)
{
	uint32_t *word = &this_cpu()->patch.live_pin;
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
	__atomic_fetch_sub(&this_cpu()->patch.live_pin, PIN_ONE, __ATOMIC_RELEASE);
}

/* Any context, while this CPU pins the batch: no lock, no print, nothing
 * patchable. Adding to a word that already counts a pin needs no gate: the
 * retirement cannot finish while that pin is held, so it waits for this
 * one too; and no pin is created after the gate closed, so readers still
 * cannot starve a retirement (the extra pin ends when the CPU leaves its
 * slot, a few instructions later). */
void live_batch_hold(void)
{
	uint32_t *word = &this_cpu()->patch.live_pin;
	if (__atomic_load_n(word, __ATOMIC_RELAXED) < PIN_ONE)
		panic("live_batch_hold: CPU %u holds no pin to extend", cpu_id());
	__atomic_fetch_add(word, PIN_ONE, __ATOMIC_SEQ_CST);
}

uint64_t live_batch_gen(void)
{
	return __atomic_load_n(&live_gen, __ATOMIC_SEQ_CST);
}

void live_text_written(void)
{
	__atomic_fetch_add(&live_gen, 1, __ATOMIC_SEQ_CST);
}

/* Recovery abandons this CPU's handlers and readers: their pins go too,
 * the gate stays as it is. Any context, this CPU only. */
void live_batch_drop_pins(struct percpu *pc)
{
	__atomic_fetch_and(&pc->patch.live_pin, PIN_GATE, __ATOMIC_SEQ_CST);
}

/* Thread context, under text_lock. */
void live_publish(const struct poke_batch *b)
{
	if (!spin_held_by_me(&text_lock))
		panic("live_publish: CPU %u does not hold text_lock", cpu_id());
	if (!b->strategy)
		panic("live_publish: a batch of %u site(s) at %p names no strategy", b->nr, b);
	__atomic_store_n(&live_strategy, b->strategy, __ATOMIC_SEQ_CST);
	__atomic_store_n(&live_batch, b, __ATOMIC_SEQ_CST);
	for_each_cpu_in(c, &cpu_online_mask) {
		uint32_t w = __atomic_fetch_or(&percpu_of(c)->patch.live_pin, PIN_GATE, __ATOMIC_SEQ_CST);
		if (w)
			panic("live_publish: CPU %u still pins the previous batch (word %#x)", c, w);
	}
	/* After the gates, before the first write: see "Missed batches" in
	 * trap.c, and live_batch_read(). */
	__atomic_fetch_add(&live_gen, 1, __ATOMIC_SEQ_CST);
}

/* Thread context, under text_lock. Withdraws the batch and closes every
 * gate, then waits, without ever retiring early, until no CPU still pins
 * it; names the CPUs still pinning it every RETIRE_REPORT_US and panics
 * after RETIRE_TIMEOUT_US. */
void live_retire(void)
{
	if (!spin_held_by_me(&text_lock))
		panic("live_retire: CPU %u does not hold text_lock", cpu_id());
	__atomic_store_n(&live_batch, NULL, __ATOMIC_SEQ_CST);
	__atomic_store_n(&live_strategy, NULL, __ATOMIC_SEQ_CST);
	for_each_cpu_in(c, &cpu_online_mask)
		__atomic_fetch_and(&percpu_of(c)->patch.live_pin, ~PIN_GATE, __ATOMIC_SEQ_CST);
	uint64_t report = tsc_deadline_us(RETIRE_REPORT_US), give_up = tsc_deadline_us(RETIRE_TIMEOUT_US);
	for_each_cpu_in(c, &cpu_online_mask) {
		while (__atomic_load_n(&percpu_of(c)->patch.live_pin, __ATOMIC_ACQUIRE)) {
			if (tsc_expired(report) || tsc_expired(give_up)) {
				struct cpumask inside;
				cpumask_clear_all(&inside);
				for_each_cpu_in(d, &cpu_online_mask)
					if (__atomic_load_n(&percpu_of(d)->patch.live_pin, __ATOMIC_SEQ_CST))
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

/* Thread context, any CPU: see live.h. */
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
