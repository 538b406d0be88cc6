/*
 * arch/x86/traps.c — route each vector to its handler and keep the
 * per-CPU nesting counters (percpu->ctx_depth and friends) that tell any
 * code which context it runs in.
 *
 * Exceptions go, in order, to: the patch core (#BP at a live patch site);
 * an armed catch_exception() window; the #BP normal path; die(), which dumps the registers and recovers the CPU's test
 * or work context if it can, and otherwise stops the machine.
 *
 * Runs in every context, NMI and #MC included: no locks, and nothing here
 * may be a patch site.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/dump.h"
#include "arch/x86/irq.h"
#include "arch/x86/mce.h"
#include "arch/x86/nmi.h"
#include "arch/x86/serialize.h"
#include "arch/x86/traps.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/recover.h"
#include "patch/trap.h"

#define VEC_DB 1
#define VEC_DF 8
#define VEC_PF 14

/* Any context: reads only this CPU's stack bounds. */
int addr_in_stack_guard(uintptr_t addr)
{
	struct percpu *pc = this_cpu();
	if (pc->stack_lo && addr < pc->stack_lo && addr >= pc->stack_lo - PAGE_SIZE)
		return 1;
	for (int i = 1; i <= IST_COUNT; i++)
		if (pc->ist_lo[i] && addr < pc->ist_lo[i] && addr >= pc->ist_lo[i] - PAGE_SIZE)
			return 1;
	return 0;
}

/*
 * #BP that no one claimed: an int3 left in the code (a debugger's, or a
 * test's). RIP already points past it; count it, say so, continue.
 * #BP context: no lock, nothing patchable, prints only through printk.
 */
static void bp_normal(struct regs *r)
{
	char sym[96];
	struct percpu *pc = this_cpu();
	pc->int3_count++;
	if (pc->int3_quiet)
		return;
	const volatile uint8_t *p = (const volatile uint8_t *)r->rip;
	if (patch_bp_is_int_imm3(r->rip)) {
		printk("CPU %u: int $3 at %016lx <%s>; continuing", pc->cpu, r->rip - 2,
		       format_symbol(sym, sizeof(sym), r->rip - 2));
		return;
	}
	printk("CPU %u: int3 at %016lx <%s> (not a patch site%s); continuing", pc->cpu,
	       r->rip - 1, format_symbol(sym, sizeof(sym), r->rip - 1),
	       p[-1] == 0xcc ? "" : ", and memory there no longer holds int3: stale instruction fetch");
}

/* Exception context, nested in anything: no lock, nothing patchable (no-patch region), prints only through lock-free printk.
 * blocked: the interrupted context runs with NMIs blocked (the return will be without IRET). */
static void exception(struct regs *r, bool blocked)
{
	/* A live patch site first: it must work even inside a catch window. */
	if (r->vector == 3 && patch_on_bp(r))
		return;
	if (r->vector == VEC_DB && blocked && !nmi_unsafe_iret) {
		/* Single-stepping there cannot work: see TF in arch/x86/entry.asm. */
		die(r, "#DB at RIP %#lx with NMIs blocked: refused (a return without IRET cannot resume single-stepping "
		    "at the right instruction)", r->rip);
		return;
	}
	if (catch_handle(r))
		return;
	if (r->vector == 3) {
		bp_normal(r);
		return;
	}
	if (r->vector == VEC_DF)
		die(r, "double fault%s", addr_in_stack_guard(r->rsp) ? " (stack overflow into a guard page)" : "");
	else if (r->vector == VEC_PF)
		die(r, "page fault at %#lx (%s, %s%s)%s", read_cr2(),
		    r->error & 1 ? "protection violation" : "not present",
		    r->error & 2 ? "write" : "read", r->error & 16 ? ", instruction fetch" : "",
		    addr_in_stack_guard(read_cr2()) ? " in a stack guard page" : "");
	else
		die(r, "unhandled exception %s", exception_name(r->vector));
}

/*
 * Were NMIs blocked in the context this trap interrupted? Yes if that
 * context ran on this CPU's NMI stack (the NMI handler, including its entry
 * and exit stubs, where no counter covers it), or inside a handler already
 * known to run with NMIs blocked (an exception or #MC taken in NMI context,
 * wherever its own stack is).
 */
static bool nmis_were_blocked(const struct percpu *pc, const struct regs *r)     /* any context */
{
	return pc->nmi_blocked || (r->rsp > pc->ist_lo[IST_NMI] && r->rsp <= pc->ist_hi[IST_NMI]);
}

/* Every vector, every context. No lock; nothing patchable (no-patch
 * region); prints only through printk, and only on the way to a panic. */
int trap_dispatch(struct regs *r)
{
	struct percpu *pc = this_cpu();
	uint32_t depth = pc->ctx_depth, irq = pc->irq_depth, nmi = pc->nmi_depth, mce = pc->mce_depth;

	/* This context's frame first: an NMI from here on sees it (a stopped
	 * CPU reports its RIP, strategies/stop_machine); before this store,
	 * and after the restore below, the NMI's RIP is in the trap entry
	 * path, which is all it can tell (arch/x86/traps.h). */
	if (depth < CTX_FRAMES_MAX)
		pc->ctx_frames[depth] = r;     /* before the depth: a nested NMI sees it filled */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pc->ctx_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);

	uint32_t blocked_before = pc->nmi_blocked;
	bool blocked = nmis_were_blocked(pc, r);

	/* Handlers run patch sites: the patch core first (patch/trap.h),
	 * before anything that may be one. */
	bool in_patch = patch_trap_enter(r);

	if (r->vector == 2 || blocked)
		pc->nmi_blocked++;      /* anything nested in this handler runs NMI-blocked */
	if (r->vector == 2) {
		if (blocked)
			nmi_nested_entry(r);    /* the first NMI's IST frame is gone */
		pc->nmi_depth++;
		nmi_handle(r);
	} else if (r->vector == 18) {
		/* Off the IST stack already (arch/x86/mce_entry.asm): a #MC may
		 * nest in a #MC handler, directly or through an NMI. */
		pc->mce_depth++;
		mce_handle(r);
	} else if (r->vector < 32) {
		exception(r, blocked);
	} else {
		pc->irq_depth++;
		irq_dispatch(r);
	}

	/* POPFQ; RET cannot resume a TF that IRET would (arch/x86/entry.asm). */
	if (pc->recovering != r && blocked && r->vector != 2 && !nmi_unsafe_iret && (r->rflags & RFLAGS_TF))
		die(r, "return without IRET to RIP %#lx with TF set in the saved RFLAGS %#lx: refused (POPFQ would "
		    "single-step one instruction off)", r->rip, r->rflags);

	int no_iret = 0;
	if (pc->recovering == r) {      /* this frame now resumes a thread context */
		pc->recovering = NULL;
		depth = irq = nmi = mce = 0;
		blocked_before = 0;
		in_patch = false;
		patch_recover(pc);
	} else if (blocked && r->vector != 2 && !nmi_unsafe_iret) {
		/* Back into an NMI handler: IRET would unblock NMIs. RET is not
		 * serializing, so serialize here (rendezvous.h, invariant 2). */
		no_iret = 1;
		pc->nmi_noiret++;
		sync_core();
	}
	pc->irq_depth = irq;
	pc->nmi_depth = nmi;
	pc->mce_depth = mce;
	pc->nmi_blocked = blocked_before;
	patch_trap_exit(in_patch);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pc->ctx_depth = depth;          /* last: from here to the IRETQ, the trap exit path */
	return no_iret;
}
