/*
 * arch/x86/cpufeatures.c — read CPUID once on the BSP.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeatures.h"
#include "arch/x86/fwcfg.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"

struct cpu_features cpu_features;

void cpu_features_check(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	uint32_t max_leaf = r.eax;
	memcpy(cpu_features.vendor + 0, &r.ebx, 4);
	memcpy(cpu_features.vendor + 4, &r.edx, 4);
	memcpy(cpu_features.vendor + 8, &r.ecx, 4);

	struct cpuid_regs f1 = cpuid(1, 0);
	static const struct { int bit; const char *name; } need[] = {
		{ 4, "TSC" }, { 5, "MSR" }, { 6, "PAE" }, { 9, "APIC" },
	};
	for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!(f1.edx & (1u << need[i].bit)))
			panic("cpu: CPUID reports no %s; xpoke needs it", need[i].name);
	cpu_features.x2apic = f1.ecx & (1u << 21);
	cpu_features.tsc_deadline = f1.ecx & (1u << 24);
	cpu_features.hypervisor = f1.ecx & (1u << 31);
	cpu_features.mca = (f1.edx & (1u << 7)) && (f1.edx & (1u << 14));
	if (max_leaf >= 7)
		cpu_features.serialize = cpuid(7, 0).edx & (1u << 14);

	if (cpu_features.hypervisor) {
		struct cpuid_regs h = cpuid(0x40000000, 0);
		memcpy(cpu_features.hv_vendor + 0, &h.ebx, 4);
		memcpy(cpu_features.hv_vendor + 4, &h.ecx, 4);
		memcpy(cpu_features.hv_vendor + 8, &h.edx, 4);
		for (int i = 0; i < 12; i++)    /* KVM's is "KVMKVMKVM\0\0\0"; print others safely */
			if (cpu_features.hv_vendor[i] && (cpu_features.hv_vendor[i] < ' ' || cpu_features.hv_vendor[i] > '~'))
				cpu_features.hv_vendor[i] = '?';
	}

	uint32_t max_ext = cpuid(0x80000000, 0).eax;
	if (max_ext >= 0x80000001)
		cpu_features.pdpe1gb = cpuid(0x80000001, 0).edx & (1u << 26);
	if (max_ext >= 0x80000007)
		cpu_features.invariant_tsc = cpuid(0x80000007, 0).edx & (1u << 8);

	printk("cpu: %s, hypervisor %d '%s', x2apic %d, tsc-deadline %d, invariant-tsc %d, serialize %d, mca %d",
	       cpu_features.vendor, cpu_features.hypervisor, cpu_features.hv_vendor, cpu_features.x2apic,
	       cpu_features.tsc_deadline, cpu_features.invariant_tsc, cpu_features.serialize, cpu_features.mca);
}

bool cpu_under_tcg(const char **how)
{
	if (cpu_features.hypervisor) {
		if (!strcmp(cpu_features.hv_vendor, "TCGTCGTCGTCG")) {
			*how = "CPUID 0x40000000 says TCGTCGTCGTCG";
			return true;
		}
		static const char *const hardware[] = { "KVMKVMKVM", "Microsoft Hv", "VMwareVMware", "XenVMMXenVMM",
							 "VBoxVBoxVBox", "bhyve bhyve ", "ACRNACRNACRN" };
		for (unsigned i = 0; i < sizeof(hardware) / sizeof(hardware[0]); i++)
			if (!strcmp(cpu_features.hv_vendor, hardware[i])) {
				*how = "CPUID 0x40000000 names a hypervisor that runs guests on the CPU";
				return false;
			}
		if (fwcfg_present()) {
			*how = "QEMU's fw_cfg and an unknown hypervisor signature (QEMU before 2.10?): assumed TCG";
			return true;
		}
		*how = "an unknown hypervisor signature and no QEMU fw_cfg";
		return false;
	}
	if (fwcfg_present()) {
		*how = "QEMU's fw_cfg, but no CPUID hypervisor signature: TCG or KVM, assumed TCG";
		return true;
	}
	*how = "no hypervisor bit and no QEMU fw_cfg: a real CPU";
	return false;
}
