/*
 * clients/sites/console.c — console commands of the named sites: sites,
 * patch SITE VARIANT.
 */
#include "arch/x86/dump.h"
#include "arch/x86/tsc.h"
#include "clients/sites/sites.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "patch/patch.h"

static void hex(char *out, size_t size, const uint8_t *b, unsigned n)
{
	size_t o = 0;
	for (unsigned i = 0; i < n && o + 3 < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%02x", i ? " " : "", b[i]);
}

static int cmd_sites(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	char sym[96], bytes[48], text[96];
	uintptr_t live;
	uint8_t live_len;
	for (const struct patch_site_def *s = __patch_sites_start; s < __patch_sites_end; s++) {
		const struct site_variant *cur = site_current_variant(s);
		hex(bytes, sizeof(bytes), s->addr, s->len);
		disasm_one((uintptr_t)s->addr, s->addr, s->len, text, sizeof(text));
		printk("%-12s %016lx <%s> len %u%s", s->name, (uintptr_t)s->addr,
		       format_symbol(sym, sizeof(sym), (uintptr_t)s->addr), s->len,
		       patch_in_flight((uintptr_t)s->addr, s->len, &live, &live_len) ? "  [in a live batch]" : "");
		printk("             now: %-20s  %s  (variant %s)", bytes, text, cur ? cur->name : "none");
		for (unsigned i = 0; i < s->nvar; i++) {
			uint8_t b[POKE_MAX_LEN];
			if (site_encode(s, &s->var[i], b) != s->len)
				continue;
			hex(bytes, sizeof(bytes), b, s->len);
			disasm_one((uintptr_t)s->addr, b, s->len, text, sizeof(text));
			printk("             %-4s %-20s  %s", s->var[i].name, bytes, text);
		}
		printk("             %s", s->help);
	}
	return 0;
}
SHELL_CMD("sites", "", "patch sites: current bytes disassembled, and their variants", cmd_sites);

static int cmd_patch(int argc, char **argv)
{
	const struct patch_strategy *strategy;
	if (patch_strategy_option("patch", &argc, argv, &strategy))
		return -EREPORTED;
	if (argc != 3) {
		printk("usage: patch SITE VARIANT [--strategy NAME]   (see 'sites', 'strategies')");
		return -EREPORTED;
	}
	const struct patch_site_def *s = site_by_name(argv[1]);
	if (!s) {
		printk("patch: no site named '%s' (see 'sites')", argv[1]);
		return -EREPORTED;
	}
	const struct site_variant *v = variant_by_name(s, argv[2]);
	if (!v) {
		printk("patch: site %s has no variant '%s' (see 'sites')", s->name, argv[2]);
		return -EREPORTED;
	}
	uint8_t bytes[POKE_MAX_LEN];
	if (site_encode(s, v, bytes) != s->len) {
		printk("patch: %s -> %s: variant %s does not encode into the site's %u bytes", s->name, v->name, v->name,
		       s->len);
		return -EREPORTED;
	}
	if (site_patch_by(strategy, s, v))
		return -EREPORTED;      /* the core printed the refusal: its code, address and reason */
	struct poke_stats st;
	poke_get_stats(&st);
	printk("patch: %s is now %s (%u rounds, %lu us, strategy %s)", s->name, v->name, st.rounds,
	       tsc_to_us(st.cycles_total), patch_strategy_name(st.strategy));
	return 0;
}
SHELL_CMD("patch", "SITE VARIANT [--strategy NAME]",
	  "patch a site to one of its variants (default strategy: patch.strategy)", cmd_patch);
