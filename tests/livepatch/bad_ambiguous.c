/*
 * tests/livepatch/bad_ambiguous.c — refused with LP_EAMBIGUOUS: the kernel
 * has two local functions named wait_all (two files), so the name does not
 * say which one is replaced (built with --no-expect, or scripts/lp-build.py
 * would refuse it first, naming both addresses).
 */
// lp-build: --no-expect
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_ambiguous");
int bad_ambiguous_new(void) { return 0; }
LIVEPATCH_FUNC(wait_all, bad_ambiguous_new);
