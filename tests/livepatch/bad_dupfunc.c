/*
 * tests/livepatch/bad_dupfunc.c — refused with LP_EDUP_FUNC: one payload
 * replaces errno_name twice.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_dupfunc");
const char *bad_dupfunc_a(int err) { (void)err; return "a"; }
const char *bad_dupfunc_b(int err) { (void)err; return "b"; }
LIVEPATCH_FUNC(errno_name, bad_dupfunc_a);
LIVEPATCH_FUNC(errno_name, bad_dupfunc_b);
