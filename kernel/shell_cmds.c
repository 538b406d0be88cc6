/*
 * kernel/shell_cmds.c — console commands for the platform itself: CPUs and
 * power. Subsystems with commands of their own define them beside their code.
 */
#include "arch/x86/power.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/shell.h"

static int cmd_cpus(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printk("%-4s %-7s %-8s %10s %10s %10s", "CPU", "APIC ID", "state", "IRQs", "NMIs", "int3");
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		struct percpu *pc = percpu_of(c);
		if (cpu_state(c) == CPU_ABSENT)
			continue;
		printk("%-4u %-7u %-8s %10lu %10lu %10lu", c, pc->apic_id, cpu_state_name(cpu_state(c)),
		       pc->irq_count, pc->nmi_count, pc->int3_count);
	}
	printk("%u of %u CPU(s) online", nr_cpus_online, nr_cpus_present);
	return 0;
}
SHELL_CMD("cpus", "", "each CPU's number, APIC ID, state and interrupt counts", cmd_cpus);

static int cmd_reboot(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	machine_reboot();
}
SHELL_CMD("reboot", "", "reset the machine", cmd_reboot);

static int cmd_poweroff(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	machine_poweroff();
}
SHELL_CMD("poweroff", "", "power off through ACPI S5", cmd_poweroff);
