/*
 * arch/x86/mce.h — machine-check architecture: bank setup and the #MC handler.
 */
#ifndef XPOKE_ARCH_X86_MCE_H
#define XPOKE_ARCH_X86_MCE_H

#include "arch/x86/regs.h"

/* Enable reporting in every bank MCG_CAP advertises (this CPU). */
void mce_init_this_cpu(void);
void mce_handle(struct regs *r);

#endif
