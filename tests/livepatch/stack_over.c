/*
 * tests/livepatch/stack_over.c — replaces lp_target_a again, over
 * two_funcs.c when that is applied (stacking): its revert gives back
 * two_funcs' version, not the kernel's.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("stack_over");
uint32_t stack_over_a(void) { return 0x1e0b0003u; }     /* LP_A_V3 */
LIVEPATCH_FUNC(lp_target_a, stack_over_a);
