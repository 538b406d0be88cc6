/*
 * clients/alternative/repatch.c — masking and unmasking a feature at run
 * time: every site of the feature to the variant it now implies, in ONE
 * batch (alternative.h).
 *
 * Which strategy. A site whose old or new bytes are several instructions
 * (lfence; rdtsc -> rdtscp + nop) cannot be done with int3: the int3
 * guards only the first byte, and a CPU that was already past it, inside
 * the sequence, runs the rest in bytes rewritten under it (Jan Beulich,
 * seed 000). The core refuses such a site for every strategy without
 * patch_strategy.multi_insn (-PATCH_EMULTI_INSN, nothing written); the
 * default here is stop-machine-nmi, which has it: every other CPU parked
 * in an NMI, and none of them stopped inside a site (stop_inside.c).
 * Single-instruction sites (popcnt <-> call) may go through any strategy.
 *
 *   updater (thread)                        bystander CPU in a site
 *   queue every site of f (now -> want)
 *   stop-machine-nmi: NMI all, wait   --->  stopped: reports its RIPs
 *   a RIP inside a site? release, retry     resumes, leaves the site
 *   none: write every site; release   --->  runs the whole new sequence
 *   f->masked = mask
 */
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "clients/alternative/alternative.h"

static spinlock_t update_lock;
POKE_BATCH_DEFINE(alt_batch, ALT_MAX_SITES);

/* Queue every site of f whose bytes differ from the variant want_new. */
static int queue_all(struct poke_batch *b, unsigned f, bool want_new, unsigned *sites)
{
	uint8_t now[POKE_MAX_LEN], want[POKE_MAX_LEN];
	*sites = 0;
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++) {
		if (e->feature != f)
			continue;
		unsigned len = alt_len(e);
		memcpy(now, (const void *)alt_site(e), len);
		alt_bytes(e, want_new, want);
		++*sites;
		if (!memcmp(now, want, len))
			continue;
		int err = smp_text_poke_batch_add(b, (void *)alt_site(e), now, want, len);
		if (err)
			return err;
	}
	return 0;
}

int alt_mask(unsigned f, bool mask, const struct patch_strategy *s, bool quiet, struct alt_result *res)
{
	struct alt_feature *x = &alt_features[f];
	struct alt_result local;
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->strategy = s ? s : patch_strategy_find("stop-machine-nmi");
	if (!mask && !x->present) {
		snprintf(res->why, sizeof(res->why), "the CPU lacks %s (CPUID %#x.%u bit %u): its sites cannot run "
			 "the new sequence; nothing written", x->name, x->leaf, x->subleaf, x->bit);
		if (!quiet)
			printk("alt: %s: %s", errno_name(-ENODEV), res->why);
		return -ENODEV;
	}
	if (!spin_trylock(&update_lock)) {
		snprintf(res->why, sizeof(res->why), "another alt mask/unmask is running");
		if (!quiet)
			printk("alt %s: %s", x->name, res->why);
		return -PATCH_EBUSY;
	}
	struct poke_batch *b = &alt_batch;
	uint64_t t0 = rdtsc();
	b->strategy = res->strategy;
	b->quiet = true;
	b->why[0] = 0;
	int err = queue_all(b, f, x->present && !mask, &res->sites);
	if (err) {
		smp_text_poke_batch_reset(b);   /* a refusal: nothing written */
	} else if (b->nr) {
		err = smp_text_poke_batch_finish(b);
		struct poke_stats st;
		poke_get_stats(&st);
		if (!err)
			res->rounds = st.rounds;
		else
			smp_text_poke_batch_reset(b);
	}
	if (!err)
		x->masked = mask;
	else
		snprintf(res->why, sizeof(res->why), "%s (strategy %s): %s", patch_errname(err),
			 patch_strategy_name(res->strategy), b->why[0] ? b->why : "refused");
	if (err && !quiet)
		printk("alt %s: %s", x->name, res->why);
	res->us = tsc_to_us(rdtsc() - t0);
	spin_unlock(&update_lock);
	return err;
}
