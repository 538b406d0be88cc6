/*
 * tests/kernel/test_livepatch_payloads.c — apply, revert and replace of
 * the real test payloads (tests/livepatch/, loaded from Multiboot2
 * modules at boot): their new bodies live in the payload area, outside
 * .text (the validator accepts a jmp there only onto a function start of
 * a registered region). Stacking and replace end with exactly the
 * expected version of every function (called); bad_expect and veto are
 * refused at apply with nothing changed; hooks' post hooks ran after the
 * last round.
 */
#include "arch/x86/paging.h"
#include "kernel/ktest.h"
#include "kernel/string.h"
#include "lab/lp_targets.h"
#include "patch/patch.h"
#include "clients/poke/text_crc.h"
#include "clients/livepatch/livepatch.h"

static char why[256];

static struct lp_payload *need(const char *name)
{
	struct lp_payload *p = lp_find(name);
	report(p != NULL, "payload %s is loaded (tests/livepatch/%s.c)", name, name);
	return p;
}

static bool run(int (*fn)(struct lp_payload *, const struct patch_strategy *, struct lp_result *, char *, size_t),
		struct lp_payload *p, const char *what)
{
	struct lp_result r;
	int err = fn(p, NULL, &r, why, sizeof(why));
	return report(!err, "%s %s: %u functions, %u rounds, %s (%s%s%s)", what, p->name, r.funcs, r.rounds,
		      patch_strategy_name(r.strategy), err ? lp_errname(err) ? lp_errname(err) : patch_errname(err) : "ok",
		      err ? ": " : "", err ? why : "");
}

static void versions(uint32_t a, uint32_t b, uint32_t n, const char *when)
{
	uint32_t ga = lp_target_a(), gb = lp_target_b(), gn = lp_target_nmi();
	report(ga == a && gb == b && gn == n, "%s: lp_target_a %#x (want %#x), _b %#x (want %#x), _nmi %#x (want %#x)",
	       when, ga, a, gb, b, gn, n);
	int err = lp_check_consistency(why, sizeof(why));
	report(!err, "consistent %s%s%s", when, err ? ": " : "", err ? why : "");
}

static void test_stack_replace(void)
{
	struct lp_payload *two = need("two_funcs"), *over = need("stack_over"), *nmi = need("nmi_path");
	if (!two || !over || !nmi)
		return;
	if (!run(lp_apply, two, "apply") || !run(lp_apply, over, "apply"))
		return;
	report(two->text_start < (uintptr_t)__text_start || two->text_start >= (uintptr_t)__text_end,
	       "two_funcs' bodies are outside .text (%#lx)", (unsigned long)two->text_start);
	versions(LP_A_V3, LP_B_V2, LP_NMI_V1, "two_funcs, stack_over over it");
	if (run(lp_replace, nmi, "replace by"))
		versions(LP_A_V1, LP_B_V1, LP_NMI_V2, "replaced by nmi_path");
	report(two->state == LP_REVERTED && over->state == LP_REVERTED && nmi->state == LP_APPLIED,
	       "states: two_funcs %s, stack_over %s, nmi_path %s", lp_state_name(two->state),
	       lp_state_name(over->state), lp_state_name(nmi->state));
	if (run(lp_apply, two, "apply") && run(lp_revert, two, "revert"))
		versions(LP_A_V1, LP_B_V1, LP_NMI_V2, "two_funcs over nmi_path and back");
	if (run(lp_revert, nmi, "revert"))
		versions(LP_A_V1, LP_B_V1, LP_NMI_V1, "all reverted");
}
KTEST("livepatch.payloads_stack_and_replace", test_stack_replace);

/* Every loaded payload's state, place and function states, folded into
 * one sum (a refusal must change none of them). */
static uint64_t states_sum(unsigned *funcs)
{
	uint64_t h = 1469598103934665603ull;
	*funcs = 0;
	for (unsigned i = 0; i < lp_count(); i++) {
		struct lp_payload *p = lp_at(i);
		h = (h ^ (p->state * 131u + p->stack_pos)) * 1099511628211ull;
		for (uint32_t j = 0; j < p->nfuncs; j++, ++*funcs)
			h = (h ^ (p->funcs[j].state + 7u * (uintptr_t)p->funcs[j].under)) * 1099511628211ull;
	}
	return h;
}

/* Refused at apply, nothing changed: an expectation that does not match
 * (bad_expect, written in its source), a pre hook that vetoes (veto). */
static void test_refused(void)
{
	const char *names[2] = { "bad_expect", "veto" };
	const int want[2] = { -LP_EEXPECT, -LP_EVETO };
	for (unsigned i = 0; i < 2; i++) {
		struct lp_payload *p = need(names[i]);
		if (!p)
			continue;
		uint32_t crc = text_crc();
		unsigned nf;
		uint64_t sum = states_sum(&nf);
		int err = lp_apply(p, NULL, NULL, why, sizeof(why));
		report(err == want[i], "%s refused with %s: %s", names[i], lp_errname(err) ? lp_errname(err) : "?", why);
		report(text_crc() == crc && states_sum(&nf) == sum,
		       "%s: text-crc %#x unchanged, the states of all %u payloads and their %u functions unchanged "
		       "(%s is %s)", names[i], crc, lp_count(), nf, p->name, lp_state_name(p->state));
	}
}
KTEST("livepatch.payloads_refused_at_apply", test_refused);

/* hooks.c's post hooks record what they see (lp_hooks_seen). */
static void test_hooks(void)
{
	struct lp_payload *p = need("hooks");
	if (!p)
		return;
	memset(lp_hooks_seen, 0, sizeof(lp_hooks_seen));
	if (!run(lp_apply, p, "apply"))
		return;
	report(lp_hooks_seen[0] == 1 && lp_hooks_seen[1] == LP_HOOK_V2 && lp_hooks_seen[2] == 0xe9,
	       "post-apply ran once after the last round: lp_target_hook gave %#x, its first byte %#x",
	       lp_hooks_seen[1], lp_hooks_seen[2]);
	if (run(lp_revert, p, "revert"))
		report(lp_hooks_seen[3] == 1 && lp_hooks_seen[4] == LP_HOOK_V1,
		       "post-revert ran once, after: lp_target_hook gave %#x", lp_hooks_seen[4]);
}
KTEST("livepatch.payloads_post_hooks", test_hooks);
