/*
 * kernel/percpu.c — the per-CPU areas and the online set.
 */
#include "arch/x86/cpu.h"
#include "kernel/percpu.h"

struct percpu percpu_area[MAX_CPUS];
struct cpumask cpu_online_mask;
uint32_t nr_cpus_online;
uint32_t nr_cpus_present;

void percpu_install(struct percpu *pc, uint32_t cpu, uint32_t apic_id)
{
	pc->self = pc;
	pc->cpu = cpu;
	pc->apic_id = apic_id;
	wrmsr(MSR_GS_BASE, (uintptr_t)pc);
}

int cpu_from_apic_id(uint32_t apic_id)
{
	for (unsigned c = 0; c < MAX_CPUS; c++)
		if (cpu_state(c) != CPU_ABSENT && percpu_area[c].apic_id == apic_id)
			return (int)c;
	return -1;
}

const char *cpu_state_name(uint32_t state)
{
	static const char *const names[] = {
		[CPU_ABSENT] = "absent", [CPU_BOOTING] = "booting", [CPU_FAILED] = "failed",
		[CPU_IDLE] = "idle", [CPU_BUSY] = "busy", [CPU_STOPPED] = "stopped",
	};
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}
