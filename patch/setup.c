/*
 * patch/setup.c — the patch core at boot: the default strategy
 * (patch.strategy=NAME), the TCG workaround (patch.tcg_rewrite), the
 * rendezvous vector, every strategy's self-test; and the registry's
 * lookups and the `strategies` console command. Thread context.
 */
#include "arch/x86/cpufeatures.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"

extern char __nopatch_start[], __nopatch_end[];          /* linker.ld */

static const struct patch_strategy *default_strategy;   /* NULL until patch_init: the first registered */

const struct patch_strategy *patch_strategy_find(const char *name)
{
	for (const struct patch_strategy *const *s = patch_strategies; *s; s++)
		if (!strcmp((*s)->name, name))
			return *s;
	return NULL;
}

const struct patch_strategy *patch_default_strategy(void)
{
	return default_strategy ? default_strategy : patch_strategies[0];
}

const char *patch_strategy_name(const struct patch_strategy *s)
{
	return s ? s->name : "(none)";
}

void patch_strategies_print(void)
{
	for (const struct patch_strategy *const *s = patch_strategies; *s; s++) {
		printk("%c %-16s %u phases, up to %u round(s): %s | patches: %s | safe against: %s",
		       *s == patch_default_strategy() ? '*' : ' ', (*s)->name, (*s)->nr_phases, (*s)->max_rounds,
		       (*s)->summary, (*s)->can_patch, (*s)->safe_against);
	}
}

/* The registry's names, comma-separated, for error messages. */
static const char *strategy_names(char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = 0;
	for (const struct patch_strategy *const *p = patch_strategies; *p && n < size; p++)
		n += snprintf(buf + n, size - n, "%s%s", n ? ", " : "", (*p)->name);
	return buf;
}

static int set_strategy(const char *v)
{
	const struct patch_strategy *s = v ? patch_strategy_find(v) : NULL;
	if (!s) {
		char names[128];
		printk("patch.strategy: no strategy named '%s' (strategies: %s)", v ? v : "",
		       strategy_names(names, sizeof(names)));
		return -EINVAL;
	}
	default_strategy = s;
	return 0;
}

int patch_strategy_option(const char *cmd, int *argc, char **argv, const struct patch_strategy **out)
{
	*out = NULL;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--strategy"))
			continue;
		char names[128];
		if (i + 1 >= *argc) {
			printk("%s: --strategy needs a NAME (strategies: %s)", cmd, strategy_names(names, sizeof(names)));
			return -EINVAL;
		}
		*out = patch_strategy_find(argv[i + 1]);
		if (!*out) {
			printk("%s: no strategy named '%s' (strategies: %s)", cmd, argv[i + 1],
			       strategy_names(names, sizeof(names)));
			return -EINVAL;
		}
		for (int j = i; j + 2 <= *argc; j++)
			argv[j] = argv[j + 2];
		*argc -= 2;
		return 0;
	}
	return 0;
}
KPARAM("patch.strategy", set_strategy, "NAME: the strategy of batches that name none (default: int3; see `strategies`)");

/* The TCG workaround: patch.tcg_rewrite=auto|on|off, decided in patch_init. */
static enum { TCG_REWRITE_AUTO, TCG_REWRITE_ON, TCG_REWRITE_OFF } tcg_rewrite_param;
bool poke_tcg_rewrite, poke_tcg_rewrite_auto;

KPARAM_ENUM("patch.tcg_rewrite", tcg_rewrite_param,
	    "auto|on|off: rewrite each first byte after the last round (TCG's stale translations; auto: under TCG)",
	    "auto", "on", "off");        /* in the order of the enum */

/* A strategy's tables must fit the core's records (poke_stats, phases). */
static void strategy_check(const struct patch_strategy *s)
{
	if (s->nr_phases < 2 || s->nr_phases > POKE_PHASES_MAX || s->nr_steps > POKE_STEPS_MAX ||
	    s->max_rounds > POKE_ROUNDS_MAX || !s->apply || !s->on_bp || !s->check || !s->phase_names ||
	    !s->can_patch || !s->safe_against || s->nr_hazards > PATCH_HAZARDS_MAX || (s->nr_hazards && !s->hazards) ||
	    (s->safe_events & ~PATCH_EV_ALL))
		panic("patch: strategy %s does not fit the core: %u phases (2..%u), %u write steps (max %u), "
		      "%u rounds (max %u), %u hazard counters (max %u), apply %p, on_bp %p, check %p", s->name,
		      s->nr_phases, POKE_PHASES_MAX, s->nr_steps, POKE_STEPS_MAX, s->max_rounds, POKE_ROUNDS_MAX,
		      s->nr_hazards, PATCH_HAZARDS_MAX, s->apply, s->on_bp, s->check);
	/* Its trap hooks run in #BP and NMI context: no-patch code only. */
	uintptr_t bp = (uintptr_t)s->on_bp, nmi = (uintptr_t)s->on_nmi, te = (uintptr_t)s->on_trap_entry;
	if (bp < (uintptr_t)__nopatch_start || bp >= (uintptr_t)__nopatch_end ||
	    (nmi && (nmi < (uintptr_t)__nopatch_start || nmi >= (uintptr_t)__nopatch_end)) ||
	    (te && (te < (uintptr_t)__nopatch_start || te >= (uintptr_t)__nopatch_end)))
		panic("patch: strategy %s: on_bp %p / on_nmi %p / on_trap_entry %p lie outside the no-patch region "
		      "[%p, %p): list their object in the Makefile's no-patch list", s->name, s->on_bp, s->on_nmi,
		      s->on_trap_entry, __nopatch_start, __nopatch_end);
	if (strcmp(s->phase_names[0], "published") || strcmp(s->phase_names[s->nr_phases - 1], "retired"))
		panic("patch: strategy %s: its first and last phases must be 'published' and 'retired'", s->name);
}

void patch_init(void)
{
	const char *how;
	bool tcg = cpu_under_tcg(&how);
	poke_tcg_rewrite_auto = tcg_rewrite_param == TCG_REWRITE_AUTO;
	poke_tcg_rewrite = poke_tcg_rewrite_auto ? tcg : tcg_rewrite_param == TCG_REWRITE_ON;
	printk("patch: TCG workaround (first bytes rewritten after the last round): %s (%s; %s: %s)",
	       poke_tcg_rewrite ? "on" : "off",
	       tcg_rewrite_param == TCG_REWRITE_AUTO ? "patch.tcg_rewrite=auto" :
	       tcg_rewrite_param == TCG_REWRITE_ON ? "patch.tcg_rewrite=on" : "patch.tcg_rewrite=off",
	       tcg ? "TCG detected" : "no TCG", how);
	for (const struct patch_strategy *const *s = patch_strategies; *s; s++)
		strategy_check(*s);
	const struct patch_strategy *d = patch_default_strategy();
	poke_current_strategy = d;
	poke_current_phase = d->nr_phases - 1;
	printk("patch: default strategy %s (patch.strategy)", d->name);
	sync_init();
	for (const struct patch_strategy *const *s = patch_strategies; *s; s++)
		if ((*s)->init)
			(*s)->init();
	for (const struct patch_strategy *const *s = patch_strategies; *s; s++) {
		if (!(*s)->selftest)
			continue;
		const char *why = (*s)->selftest();
		if (why)
			panic("patch: %s self-test failed: %s", (*s)->name, why);
		printk("patch: %s self-test passed", (*s)->name);
	}
}

static int cmd_strategies(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	patch_strategies_print();
	return 0;
}
SHELL_CMD("strategies", "", "the patching strategies (* marks the default, patch.strategy)", cmd_strategies);
