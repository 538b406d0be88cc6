/*
 * patch/batch.c — a batch of sites applied together on every CPU, by a
 * strategy (patch/strategy.h has the timeline of core and strategy).
 *
 * smp_text_poke_batch_add() validates each site alone as it is queued,
 * for the batch's strategy (O(1) in the batch's size).
 * smp_text_poke_batch_finish(b):
 *   1. take text_lock (IRQs on: a waiter keeps answering the holder's
 *      rendezvous IPIs)
 *   2. compare-and-patch: every site still holds its old bytes; sort the
 *      sites and check them against each other (no overlap, no branch
 *      into another's tail: patch_validate_batch, O(n log n), so one
 *      batch may hold every site of a mass patch)
 *   3. publish the batch to the #BP path (phase 0)
 *   4. the strategy's apply(): writes and rounds
 *   5. retire the batch: no CPU pins it any more; the strategy's
 *      retired(), if any (the last phase)
 *   6. figures; release text_lock; empty the batch
 * A refusal at any step empties the batch too (refuse_all): its sites
 * were never written, and a caller that queues more after it must not
 * apply them with its own (the text and its state would part).
 * IRQs are off only while bytes are written (text_poke_many's
 * precondition); between steps, and while waiting for acknowledgements,
 * they are on, so the patching CPU takes interrupts mid-batch, and an
 * interrupt handler that runs a site in flight is handled like anybody
 * else's.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/env.h"
#include "patch/live.h"
#include "patch/rendezvous.h"
#include "patch/site_table.h"
#include "patch/stats.h"
#include "patch/strategy.h"
#include "patch/text_poke.h"

#define TEXT_LOCK_TIMEOUT_MS 60000

/* patch.defer_idle=1: every batch leaves CPUs halted in the idle loop out
 * of its rounds (a batch may ask for it alone: b->defer_idle). */
static bool patch_defer_idle;
KPARAM_BOOL("patch.defer_idle", patch_defer_idle,
	    "0|1: rounds skip CPUs halted in the idle loop, which serialize on wake (default 0)");

bool patch_in_flight(uintptr_t addr, size_t len, uintptr_t *site, uint8_t *site_len)
{
	return live_site_overlapping(addr, len, site, site_len);
}

void patch_text_lock(void)
{
	spin_lock_timeout(&text_lock, TEXT_LOCK_TIMEOUT_MS);
}

void patch_text_unlock(void)
{
	spin_unlock(&text_lock);
}

/* b->why holds the reason; print it unless the caller reports it. */
static int refuse(struct poke_batch *b, int err)
{
	if (!b->quiet)
		printk("patch: refused (%s): %s", patch_errname(err), b->why);
	return err;
}

/* A refusal of finish(): the queued sites are dropped with it (nothing of
 * them was written), so the batch is empty on every return. */
static int refuse_all(struct poke_batch *b, int err)
{
	b->nr = 0;
	return refuse(b, err);
}

static const struct patch_strategy *strategy_of(struct poke_batch *b)
{
	if (!b->strategy)
		b->strategy = patch_default_strategy();
	return b->strategy;
}

static int validate_one(struct poke_batch *b, const struct patch_strategy *st, struct poke_site *s)
{
	return patch_validate_site_multi(&kernel_patch_env, st->check, st->multi_insn, s, NULL, 0, b->why,
					 sizeof(b->why));
}

int smp_text_poke_batch_add(struct poke_batch *b, void *addr, const void *old, const void *new, size_t len)
{
	uint32_t cap = b->cap < POKE_BATCH_MAX ? b->cap : POKE_BATCH_MAX;
	const struct patch_strategy *st = strategy_of(b);

	b->why[0] = 0;
	if (b->nr >= cap) {
		snprintf(b->why, sizeof(b->why), "%p: %s (it holds %u site(s))", addr,
			 patch_strerror(PATCH_EBATCH_FULL), b->nr);
		return refuse(b, -PATCH_EBATCH_FULL);
	}
	struct poke_site *s = &b->sites[b->nr];
	memset(s, 0, sizeof(*s));
	s->addr = (uintptr_t)addr;
	s->len = len > 0xff ? 0xff : (uint8_t)len;
	if (len <= POKE_MAX_LEN) {
		memcpy(s->old, old, len);
		memcpy(s->new, new, len);
	}
	/* What the checks below read of the text (instruction boundaries,
	 * branches into the site) holds until another batch is applied; a
	 * multi-instruction one moves boundaries. So finish() checks every
	 * site again if one was published since the first add, or was in
	 * flight (the view showed its old bytes) while a site was checked. */
	if (!b->nr) {
		b->gen = live_batch_gen();
		b->recheck = false;
	}
	b->recheck |= __atomic_load_n(&live_strategy, __ATOMIC_SEQ_CST) != NULL;
	int err = validate_one(b, st, s);
	b->recheck |= __atomic_load_n(&live_strategy, __ATOMIC_SEQ_CST) != NULL;
	if (err)
		return refuse(b, err);
	b->nr++;
	return 0;
}

