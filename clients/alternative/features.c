/*
 * clients/alternative/features.c — the features alternatives can depend
 * on: CPUID bits (leaf, subleaf, register, bit), read once at boot on the
 * BSP, and the console's masks.
 */
#include "arch/x86/cpu.h"
#include "kernel/string.h"
#include "clients/alternative/alternative.h"

enum { EAX, EBX, ECX, EDX };

struct alt_feature alt_features[ALT_NR_FEATURES] = {
	[ALT_F_POPCNT] = { "popcnt", 1, 0, ECX, 23, false, false },
	[ALT_F_RDTSCP] = { "rdtscp", 0x80000001, 0, EDX, 27, false, false },
	[ALT_F_ERMS] = { "erms", 7, 0, EBX, 9, false, false },
	[ALT_F_SSE4_2] = { "sse4_2", 1, 0, ECX, 20, false, false },
	[ALT_F_LZCNT] = { "lzcnt", 0x80000001, 0, ECX, 5, false, false },
	[ALT_F_AVX2] = { "avx2", 7, 0, EBX, 5, false, false },
	[ALT_F_AVX512F] = { "avx512f", 7, 0, EBX, 16, false, false },
};

/* Boot, thread context. */
void alt_features_detect(void)
{
	uint32_t max_leaf = cpuid(0, 0).eax, max_ext = cpuid(0x80000000, 0).eax;
	for (unsigned f = 0; f < ALT_NR_FEATURES; f++) {
		struct alt_feature *x = &alt_features[f];
		uint32_t max = x->leaf >= 0x80000000 ? max_ext : max_leaf;
		if (x->leaf > max)
			continue;               /* the leaf does not exist: absent */
		struct cpuid_regs r = cpuid(x->leaf, x->subleaf);
		uint32_t reg = x->reg == EAX ? r.eax : x->reg == EBX ? r.ebx : x->reg == ECX ? r.ecx : r.edx;
		x->present = reg & (1u << x->bit);
	}
}

int alt_feature_find(const char *name)
{
	for (unsigned f = 0; f < ALT_NR_FEATURES; f++)
		if (!strcmp(alt_features[f].name, name))
			return (int)f;
	return -1;
}

unsigned alt_feature_sites(unsigned f)
{
	unsigned n = 0;
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++)
		n += e->feature == f;
	return n;
}
