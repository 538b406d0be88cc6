/*
 * tests/kernel/lp_fake.h — livepatch payloads filled in by hand, for the
 * apply side's tests: each replaces lab functions (lab/lp_targets.h) by
 * the lab's own bodies (lp_lab_*, in .text), as the sample payloads of
 * tests/livepatch/ do with bodies of their own. No loader involved: what
 * is tested is apply.c's batches, states and refusals.
 */
#ifndef XPOKE_TESTS_KERNEL_LP_FAKE_H
#define XPOKE_TESTS_KERNEL_LP_FAKE_H

#include <stdbool.h>
#include "clients/livepatch/livepatch.h"

struct lp_fake_func {
	void *old_fn, *new_fn;
	bool expect;                    /* expect the kernel's current first bytes */
};

/* Fill *p (zeroed first) as a loaded payload named name replacing n
 * functions. Thread context. */
void lp_fake(struct lp_payload *p, const char *name, unsigned n, const struct lp_fake_func *fs);

/* The payloads of tests/livepatch/, by hand: */
extern struct lp_payload lp_fake_nmi_path;      /* lp_target_nmi -> v2 */
extern struct lp_payload lp_fake_two_funcs;     /* lp_target_a -> a_v2, lp_target_b -> b_v2 */
extern struct lp_payload lp_fake_stack_over;    /* lp_target_a -> a_v3 (stacks on two_funcs) */
extern struct lp_payload lp_fake_hooks;         /* lp_target_hook -> v2, with hooks the test sets */
void lp_fake_init(void);                        /* fill them (idempotent: only the first call) */

/* The name of an apply-side code (-LP_E*) or of the patch core's, for
 * the reports; "?" otherwise. */
const char *lp_fake_errname(int err);

#endif
