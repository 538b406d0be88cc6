/*
 * clients/livepatch/apply.c — lp_apply, lp_revert, lp_replace and
 * lp_check_consistency (livepatch.h): each operation is ONE batch of the
 * patch core, and the states (per payload, per function: seed 004's
 * lesson) change only once that batch has succeeded.
 *
 * A replaced function's first LP_PATCH_LEN bytes hold one instruction at
 * any time: the kernel's own (with fentry, its 5-byte NOP), or "jmp rel32"
 * to the new body of the topmost applied payload replacing it. So every
 * strategy can move a function from one version to the next, and a CPU
 * calling it meets the old version or the new one, never a mix: the
 * strategies' promise for one instruction.
 *
 * The applied payloads form a stack (applied[0..nr_applied), stack_pos
 * 1-based). Stacking: a payload replacing a function that an applied one
 * replaces already writes its jmp over that one's (old bytes: that jmp;
 * saved = that jmp, under = that payload); its revert writes saved back.
 * Only the top may be reverted (Xen's rule), so saved is always what the
 * function held just before, and a chain of reverts ends at the kernel's
 * bytes.
 *
 * Each operation, with lp_lock held (one at a time):
 *
 *   1. plan, with text_lock held (no batch half-way): for each site its
 *      old bytes (what the states say is there: the top payload's jmp,
 *      checked against the text, or where no payload is applied the text)
 *      and its final bytes; refusals by name (LP_EALREADY_APPLIED,
 *      LP_ENOT_APPLIED, LP_ENOT_TOP, LP_EEXPECT) before anything is queued
 *   2. queue every site in one batch (validated by the core: a refusal,
 *      its PATCH_E* code, drops the batch, nothing written)
 *   3. pre hooks (a nonzero one: LP_EVETO, the batch dropped)
 *   4. smp_text_poke_batch_finish: every CPU goes from the old version of
 *      every function to the new one by the strategy's rounds
 *   5. only now: per-function and per-payload states, the stack
 *   6. post hooks: after the batch's last round
 *
 * Replace is the same with the plan of "revert every applied payload,
 * then apply p" folded into one site per address (its final bytes).
 *
 * Thread context, IRQs on (livepatch.h).
 */
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/livepatch/livepatch.h"

/* Sites in one batch: replace reverts every applied payload and applies
 * one more. */
#define LP_BATCH_SITES ((LP_MAX_PAYLOADS + 1) * LP_MAX_FUNCS)
#define LP_LOCK_MS     120000   /* an operation under NMI storms at -smp 8 on 2 host cores */

static spinlock_t lp_lock = SPINLOCK_INIT("livepatch");
POKE_BATCH_DEFINE(lp_batch, LP_BATCH_SITES);

static struct lp_payload *applied[LP_MAX_PAYLOADS];     /* the stack, bottom first */
static unsigned nr_applied;
/* Every payload an operation was asked about, for the consistency walk
 * beside the loader's (the tests' hand-made ones too; payloads are never
 * unloaded: the pointers stay valid). */
static struct lp_payload *known[LP_MAX_PAYLOADS * 2];
static unsigned nr_known;

/* One address of the plan: the bytes there now and its final bytes. */
struct lp_step {
	uintptr_t addr;
	uint8_t old[LP_PATCH_LEN], new[LP_PATCH_LEN];
};
static struct lp_step plan[LP_BATCH_SITES];
static unsigned nr_plan;

const char *lp_state_name(enum lp_payload_state s)
{
	switch (s) {
	case LP_LOADED: return "loaded";
	case LP_APPLIED: return "applied";
	case LP_REVERTED: return "reverted";
	}
	return "?";
}

const char *lp_func_state_name(enum lp_func_state s)
{
	return s == LP_FUNC_APPLIED ? "applied" : "reverted";
}

/* Remember p for the consistency walk (the loader's payloads it walks
 * anyway). -LP_ETOO_MANY, refusing the operation, when known[] is full:
 * a payload the walk cannot see could hold its jmp unnoticed. */
static int remember(struct lp_payload *p, char *why, size_t why_len)
{
	for (unsigned i = 0; i < lp_count(); i++)
		if (lp_at(i) == p)
			return 0;
	for (unsigned i = 0; i < nr_known; i++)
		if (known[i] == p)
			return 0;
	if (nr_known == sizeof(known) / sizeof(known[0])) {
		snprintf(why, why_len, "payload %s: %u payloads not from the loader were asked about already (the "
			 "consistency walk follows no more)", p->name, nr_known);
		return -LP_ETOO_MANY;
	}
	known[nr_known++] = p;
	return 0;
}

