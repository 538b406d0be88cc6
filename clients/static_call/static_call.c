/*
 * clients/static_call/static_call.c — updating a static call: every site
 * and the trampoline in one batch of the patch core (see static_call.h).
 *
 * A site holds "call target" (as compiled: the first target) or a 5-byte
 * NOP (NULL target). The trampoline holds "jmp target" or, for
 * NULL, "jmp static_call_return". Each is one instruction, so the core's
 * strategies (int3: emulate the call/jmp or step over the NOP) can replace
 * it while other CPUs run it: a CPU reaches the old target or the new one.
 *
 * One update, int3 strategy (the core's rounds, patch/batch.c), a
 * bystander running one of the 64 sites:
 *
 *   updater (thread)                        bystander CPU
 *   queue 64 sites + trampoline, 1 batch    at a site: the OLD call (old target)
 *   int3 on all 65 first bytes; round 1     at a site: #BP, the strategy emulates
 *                                           the NEW call (new target reached)
 *   tails of all 65; round 2                at a site: #BP, the new call
 *   first bytes of all 65; round 3          executes the NEW call itself
 *   k->func = fn                            `calls` shows the new target
 *
 * Each execution is either the old instruction or the new one (emulated
 * or real): never a mix of the two, so never a third target.
 *
 * Three rounds whatever the number of sites; Linux's static_call_update
 * runs them per site. Updates are serialized by update_lock (a trylock: a
 * second updater gets -PATCH_EBUSY at once, it never waits).
 */
#include "arch/x86/cpu.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "arch/x86/tsc.h"
#include "clients/static_call/static_call.h"

/* static_call_return: where a NULL call's trampoline jumps. A function of
 * its own (the core wants a jmp to land on a function). */
__asm__(".pushsection .text\n\t"
	".globl static_call_return\n\t"
	".type static_call_return, @function\n\t"
	"static_call_return:\n\t"
	"ret\n\t"
	".size static_call_return, 1\n\t"
	".popsection");

__attribute__((noinline)) long static_call_ret0(void)
{
	return 0;
}

/* One update at a time: they share the batch storage. */
static spinlock_t update_lock;
POKE_BATCH_DEFINE(sc_batch, STATIC_CALL_MAX_SITES + 1);

struct static_call_key *static_call_find(const char *name)
{
	for (struct static_call_key *k = __static_call_keys_start; k < __static_call_keys_end; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

unsigned static_call_nr_sites(const struct static_call_key *k)
{
	unsigned n = 0;
	for (const struct static_call_site *s = __static_call_sites_start; s < __static_call_sites_end; s++)
		n += s->key == k;
	return n;
}

bool static_call_allowed(const struct static_call_key *k, const void *fn)
{
	if (!fn || fn == (void *)static_call_ret0 || fn == k->first)
		return true;
	for (const struct static_call_allow *a = __static_call_allow_start; a < __static_call_allow_end; a++)
		if (a->key == k && a->fn == fn)
			return true;
	return false;
}

void *static_call_current(const struct static_call_key *k)
{
	return k->func;
}

/* The bytes a site of k holds for target fn (NULL: the NOP). */
static bool site_bytes(uintptr_t at, const void *fn, uint8_t out[CALL_INSN_SIZE])
{
	if (!fn)
		return insn_nop(CALL_INSN_SIZE, out);
	return insn_call(at, (uintptr_t)fn, out);
}

/* Does the site hold what k's current target puts there (the call, or the
 * NOP of a NULL call)? */
static bool site_is_ours(const struct static_call_key *k, uintptr_t at)
{
	uint8_t b[CALL_INSN_SIZE];
	return site_bytes(at, k->func, b) && !memcmp(b, (void *)at, CALL_INSN_SIZE);
}

static int queue(struct poke_batch *b, uintptr_t at, const uint8_t *new)
{
	uint8_t old[CALL_INSN_SIZE];
	memcpy(old, (void *)at, CALL_INSN_SIZE);
	return smp_text_poke_batch_add(b, (void *)at, old, new, CALL_INSN_SIZE);
}

/* Queue every site of k and its trampoline for fn in b. */
static int queue_all(struct poke_batch *b, struct static_call_key *k, void *fn, unsigned *sites)
{
	uint8_t new[CALL_INSN_SIZE];
	int err;
	*sites = 0;
	for (const struct static_call_site *s = __static_call_sites_start; s < __static_call_sites_end; s++) {
		if (s->key != k)
			continue;
		if (!site_is_ours(k, s->addr)) {
			snprintf(b->why, sizeof(b->why), "static call %s: site %lx holds none of its instructions",
				 k->name, s->addr);
			return -PATCH_EOLD_MISMATCH;
		}
		if (!site_bytes(s->addr, fn, new)) {
			snprintf(b->why, sizeof(b->why), "static call %s: target %lx out of a call's reach from %lx",
				 k->name, (uintptr_t)fn, s->addr);
			return -PATCH_ETARGET_OUTSIDE_TEXT;
		}
		if ((err = queue(b, s->addr, new)))
			return err;
		++*sites;
	}
	uintptr_t t = (uintptr_t)k->tramp;
	if (!insn_jmp32(t, fn ? (uintptr_t)fn : (uintptr_t)static_call_return, new)) {
		snprintf(b->why, sizeof(b->why), "static call %s: target %lx out of a jmp's reach from %lx", k->name,
			 (uintptr_t)fn, t);
		return -PATCH_ETARGET_OUTSIDE_TEXT;
	}
	return queue(b, t, new);
}

int static_call_update_key(struct static_call_key *k, void *fn, const struct patch_strategy *s, bool quiet,
			   struct static_call_result *res)
{
	if (!spin_trylock(&update_lock)) {
		if (!quiet)
			printk("static call %s: another static call update is running", k->name);
		return -PATCH_EBUSY;
	}
	struct poke_batch *b = &sc_batch;
	unsigned sites;
	b->strategy = s;
	b->quiet = true;
	b->why[0] = 0;
	uint64_t t0 = rdtsc();
	int err = queue_all(b, k, fn, &sites);
	if (err) {
		smp_text_poke_batch_reset(b);   /* a refusal: nothing written */
	} else {
		err = smp_text_poke_batch_finish(b);
		if (!err)
			k->func = fn;
	}
	if (err && !quiet)
		printk("static call %s: %s: %s", k->name, patch_errname(err), b->why[0] ? b->why : "refused");
	if (res) {
		struct poke_stats st;
		poke_get_stats(&st);
		res->sites = sites;
		res->rounds = st.rounds;
		res->us = tsc_to_us(rdtsc() - t0);
	}
	spin_unlock(&update_lock);
	return err;
}
