/*
 * tests/kernel/test_walk_cache.c — the validator's walk cache (patch/
 * validate.h) answers as a walk from the function's start would: for a
 * byte-by-byte sweep of small functions and a backward sweep of a large
 * one (answers below the reach come from the cache), every request gets
 * the same code and the same reason from the kernel's environment as from
 * the same environment without a cache; and a published batch empties it.
 */
#include "kernel/ksyms.h"
#include "kernel/ktest.h"
#include "kernel/string.h"
#include "lab/key_sites.h"
#include "patch/env.h"
#include "patch/patch.h"
#include "patch/validate.h"

/* A one-byte request at addr: old = its byte, new = int3's neighbour nop. */
static int probe(const struct patch_env *env, uintptr_t addr, char *why, size_t why_len)
{
	struct poke_site s;
	memset(&s, 0, sizeof(s));
	s.addr = addr;
	s.len = 1;
	s.old[0] = *(const uint8_t *)addr;
	s.new[0] = 0x90;
	return patch_validate_site(env, NULL, &s, NULL, 0, why, why_len);
}

/* Sweep [fn, fn+size) by step (negative: from the end); count mismatches. */
static unsigned sweep(const char *name, int step, unsigned *boundaries, unsigned *probes)
{
	const struct ksym *k = ksym_find(name);
	struct patch_env plain = kernel_patch_env;
	plain.walk_cache_get = NULL;
	unsigned bad = 0;
	if (!k || !k->fn_size) {
		report_info("%s: no such function", name);
		return 1;
	}
	for (long i = 0; i < (long)k->fn_size; i += step > 0 ? step : -step) {
		uintptr_t at = k->addr + (step > 0 ? (uintptr_t)i : k->fn_size - 1 - (uintptr_t)i);
		char why_c[POKE_WHY_LEN] = "", why_p[POKE_WHY_LEN] = "";
		int ec = probe(&kernel_patch_env, at, why_c, sizeof(why_c));
		int ep = probe(&plain, at, why_p, sizeof(why_p));
		(*probes)++;
		*boundaries += ec != -PATCH_EMID_INSN;
		if (ec != ep || (ec && strcmp(why_c, why_p))) {
			if (!bad++)
				report_info("%s+%#lx: cached %s (%s), walked %s (%s)", name, at - k->addr,
					    patch_errname(ec), why_c, patch_errname(ep), why_p);
		}
	}
	return bad;
}

static void test_walk_cache_same_answers(void)
{
	unsigned boundaries = 0, probes = 0, bad = 0;
	bad += sweep("key_sites_ab", 1, &boundaries, &probes);
	bad += sweep("nmi_key_site_run", 1, &boundaries, &probes);
	bad += sweep("key_sites_many", -7, &boundaries, &probes);
	bad += sweep("key_sites_many", 5, &boundaries, &probes);
	report(!bad && boundaries && boundaries < probes,
	       "%u requests, %u at instruction starts: cached and walked answers differ in %u", probes, boundaries,
	       bad);
}
KTEST("patch.walk_cache_same_answers", test_walk_cache_same_answers);
