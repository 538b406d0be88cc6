/*
 * arch/x86/traps.h — the C side of every interrupt and exception.
 */
#ifndef XPOKE_ARCH_X86_TRAPS_H
#define XPOKE_ARCH_X86_TRAPS_H

#include "arch/x86/regs.h"

/* Called by arch/x86/entry.asm with the frame it built. */
void trap_dispatch(struct regs *r);

/* Is addr inside an unmapped guard page below one of this CPU's stacks? */
int addr_in_stack_guard(uintptr_t addr);

#endif
