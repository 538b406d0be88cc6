/*
 * kernel/recover.h — resuming a known thread context after a failure.
 *
 * A CPU running a test (the BSP) or queued work (an AP) has a recovery point
 * (percpu->recover). panic()/die() on that CPU record the failure and resume
 * it instead of stopping the machine, unless the CPU holds a spinlock (state
 * we cannot unwind). catch_exception() uses the same machinery for faults a
 * test provokes on purpose.
 */
#ifndef XPOKE_KERNEL_RECOVER_H
#define XPOKE_KERNEL_RECOVER_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/regs.h"
#include "kernel/percpu.h"

enum {
	RECOVER_PANIC = 1,      /* panic() or die() */
	RECOVER_ABORT = 2,      /* NMI_ABORT: the runner gave up on this work */
	RECOVER_FAULT = 3,      /* an exception inside catch_exception() */
};

/* setjmp-like: 0 when saving, the RECOVER_* value when resumed.
 * Must be called in thread context (no interrupt nesting). */
int recover_save(struct recover_point *rp) __attribute__((returns_twice));
__attribute__((noreturn)) void recover_jump(struct recover_point *rp, int val);

/* This CPU has a recovery point and nothing that forbids using it. */
bool recover_possible(void);

/* From a handler: make the IRET of frame r resume this CPU's recovery point. */
void recover_frame(struct regs *r, int val);

/* From anywhere: resume this CPU's recovery point now. */
__attribute__((noreturn)) void recover_now(int val);

/* Resume this CPU's recovery point now if a recovery was deferred until its
 * printk returned (percpu->recover_at_printk_exit) and this is thread
 * context; otherwise return. */
void recover_deferred(void);

struct fault_catch {
	struct recover_point rp;
	uint64_t vector, error, rip, cr2;
};

/*
 * Run fn(arg) in thread context. If it raises a CPU exception (other than
 * NMI/#MC), fn is abandoned and the vector is returned, with details in *info;
 * otherwise -1. Nothing fn allocated or locked is unwound.
 */
int catch_exception(void (*fn)(void *), void *arg, struct fault_catch *info);

/* arch/x86/traps.c: offer an exception to an armed catch_exception(). */
bool catch_handle(struct regs *r);

#endif
