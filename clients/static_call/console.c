/*
 * clients/static_call/console.c — console commands of the static calls:
 * calls, call-set NAME FN.
 */
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/ksyms.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/static_call/static_call.h"

/* The function fn starts (its symbol), "static_call_ret0", or "NULL". */
static const char *fn_name(const void *fn)
{
	if (!fn)
		return "NULL";
	const struct ksym *s = ksym_function((uintptr_t)fn);
	return s ? ksym_name(s) : "?";
}

static int cmd_calls(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (struct static_call_key *k = __static_call_keys_start; k < __static_call_keys_end; k++)
		printk("%-14s -> %-18s %3u sites  trampoline %016lx", k->name, fn_name(static_call_current(k)),
		       static_call_nr_sites(k), (uintptr_t)k->tramp);
	return 0;
}
SHELL_CMD("calls", "", "static calls: current target and number of sites", cmd_calls);

/* FN: a function's symbol, "NULL", or "ret0" (static_call_ret0). Returns
 * false (printed) when it names no function. */
static bool parse_target(const char *arg, void **fn)
{
	if (!strcmp(arg, "NULL")) {
		*fn = NULL;
		return true;
	}
	if (!strcmp(arg, "ret0")) {
		*fn = (void *)static_call_ret0;
		return true;
	}
	const struct ksym *s = ksym_find(arg);
	if (!s) {
		printk("call-set: no symbol '%s'", arg);
		return false;
	}
	if (!s->fn_size) {
		printk("call-set: '%s' (%016lx) is not a function", arg, (uintptr_t)s->addr);
		return false;
	}
	*fn = (void *)(uintptr_t)s->addr;
	return true;
}

/* "lab_fn_a lab_fn_b ret0 NULL": the targets call-set accepts for k. */
static const char *allowed_list(const struct static_call_key *k, char *out, size_t size)
{
	size_t o = (size_t)snprintf(out, size, "%s", fn_name(k->first));
	for (const struct static_call_allow *a = __static_call_allow_start; a < __static_call_allow_end; a++)
		if (a->key == k && o < size)
			o += (size_t)snprintf(out + o, size - o, " %s", fn_name(a->fn));
	if (o < size)
		snprintf(out + o, size - o, " ret0 NULL");
	return out;
}

static int cmd_call_set(int argc, char **argv)
{
	const struct patch_strategy *strategy;
	if (patch_strategy_option("call-set", &argc, argv, &strategy))
		return -EREPORTED;
	if (argc != 3) {
		printk("usage: call-set NAME FN|ret0|NULL [--strategy NAME]   (see 'calls')");
		return -EREPORTED;
	}
	struct static_call_key *k = static_call_find(argv[1]);
	if (!k) {
		printk("call-set: no static call named '%s' (see 'calls')", argv[1]);
		return -EREPORTED;
	}
	void *fn;
	if (!parse_target(argv[2], &fn))
		return -EREPORTED;
	if (!static_call_allowed(k, fn)) {
		char list[192];
		printk("call-set: %s is not an allowed target of %s (allowed: %s); nothing written", argv[2], k->name,
		       allowed_list(k, list, sizeof(list)));
		return -EREPORTED;
	}
	struct static_call_result r;
	if (static_call_update_key(k, fn, strategy, false, &r))
		return -EREPORTED;      /* printed: the code, the address and the reason */
	printk("call-set: %s -> %s: %u sites in %lu us (%u rounds, strategy %s)", k->name, fn_name(fn), r.sites, r.us,
	       r.rounds,
	       patch_strategy_name(strategy ? strategy : patch_default_strategy()));
	return 0;
}
SHELL_CMD("call-set", "NAME FN|ret0|NULL [--strategy NAME]",
	  "point a static call's sites and trampoline at FN, in one batch", cmd_call_set);
