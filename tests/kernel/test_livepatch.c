/*
 * tests/kernel/test_livepatch.c — livepatch apply, revert, replace
 * (clients/livepatch/apply.c) on hand-made payloads (lp_fake.h): the
 * version every function ends with after stacking and replace sequences
 * (called, not read), one batch per operation, the per-function and
 * per-payload states, every refusal changing neither text nor state, and
 * post hooks running after the last round.
 */
#include "kernel/ktest.h"
#include "kernel/string.h"
#include "lab/lp_targets.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "clients/poke/text_crc.h"
#include "clients/trace/trace.h"
#include "tests/kernel/lp_fake.h"

static char why[256];
static struct lp_result res;

static bool consistent(const char *when)
{
	int err = lp_check_consistency(why, sizeof(why));
	return report(!err, "consistent %s%s%s", when, err ? ": " : "", err ? why : "");
}

/* The three lab functions' versions, as calls return them. */
static bool versions(uint32_t a, uint32_t b, uint32_t nmi, const char *when)
{
	uint32_t ga = lp_target_a(), gb = lp_target_b(), gn = lp_target_nmi();
	return report(ga == a && gb == b && gn == nmi, "%s: lp_target_a %#x (want %#x), lp_target_b %#x (want %#x), "
		      "lp_target_nmi %#x (want %#x)", when, ga, a, gb, b, gn, nmi);
}

static uint64_t batches(void)
{
	struct poke_stats st;
	poke_get_stats(&st);
	return st.batches;
}

static int op(int (*fn)(struct lp_payload *, const struct patch_strategy *, struct lp_result *, char *, size_t),
	      struct lp_payload *p, const char *what)
{
	uint64_t b0 = batches();
	int err = fn(p, NULL, &res, why, sizeof(why));
	report(!err, "%s %s: %u functions, %u rounds, %s, %lu ns, %lu batch(es) (%s%s%s)", what, p->name, res.funcs,
	       res.rounds, patch_strategy_name(res.strategy), res.ns, batches() - b0,
	       lp_fake_errname(err), err ? ": " : "", err ? why : "");
	return err;
}

/* Leave nothing applied (a test that failed half-way). */
static void clean_up(void)
{
	struct lp_payload *all[] = { &lp_fake_stack_over, &lp_fake_two_funcs, &lp_fake_nmi_path, &lp_fake_hooks };
	for (unsigned pass = 0; pass < 4; pass++)
		for (unsigned i = 0; i < 4; i++)
			if (all[i]->state == LP_APPLIED)
				lp_revert(all[i], NULL, NULL, why, sizeof(why));
}

/* Apply and revert one payload of two functions: one batch each, the
 * new versions called in between, the kernel's after. */
static void test_apply_revert(void)
{
	lp_fake_init();
	struct lp_payload *p = &lp_fake_two_funcs;
	uint64_t b0 = batches();
	versions(LP_A_V1, LP_B_V1, LP_NMI_V1, "before");
	if (op(lp_apply, p, "apply"))
		return;
	report(batches() - b0 == 1 && res.funcs == 2, "one batch of 2 sites (%lu batches, %u sites)", batches() - b0,
	       res.funcs);
	versions(LP_A_V2, LP_B_V2, LP_NMI_V1, "applied");
	report(p->state == LP_APPLIED && p->stack_pos == 1 && p->funcs[0].state == LP_FUNC_APPLIED &&
	       p->funcs[1].state == LP_FUNC_APPLIED && !p->funcs[0].under,
	       "payload applied at place 1, both functions applied over the kernel's bytes");
	consistent("after apply");
	op(lp_revert, p, "revert");
	versions(LP_A_V1, LP_B_V1, LP_NMI_V1, "reverted");
	report(p->state == LP_REVERTED && p->stack_pos == 0 && p->funcs[0].state == LP_FUNC_REVERTED &&
	       p->funcs[1].state == LP_FUNC_REVERTED, "payload and both functions reverted");
	consistent("after revert");
	clean_up();
}
KTEST("livepatch.apply_revert", test_apply_revert);

/* stack_over replaces lp_target_a over two_funcs: its revert gives back
 * two_funcs' version (what it saved), not the kernel's; two_funcs cannot
 * be reverted under it. */
