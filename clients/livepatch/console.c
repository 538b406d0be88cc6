/*
 * clients/livepatch/console.c — the console's livepatch command:
 *
 *   lp list                         payloads, states, functions; refused modules
 *   lp apply|revert|replace NAME [--strategy S]
 *   lp info NAME                    relocations by type, expectations, hooks
 *
 * An operation prints one result line (payload, functions, rounds,
 * strategy, time) or one refusal line (its code and why; nothing written).
 */
#include "kernel/errno.h"
#include "kernel/ksyms.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/livepatch/livepatch.h"

static const char *code_name(int err)
{
	const char *n = lp_errname(err);
	if (!n)
		n = patch_errname(err);
	return n ? n : errno_name(err);
}

static const char *expect_how(uint8_t set)
{
	return set == LP_EXPECT_SOURCE ? "from the source" : set == LP_EXPECT_BUILD ? "from the build" : "none";
}

static int lp_list(void)
{
	unsigned n = lp_count();
	printk("lp: %u payload(s), %u refused module(s)", n, lp_refusal_count());
	for (unsigned i = 0; i < n; i++) {
		const struct lp_payload *p = lp_at(i);
		if (p->stack_pos)
			printk("%-16s %-8s place %u  %u function(s)  (%s)", p->name, lp_state_name(p->state), p->stack_pos,
			       p->nfuncs, p->module);
		else
			printk("%-16s %-8s          %u function(s)  (%s)", p->name, lp_state_name(p->state), p->nfuncs,
			       p->module);
		for (uint32_t j = 0; j < p->nfuncs; j++) {
			const struct lp_func *f = &p->funcs[j];
			printk("  %-24s %016lx -> %016lx  %s%s%s", f->name, (unsigned long)f->old_addr,
			       (unsigned long)f->new_addr, lp_func_state_name(f->state), f->under ? "  over " : "",
			       f->under ? f->under->name : "");
		}
	}
	for (unsigned i = 0; i < lp_refusal_count(); i++) {
		const struct lp_refusal *r = lp_refusal_at(i);
		printk("refused %s: %s: %s", r->module, code_name(r->err), r->why);
	}
	return 0;
}

static int lp_info(const struct lp_payload *p)
{
	const struct lp_link_stats *l = &p->link;
	printk("lp info %s: %s, module %s, text %016lx..%016lx", p->name, lp_state_name(p->state), p->module,
	       (unsigned long)p->text_start, (unsigned long)p->text_end);
	printk("  relocations: PC32 %u, PLT32 %u, 64 %u, 32S %u (against the kernel %u, its own %u)", l->pc32,
	       l->plt32, l->abs64, l->abs32s, l->to_kernel, l->to_self);
	printk("  sizes: text %u, read-only %u, data %u bytes", l->text_bytes, l->ro_bytes, l->data_bytes);
	for (uint32_t j = 0; j < p->nfuncs; j++) {
		const struct lp_func *f = &p->funcs[j];
		if (f->expect_set == LP_EXPECT_NONE)
			printk("  %s: expectation none", f->name);
		else
			printk("  %s: expectation %02x %02x %02x %02x %02x (%s)", f->name, f->expect[0], f->expect[1],
			       f->expect[2], f->expect[3], f->expect[4], expect_how(f->expect_set));
	}
	static const char *const kinds[LP_HOOK_KINDS] = { "pre-apply", "post-apply", "pre-revert", "post-revert" };
	unsigned hooks = 0;
	for (unsigned k = 0; k < LP_HOOK_KINDS; k++)
		hooks += p->hooks[k] != NULL;
	if (!hooks)
		printk("  hooks: none");
	for (unsigned k = 0; k < LP_HOOK_KINDS; k++)
		if (p->hooks[k]) {
			const struct ksym *s = ksym_function((uintptr_t)p->hooks[k]);
			printk("  hook %s: %016lx%s%s", kinds[k], (unsigned long)(uintptr_t)p->hooks[k], s ? " " : "",
			       s ? ksym_name(s) : "");
		}
	return 0;
}

typedef int (*lp_op_fn)(struct lp_payload *, const struct patch_strategy *, struct lp_result *, char *, size_t);

static int lp_op(const char *what, lp_op_fn fn, struct lp_payload *p, const struct patch_strategy *s)
{
	static char why[256];
	struct lp_result r;
	int err = fn(p, s, &r, why, sizeof(why));
	if (err) {
		printk("lp %s %s: %s: %s", what, p->name, code_name(err), why);
		return -EREPORTED;
	}
	printk("lp %s %s: %u functions, %u rounds, strategy %s, %lu us", what, p->name, r.funcs, r.rounds,
	       patch_strategy_name(r.strategy), (unsigned long)(r.ns / 1000));
	return 0;
}

static void usage(void)
{
	printk("usage: lp list | lp apply|revert|replace NAME [--strategy S] | lp info NAME");
}

static int cmd_lp(int argc, char **argv)
{
	static const struct {
		const char *name;
		lp_op_fn fn;            /* NULL: list, info */
	} subs[] = { { "list", NULL }, { "info", NULL }, { "apply", lp_apply }, { "revert", lp_revert },
		     { "replace", lp_replace } };
	const struct patch_strategy *s;
	int given = argc;
	if (patch_strategy_option("lp", &argc, argv, &s))
		return -EREPORTED;
	if (argc < 2) {
		usage();
		return -EREPORTED;
	}
	unsigned k = 0;
	while (k < sizeof(subs) / sizeof(subs[0]) && strcmp(argv[1], subs[k].name))
		k++;
	if (k == sizeof(subs) / sizeof(subs[0])) {
		printk("lp: unknown subcommand '%s' (list, apply, revert, replace, info)", argv[1]);
		return -EREPORTED;
	}
	if (!subs[k].fn && argc != given) {
		printk("lp %s: takes no --strategy (only apply, revert and replace batch)", argv[1]);
		return -EREPORTED;
	}
	if (argc != (k == 0 ? 2 : 3)) {
		usage();
		return -EREPORTED;
	}
	if (k == 0)
		return lp_list();
	struct lp_payload *p = lp_find(argv[2]);
	if (!p) {
		printk("lp %s %s: %s: no payload of that name (see 'lp list')", argv[1], argv[2],
		       code_name(-LP_ENO_PAYLOAD));
		return -EREPORTED;
	}
	if (!subs[k].fn)
		return lp_info(p);
	return lp_op(argv[1], subs[k].fn, p, s);
}
SHELL_CMD("lp", "list | apply|revert|replace NAME [--strategy S] | info NAME",
	  "livepatch payloads: list, apply, revert, replace (one batch each), info", cmd_lp);
