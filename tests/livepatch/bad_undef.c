/*
 * tests/livepatch/bad_undef.c — refused with LP_EUNDEF_SYMBOL: the new
 * body calls a function neither the payload nor the kernel defines.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_undef");
extern const char *lp_no_such_kernel_function(int err);
const char *bad_undef_new(int err) { return lp_no_such_kernel_function(err); }
LIVEPATCH_FUNC(errno_name, bad_undef_new);
