/*
 * kernel/recover.c — recovery points and expected-fault windows.
 *
 * Resuming always goes through IRETQ (kernel/recover_point.asm): from a handler by
 * rewriting the frame it is about to return through, from elsewhere by
 * building one. IRET ends an NMI-blocked state and restores RFLAGS.IF, so a
 * CPU recovered from inside an NMI handler takes NMIs again.
 *
 * May run in NMI, #MC and #BP context: no locks, no printing.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/mce.h"
#include "kernel/panic.h"
#include "kernel/recover.h"
#include "patch/trap.h"

void recover_resume(void);      /* kernel/recover_point.asm */

bool recover_possible(void)
{
	struct percpu *pc = this_cpu();
	/* Abandoning a printk between its reservation and its commit, or
	 * while it owns the console, would wedge the console for good; and
	 * abandoning a #MC whose handler has not yet cleared MCIP would drop
	 * the error and leave MCIP set (the next #MC shuts the CPU down). */
	return pc->recover && pc->locks_held == 0 && pc->printk_depth == 0 && !system_stopping() &&
	       !mce_in_progress();
}

static void reset_nesting(struct percpu *pc)
{
	pc->ctx_depth = pc->irq_depth = pc->nmi_depth = pc->mce_depth = pc->nmi_blocked = 0;
	pc->recover_at_printk_exit = 0;
	patch_recover(pc);
}

static void frame_resume(struct regs *r, struct recover_point *rp, int val)
{
	r->rip = (uintptr_t)recover_resume;
	r->cs = KERNEL_CS;
	r->rflags = rp->rflags;
	r->rsp = rp->rsp;
	r->ss = KERNEL_DS;
	r->rdi = (uintptr_t)rp;
	r->rsi = (uint64_t)val;
	/* trap_dispatch() resets the nesting counters on its way out of this
	 * very frame: an NMI or #MC taken before it gets there is not it. */
	this_cpu()->recovering = r;
}

/* From printk_leave() (printk.c), when the outermost printk of a context
 * whose recovery was deferred (ktest's watchdog) returns. Only thread
 * context resumes: a printk of a nested handler returning is not it. */
void recover_deferred(void)
{
	struct percpu *pc = this_cpu();
	if (pc->ctx_depth != 0 || !recover_possible())
		return;
	pc->recover_at_printk_exit = 0;
	recover_now(RECOVER_ABORT);
}

void recover_frame(struct regs *r, int val)
{
	struct percpu *pc = this_cpu();
	struct recover_point *rp = pc->recover;
	pc->catch = NULL;
	frame_resume(r, rp, val);
}

void recover_now(int val)
{
	struct percpu *pc = this_cpu();
	pc->catch = NULL;
	reset_nesting(pc);
	recover_jump(pc->recover, val);
}

__attribute__((noinline))
int catch_exception(void (*fn)(void *), void *arg, struct fault_catch *info)
{
	struct percpu *pc = this_cpu();
	if (pc->ctx_depth)
		panic("catch_exception() called with interrupt nesting %u", pc->ctx_depth);
	info->vector = (uint64_t)-1;
	if (recover_save(&info->rp) == 0) {
		__atomic_store_n(&pc->catch, info, __ATOMIC_RELEASE);
		fn(arg);
		__atomic_store_n(&pc->catch, NULL, __ATOMIC_RELEASE);
		return -1;
	}
	return (int)info->vector;
}

bool catch_handle(struct regs *r)
{
	struct percpu *pc = this_cpu();
	struct fault_catch *c = pc->catch;
	/* Only faults raised by the thread context that armed the catch. */
	if (!c || pc->ctx_depth != 1)
		return false;
	c->vector = r->vector;
	c->error = r->error;
	c->rip = r->rip;
	c->cr2 = read_cr2();
	pc->catch = NULL;
	frame_resume(r, &c->rp, RECOVER_FAULT);
	return true;
}