static void hex5(const uint8_t *b, char *out, size_t size)
{
	snprintf(out, size, "%02x %02x %02x %02x %02x", b[0], b[1], b[2], b[3], b[4]);
}

/* The applied payload whose version of the function at addr is in the
 * text (the highest on the stack replacing it), or NULL. */
static struct lp_payload *top_at(uintptr_t addr, struct lp_func **fp)
{
	for (unsigned i = nr_applied; i-- > 0;)
		for (uint32_t j = 0; j < applied[i]->nfuncs; j++)
			if (applied[i]->funcs[j].old_addr == addr) {
				if (fp)
					*fp = &applied[i]->funcs[j];
				return applied[i];
			}
	return NULL;
}

/* The kernel's own bytes of the function at addr: what the lowest applied
 * payload replacing it saved, or the text when none does. */
static void kernel_bytes(uintptr_t addr, uint8_t out[LP_PATCH_LEN])
{
	for (unsigned i = 0; i < nr_applied; i++)
		for (uint32_t j = 0; j < applied[i]->nfuncs; j++)
			if (applied[i]->funcs[j].old_addr == addr && !applied[i]->funcs[j].under) {
				memcpy(out, applied[i]->funcs[j].saved, LP_PATCH_LEN);
				return;
			}
	memcpy(out, (const void *)addr, LP_PATCH_LEN);
}

/* The jmp that installs f. */
static int jmp_of(const struct lp_payload *p, const struct lp_func *f, uint8_t out[LP_PATCH_LEN], char *why,
		  size_t why_len)
{
	if (insn_jmp32(f->old_addr, f->new_addr, out))
		return 0;
	snprintf(why, why_len, "payload %s: %s at %#lx: new body %#lx is out of a jmp rel32's reach", p->name,
		 f->name, (unsigned long)f->old_addr, (unsigned long)f->new_addr);
	return -PATCH_ETARGET_OUTSIDE_TEXT;
}

/* The plan entry of addr (the function fname), or NULL and why. Its old
 * bytes are what the states say the text holds: the jmp of the topmost
 * applied payload replacing the function, or, where none does, the text
 * as it is (the kernel's bytes or another client's: no payload's to
 * keep). A text that is not that jmp was rewritten by someone else since
 * the apply: refused with -LP_EEXPECT, rather than overwritten by a
 * revert or saved by a payload stacking over it. With text_lock held (the
 * plan is made under it): no batch is half-way, no int3 of one is read as
 * a function's bytes. */
static struct lp_step *plan_at(uintptr_t addr, const char *fname, int *err, char *why, size_t why_len)
{
	for (unsigned i = 0; i < nr_plan; i++)
		if (plan[i].addr == addr)
			return &plan[i];
	if (nr_plan == LP_BATCH_SITES) {
		snprintf(why, why_len, "%s: more than %u sites in one batch", fname, LP_BATCH_SITES);
		*err = -LP_ETOO_MANY;
		return NULL;
	}
	uint8_t want[LP_PATCH_LEN];
	const uint8_t *text = (const uint8_t *)addr;
	struct lp_func *tf = NULL;
	struct lp_payload *top = top_at(addr, &tf);
	if (top) {
		if ((*err = jmp_of(top, tf, want, why, why_len)))
			return NULL;
		if (memcmp(text, want, LP_PATCH_LEN)) {
			char e[16], f[16];
			hex5(want, e, sizeof(e));
			hex5(text, f, sizeof(f));
			snprintf(why, why_len, "%s at %#lx: expected the jmp of payload %s (%s), found %s: rewritten "
				 "by another client; nothing written", fname, (unsigned long)addr, top->name, e, f);
			*err = -LP_EEXPECT;
			return NULL;
		}
	} else {
		memcpy(want, text, LP_PATCH_LEN);
	}
	struct lp_step *s = &plan[nr_plan++];
	s->addr = addr;
	memcpy(s->old, want, LP_PATCH_LEN);
	memcpy(s->new, want, LP_PATCH_LEN);
	return s;
}

/* Plan p's apply over what the plan already holds (replace: the reverts),
 * checking each function's expectation against the kernel's own bytes. */
