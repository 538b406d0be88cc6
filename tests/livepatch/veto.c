/*
 * tests/livepatch/veto.c — its pre-apply hook vetoes: lp_apply refuses
 * it with LP_EVETO and writes nothing.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("veto");
uint32_t veto_b(void) { return 0x1e0c00ffu; }           /* never runs */
LIVEPATCH_FUNC(lp_target_b, veto_b);
static int veto_pre_apply(void) { return 1; }
LIVEPATCH_HOOK(LP_HOOK_PRE_APPLY, veto_pre_apply);
