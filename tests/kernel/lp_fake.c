/*
 * tests/kernel/lp_fake.c — hand-made payloads (lp_fake.h).
 */
#include "kernel/ksyms.h"
#include "kernel/string.h"
#include "lab/lp_targets.h"
#include "patch/patch.h"
#include "tests/kernel/lp_fake.h"

struct lp_payload lp_fake_nmi_path, lp_fake_two_funcs, lp_fake_stack_over, lp_fake_hooks;

void lp_fake(struct lp_payload *p, const char *name, unsigned n, const struct lp_fake_func *fs)
{
	memset(p, 0, sizeof(*p));
	strlcpy(p->name, name, sizeof(p->name));
	strlcpy(p->module, "(by hand: tests/kernel/lp_fake.c)", sizeof(p->module));
	p->state = LP_LOADED;
	p->nfuncs = n;
	for (unsigned i = 0; i < n; i++) {
		struct lp_func *f = &p->funcs[i];
		const struct ksym *s = ksym_function((uintptr_t)fs[i].old_fn);
		f->name = s ? ksym_name(s) : "?";
		f->old_addr = (uintptr_t)fs[i].old_fn;
		f->old_size = s ? s->fn_size : 0;
		f->new_addr = (uintptr_t)fs[i].new_fn;
		if (fs[i].expect) {
			memcpy(f->expect, fs[i].old_fn, LP_PATCH_LEN);
			f->expect_set = LP_EXPECT_SOURCE;
		}
		f->state = LP_FUNC_REVERTED;
	}
}

void lp_fake_init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	lp_fake(&lp_fake_nmi_path, "nmi_path", 1,
		(const struct lp_fake_func[]){ { (void *)lp_target_nmi, (void *)lp_lab_nmi_v2, true } });
	lp_fake(&lp_fake_two_funcs, "two_funcs", 2,
		(const struct lp_fake_func[]){ { (void *)lp_target_a, (void *)lp_lab_a_v2, true },
					       { (void *)lp_target_b, (void *)lp_lab_b_v2, true } });
	lp_fake(&lp_fake_stack_over, "stack_over", 1,
		(const struct lp_fake_func[]){ { (void *)lp_target_a, (void *)lp_lab_a_v3, true } });
	lp_fake(&lp_fake_hooks, "hooks", 1,
		(const struct lp_fake_func[]){ { (void *)lp_target_hook, (void *)lp_lab_hook_v2, true } });
}

const char *lp_fake_errname(int err)
{
	if (!err)
		return "ok";
	const char *n = lp_errname(err);
	if (!n)
		n = patch_errname(err);
	return n ? n : "?";
}