static int plan_apply(struct lp_payload *p, char *why, size_t why_len)
{
	for (uint32_t i = 0; i < p->nfuncs; i++) {
		struct lp_func *f = &p->funcs[i];
		uint8_t kb[LP_PATCH_LEN];
		kernel_bytes(f->old_addr, kb);
		if (f->expect_set != LP_EXPECT_NONE && memcmp(kb, f->expect, LP_PATCH_LEN)) {
			char e[16], k[16];
			hex5(f->expect, e, sizeof(e));
			hex5(kb, k, sizeof(k));
			snprintf(why, why_len, "payload %s: %s at %#lx: expected %s, found %s", p->name, f->name,
				 (unsigned long)f->old_addr, e, k);
			return -LP_EEXPECT;
		}
		int err = 0;
		struct lp_step *s = plan_at(f->old_addr, f->name, &err, why, why_len);
		if (!s)
			return err;
		if ((err = jmp_of(p, f, s->new, why, why_len)))
			return err;
	}
	return 0;
}

/* Plan the revert of p: each of its functions back to what it saved. */
static int plan_revert(struct lp_payload *p, char *why, size_t why_len)
{
	for (uint32_t i = 0; i < p->nfuncs; i++) {
		int err = 0;
		struct lp_step *s = plan_at(p->funcs[i].old_addr, p->funcs[i].name, &err, why, why_len);
		if (!s)
			return err;
		memcpy(s->new, p->funcs[i].saved, LP_PATCH_LEN);
	}
	return 0;
}

/* Queue the plan in one batch of strategy s (nothing written yet). */
static int queue_plan(const struct patch_strategy *s, uint32_t *sites, char *why, size_t why_len)
{
	struct poke_batch *b = &lp_batch;
	b->strategy = s;
	b->quiet = true;
	b->why[0] = 0;
	*sites = 0;
	for (unsigned i = 0; i < nr_plan; i++) {
		if (!memcmp(plan[i].old, plan[i].new, LP_PATCH_LEN))
			continue;
		int err = smp_text_poke_batch_add(b, (void *)plan[i].addr, plan[i].old, plan[i].new, LP_PATCH_LEN);
		if (err) {
			snprintf(why, why_len, "%s", b->why);
			smp_text_poke_batch_reset(b);
			return err;
		}
		++*sites;
	}
	return 0;
}

static int run_pre(struct lp_payload *p, enum lp_hook_kind k, char *why, size_t why_len)
{
	lp_pre_hook_fn fn = (lp_pre_hook_fn)p->hooks[k];
	int rc = fn ? fn() : 0;
	if (!rc)
		return 0;
	snprintf(why, why_len, "payload %s: its pre-%s hook vetoed (returned %d); nothing written", p->name,
		 k == LP_HOOK_PRE_APPLY ? "apply" : "revert", rc);
	return -LP_EVETO;
}

static void run_post(struct lp_payload *p, enum lp_hook_kind k)
{
	lp_post_hook_fn fn = (lp_post_hook_fn)p->hooks[k];
	if (fn)
		fn();
}

/* After the batch succeeded: p's functions are applied over what the
 * text held (the plan's old bytes), p on top of the stack. */
static void mark_applied(struct lp_payload *p)
{
	for (uint32_t i = 0; i < p->nfuncs; i++) {
		struct lp_func *f = &p->funcs[i];
		f->under = top_at(f->old_addr, NULL);
		for (unsigned j = 0; j < nr_plan; j++)
			if (plan[j].addr == f->old_addr)
				memcpy(f->saved, plan[j].old, LP_PATCH_LEN);
		f->state = LP_FUNC_APPLIED;
	}
	p->state = LP_APPLIED;
	applied[nr_applied++] = p;
	p->stack_pos = nr_applied;
}

static void mark_reverted(struct lp_payload *p)
{
	for (uint32_t i = 0; i < p->nfuncs; i++) {
		p->funcs[i].state = LP_FUNC_REVERTED;
		p->funcs[i].under = NULL;
	}
	p->state = LP_REVERTED;
	p->stack_pos = 0;
}

/* The figures of the operation's batch (large: static, lp_lock held). */
static struct poke_stats lp_fig;

