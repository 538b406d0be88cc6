/*
 * arch/x86/smp.h — bringing application processors online.
 */
#ifndef XPOKE_ARCH_X86_SMP_H
#define XPOKE_ARCH_X86_SMP_H

#include <stdint.h>

struct percpu;

/* Parameters for boot/trampoline.asm, at TRAMP_PHYS + TRAMP_PARAMS_OFF. */
struct tramp_params {
	uint32_t cr3;           /* kernel PML4, physical, below 4 GiB */
	uint32_t started;       /* AP sets to 1 on arrival (real mode) */
	uint64_t stack_top;
	uint64_t percpu;
	uint64_t entry;
};

#define AP_BOOT_TIMEOUT_MS 2000

/* Allocate pc's guarded thread stack and IST stacks. */
void cpu_alloc_stacks(struct percpu *pc);
/* Descriptor tables, machine-check banks and local APIC of this CPU. */
void cpu_init_this(struct percpu *pc);

/* Start every enabled MADT processor; report and skip those that fail. */
void smp_boot(void);

#endif