static void test_stacking(void)
{
	lp_fake_init();
	struct lp_payload *two = &lp_fake_two_funcs, *over = &lp_fake_stack_over;
	if (op(lp_apply, two, "apply") || op(lp_apply, over, "apply"))
		goto out;
	versions(LP_A_V3, LP_B_V2, LP_NMI_V1, "two_funcs then stack_over");
	report(over->stack_pos == 2 && over->funcs[0].under == two, "stack_over at place 2, its lp_target_a over "
	       "two_funcs' (under: %s)", over->funcs[0].under ? over->funcs[0].under->name : "the kernel");
	consistent("stacked");
	int err = lp_revert(two, NULL, NULL, why, sizeof(why));
	report(err == -LP_ENOT_TOP && mem_contains(why, strlen(why), "stack_over"), "revert of two_funcs under stack_over: %s (%s)",
	       lp_fake_errname(err), why);
	op(lp_revert, over, "revert");
	versions(LP_A_V2, LP_B_V2, LP_NMI_V1, "stack_over reverted");
	consistent("stack_over reverted");
	op(lp_revert, two, "revert");
	versions(LP_A_V1, LP_B_V1, LP_NMI_V1, "both reverted");
	consistent("both reverted");
out:
	clean_up();
}
KTEST("livepatch.stacking_revert_restores_previous", test_stacking);

/* replace: two_funcs and stack_over applied, replaced by nmi_path in ONE
 * batch: lp_target_a and _b back to the kernel's, lp_target_nmi new. */
static void test_replace(void)
{
	lp_fake_init();
	struct lp_payload *two = &lp_fake_two_funcs, *over = &lp_fake_stack_over, *nmi = &lp_fake_nmi_path;
	if (op(lp_apply, two, "apply") || op(lp_apply, over, "apply"))
		goto out;
	uint64_t b0 = batches();
	if (op(lp_replace, nmi, "replace by"))
		goto out;
	report(batches() - b0 == 1 && res.funcs == 3, "replace was one batch of 3 sites (%lu batches, %u sites)",
	       batches() - b0, res.funcs);
	versions(LP_A_V1, LP_B_V1, LP_NMI_V2, "replaced");
	report(two->state == LP_REVERTED && over->state == LP_REVERTED && nmi->state == LP_APPLIED &&
	       nmi->stack_pos == 1 && two->funcs[0].state == LP_FUNC_REVERTED && over->funcs[0].state ==
	       LP_FUNC_REVERTED && nmi->funcs[0].state == LP_FUNC_APPLIED,
	       "two_funcs and stack_over reverted, nmi_path applied at place 1 (states %s %s %s)",
	       lp_state_name(two->state), lp_state_name(over->state), lp_state_name(nmi->state));
	consistent("replaced");
	/* and back: replace nmi_path by two_funcs */
	if (!op(lp_replace, two, "replace by"))
		versions(LP_A_V2, LP_B_V2, LP_NMI_V1, "replaced again");
	consistent("replaced again");
	op(lp_revert, two, "revert");
	versions(LP_A_V1, LP_B_V1, LP_NMI_V1, "all reverted");
	consistent("all reverted");
out:
	clean_up();
}
KTEST("livepatch.replace_one_batch", test_replace);

/* A snapshot of every state the refusals must leave alone. */
struct lp_snap {
	uint32_t crc;
	enum lp_payload_state ps[4];
	uint32_t pos[4];
	enum lp_func_state fs[4][2];
	struct lp_payload *under[4][2];
};

static struct lp_payload *const snap_of[4] = { &lp_fake_nmi_path, &lp_fake_two_funcs, &lp_fake_stack_over,
					       &lp_fake_hooks };

static void snap(struct lp_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->crc = text_crc();
	for (unsigned i = 0; i < 4; i++) {
		s->ps[i] = snap_of[i]->state;
		s->pos[i] = snap_of[i]->stack_pos;
		for (unsigned j = 0; j < snap_of[i]->nfuncs && j < 2; j++) {     /* each has 1 or 2 */
			s->fs[i][j] = snap_of[i]->funcs[j].state;
			s->under[i][j] = snap_of[i]->funcs[j].under;
		}
	}
}

static int vetoes;
static int veto(void)
{
	vetoes++;
	return -1;
}