/*
 * Apply lp_batch and take its figures right after, lp_lock held (no other
 * livepatch operation). Another client's batch (trace, a static key, the
 * console's poke) may still complete between the finish() releasing
 * text_lock and the figures being read, or between b0 and the finish():
 * the core's batch count tells. Exactly one batch more than before is
 * ours; otherwise lp_fig is zeroed (rounds and strategy unknown, rather
 * than another's).
 */
static int finish_with_figures(void)
{
	poke_get_stats(&lp_fig);
	uint64_t b0 = lp_fig.batches;
	uint32_t queued = lp_batch.nr;  /* an empty batch counts no batch: another's would look ours */
	int err = smp_text_poke_batch_finish(&lp_batch);
	poke_get_stats(&lp_fig);
	if (err || !queued || lp_fig.batches != b0 + 1)
		memset(&lp_fig, 0, sizeof(lp_fig));
	return err;
}

static void fill_result(struct lp_result *r, uint32_t sites, const struct patch_strategy *s, uint64_t t0)
{
	if (!r)
		return;
	r->funcs = sites;
	r->rounds = lp_fig.rounds;
	r->strategy = lp_fig.strategy ? lp_fig.strategy : s ? s : patch_default_strategy();
	r->ns = tsc_to_ns(rdtsc() - t0);
}

/* Take lp_lock for one operation on p and make p known to the
 * consistency walk; -LP_EIN_HOOK (instead of waiting for ourselves until
 * the lock's deadline panics) when this CPU holds the lock already: a hook
 * of an operation in progress asked for another. On any error the lock is
 * not held. */
static int begin(struct lp_payload *p, char *why, size_t why_len)
{
	if (spin_held_by_me(&lp_lock)) {
		snprintf(why, why_len, "payload %s: asked for from a hook of an operation in progress (hooks may not "
			 "apply, revert or replace)", p->name);
		return -LP_EIN_HOOK;
	}
	spin_lock_timeout(&lp_lock, LP_LOCK_MS);
	if (why_len)
		why[0] = 0;
	nr_plan = 0;
	int err = remember(p, why, why_len);
	if (err)
		spin_unlock(&lp_lock);
	return err;
}

/* End an operation begun by begin(): its result, the lock released. */
static int end(int err, struct lp_result *r, uint32_t sites, const struct patch_strategy *s, uint64_t t0)
{
	fill_result(r, sites, s, t0);
	spin_unlock(&lp_lock);
	return err;
}

/* -LP_EALREADY_APPLIED if p is applied (apply and replace refuse it). */
static int refuse_applied(const struct lp_payload *p, char *why, size_t why_len)
{
	if (p->state != LP_APPLIED)
		return 0;
	snprintf(why, why_len, "payload %s is applied already (place %u on the stack)", p->name, p->stack_pos);
	return -LP_EALREADY_APPLIED;
}

/* The pre hooks an operation asks, in order; nonzero vetoes it. */
static int pre_apply(struct lp_payload *p, char *why, size_t why_len)
{
	return run_pre(p, LP_HOOK_PRE_APPLY, why, why_len);
}

static int pre_revert(struct lp_payload *p, char *why, size_t why_len)
{
	return run_pre(p, LP_HOOK_PRE_REVERT, why, why_len);
}

static int pre_replace(struct lp_payload *p, char *why, size_t why_len)
{
	int err = 0;
	for (unsigned i = nr_applied; !err && i-- > 0;)
		err = run_pre(applied[i], LP_HOOK_PRE_REVERT, why, why_len);
	return err ? err : run_pre(p, LP_HOOK_PRE_APPLY, why, why_len);
}

/* The plan as one batch of strategy s: queued (the core checks every
 * site), then the pre hooks asked (a veto drops the batch: nothing
 * written), then applied; what names the operation in why when the core
 * refuses at the end. *sites: how many were queued. */
static int write_plan(const char *what, struct lp_payload *p, const struct patch_strategy *s,
		      int (*pre)(struct lp_payload *, char *, size_t), uint32_t *sites, char *why, size_t why_len)
{
	int err = queue_plan(s, sites, why, why_len);
	if (!err && (err = pre(p, why, why_len)))
		smp_text_poke_batch_reset(&lp_batch);
	memset(&lp_fig, 0, sizeof(lp_fig));
	if (err)
		return err;
	err = finish_with_figures();
	if (err)
		snprintf(why, why_len, "%s %s: %s", what, p->name, lp_batch.why);
	return err;
}

