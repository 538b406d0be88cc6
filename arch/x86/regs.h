/*
 * arch/x86/regs.h — the register frame every interrupt and exception builds.
 *
 * arch/x86/entry.asm pushes it; lowest address first:
 *
 *   r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax   <- stub pushes
 *   vector error                                                 <- stub (+CPU)
 *   rip cs rflags rsp ss                                         <- CPU
 *
 * Handlers may rewrite rip/rsp/rflags and GPRs: IRETQ resumes from the frame.
 */
#ifndef XPOKE_ARCH_X86_REGS_H
#define XPOKE_ARCH_X86_REGS_H

#include <stdint.h>

struct regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

#endif
