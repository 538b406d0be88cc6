/*
 * kernel/percpu.h — one struct percpu per logical CPU, reached through GS.
 *
 * GS base points at the CPU's own struct percpu, whose first field points at
 * itself, so this_cpu() is a single "mov %gs:0". GS is set before anything
 * else on every CPU (kernel/main.c for the BSP, arch/x86/smp.c for APs) and
 * never changes (xpoke has no user mode, so no SWAPGS), which makes this_cpu()
 * safe in NMI, #MC and #BP context.
 *
 * Logical CPU numbers are dense (0 = BSP, then MADT order); APIC IDs need not
 * be (see arch/x86/smp.c).
 */
#ifndef XPOKE_KERNEL_PERCPU_H
#define XPOKE_KERNEL_PERCPU_H

#include <stddef.h>
#include <stdint.h>
#include "arch/x86/gdt.h"
#include "arch/x86/layout.h"
#include "arch/x86/mce.h"
#include "kernel/cpumask.h"
#include "patch/patch_cpu.h"

struct regs;
#define CTX_FRAMES_MAX 8                /* nesting levels whose frame is kept (ctx_frames) */

enum cpu_state {
	CPU_ABSENT = 0,         /* no such CPU */
	CPU_BOOTING,            /* INIT-SIPI-SIPI sent, not yet online */
	CPU_FAILED,             /* did not come up in time */
	CPU_IDLE,               /* online, halted, waiting for work */
	CPU_BUSY,               /* online, running queued work or the shell */
	CPU_STOPPED,            /* stopped by panic NMI */
};

/* A saved thread context to resume after a panic or an abort (kernel/recover.c). */
struct recover_point {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags;
	uint32_t ctx_depth;     /* interrupt nesting at save time */
	uint32_t pad;
};

/* Work queued to a CPU by on_cpu() (kernel/smp_call.c). */
#define CALL_ABORT_TAG (1ull << 32)     /* tells "seq 0" from "none" in abort_seq */

struct cpu_call {
	void (*fn)(void *);
	void *arg;
	uint32_t claimed;       /* a sender owns the slot (0/1, atomic) */
	uint32_t queued_seq;    /* bumped by the sender when fn/arg are set */
	uint32_t done_seq;      /* set to queued_seq by the target when fn returned */
	int result;             /* 0, or -EABORTED when the work was aborted */
	uint64_t abort_seq;     /* CALL_ABORT_TAG | queued_seq of the work
				 * cpu_abort_work() wants abandoned */
};

struct fault_catch;

struct percpu {
	struct percpu *self;                /* must stay first: this_cpu() reads gs:0 */
	uint32_t cpu;                       /* logical number */
	uint32_t apic_id;
	uint32_t state;                     /* enum cpu_state, atomic */

	/* Interrupt nesting, kept by arch/x86/traps.c. */
	uint32_t ctx_depth;                 /* all interrupts and exceptions */
	uint32_t irq_depth;
	uint32_t nmi_depth;
	uint32_t mce_depth;
	uint32_t nmi_blocked;               /* handlers running while NMIs are blocked */
	/* The frame each nesting level interrupted: ctx_frames[d] is the one
	 * saved on entry at depth d (d < CTX_FRAMES_MAX; deeper ones are not
	 * kept), so ctx_frames[0..ctx_depth) hold the RIP of every context
	 * under the running handler (a stopped CPU reports them:
	 * strategies/stop_machine). */
	struct regs *ctx_frames[CTX_FRAMES_MAX];

	/* Stacks (each with an unmapped guard page below lo). */
	uintptr_t stack_lo, stack_hi;
	uintptr_t ist_lo[IST_COUNT + 1], ist_hi[IST_COUNT + 1];

	uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
	struct tss tss __attribute__((aligned(16)));

	/* Recovery (kernel/recover.c). */
	struct recover_point *recover;      /* test or work context, or NULL */
	struct fault_catch *catch;          /* expected-fault window, or NULL */
	uint32_t locks_held;                /* spinlocks held: recovery is unsafe */
	uint32_t printk_depth;              /* inside printk: likewise */
	uint32_t recover_at_printk_exit;    /* a recovery waits for printk to return */
	struct regs *recovering;            /* the frame a handler rewrote to recover, or NULL */

	struct cpu_call call;

	/* NMI bookkeeping (arch/x86/nmi.c). */
	uint32_t nmi_reasons;               /* NMI_* bits, set by senders */
	uint64_t nmi_count;
	uint64_t nmi_unclaimed;             /* no reason bit: external (QEMU's nmi, LINT1) */
	uint64_t nmi_storm;                 /* NMI_STORM requests handled */
	uint64_t nmi_noiret;                /* returns into an NMI handler without IRET */
	uint64_t nmi_nested;                /* NMIs that began inside an NMI handler */

	/* Machine checks (arch/x86/mce.c). */
	uint64_t mce_class[MCE_CLASSES];    /* events by class (enum mce_class): a #MC
					     * (its worst bank), or a bank found by polling */
	uint64_t mce_nobank;                /* #MC with MCIP set but no uncorrected bank */
	uint64_t mce_nested;                /* machine checks that began inside another #MC handler */
	uint64_t mce_taken;                 /* machine checks (MCIP set) taken, counted as soon as MCIP
					     * is clear: a host injecting back to back reads it */
	uint64_t mce_software;              /* INT 18 with no machine check in progress */

	uint64_t where_rip;                 /* RIP interrupted by the last WHERE NMI */
	uint32_t where_depth;               /* and its ctx_depth */
	uint32_t where_seq;

	/* Interrupt counters, for `cpus` and for tests. */
	uint64_t irq_count;
	uint64_t ipis_sent;                 /* fixed and NMI IPIs sent, one per destination CPU */
	uint64_t int3_count;                /* int3 taken on the normal #BP path */
	uint32_t int3_quiet;                /* benchmarks: do not print each one */

	/* Paging (arch/x86/paging.c): this CPU's own root, and the page table
	 * of its private poke window at POKE_AREA_BASE. */
	uint64_t cr3;
	uint64_t *poke_pt;

	/* The patch core's own state (patch/patch_cpu.h). */
	struct patch_cpu patch;
} __attribute__((aligned(64)));

extern struct percpu percpu_area[MAX_CPUS];
extern struct cpumask cpu_online_mask;
extern uint32_t nr_cpus_online;         /* CPUs in cpu_online_mask */
extern uint32_t nr_cpus_present;        /* enabled processors in the MADT */

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(p));
	return p;
}

static inline uint32_t cpu_id(void)
{
	uint32_t c;
	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(c) : "i"(offsetof(struct percpu, cpu)));
	return c;
}

static inline struct percpu *percpu_of(unsigned cpu) { return &percpu_area[cpu]; }

static inline uint32_t cpu_state(unsigned cpu)
{
	return __atomic_load_n(&percpu_area[cpu].state, __ATOMIC_ACQUIRE);
}

static inline void cpu_set_state(struct percpu *pc, enum cpu_state s)
{
	__atomic_store_n(&pc->state, s, __ATOMIC_RELEASE);
}

static inline int in_nmi(void) { return this_cpu()->nmi_depth > 0; }
static inline int in_mce(void) { return this_cpu()->mce_depth > 0; }
static inline int in_interrupt(void) { return this_cpu()->ctx_depth > 0; }

/* Point GS at pc and fill in its identity. */
void percpu_install(struct percpu *pc, uint32_t cpu, uint32_t apic_id);

/* Logical CPU number for an APIC ID, or -1. */
int cpu_from_apic_id(uint32_t apic_id);

const char *cpu_state_name(uint32_t state);

#endif
