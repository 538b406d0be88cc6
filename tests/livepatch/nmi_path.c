/*
 * tests/livepatch/nmi_path.c — replaces lp_target_nmi (lab/lp_targets.c),
 * which the livepatch storm calls from thread, IRQ, NMI and #MC context:
 * the new body returns LP_NMI_V2 (lab/lp_targets.h's value, repeated:
 * a payload includes payload.h only). It must be safe in NMI context:
 * it returns a constant.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("nmi_path");
uint32_t nmi_path_new(void) { return 0x1e0a0002u; }     /* LP_NMI_V2 */
LIVEPATCH_FUNC(lp_target_nmi, nmi_path_new);
