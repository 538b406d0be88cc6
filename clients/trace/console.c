/*
 * clients/trace/console.c — the console command of function tracing:
 * trace on|off|stats [GLOB] [--strategy NAME].
 */
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/ksyms.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/trace/trace.h"

#define STATS_LINES 16                  /* functions listed by trace stats */

static const char *trace_errname(int err)
{
	switch (-err) {
	case TRACE_ENOMATCH: return "no match";
	case TRACE_EALREADY: return "already";
	case TRACE_EFOREIGN: return "foreign bytes";
	default: return patch_errname(err);
	}
}

static int trace_switch(bool on, const char *glob, const struct patch_strategy *st)
{
	struct trace_result r;
	char why[POKE_WHY_LEN + 96];
	int err = trace_set(on, glob, st, &r, why, sizeof(why));
	if (err) {
		printk("trace: refused (%s): %s; nothing written", trace_errname(err), why);
		return -EREPORTED;
	}
	char batches[32] = "";
	if (r.batches > 1)
		snprintf(batches, sizeof(batches), " in %u batches", r.batches);
	printk("trace: %u sites %s in %lu ms (%u rounds%s, strategy %s)", r.sites, on ? "on" : "off",
	       tsc_to_us(r.cycles) / 1000, r.rounds, batches, patch_strategy_name(r.strategy));
	return 0;
}

static int trace_stats(const char *glob)
{
	uint32_t n = trace_nr_sites(), matched = 0, hit = 0, on = 0, listed = 0;
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ksym *s = ksym_function(trace_site(i));
		const char *name = s ? ksym_name(s) : "?";
		if (glob && !glob_match(glob, name))
			continue;
		matched++;
		on += trace_site_on(i);
		uint64_t h = trace_hits(i);
		if (!h)
			continue;
		hit++;
		total += h;
		if (listed++ < STATS_LINES)
			printk("  %-32s %lu", name, h);
	}
	if (!matched) {
		printk("trace: no traced function matches '%s' (%u fentry sites)", glob ? glob : "*", n);
		return -EREPORTED;
	}
	if (listed > STATS_LINES)
		printk("  ... and %u more", listed - STATS_LINES);
	printk("trace: %u sites match, %u traced now, %u with hits, %lu hits in all (%lu from no site)", matched, on,
	       hit, total, trace_strays());
	return 0;
}

static int cmd_trace(int argc, char **argv)
{
	const struct patch_strategy *strategy;
	if (patch_strategy_option("trace", &argc, argv, &strategy))
		return -EREPORTED;
	if (argc < 2 || argc > 3) {
		printk("usage: trace on|off|stats [GLOB] [--strategy NAME]");
		return -EREPORTED;
	}
	const char *glob = argc == 3 ? argv[2] : NULL;
	if (!strcmp(argv[1], "on") || !strcmp(argv[1], "off"))
		return trace_switch(!strcmp(argv[1], "on"), glob, strategy);
	if (!strcmp(argv[1], "stats")) {
		if (strategy) {
			printk("trace: stats patches nothing: --strategy does not apply");
			return -EREPORTED;
		}
		return trace_stats(glob);
	}
	printk("trace: unknown subcommand '%s' (on, off or stats)", argv[1]);
	return -EREPORTED;
}
SHELL_CMD("trace", "on|off|stats [GLOB] [--strategy NAME]",
	  "function tracing: patch every matching function's fentry NOP into a call of the tracer, back, or show hits",
	  cmd_trace);