/* Refuse, and show neither .text (its CRC) nor any state changed. */
static void refused(int err, int want, const char *what, const struct lp_snap *before)
{
	struct lp_snap after;
	snap(&after);
	const char *name = lp_fake_errname(err);
	report(err == want, "%s: refused with %s (%s)", what, name ? name : "?", why);
	report(!memcmp(before, &after, sizeof(after)), "%s: text-crc %#x -> %#x, every payload and function state "
	       "unchanged", what, before->crc, after.crc);
}

static void test_refusals(void)
{
	lp_fake_init();
	struct lp_payload *two = &lp_fake_two_funcs, *over = &lp_fake_stack_over, *nmi = &lp_fake_nmi_path;
	static struct lp_payload bad_expect, bad_target;
	struct lp_snap before;

	/* made while nothing is applied: their expectations are the
	 * kernel's bytes (but one, below) */
	lp_fake(&bad_expect, "bad_expect", 2,
		(const struct lp_fake_func[]){ { (void *)lp_target_nmi, (void *)lp_lab_nmi_v2, true },
					       { (void *)lp_target_b, (void *)lp_lab_b_v2, true } });
	bad_expect.funcs[1].expect[0] ^= 0xff;
	lp_fake(&bad_target, "bad_target", 2,
		(const struct lp_fake_func[]){ { (void *)lp_target_nmi, (void *)lp_lab_nmi_v2, true },
					       { (void *)lp_target_b, (void *)((uintptr_t)lp_lab_b_v2 + 1), true } });
	if (op(lp_apply, two, "apply") || op(lp_apply, over, "apply"))
		goto out;
	snap(&before);
	refused(lp_apply(two, NULL, NULL, why, sizeof(why)), -LP_EALREADY_APPLIED, "double apply", &before);
	refused(lp_revert(nmi, NULL, NULL, why, sizeof(why)), -LP_ENOT_APPLIED, "revert of a payload not applied",
		&before);
	refused(lp_revert(two, NULL, NULL, why, sizeof(why)), -LP_ENOT_TOP, "revert out of order", &before);

	/* veto: nmi_path with a pre-apply hook that says no */
	vetoes = 0;
	nmi->hooks[LP_HOOK_PRE_APPLY] = (void *)veto;
	refused(lp_apply(nmi, NULL, NULL, why, sizeof(why)), -LP_EVETO, "apply vetoed by its pre hook", &before);
	refused(lp_replace(nmi, NULL, NULL, why, sizeof(why)), -LP_EVETO, "replace vetoed by its pre hook", &before);
	nmi->hooks[LP_HOOK_PRE_APPLY] = NULL;
	report(vetoes == 2, "the pre hook ran twice (%d)", vetoes);

	/* veto of a revert: stack_over's pre-revert hook says no, to its own
	 * revert and to a replace (which reverts every applied payload) */
	vetoes = 0;
	over->hooks[LP_HOOK_PRE_REVERT] = (void *)veto;
	refused(lp_revert(over, NULL, NULL, why, sizeof(why)), -LP_EVETO, "revert vetoed by its pre-revert hook",
		&before);
	report(mem_contains(why, strlen(why), "stack_over"), "it names the payload: %s", why);
	refused(lp_replace(nmi, NULL, NULL, why, sizeof(why)), -LP_EVETO,
		"replace vetoed by an applied payload's pre-revert hook", &before);
	report(mem_contains(why, strlen(why), "stack_over"), "it names the payload that vetoed: %s", why);
	over->hooks[LP_HOOK_PRE_REVERT] = NULL;
	report(vetoes == 2, "the pre-revert hook ran twice (%d)", vetoes);

	/* expectation mismatch (tests/livepatch/bad_expect.c by hand): the
	 * first byte of lp_target_b is not what the kernel holds */
	refused(lp_apply(&bad_expect, NULL, NULL, why, sizeof(why)), -LP_EEXPECT, "expectation mismatch", &before);
	report(mem_contains(why, strlen(why), "lp_target_b") && mem_contains(why, strlen(why), "expected"), "it names the function and both bytes: %s", why);

	/* a refusal of the patch core, on the second of two sites: the new
	 * body of lp_target_b is one byte into lp_lab_b_v2 */
	int err = lp_apply(&bad_target, NULL, NULL, why, sizeof(why));
	refused(err, err < 0 && -err < LP_ENOT_ELF ? err : 1, "a patch-core refusal", &before);
	report(err == -PATCH_ETARGET_MID_INSN || err == -PATCH_ECALL_NOT_FUNCTION || err == -PATCH_ETARGET_NO_FUNCTION,
	       "the core's code passes through: %s", lp_fake_errname(err));
	versions(LP_A_V3, LP_B_V2, LP_NMI_V1, "after the refusals");
	consistent("after the refusals");
out:
	clean_up();
}
KTEST("livepatch.refusals_change_nothing", test_refusals);

