/*
 * arch/x86/traps.h — the C side of every interrupt and exception.
 */
#ifndef XPOKE_ARCH_X86_TRAPS_H
#define XPOKE_ARCH_X86_TRAPS_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/regs.h"

/* Called by arch/x86/entry.asm with the frame it built. Returns non-zero
 * when the exit must not use IRET (the interrupted context runs inside an
 * NMI handler: see the top of entry.asm). */
int trap_dispatch(struct regs *r);

/*
 * The trap entry/exit path: the code that runs between the CPU's frame
 * push and trap_dispatch()'s record of that frame (ctx_frames, ctx_depth),
 * and between its restore of ctx_depth and the IRETQ (or POPFQ; RET): the
 * entry stubs, trap_dispatch itself (arch/x86/traps.c, NOPATCH_ENTRY_OBJS
 * in the Makefile) and the functions marked TRAP_ENTRY_TEXT that those
 * call there (the #MC stub's mce_frame_dest). linker.ld places all of it
 * in [__entry_start, __entry_end). An NMI that lands there sees a nesting
 * count and frames that do not yet (or no longer) hold the context being
 * entered (or left): its interrupted RIP is in that range, and that is all
 * it can tell (arch/x86/nmi.c: NMI_ABORT; strategies/stop_machine:
 * report_rips).
 */
#define TRAP_ENTRY_TEXT __attribute__((section(".text.trap_entry")))
extern char __entry_start[], __entry_end[];     /* linker.ld */

/* Any context: is rip in the trap entry/exit path? */
static inline bool rip_in_trap_entry(uint64_t rip)
{
	return rip >= (uintptr_t)__entry_start && rip < (uintptr_t)__entry_end;
}

/* Is addr inside an unmapped guard page below one of this CPU's stacks? */
int addr_in_stack_guard(uintptr_t addr);

#endif
