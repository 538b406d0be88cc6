/*
 * kernel/smp_call.h — run a function on another CPU, in its thread context.
 *
 * APs idle in "sti; hlt" (smp_call_loop) and take work by IPI: the sender
 * fills the target's percpu->call slot and sends VEC_CALL; the target wakes,
 * runs fn(arg) with interrupts enabled (so it still answers IPIs and NMIs)
 * under a recovery point, and marks the slot done. One piece of work per CPU
 * at a time. Work cannot be queued to the BSP (it runs tests or the shell),
 * except by the BSP itself, which then simply calls fn.
 *
 * Every wait has a deadline; on timeout the CPUs that did not finish are
 * named with their RIP (arch/x86/nmi.c: cpus_report_where).
 */
#ifndef XPOKE_KERNEL_SMP_CALL_H
#define XPOKE_KERNEL_SMP_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/cpumask.h"

#define CALL_TIMEOUT_US 10000000ull     /* default: 10 s */

typedef void (*cpu_fn_t)(void *arg);

/* Queue fn(arg) on cpu and return. 0, -ENODEV (not online), -EBUSY (the
 * slot stayed busy past the deadline), -EINVAL (cpu is the caller or 0). */
int on_cpu_async(unsigned cpu, cpu_fn_t fn, void *arg);

/* Wait for the work last queued on cpu. 0, -ETIMEDOUT or -EABORTED. */
int cpu_wait_done(unsigned cpu, uint64_t timeout_us);

/* Has cpu not finished the work last queued on it? */
bool cpu_work_pending(unsigned cpu);

/* on_cpu_async + cpu_wait_done(CALL_TIMEOUT_US); runs fn directly for self. */
int on_cpu(unsigned cpu, cpu_fn_t fn, void *arg);

/* Run fn on every CPU in m (the caller too, if in m) and wait for all.
 * 0, or the first error; CPUs that did not finish are reported. */
int on_cpus(const struct cpumask *m, cpu_fn_t fn, void *arg);
int on_cpus_timeout(const struct cpumask *m, cpu_fn_t fn, void *arg, uint64_t timeout_us);

/* Abort the work running on cpu (NMI_ABORT) and wait for it to return.
 * Returns the work's result (-EABORTED if it was abandoned, 0 if it finished
 * first) or -ETIMEDOUT, after reporting where the CPU is. */
int cpu_abort_work(unsigned cpu);

/* The AP idle loop. */
__attribute__((noreturn)) void smp_call_loop(void);

void smp_call_init(void);       /* register the VEC_CALL handler */

#endif