void smp_text_poke_batch_reset(struct poke_batch *b)
{
	b->nr = 0;
}

int smp_text_poke_batch_finish(struct poke_batch *b)
{
	if (!b->nr)
		return 0;
	if (!irqs_enabled())
		panic("smp_text_poke_batch_finish: IRQs are off; a CPU holding text_lock would wait "
		      "forever for this CPU's acknowledgement");
	const struct patch_strategy *st = strategy_of(b);

	/* Step 1. */
	spin_lock_timeout(&text_lock, TEXT_LOCK_TIMEOUT_MS);
	/* Step 2: compare-and-patch, now that nobody else can write: a batch
	 * applied since batch_add() may have changed a site. Nothing is
	 * written yet. */
	for (uint32_t i = 0; i < b->nr; i++)
		if (memcmp((const void *)b->sites[i].addr, b->sites[i].old, b->sites[i].len)) {
			spin_unlock(&text_lock);
			snprintf(b->why, sizeof(b->why), "%#lx: %s (changed since it was added to the batch)",
				 b->sites[i].addr, patch_strerror(PATCH_EOLD_MISMATCH));
			return refuse_all(b, -PATCH_EOLD_MISMATCH);
		}
	/* A batch applied since the adds may have moved an instruction
	 * boundary a site's checks relied on (a multi-instruction site, or
	 * a branch target): check each site again, against the text as it
	 * is now (no batch is in flight: we hold text_lock). */
	if (b->recheck || live_batch_gen() != b->gen) {
		for (uint32_t i = 0; i < b->nr; i++) {
			int err = validate_one(b, st, &b->sites[i]);
			if (err) {
				spin_unlock(&text_lock);
				return refuse_all(b, err);
			}
		}
	}
	sites_sort(b->sites, b->nr);
	int err = patch_validate_batch(&kernel_patch_env, b->sites, b->nr, b->why, sizeof(b->why));
	if (err) {
		spin_unlock(&text_lock);
		return refuse_all(b, err);
	}

	/* Step 3. */
	struct poke_stats *fig = poke_stats_begin(b, st);
	live_publish(b);
	poke_phase_begin(st);

	/* Step 4. */
	b->why[0] = 0;
	sync_defer_idle(b->defer_idle || patch_defer_idle);
	err = st->apply(b, fig);
	sync_defer_idle(false);

	/* Step 5: withdraw the batch and wait out #BP handlers still using it
	 * (and whatever else of the strategy's still pins it); then the
	 * strategy may reclaim what its apply() used. */
	uint64_t t1 = rdtsc();
	live_retire();
	fig->cycles_retire = rdtsc() - t1;
	if (st->retired)
		st->retired(b, fig);
	poke_phase_reached(st->nr_phases - 1);

	/* Step 6. A strategy that refused left every site as it was, and
	 * said why (the sites are sorted now). */
	if (err) {
		spin_unlock(&text_lock);
		if (!b->why[0])
			snprintf(b->why, sizeof(b->why), "batch of %u site(s) from %#lx: %s (strategy %s)", b->nr,
				 b->sites[0].addr, patch_strerror(-err), st->name);
		return refuse_all(b, err);
	}
	poke_stats_end(b);
	spin_unlock(&text_lock);
	b->nr = 0;
	return 0;
}

int smp_text_poke_single(void *addr, const void *old, const void *new, size_t len)
{
	return smp_text_poke_one(NULL, addr, old, new, len);
}

int smp_text_poke_one(const struct patch_strategy *strategy, void *addr, const void *old, const void *new, size_t len)
{
	static struct poke_site site;   /* callers are serialized: see below */
	static spinlock_t single_lock = SPINLOCK_INIT("text_poke_single");
	struct poke_batch b = POKE_BATCH_INIT(&site, 1);

	/* The one-site batch lives in static storage; single_lock keeps two
	 * callers from sharing it. Taken with IRQs on, like text_lock. */
	spin_lock_timeout(&single_lock, TEXT_LOCK_TIMEOUT_MS);
	b.strategy = strategy;
	int err = smp_text_poke_batch_add(&b, addr, old, new, len);
	if (!err)
		err = smp_text_poke_batch_finish(&b);
	spin_unlock(&single_lock);
	return err;
}
