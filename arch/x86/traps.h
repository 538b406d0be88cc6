/*
 * arch/x86/traps.h — the C side of every interrupt and exception.
 */
#ifndef XPOKE_ARCH_X86_TRAPS_H
#define XPOKE_ARCH_X86_TRAPS_H

#include "arch/x86/regs.h"

/* Called by arch/x86/entry.asm with the frame it built. Returns non-zero
 * when the exit must not use IRET (the interrupted context runs inside an
 * NMI handler: see the top of entry.asm). */
int trap_dispatch(struct regs *r);

/* Is addr inside an unmapped guard page below one of this CPU's stacks? */
int addr_in_stack_guard(uintptr_t addr);

#endif
