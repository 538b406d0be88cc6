/*
 * tests/livepatch/bad_nofunc.c — refused with LP_ENO_FUNCTION: it replaces
 * a function the kernel does not have (built with --no-expect, or
 * scripts/lp-build.py would refuse it first).
 */
// lp-build: --no-expect
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_nofunc");
int bad_nofunc_new(void) { return 0; }
LIVEPATCH_FUNC(lp_no_such_kernel_function, bad_nofunc_new);
