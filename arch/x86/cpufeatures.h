/*
 * arch/x86/cpufeatures.h — CPUID facts xpoke checks or reports.
 */
#ifndef XPOKE_ARCH_X86_CPUFEATURES_H
#define XPOKE_ARCH_X86_CPUFEATURES_H

#include <stdbool.h>

struct cpu_features {
	char vendor[13];
	bool x2apic, tsc_deadline, invariant_tsc, serialize, mca, pdpe1gb, hypervisor;
};

extern struct cpu_features cpu_features;

/* Fill cpu_features; panic naming any feature xpoke cannot run without. */
void cpu_features_check(void);

#endif
