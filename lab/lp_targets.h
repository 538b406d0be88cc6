/*
 * lab/lp_targets.h — kernel functions for the livepatch tests
 * (clients/livepatch/, tests/kernel/test_livepatch.c) and the sample
 * payloads (the sources in tests/livepatch/) to replace. Each is a small C function
 * compiled with the fentry NOP (its first 5 bytes are one instruction,
 * so every strategy can put a jmp there), never inlined nor analysed
 * across calls, returning a value of its own:
 *
 *   lp_target_nmi  called by the tests from thread, IRQ and NMI context
 *                  (tests/livepatch/nmi_path.c replaces it)
 *   lp_target_a    the two functions of tests/livepatch/two_funcs.c;
 *   lp_target_b    tests/livepatch/stack_over.c replaces lp_target_a again
 *   lp_target_hook tests/livepatch/hooks.c
 *
 * The lab's own replacement bodies (lp_lab_*), so the apply side can be
 * tested with payloads a test fills in by hand, without the loader: each
 * returns the value its payload's version returns. Any context: they
 * only return a constant (NMI context included).
 */
#ifndef XPOKE_LAB_LP_TARGETS_H
#define XPOKE_LAB_LP_TARGETS_H

#include <stdint.h>

/* What each version returns (the payloads' sources repeat these). */
#define LP_NMI_V1   0x1e0a0001u
#define LP_NMI_V2   0x1e0a0002u
#define LP_A_V1     0x1e0b0001u
#define LP_A_V2     0x1e0b0002u
#define LP_A_V3     0x1e0b0003u
#define LP_B_V1     0x1e0c0001u
#define LP_B_V2     0x1e0c0002u
#define LP_HOOK_V1  0x1e0d0001u
#define LP_HOOK_V2  0x1e0d0002u
#define LP_MULTI_V1 0x1e0e0001u     /* lab/lp_targets_code.asm */
#define LP_MULTI_V2 0x1e0e0002u

/* What tests/livepatch/hooks.c's post hooks saw when they ran: [0] post-
 * apply runs, [1] lp_target_hook() then, [2] its first byte then; [3]
 * post-revert runs, [4] lp_target_hook() then. */
#define LP_HOOKS_SEEN 5
extern uint32_t lp_hooks_seen[LP_HOOKS_SEEN];

uint32_t lp_target_nmi(void);
uint32_t lp_target_a(void);
uint32_t lp_target_b(void);
uint32_t lp_target_hook(void);
/* lab/lp_targets_code.asm: its first 5 bytes are 3 instructions (push
 * rbp; mov rbp, rsp; push rbx), no fentry NOP. */
uint32_t lp_target_multi(void);

uint32_t lp_lab_nmi_v2(void);
uint32_t lp_lab_a_v2(void);
uint32_t lp_lab_a_v3(void);
uint32_t lp_lab_b_v2(void);
uint32_t lp_lab_hook_v2(void);
uint32_t lp_lab_multi_v2(void);

#endif
