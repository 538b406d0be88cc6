/*
 * clients/static_key/console.c — console commands of the static keys:
 * keys, key on|off|toggle NAME.
 */
#include "arch/x86/tsc.h"
#include "clients/static_key/static_key.h"
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/patch.h"

static int cmd_keys(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (struct static_key *k = __static_keys_start; k < __static_keys_end; k++)
		printk("%-16s %-3s  %u sites", k->name, k->enabled ? "on" : "off", k->nr_sites);
	return 0;
}
SHELL_CMD("keys", "", "static keys: name, state, number of sites", cmd_keys);

static int cmd_key(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "on") && strcmp(argv[1], "off") && strcmp(argv[1], "toggle"))) {
		printk("usage: key on|off|toggle NAME   (see 'keys')");
		return -EREPORTED;
	}
	struct static_key *k = static_key_by_name(argv[2]);
	if (!k) {
		printk("key: %s: no static key named '%s' (see 'keys')", static_key_errname(-STATIC_KEY_EUNKNOWN),
		       argv[2]);
		return -EREPORTED;
	}
	bool on = !strcmp(argv[1], "toggle") ? !k->enabled : !strcmp(argv[1], "on");
	struct poke_stats before, st;
	poke_get_stats(&before);
	int err = static_key_set(k, on);
	if (err) {
		printk("key: %s %s refused: %s: %s", k->name, on ? "on" : "off", static_key_errname(err),
		       static_key_why());
		return -EREPORTED;
	}
	poke_get_stats(&st);
	if (st.batches == before.batches) {
		printk("key: %s already %s: %u sites, nothing written", k->name, on ? "on" : "off", k->nr_sites);
		return 0;
	}
	printk("key: %s %s: %u sites in %lu us (%u rounds, strategy %s)", k->name, on ? "on" : "off", st.sites,
	       tsc_to_us(st.cycles_total), st.rounds, patch_strategy_name(st.strategy));
	return 0;
}
SHELL_CMD("key", "on|off|toggle NAME", "set a static key: all its sites in one batch (default strategy)", cmd_key);
