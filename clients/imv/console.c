/*
 * clients/imv/console.c — console commands of the immediate values: imv,
 * imv-set NAME VALUE.
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/imv/imv.h"

static int cmd_imv(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (struct imv_var *v = __imv_vars_start; v < __imv_vars_end; v++) {
		if (v->is_signed)
			printk("%-14s = 0x%08x (%d) %3u sites", v->name, v->value, (int32_t)v->value, imv_nr_sites(v));
		else
			printk("%-14s = 0x%08x (%u) %3u sites", v->name, v->value, v->value, imv_nr_sites(v));
	}
	return 0;
}
SHELL_CMD("imv", "", "immediate values: value and number of sites", cmd_imv);

/* VALUE: decimal or 0x hex, a leading '-' for a signed variable; it must
 * fit 32 bits. Returns false (printed) otherwise. */
static bool parse_value(const struct imv_var *var, const char *arg, uint32_t *out)
{
	bool neg = arg[0] == '-';
	uint64_t u;
	if (!parse_u64(arg + neg, &u) || (neg && !var->is_signed) || (!neg && u > UINT32_MAX) ||
	    (neg && u > (uint64_t)INT32_MAX + 1) || (!neg && var->is_signed && u > INT32_MAX)) {
		printk("imv-set: '%s' is not a value of %s (%s 32-bit integer); nothing written", arg, var->name,
		       var->is_signed ? "a signed" : "an unsigned");
		return false;
	}
	*out = neg ? (uint32_t)-u : (uint32_t)u;
	return true;
}

static int cmd_imv_set(int argc, char **argv)
{
	if (argc != 3) {
		printk("usage: imv-set NAME VALUE   (see 'imv')");
		return -EREPORTED;
	}
	struct imv_var *var = imv_find(argv[1]);
	if (!var) {
		printk("imv-set: no immediate value named '%s' (see 'imv'); nothing written", argv[1]);
		return -EREPORTED;
	}
	uint32_t v;
	if (!parse_value(var, argv[2], &v))
		return -EREPORTED;
	struct imv_result r;
	if (imv_set_var(var, v, false, &r))
		return -EREPORTED;      /* printed: the code, the address and the reason */
	printk("imv-set: %s = 0x%08x: %u sites in %lu us (%u rounds, strategy %s)", var->name, v, r.sites, r.us,
	       r.rounds, patch_strategy_name(r.strategy));
	return 0;
}
SHELL_CMD("imv-set", "NAME VALUE", "write VALUE into every immediate of NAME, in one batch (ool)", cmd_imv_set);
