/*
 * kernel/panic.h — fatal errors, and stopping the whole machine.
 *
 * panic() and die() first try to recover (kernel/recover.c): inside a test,
 * or inside work queued to an AP, the failure is recorded against the
 * running test and the CPU resumes its recovery point. Otherwise the other
 * CPUs are stopped by NMI, the console is flushed and QEMU exits with
 * EXIT_PANIC. die_stop() never recovers: it always stops.
 */
#ifndef XPOKE_KERNEL_PANIC_H
#define XPOKE_KERNEL_PANIC_H

#include <stdbool.h>
#include "arch/x86/regs.h"

__attribute__((noreturn, format(printf, 1, 2)))
void panic(const char *fmt, ...);

/* A fatal event inside an interrupt or exception handler: dump r, then recover
 * (rewriting r so that IRET resumes the recovery point, and return) or stop. */
__attribute__((format(printf, 2, 3)))
void die(struct regs *r, const char *fmt, ...);

/* A fatal event that no recovery may paper over (a machine check that
 * consumed poisoned data, or corrupted the processor's context): dump r,
 * then stop every CPU and exit with EXIT_PANIC, even inside a test or
 * queued work, whose recovery point would only resume on top of the damage.
 * Any context, #MC included. */
__attribute__((noreturn, format(printf, 2, 3)))
void die_stop(struct regs *r, const char *fmt, ...);

/* Stop every CPU and exit QEMU with code (arch/x86/layout.h EXIT_*). */
__attribute__((noreturn))
void system_stop(int exit_code);

/* True once some CPU has begun system_stop(). */
bool system_stopping(void);

#endif
