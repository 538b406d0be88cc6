/*
 * kernel/main.c — the BSP's boot sequence, as a table of contents.
 *
 * boot/entry32.asm calls kmain_bsp() in 64-bit mode on the boot stack with
 * the boot page tables (identity + direct map + kernel image, all RWX).
 */
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeatures.h"
#include "arch/x86/idt.h"
#include "arch/x86/ioapic.h"
#include "arch/x86/paging.h"
#include "arch/x86/pic.h"
#include "arch/x86/pmm.h"
#include "arch/x86/serial.h"
#include "arch/x86/smp.h"
#include "arch/x86/tsc.h"
#include "clients/alternative/alternative.h"
#include "clients/livepatch/livepatch.h"
#include "clients/static_key/static_key.h"
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/crashtest.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/smp_call.h"
#include "patch/patch.h"

extern char boot_stack[], boot_stack_top[];     /* boot/entry32.asm */
__attribute__((noreturn)) void stack_switch(uintptr_t top, void (*fn)(void));
__attribute__((noreturn)) void kmain_bsp(uint64_t mbi_phys);

__attribute__((noreturn))
static void kmain_bsp_on_guarded_stack(void)
{
	struct percpu *pc = this_cpu();

	idt_init();                     /* 256 gates; NMI, #MC, #DF on IST stacks */
	apic_init_bsp();                /* xAPIC or x2APIC, register window */
	pc->apic_id = apic_read_id();
	cpu_init_this(pc);              /* GDT+TSS, IDT, MCE banks, local APIC */
	cpumask_set(&cpu_online_mask, 0);
	nr_cpus_online = 1;
	cpu_set_state(pc, CPU_BUSY);
	tsc_calibrate();                /* TSC vs PIT: every deadline depends on it */
	acpi_init();                    /* MADT, FADT */
	nr_cpus_present = acpi.n_cpus;
	ioapic_init();                  /* every input masked */
	apic_timer_calibrate();         /* one-shot timer for test watchdogs */
	smp_call_init();                /* VEC_CALL: wake an idle CPU */
	ktest_init();                   /* VEC_TIMER: test watchdog */
	patch_init();                   /* VEC_SYNC rendezvous, int3 self-test */
	alt_apply_boot();               /* CPUID alternatives, in the BSP's own NMI */
	irq_enable();                   /* a batch takes IRQs on; only this CPU is online */
	static_key_init();              /* jump table sorted, off keys' sites NOPs, before any AP runs one */
	irq_disable();
	smp_boot();                     /* INIT-SIPI-SIPI every MADT processor */
	serial_enable_rx_irq();         /* COM1 input for the console */
	irq_enable();
	lp_load_modules();              /* livepatch payloads (Multiboot2 modules), all CPUs up */
	crashtest_maybe_run();          /* crashtest=...: exercise a failure path */
	if (ktest_requested())
		ktest_main();           /* ktest=...: run tests, exit QEMU */
	shell_run();
}

void kmain_bsp(uint64_t mbi_phys)
{
	struct percpu *pc = &percpu_area[0];

	tsc_at_boot = rdtsc();
	percpu_install(pc, 0, 0);       /* GS: this_cpu() and printk need it */
	pc->stack_lo = (uintptr_t)boot_stack;
	pc->stack_hi = (uintptr_t)boot_stack_top;
	serial_init();                  /* COM1 115200 8N1 */
	pic_disable();                  /* 8259s remapped and masked: see pic.c */
	printk("xpoke: booting");
	bootinfo_parse(mbi_phys);       /* copy cmdline, memory map, RSDP */
	printk("boot: loader '%s'", bootinfo.loader);
	cmdline_parse(bootinfo.cmdline);
	cpu_features_check();           /* required CPUID bits, optional ones */
	pmm_init(&bootinfo);            /* physical frames */
	paging_init();                  /* final W^X page tables */
	cpu_alloc_stacks(pc);           /* guarded thread + IST stacks */
	paging_enter_cpu_root(pc);      /* own PML4 with a private poke window */
	stack_switch(pc->stack_hi, kmain_bsp_on_guarded_stack);
}