/* Post hooks run after the last round: the apply's sees its jmp in the
 * text and the batch counted; pre hooks before any byte moves. */
static uint32_t pre_saw, post_saw, post_revert_saw;
static uint8_t pre_byte, post_byte;
static uint64_t pre_batches, post_batches;

static int hook_pre(void)
{
	pre_byte = *(volatile uint8_t *)lp_target_hook;
	pre_saw = lp_target_hook();
	pre_batches = batches();
	return 0;
}

static int nested_err;

static void hook_post(void)
{
	static char nested_why[128];
	post_byte = *(volatile uint8_t *)lp_target_hook;
	post_saw = lp_target_hook();
	post_batches = batches();
	/* A hook asking for another operation is refused at once (it would
	 * wait for the lock its own operation holds). */
	nested_err = lp_revert(&lp_fake_hooks, NULL, NULL, nested_why, sizeof(nested_why));
}

static void hook_post_revert(void)
{
	post_revert_saw = lp_target_hook();
}

static void test_hooks(void)
{
	lp_fake_init();
	struct lp_payload *p = &lp_fake_hooks;
	p->hooks[LP_HOOK_PRE_APPLY] = (void *)hook_pre;
	p->hooks[LP_HOOK_POST_APPLY] = (void *)hook_post;
	p->hooks[LP_HOOK_POST_REVERT] = (void *)hook_post_revert;
	pre_saw = post_saw = post_revert_saw = 0;
	uint64_t b0 = batches();
	if (!op(lp_apply, p, "apply")) {
		report(pre_saw == LP_HOOK_V1 && pre_batches == b0 && pre_byte != 0xe9,
		       "the pre hook ran before any byte moved: first byte %#x, lp_target_hook %#x", pre_byte, pre_saw);
		report(post_saw == LP_HOOK_V2 && post_byte == 0xe9 && post_batches == b0 + 1,
		       "the post hook ran after the last round: the jmp (%#x) in place, lp_target_hook %#x, the batch "
		       "done (%lu)", post_byte, post_saw, post_batches - b0);
		report(nested_err == -LP_EIN_HOOK, "a revert asked for from the post hook was refused with LP_EIN_HOOK "
		       "(got %s)", lp_fake_errname(nested_err));
		op(lp_revert, p, "revert");
		report(post_revert_saw == LP_HOOK_V1, "the post-revert hook saw the kernel's version (%#x)",
		       post_revert_saw);
	}
	memset(p->hooks, 0, sizeof(p->hooks));
	clean_up();
}
KTEST("livepatch.hooks_around_the_batch", test_hooks);

/* A function whose first 5 bytes are several instructions (lab/
 * lp_targets_code.asm): int3 refuses the jmp with PATCH_EMULTI_INSN,
 * nothing written; stop-machine-nmi (multi_insn) applies and reverts it. */
