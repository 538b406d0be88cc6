/*
 * arch/x86/pic.h — the legacy 8259 PICs, which xpoke only silences.
 */
#ifndef XPOKE_ARCH_X86_PIC_H
#define XPOKE_ARCH_X86_PIC_H

void pic_disable(void);

#endif
