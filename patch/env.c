/*
 * patch/env.c — what patch/validate.c needs to know about this kernel:
 * the bounds of .text, the symbol table, the no-patch region, and the
 * batch in flight.
 */
#include "arch/x86/paging.h"
#include "kernel/ksyms.h"
#include "patch/bp.h"
#include "patch/env.h"

extern char __nopatch_start[], __nopatch_end[];         /* linker.ld */

static const uint8_t *text_ptr(const struct patch_env *env, uintptr_t addr)
{
	(void)env;
	return (const uint8_t *)addr;
}

static bool symbol(const struct patch_env *env, uintptr_t addr, uintptr_t *start, uint64_t *size,
		   const char **name)
{
	(void)env;
	const struct ksym *s = ksym_lookup(addr);
	if (!s)
		return false;
	*start = s->addr;
	*size = s->size;
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

static bool busy(const struct patch_env *env, uintptr_t addr, size_t len)
{
	(void)env;
	return bp_site_busy(addr, len);
}

const struct patch_env kernel_patch_env = {
	.text_start = (uintptr_t)__text_start,
	.text_end = (uintptr_t)__text_end,
	.text_ptr = text_ptr,
	.symbol = symbol,
	.protected_code = protected_code,
	.busy = busy,
};