static void test_multi_insn_prologue(void)
{
	static struct lp_payload multi;
	uint8_t before[LP_PATCH_LEN];
	memcpy(before, (const void *)lp_target_multi, LP_PATCH_LEN);
	lp_fake(&multi, "multi", 1,
		(const struct lp_fake_func[]){ { (void *)lp_target_multi, (void *)lp_lab_multi_v2, true } });
	uint32_t crc = text_crc();
	int err = lp_apply(&multi, patch_strategy_find("int3"), NULL, why, sizeof(why));
	report(err == -PATCH_EMULTI_INSN && text_crc() == crc && multi.state == LP_LOADED,
	       "int3: refused with %s, text-crc unchanged, still %s (%s)", lp_fake_errname(err),
	       lp_state_name(multi.state), why);
	const struct patch_strategy *smn = patch_strategy_find("stop-machine-nmi");
	err = lp_apply(&multi, smn, &res, why, sizeof(why));
	if (!report(!err, "stop-machine-nmi: applied over push rbp; mov rbp, rsp; push rbx (%s%s%s)",
		    lp_fake_errname(err), err ? ": " : "", err ? why : ""))
		return;
	uint32_t v = lp_target_multi();
	report(v == LP_MULTI_V2, "lp_target_multi now returns %#x (want %#x)", v, LP_MULTI_V2);
	consistent("multi applied");
	err = lp_revert(&multi, smn, NULL, why, sizeof(why));
	v = lp_target_multi();
	report(!err && v == LP_MULTI_V1 && !memcmp(before, (const void *)lp_target_multi, LP_PATCH_LEN),
	       "reverted: the prologue back, lp_target_multi returns %#x (%s)", v, lp_fake_errname(err));
	consistent("multi reverted");
}
KTEST("livepatch.multi_insn_prologue", test_multi_insn_prologue);

