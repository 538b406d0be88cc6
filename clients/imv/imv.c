/*
 * clients/imv/imv.c — setting an immediate value: the immediate of every
 * site of the variable in one batch of the out-of-line strategy (imv.h).
 *
 * Why ool. A site is "mov $imm32, %r32". The int3 strategies cannot patch
 * it: a CPU that hits the int3 must be given the instruction's effect by
 * the #BP handler, and a mov to any register is not among what they
 * emulate (call, jmp, nop). The ool strategy (strategies/ool/) sends that
 * CPU to an out-of-line copy of the whole old or new mov instead, so any
 * mov can be patched; and it switches from the old copies to the new ones
 * at one point (its store of run_new, right before the first bytes are
 * written) for ALL sites of the batch at once, so every site of the
 * variable takes the new value at the same point: one batch, three
 * rounds, whatever the number of sites. (stop_machine could write the
 * movs too, but stops every CPU; roll-forward also could.)
 *
 * One imv_set, a bystander reading one of the sites:
 *
 *   updater (thread)                         bystander CPU
 *   queue every site (old mov, new mov)       at a site: the OLD mov, old value
 *   ool: copies written; int3 on all first    #BP -> the OLD copy: old value
 *   bytes; round 1; tails; round 2
 *   run_new = 1 (the one switch point)        #BP -> the NEW copy: new value
 *   first bytes; round 3                      the NEW mov itself: new value
 *   var->value = v                            `imv` shows the new value
 *
 * A read runs one whole mov, old or new (its own bytes, or a copy): never
 * some bytes of each, so never a torn immediate. Updates are serialized
 * by update_lock (a trylock: a second one gets -PATCH_EBUSY at once).
 */
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/imv/imv.h"

static spinlock_t update_lock;
POKE_BATCH_DEFINE(imv_batch, IMV_MAX_SITES);

struct imv_var *imv_find(const char *name)
{
	for (struct imv_var *v = __imv_vars_start; v < __imv_vars_end; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

unsigned imv_nr_sites(const struct imv_var *var)
{
	unsigned n = 0;
	for (const struct imv_site *s = __imv_sites_start; s < __imv_sites_end; s++)
		n += s->var == var;
	return n;
}

/* Queue every site of var, its immediate rewritten to v, in b. */
static int queue_all(struct poke_batch *b, struct imv_var *var, uint32_t v, unsigned *sites)
{
	uint8_t old[POKE_MAX_LEN], new[POKE_MAX_LEN];
	int err;
	*sites = 0;
	for (const struct imv_site *s = __imv_sites_start; s < __imv_sites_end; s++) {
		if (s->var != var)
			continue;
		unsigned len = (unsigned)s->len, imm = len - IMV_IMM_SIZE;
		memcpy(old, (void *)s->addr, len);
		uint32_t cur;
		memcpy(&cur, old + imm, IMV_IMM_SIZE);
		if (len < 5 || len > 6 || cur != var->value) {
			snprintf(b->why, sizeof(b->why), "imv %s: site %lx (%u bytes) holds immediate %x, not its value %x",
				 var->name, s->addr, len, cur, var->value);
			return -PATCH_EOLD_MISMATCH;
		}
		memcpy(new, old, len);
		memcpy(new + imm, &v, IMV_IMM_SIZE);
		if ((err = smp_text_poke_batch_add(b, (void *)s->addr, old, new, len)))
			return err;
		++*sites;
	}
	return 0;
}

int imv_set_var(struct imv_var *var, uint32_t v, bool quiet, struct imv_result *res)
{
	const struct patch_strategy *ool = patch_strategy_find("ool");
	if (res) {
		memset(res, 0, sizeof(*res));
		res->strategy = ool;
	}
	if (!spin_trylock(&update_lock)) {
		if (!quiet)
			printk("imv %s: another imv-set is running", var->name);
		return -PATCH_EBUSY;
	}
	struct poke_batch *b = &imv_batch;
	unsigned sites = 0;
	int err = 0;
	uint64_t t0 = rdtsc();
	uint64_t rounds = 0;
	b->strategy = ool;
	b->quiet = true;
	b->why[0] = 0;
	if (v != var->value) {
		err = queue_all(b, var, v, &sites);
		if (err) {
			smp_text_poke_batch_reset(b);   /* a refusal: nothing written */
		} else {
			err = smp_text_poke_batch_finish(b);
			if (!err) {
				struct poke_stats st;
				poke_get_stats(&st);
				rounds = st.rounds;
				__atomic_store_n(&var->value, v, __ATOMIC_RELEASE);
			}
		}
	} else {
		sites = imv_nr_sites(var);      /* already so: no batch, no round */
	}
	if (err && !quiet)
		printk("imv %s: %s: %s", var->name, patch_errname(err), b->why[0] ? b->why : "refused");
	if (res) {
		res->sites = sites;
		res->rounds = (unsigned)rounds;
		res->us = tsc_to_us(rdtsc() - t0);
	}
	spin_unlock(&update_lock);
	return err;
}
