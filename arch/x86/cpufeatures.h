/*
 * arch/x86/cpufeatures.h — CPUID facts xpoke checks or reports.
 */
#ifndef XPOKE_ARCH_X86_CPUFEATURES_H
#define XPOKE_ARCH_X86_CPUFEATURES_H

#include <stdbool.h>

struct cpu_features {
	char vendor[13];
	char hv_vendor[13];     /* CPUID 0x40000000 signature when the hypervisor bit is set, else "" */
	bool x2apic, tsc_deadline, invariant_tsc, serialize, mca, pdpe1gb, hypervisor;
};

extern struct cpu_features cpu_features;

/* Fill cpu_features; panic naming any feature xpoke cannot run without. */
void cpu_features_check(void);

/*
 * Do we run under QEMU's TCG (an emulator, whose translated code can go
 * stale across a cross-modifying write) rather than on a CPU (bare metal,
 * or hardware virtualization such as KVM)? *how says what the answer rests
 * on. TCG sets the CPUID hypervisor bit and answers leaf 0x40000000 with
 * "TCGTCGTCGTCG"; KVM answers "KVMKVMKVM" (and other hypervisors that run
 * guests on the CPU their own names). With the hypervisor bit hidden
 * (-cpu ...,-hypervisor), or an unknown signature, but QEMU's fw_cfg
 * present, TCG and KVM cannot be told apart: the answer is yes, the
 * cautious one for the patch core.
 */
bool cpu_under_tcg(const char **how);

#endif