int lp_apply(struct lp_payload *p, const struct patch_strategy *s, struct lp_result *r, char *why, size_t why_len)
{
	uint64_t t0 = rdtsc();
	uint32_t sites = 0;
	int err;
	if ((err = begin(p, why, why_len)))
		return err;
	if ((err = refuse_applied(p, why, why_len))) {
		/* why says so */
	} else if (nr_applied == LP_MAX_PAYLOADS) {
		snprintf(why, why_len, "payload %s: %u payloads are applied already", p->name, nr_applied);
		err = -LP_ETOO_MANY;
	} else {
		patch_text_lock();
		err = plan_apply(p, why, why_len);
		patch_text_unlock();
	}
	if (!err)
		err = write_plan("payload", p, s, pre_apply, &sites, why, why_len);
	if (!err) {
		mark_applied(p);
		run_post(p, LP_HOOK_POST_APPLY);
	}
	return end(err, r, sites, s, t0);
}

int lp_revert(struct lp_payload *p, const struct patch_strategy *s, struct lp_result *r, char *why, size_t why_len)
{
	uint64_t t0 = rdtsc();
	uint32_t sites = 0;
	int err = 0;
	if ((err = begin(p, why, why_len)))
		return err;
	if (p->state != LP_APPLIED) {
		snprintf(why, why_len, "payload %s is not applied (%s)", p->name, lp_state_name(p->state));
		err = -LP_ENOT_APPLIED;
	} else if (applied[nr_applied - 1] != p) {
		snprintf(why, why_len, "payload %s is place %u on the stack: %s (place %u) is on top and must be "
			 "reverted first", p->name, p->stack_pos, applied[nr_applied - 1]->name, nr_applied);
		err = -LP_ENOT_TOP;
	}
	if (!err) {
		patch_text_lock();
		err = plan_revert(p, why, why_len);
		patch_text_unlock();
	}
	if (!err)
		err = write_plan("payload", p, s, pre_revert, &sites, why, why_len);
	if (!err) {
		mark_reverted(p);
		nr_applied--;
		run_post(p, LP_HOOK_POST_REVERT);
	}
	return end(err, r, sites, s, t0);
}

int lp_replace(struct lp_payload *p, const struct patch_strategy *s, struct lp_result *r, char *why, size_t why_len)
{
	uint64_t t0 = rdtsc();
	uint32_t sites = 0;
	int err = 0;
	if ((err = begin(p, why, why_len)))
		return err;
	err = refuse_applied(p, why, why_len);
	/* Every applied payload reverted, top first: each address ends with
	 * what the lowest one saved, the kernel's bytes; then p over them.
	 * p's saved bytes will be the kernel's: taken now, while the text and
	 * the stack still show them. */
	static uint8_t kernel_saved[LP_MAX_FUNCS][LP_PATCH_LEN];
	patch_text_lock();
	for (unsigned i = nr_applied; !err && i-- > 0;)
		err = plan_revert(applied[i], why, why_len);
	if (!err)
		err = plan_apply(p, why, why_len);
	for (uint32_t i = 0; !err && i < p->nfuncs; i++)
		kernel_bytes(p->funcs[i].old_addr, kernel_saved[i]);
	patch_text_unlock();
	if (!err)
		err = write_plan("replace by payload", p, s, pre_replace, &sites, why, why_len);
	if (!err) {
		for (uint32_t i = 0; i < p->nfuncs; i++)
			memcpy(p->funcs[i].saved, kernel_saved[i], LP_PATCH_LEN);
		unsigned n = nr_applied;
		struct lp_payload *gone[LP_MAX_PAYLOADS];
		memcpy(gone, applied, n * sizeof(gone[0]));
		for (unsigned i = n; i-- > 0;)
			mark_reverted(gone[i]);
		nr_applied = 0;
		for (uint32_t i = 0; i < p->nfuncs; i++) {
			p->funcs[i].under = NULL;
			p->funcs[i].state = LP_FUNC_APPLIED;
		}
		p->state = LP_APPLIED;
		applied[nr_applied++] = p;
		p->stack_pos = 1;
		for (unsigned i = n; i-- > 0;)
			run_post(gone[i], LP_HOOK_POST_REVERT);
		run_post(p, LP_HOOK_POST_APPLY);
	}
	return end(err, r, sites, s, t0);
}

