/*
 * clients/alternative/console.c — console commands of the alternatives:
 * alts, alt mask|unmask FEATURE [--strategy NAME].
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "clients/alternative/alternative.h"

static int cmd_alts(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (unsigned f = 0; f < ALT_NR_FEATURES; f++) {
		const struct alt_feature *x = &alt_features[f];
		printk("%-8s cpuid %-3s masked %-3s %2u sites  (CPUID %#x.%u %s bit %u)", x->name, x->present ? "yes" : "no",
		       x->masked ? "yes" : "no", alt_feature_sites(f), x->leaf, x->subleaf,
		       (const char *[]){ "eax", "ebx", "ecx", "edx" }[x->reg], x->bit);
	}
	return 0;
}
SHELL_CMD("alts", "", "alternatives: each feature, whether CPUID has it, masked, its sites", cmd_alts);

static int cmd_alt(int argc, char **argv)
{
	const struct patch_strategy *s;
	if (patch_strategy_option("alt", &argc, argv, &s))
		return -EREPORTED;
	if (argc != 3 || (strcmp(argv[1], "mask") && strcmp(argv[1], "unmask"))) {
		printk("usage: alt mask|unmask FEATURE [--strategy NAME]   (see 'alts')");
		return -EREPORTED;
	}
	int f = alt_feature_find(argv[2]);
	if (f < 0) {
		printk("alt: no feature named '%s' (see 'alts'); nothing written", argv[2]);
		return -EREPORTED;
	}
	bool mask = !strcmp(argv[1], "mask");
	struct alt_result r;
	if (alt_mask((unsigned)f, mask, s, false, &r))
		return -EREPORTED;      /* printed: the code, the address and the reason */
	printk("alt: %s %s: %u sites in %lu us (%u rounds, strategy %s)", argv[2], mask ? "masked" : "unmasked",
	       r.sites, r.us, r.rounds, patch_strategy_name(r.strategy));
	return 0;
}
SHELL_CMD("alt", "mask|unmask FEATURE [--strategy NAME]",
	  "re-patch every site of FEATURE as if the CPU lacked it (mask) or as CPUID says (unmask), in one batch",
	  cmd_alt);
