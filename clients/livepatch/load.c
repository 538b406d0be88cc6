/*
 * clients/livepatch/load.c — the payloads GRUB loaded (Multiboot2 modules,
 * `module2 /boot/lp/NAME.lp NAME`), linked at boot; the registry of loaded
 * payloads and of refused modules; the names of the LP_E* codes.
 *
 * The modules' frames are never handed out (arch/x86/pmm.c), so a refused
 * module's bytes stay readable through the direct map, and a test can link
 * it again.
 */
#include "clients/livepatch/livepatch.h"
#include "arch/x86/paging.h"
#include "kernel/bootinfo.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/string.h"

static struct lp_payload payloads[LP_MAX_PAYLOADS];
static unsigned nr_payloads;
static struct lp_refusal refusals[LP_MAX_REFUSED];
static unsigned nr_refusals;

static const char *const lp_names[LP_ERR_END - LP_ENOT_ELF] = {
	[LP_ENOT_ELF - LP_ENOT_ELF] = "LP_ENOT_ELF",
	[LP_EMACHINE - LP_ENOT_ELF] = "LP_EMACHINE",
	[LP_EMALFORMED - LP_ENOT_ELF] = "LP_EMALFORMED",
	[LP_ERELOC_TYPE - LP_ENOT_ELF] = "LP_ERELOC_TYPE",
	[LP_ERELOC_RANGE - LP_ENOT_ELF] = "LP_ERELOC_RANGE",
	[LP_EUNDEF_SYMBOL - LP_ENOT_ELF] = "LP_EUNDEF_SYMBOL",
	[LP_ENO_NAME - LP_ENOT_ELF] = "LP_ENO_NAME",
	[LP_ENO_FUNCS - LP_ENOT_ELF] = "LP_ENO_FUNCS",
	[LP_ENO_FUNCTION - LP_ENOT_ELF] = "LP_ENO_FUNCTION",
	[LP_ENOPATCH - LP_ENOT_ELF] = "LP_ENOPATCH",
	[LP_EFUNC_TOO_SMALL - LP_ENOT_ELF] = "LP_EFUNC_TOO_SMALL",
	[LP_EBAD_NEW - LP_ENOT_ELF] = "LP_EBAD_NEW",
	[LP_EDUP_FUNC - LP_ENOT_ELF] = "LP_EDUP_FUNC",
	[LP_EDUP_HOOK - LP_ENOT_ELF] = "LP_EDUP_HOOK",
	[LP_EDUP_NAME - LP_ENOT_ELF] = "LP_EDUP_NAME",
	[LP_ETOO_MANY - LP_ENOT_ELF] = "LP_ETOO_MANY",
	[LP_ENOMEM - LP_ENOT_ELF] = "LP_ENOMEM",
	[LP_EEXPECT - LP_ENOT_ELF] = "LP_EEXPECT",
	[LP_EALREADY_APPLIED - LP_ENOT_ELF] = "LP_EALREADY_APPLIED",
	[LP_ENOT_APPLIED - LP_ENOT_ELF] = "LP_ENOT_APPLIED",
	[LP_ENOT_TOP - LP_ENOT_ELF] = "LP_ENOT_TOP",
	[LP_EVETO - LP_ENOT_ELF] = "LP_EVETO",
	[LP_ENO_PAYLOAD - LP_ENOT_ELF] = "LP_ENO_PAYLOAD",
	[LP_EIN_HOOK - LP_ENOT_ELF] = "LP_EIN_HOOK",
	[LP_EAMBIGUOUS - LP_ENOT_ELF] = "LP_EAMBIGUOUS",
};

const char *lp_errname(int err)
{
	int e = err < 0 ? -err : err;
	if (e < LP_ENOT_ELF || e >= LP_ERR_END)
		return NULL;
	return lp_names[e - LP_ENOT_ELF];
}

unsigned lp_count(void) { return nr_payloads; }
unsigned lp_refusal_count(void) { return nr_refusals; }

struct lp_payload *lp_at(unsigned i)
{
	return i < nr_payloads ? &payloads[i] : NULL;
}

const struct lp_refusal *lp_refusal_at(unsigned i)
{
	return i < nr_refusals ? &refusals[i] : NULL;
}

struct lp_payload *lp_find(const char *name)
{
	for (unsigned i = 0; i < nr_payloads; i++)
		if (!strcmp(payloads[i].name, name))
			return &payloads[i];
	return NULL;
}

static void refuse(const char *module, int err, const char *why)
{
	printk("livepatch: refused %s: %s: %s", module, lp_errname(err) ? lp_errname(err) : "?", why);
	if (nr_refusals == LP_MAX_REFUSED)
		return;
	struct lp_refusal *r = &refusals[nr_refusals++];
	strlcpy(r->module, module, sizeof(r->module));
	r->err = err;
	strlcpy(r->why, why, sizeof(r->why));
}

void lp_load_modules(void)
{
	static char why[192];
	for (unsigned i = 0; i < bootinfo.n_mods; i++) {
		const struct boot_module *m = &bootinfo.mods[i];
		const char *module = m->string[0] ? m->string : "(unnamed module)";
		if (nr_payloads == LP_MAX_PAYLOADS) {
			snprintf(why, sizeof(why), "%s: %d payloads are loaded already", module, LP_MAX_PAYLOADS);
			refuse(module, -LP_ETOO_MANY, why);
			continue;
		}
		struct lp_payload *p = &payloads[nr_payloads];
		int err = lp_link(module, P2V(m->start), m->end - m->start, p, why, sizeof(why));
		if (err) {
			refuse(module, err, why);
			continue;
		}
		nr_payloads++;
		const struct lp_link_stats *s = &p->link;
		printk("livepatch: loaded %s from %s: %u functions, %u bytes text, %u relocations",
		       p->name, module, p->nfuncs, s->text_bytes, s->pc32 + s->plt32 + s->abs64 + s->abs32s);
	}
}
