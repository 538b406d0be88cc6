/*
 * kernel/panic.c — panic(), die(), die_stop() and system_stop().
 *
 * All three may run in NMI, #MC or #BP context: they print through printk
 * (lock-free), take no lock, and reach other CPUs only by NMI.
 */
#include <stdarg.h>
#include "arch/x86/cpu.h"
#include "arch/x86/dump.h"
#include "arch/x86/nmi.h"
#include "arch/x86/power.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/recover.h"

#define STOP_WAIT_MS 200

static int panic_cpu = -1;

bool system_stopping(void)
{
	return __atomic_load_n(&panic_cpu, __ATOMIC_ACQUIRE) >= 0;
}

__attribute__((noreturn))
static void stop_self(void)
{
	irq_disable();
	cpu_set_state(this_cpu(), CPU_STOPPED);
	for (;;)
		halt();
}

/*
 * The first CPU to get here stops the others; any CPU that arrives later
 * (its own panic, or the NMI_STOP) just stops itself:
 *
 *   stopping CPU                        every other CPU
 *   ------------                        ---------------
 *   panic_cpu: -1 -> me (cmpxchg)       (a concurrent panic loses the
 *   NMI_STOP to each           ------>   cmpxchg and halts here)
 *                                       NMI: state = STOPPED; halt with
 *   wait for STOPPED (200 ms)  <------  NMIs blocked, never IRET
 *   flush the console as its owner, exit QEMU
 */
void system_stop(int exit_code)
{
	irq_disable();
	int me = (int)cpu_id(), expect = -1;
	if (!__atomic_compare_exchange_n(&panic_cpu, &expect, me, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) && expect != me)
		stop_self();    /* another CPU is already stopping the machine */

	unsigned stopped = 0, stuck = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		if ((int)c == me)
			continue;
		nmi_send(c, NMI_STOP);
	}
	uint64_t deadline = tsc_deadline_us(STOP_WAIT_MS * 1000);
	for_each_cpu_in(c, &cpu_online_mask) {
		if ((int)c == me)
			continue;
		while (cpu_state(c) != CPU_STOPPED && !tsc_expired(deadline))
			cpu_relax();
		if (cpu_state(c) == CPU_STOPPED) {
			stopped++;
		} else {
			stuck++;
			/* Its NMI did not get through, so no fresh RIP: say what is known. */
			printk("system_stop: CPU %u did not stop within %u ms (NMIs blocked?): state %s, "
			       "nesting %u, last RIP seen by an NMI %016lx", c, STOP_WAIT_MS,
			       cpu_state_name(cpu_state(c)), percpu_of(c)->ctx_depth, percpu_of(c)->where_rip);
		}
	}
	printk("system_stop: CPU %d stopped %u other CPU(s)%s; exit code %d",
	       me, stopped, stuck ? ", some did not answer" : "", exit_code);
	console_panic_flush();
	machine_exit(exit_code);
}

/* Recover if this CPU can; otherwise stop everything. Returns only after
 * rewriting r for recovery. */
static void fatal_end(struct regs *r, const char *msg)
{
	if (recover_possible()) {
		ktest_record_failure("CPU %u: %s", cpu_id(), msg);
		printk("CPU %u: recovering to its test/work context", cpu_id());
		if (r) {
			recover_frame(r, RECOVER_PANIC);
			return;
		}
		recover_now(RECOVER_PANIC);
	}
	system_stop(EXIT_PANIC);
}

void panic(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("PANIC on CPU %u: %s", cpu_id(), msg);
	dump_backtrace((uintptr_t)__builtin_frame_address(0));
	fatal_end(NULL, msg);
	__builtin_unreachable();
}

/* die() and die_stop(): the message, the registers, the backtrace. */
static void die_report(struct regs *r, char *msg, size_t size, const char *fmt, va_list ap)
{
	vsnprintf(msg, size, fmt, ap);
	printk("FATAL on CPU %u: %s", cpu_id(), msg);
	dump_regs(r);
	dump_backtrace(r->rbp);
}

void die_stop(struct regs *r, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	die_report(r, msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("CPU %u: no recovery after this: stopping the machine", cpu_id());
	system_stop(EXIT_PANIC);
}

void die(struct regs *r, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	die_report(r, msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fatal_end(r, msg);
}
