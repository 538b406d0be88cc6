/*
 * arch/x86/dump.h — register dumps and frame-pointer backtraces.
 *
 * NMI/#MC/#BP-safe: print through printk only, and read stack memory only
 * inside the current CPU's own stacks.
 */
#ifndef XPOKE_ARCH_X86_DUMP_H
#define XPOKE_ARCH_X86_DUMP_H

#include <stdint.h>
#include "arch/x86/regs.h"

const char *exception_name(unsigned vector);
void dump_regs(const struct regs *r);
void dump_backtrace(uintptr_t rbp);

/* "name+0x12/0x40" or the bare hex address; returns buf. */
char *format_symbol(char *buf, unsigned size, uintptr_t addr);

#endif
