/*
 * tests/livepatch/bad_nopatch.c — refused with LP_ENOPATCH: it replaces
 * nmi_handle, which lies in the no-patch region (the NMI path may run
 * while a patch is being made, so nothing there is ever a site).
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_nopatch");
struct regs;
void bad_nopatch_new(struct regs *r) { (void)r; }
LIVEPATCH_FUNC(nmi_handle, bad_nopatch_new);
