/*
 * tests/livepatch/hooks.c — replaces lp_target_hook; its post hooks
 * record in the kernel's lp_hooks_seen (lab/lp_targets.h) what they see
 * when they run: the replaced function's result and its first byte (the
 * apply's jmp must be in place: post hooks run after the batch's last
 * round).
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("hooks");
extern uint32_t lp_target_hook(void);
extern uint32_t lp_hooks_seen[5];

uint32_t hooks_new(void) { return 0x1e0d0002u; }        /* LP_HOOK_V2 */
LIVEPATCH_FUNC(lp_target_hook, hooks_new);

static void hooks_post_apply(void)
{
	lp_hooks_seen[0]++;
	lp_hooks_seen[1] = lp_target_hook();
	lp_hooks_seen[2] = *(volatile const uint8_t *)lp_target_hook;
}
LIVEPATCH_HOOK(LP_HOOK_POST_APPLY, hooks_post_apply);

static void hooks_post_revert(void)
{
	lp_hooks_seen[3]++;
	lp_hooks_seen[4] = lp_target_hook();
}
LIVEPATCH_HOOK(LP_HOOK_POST_REVERT, hooks_post_revert);
