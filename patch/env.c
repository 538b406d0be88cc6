/*
 * patch/env.c — what patch/validate.c needs to know about this kernel:
 * the bounds of .text, the validation view of it, the symbol table, the
 * no-patch region, and the batch in flight.
 */
#include "arch/x86/paging.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/ksyms.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/env.h"
#include "patch/exec_regions.h"

extern char __nopatch_start[], __nopatch_end[];         /* linker.ld */

static void read_view(const struct patch_env *env, uintptr_t addr, uint8_t *buf, size_t n)
{
	(void)env;
	live_batch_read(addr, buf, n);
}

static bool symbol(const struct patch_env *env, uintptr_t addr, uintptr_t *start, uint64_t *size,
		   const char **name)
{
	(void)env;
	const struct ksym *s = ksym_function(addr);
	if (!s)
		return false;
	*start = s->addr;
	*size = s->fn_size;
	*name = ksym_name(s);
	return true;
}

static bool protected_code(const struct patch_env *env, uintptr_t addr, size_t len, const char **what)
{
	(void)env;
	if (addr >= (uintptr_t)__nopatch_end || addr + len <= (uintptr_t)__nopatch_start)
		return false;
	const struct ksym *s = ksym_lookup(addr);
	*what = s ? ksym_name(s) : "the no-patch region";
	return true;
}

static bool live_site(const struct patch_env *env, uintptr_t addr, size_t len, uintptr_t *site, uint8_t *site_len)
{
	(void)env;
	return live_site_overlapping(addr, len, site, site_len);
}

static bool foreign_target(const struct patch_env *env, uintptr_t addr, bool *is_fn_start, const char **name)
{
	(void)env;
	return exec_region_lookup(addr, is_fn_start, name);
}

/* One walk cache per CPU; busy keeps a nested caller (an interrupt that
 * validates) off the one its thread is using. Thread context. */
static struct walk_cache walk_caches[MAX_CPUS];

static struct walk_cache *walk_cache_get(const struct patch_env *env)
{
	(void)env;
	struct walk_cache *c = &walk_caches[this_cpu()->cpu];
	return __atomic_exchange_n(&c->busy, 1, __ATOMIC_ACQUIRE) ? NULL : c;
}

static void walk_cache_put(const struct patch_env *env, struct walk_cache *c)
{
	(void)env;
	__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
}

/* No batch is being applied (live.c withdraws live_strategy before the
 * batch's last write can be seen as done, and publishes it before the
 * generation moves); gen: batches published so far. */
static bool text_stable(const struct patch_env *env, uint64_t *gen)
{
	(void)env;
	*gen = live_batch_gen();
	return !__atomic_load_n(&live_strategy, __ATOMIC_SEQ_CST);
}

struct patch_env kernel_patch_env = {
	.text_start = (uintptr_t)__text_start,
	.text_end = (uintptr_t)__text_end,
	.read = read_view,
	.symbol = symbol,
	.protected_code = protected_code,
	.live_site = live_site,
	.foreign_target = foreign_target,
	.walk_cache_get = walk_cache_get,
	.walk_cache_put = walk_cache_put,
	.text_stable = text_stable,
};

KPARAM_BOOL_NOTE("patch.unsafe_targets", kernel_patch_env.unchecked_targets,
		 "patch: patch.unsafe_targets=1: new branches may land mid-instruction, in a site's tail "
		 "or in the no-patch region (debug only)",
		 "0|1: 1 skips the checks of where a new branch lands (debug only: shows what they prevent)");
