/*
 * tests/livepatch/two_funcs.c — replaces lp_target_a and lp_target_b
 * (lab/lp_targets.c) in one batch; tests/livepatch/stack_over.c replaces
 * lp_target_a again over it.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("two_funcs");
uint32_t two_funcs_a(void) { return 0x1e0b0002u; }      /* LP_A_V2 */
uint32_t two_funcs_b(void) { return 0x1e0c0002u; }      /* LP_B_V2 */
LIVEPATCH_FUNC(lp_target_a, two_funcs_a);
LIVEPATCH_FUNC(lp_target_b, two_funcs_b);
