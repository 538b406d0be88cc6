/*
 * lab/lp_targets.c — the functions the livepatch tests replace, and the
 * lab's own replacement bodies (lab/lp_targets.h). noipa: no caller may
 * know what they return, so each call runs whatever the text holds. The
 * console can call the replaced ones (kernel/callable.h).
 */
#include "kernel/callable.h"
#include "lab/lp_targets.h"

#define LP_TARGET(name, value) \
	__attribute__((noinline, noipa)) uint32_t name(void) { return (value); }

uint32_t lp_hooks_seen[LP_HOOKS_SEEN];

LP_TARGET(lp_target_nmi, LP_NMI_V1)
LP_TARGET(lp_target_a, LP_A_V1)
LP_TARGET(lp_target_b, LP_B_V1)
LP_TARGET(lp_target_hook, LP_HOOK_V1)

LP_TARGET(lp_lab_nmi_v2, LP_NMI_V2)
LP_TARGET(lp_lab_a_v2, LP_A_V2)
LP_TARGET(lp_lab_a_v3, LP_A_V3)
LP_TARGET(lp_lab_b_v2, LP_B_V2)
LP_TARGET(lp_lab_hook_v2, LP_HOOK_V2)
LP_TARGET(lp_lab_multi_v2, LP_MULTI_V2)

/* The console may call the replaced ones (call lp_target_a). */
CONSOLE_CALLABLE(lp_target_nmi, 0);
CONSOLE_CALLABLE(lp_target_a, 0);
CONSOLE_CALLABLE(lp_target_b, 0);
CONSOLE_CALLABLE(lp_target_hook, 0);