static const uint8_t entry_nop5[LP_PATCH_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t other_nop5[LP_PATCH_LEN] = { 0x66, 0x0f, 0x1f, 0x40, 0x00 };

/* The pre-apply hook of "refused_at_finish": rewrites its target's entry
 * NOP into another 5-byte NOP after the plan was queued, so the core's
 * compare-and-patch refuses the batch with PATCH_EOLD_MISMATCH. */
static int poked_by_hook;
static int hook_rewrites_entry(void)
{
	poked_by_hook = smp_text_poke_single((void *)lp_target_nmi, entry_nop5, other_nop5, LP_PATCH_LEN);
	return 0;
}

/* A batch refused at smp_text_poke_batch_finish() is emptied: the next
 * operation writes its own sites only, not the refused payload's too. */
static void test_refused_batch_is_dropped(void)
{
	lp_fake_init();
	static struct lp_payload x;
	lp_fake(&x, "refused_at_finish", 1,
		(const struct lp_fake_func[]){ { (void *)lp_target_nmi, (void *)lp_lab_nmi_v2, false } });
	x.hooks[LP_HOOK_PRE_APPLY] = (void *)hook_rewrites_entry;
	int err = lp_apply(&x, NULL, NULL, why, sizeof(why));
	x.hooks[LP_HOOK_PRE_APPLY] = NULL;
	report(poked_by_hook == 0 && err == -PATCH_EOLD_MISMATCH && x.state == LP_LOADED &&
	       x.funcs[0].state == LP_FUNC_REVERTED, "apply refused at finish: %s (%s), payload %s, function %s",
	       lp_fake_errname(err), why, lp_state_name(x.state), lp_func_state_name(x.funcs[0].state));
	int e = smp_text_poke_single((void *)lp_target_nmi, other_nop5, entry_nop5, LP_PATCH_LEN);
	report(!e, "lp_target_nmi's entry NOP restored (%s)", lp_fake_errname(e));
	if (!op(lp_apply, &lp_fake_two_funcs, "then apply")) {
		report(res.funcs == 2, "that apply wrote its own 2 sites (%u)", res.funcs);
		versions(LP_A_V2, LP_B_V2, LP_NMI_V1, "two_funcs applied after the refusal");
		report(x.state == LP_LOADED && !memcmp((const void *)lp_target_nmi, entry_nop5, LP_PATCH_LEN),
		       "the refused payload is still %s and its function holds the kernel's NOP",
		       lp_state_name(x.state));
		consistent("after the refused batch and an apply");
	}
	clean_up();
	/* the refused site, if an apply wrote it: back to the kernel's NOP */
	uint8_t jmp[LP_PATCH_LEN];
	if (insn_jmp32((uintptr_t)lp_target_nmi, (uintptr_t)lp_lab_nmi_v2, jmp) &&
	    !memcmp((const void *)lp_target_nmi, jmp, LP_PATCH_LEN))
		smp_text_poke_single((void *)lp_target_nmi, jmp, entry_nop5, LP_PATCH_LEN);
}
KTEST("livepatch.refused_batch_is_dropped", test_refused_batch_is_dropped);

/* Another client rewrites an applied jmp (as `poke` would): a revert, a
 * replace or a payload stacking over it refuses with LP_EEXPECT naming
 * the function and both bytes, writes nothing, changes no state. */
static void test_foreign_rewrite_refused(void)
{
	lp_fake_init();
	struct lp_payload *two = &lp_fake_two_funcs;
	uint8_t mine[LP_PATCH_LEN], foreign[LP_PATCH_LEN];
	insn_jmp32((uintptr_t)lp_target_a, (uintptr_t)lp_lab_a_v2, mine);
	insn_jmp32((uintptr_t)lp_target_a, (uintptr_t)lp_lab_b_v2, foreign);
	if (op(lp_apply, two, "apply"))
		goto out;
	int e = smp_text_poke_single((void *)lp_target_a, mine, foreign, LP_PATCH_LEN);
	if (!report(!e && lp_target_a() == LP_B_V2, "another client rewrote lp_target_a's jmp (%s): it returns %#x",
		    lp_fake_errname(e), lp_target_a()))
		goto out;
	/* The consistency walk sees it too: a state no longer matches its bytes. */
	int err = lp_check_consistency(why, sizeof(why));
	report(err == -LP_EEXPECT && mem_contains(why, strlen(why), "two_funcs"),
	       "the consistency check fails on the rewritten jmp: %s (%s)", lp_fake_errname(err), why);
	uint32_t crc = text_crc();
	err = lp_revert(two, NULL, NULL, why, sizeof(why));
	report(err == -LP_EEXPECT && mem_contains(why, strlen(why), "lp_target_a") && text_crc() == crc &&
	       two->state == LP_APPLIED && two->funcs[0].state == LP_FUNC_APPLIED &&
	       two->funcs[1].state == LP_FUNC_APPLIED, "revert over it: %s, text-crc %s, two_funcs %s (%s)",
	       lp_fake_errname(err), text_crc() == crc ? "unchanged" : "CHANGED", lp_state_name(two->state), why);
	err = lp_apply(&lp_fake_stack_over, NULL, NULL, why, sizeof(why));
	report(err == -LP_EEXPECT && mem_contains(why, strlen(why), "lp_target_a") && text_crc() == crc &&
	       lp_fake_stack_over.state != LP_APPLIED, "stacking over it: %s, text-crc %s (%s)", lp_fake_errname(err),
	       text_crc() == crc ? "unchanged" : "CHANGED", why);
	err = lp_replace(&lp_fake_nmi_path, NULL, NULL, why, sizeof(why));
	report(err == -LP_EEXPECT && mem_contains(why, strlen(why), "lp_target_a") && text_crc() == crc &&
	       lp_fake_nmi_path.state != LP_APPLIED && two->state == LP_APPLIED,
	       "replace over it: %s, text-crc %s (%s)", lp_fake_errname(err), text_crc() == crc ? "unchanged" : "CHANGED",
	       why);
	e = smp_text_poke_single((void *)lp_target_a, foreign, mine, LP_PATCH_LEN);
	report(!e, "the foreign rewrite undone (%s)", lp_fake_errname(e));
	consistent("after the foreign rewrite was undone");
out:
	clean_up();
}
KTEST("livepatch.foreign_rewrite_refused", test_foreign_rewrite_refused);

/* After apply and revert, a function no payload replaces may hold what
 * another client put there (trace's call): the consistency walk only
 * wants it not to be a payload's jmp. */
static void test_traced_after_revert(void)
{
	lp_fake_init();
	struct trace_result tr;
	if (op(lp_apply, &lp_fake_two_funcs, "apply") || op(lp_revert, &lp_fake_two_funcs, "revert"))
		goto out;
	int err = trace_set(true, "lp_target_a", NULL, &tr, why, sizeof(why));
	if (!report(!err && tr.matched == 1, "trace on lp_target_a: %s, %u matched (%s)", lp_fake_errname(err),
		    tr.matched, why))
		goto out;
	report(*(volatile uint8_t *)lp_target_a == 0xe8, "lp_target_a's entry is a call now (%#x)",
	       *(volatile uint8_t *)lp_target_a);
	consistent("with lp_target_a traced, no payload applied");
	err = trace_set(false, "lp_target_a", NULL, &tr, why, sizeof(why));
	report(!err, "trace off lp_target_a (%s)", lp_fake_errname(err));
	consistent("trace off again");
out:
	clean_up();
}
KTEST("livepatch.traced_after_revert_consistent", test_traced_after_revert);