/* The consistency walk, with lp_lock and text_lock held. */
static int check_locked(char *why, size_t why_len)
{
	char want[16], got[16];
	/* Applied payloads: each function applied; the top one's jmp in the
	 * text; one lower down saved by the one just above it. */
	for (unsigned i = 0; i < nr_applied; i++) {
		struct lp_payload *p = applied[i];
		if (p->state != LP_APPLIED || p->stack_pos != i + 1) {
			snprintf(why, why_len, "payload %s is place %u on the stack but %s at place %u", p->name, i + 1,
				 lp_state_name(p->state), p->stack_pos);
			return -LP_EEXPECT;
		}
		for (uint32_t j = 0; j < p->nfuncs; j++) {
			struct lp_func *f = &p->funcs[j], *tf = NULL;
			uint8_t jmp[LP_PATCH_LEN];
			if (f->state != LP_FUNC_APPLIED) {
				snprintf(why, why_len, "payload %s is applied but its %s is %s", p->name, f->name,
					 lp_func_state_name(f->state));
				return -LP_EEXPECT;
			}
			if (jmp_of(p, f, jmp, why, why_len))
				return -LP_EEXPECT;
			struct lp_payload *top = top_at(f->old_addr, &tf);
			const uint8_t *holder = top == p ? (const uint8_t *)f->old_addr : NULL;
			for (unsigned k = i + 1; !holder && k < nr_applied; k++)       /* the next one up saved it */
				for (uint32_t m = 0; m < applied[k]->nfuncs; m++)
					if (applied[k]->funcs[m].old_addr == f->old_addr) {
						if (applied[k]->funcs[m].under != p) {
							snprintf(why, why_len, "%s at %#lx: payload %s stacks on %s, "
								 "not on %s", f->name, (unsigned long)f->old_addr,
								 applied[k]->name,
								 applied[k]->funcs[m].under ?
								 applied[k]->funcs[m].under->name : "the kernel",
								 p->name);
							return -LP_EEXPECT;
						}
						holder = applied[k]->funcs[m].saved;
						break;
					}
			if (holder && memcmp(holder, jmp, LP_PATCH_LEN)) {
				hex5(jmp, want, sizeof(want));
				hex5(holder, got, sizeof(got));
				snprintf(why, why_len, "%s at %#lx: payload %s (applied) wants %s %s, found %s", f->name,
					 (unsigned long)f->old_addr, p->name, want,
					 top == p ? "in the text" : "saved above it", got);
				return -LP_EEXPECT;
			}
		}
	}
	/* Payloads not applied: every function reverted; where no applied
	 * payload replaces it, the text is not its jmp. That is all there is
	 * to want of a function no payload replaces: the kernel's bytes, or
	 * whatever another client (trace, poke) put there since, is not the
	 * livepatch's to keep. */
	for (unsigned i = 0; i < nr_known + lp_count(); i++) {  /* the loader's too */
		struct lp_payload *p = i < nr_known ? known[i] : lp_at(i - nr_known);
		if (p->state == LP_APPLIED)
			continue;
		for (uint32_t j = 0; j < p->nfuncs; j++) {
			struct lp_func *f = &p->funcs[j];
			uint8_t jmp[LP_PATCH_LEN];
			const uint8_t *text = (const uint8_t *)f->old_addr;
			if (f->state != LP_FUNC_REVERTED) {
				snprintf(why, why_len, "payload %s is %s but its %s is %s", p->name, lp_state_name(p->state),
					 f->name, lp_func_state_name(f->state));
				return -LP_EEXPECT;
			}
			if (top_at(f->old_addr, NULL))
				continue;
			if (insn_jmp32(f->old_addr, f->new_addr, jmp) && !memcmp(text, jmp, LP_PATCH_LEN)) {
				snprintf(why, why_len, "%s at %#lx holds the jmp of payload %s, which is %s", f->name,
					 (unsigned long)f->old_addr, p->name, lp_state_name(p->state));
				return -LP_EEXPECT;
			}
		}
	}
	return 0;
}

int lp_check_consistency(char *why, size_t why_len)
{
	if (spin_held_by_me(&lp_lock)) {
		snprintf(why, why_len, "the consistency check was asked for from a hook of an operation in progress");
		return -LP_EIN_HOOK;
	}
	spin_lock_timeout(&lp_lock, LP_LOCK_MS);
	patch_text_lock();
	int err = check_locked(why, why_len);
	patch_text_unlock();
	spin_unlock(&lp_lock);
	return err;
}
