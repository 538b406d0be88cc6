/*
 * arch/x86/smp.c — INIT-SIPI-SIPI for every processor in the MADT.
 *
 * Logical CPU numbers: the BSP is 0; the others are numbered in MADT order,
 * skipping the BSP's entry. APIC IDs may be sparse (-smp 6,sockets=2,cores=3
 * gives 0,1,2,4,5,6), so nothing assumes APIC ID == CPU number.
 *
 * APs start one at a time, sharing one trampoline parameter block:
 *
 *   BSP                                     AP
 *   ---                                     --
 *   fill tramp_params for CPU n
 *   INIT (assert, deassert), wait 10 ms
 *   SIPI(TRAMP_PHYS >> 12), wait 200 us     real mode: started = 1
 *   second SIPI only if !started            ... long mode, ap_entry(pc)
 *   wait <= AP_BOOT_TIMEOUT_MS for n online cpu_init_this, online, idle loop
 *   next CPU (the block is free again)
 *
 * A CPU that misses the deadline is reported by APIC ID, put back into
 * wait-for-SIPI with INIT (so it cannot wake later on the next CPU's stack),
 * and boot continues without it.
 */
#include "arch/x86/apic.h"
#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/idt.h"
#include "arch/x86/mce.h"
#include "arch/x86/paging.h"
#include "arch/x86/smp.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"

extern const char tramp_start[], tramp_end[];   /* boot/trampoline.asm */

/* smp.park_apic=ID: send that CPU's SIPI to a page holding "cli; hlt", so it
 * never comes up. Exercises the bring-up timeout (the smp-park stanza of tests/boots.cfg). */
#define PARK_PHYS (TRAMP_PHYS + PAGE_SIZE)
static int park_apic = -1;
KPARAM_UINT("smp.park_apic", park_apic, 0, 254, "ID: never start this CPU (tests the bring-up timeout)");

_Static_assert(TRAMP_PHYS % PAGE_SIZE == 0 && TRAMP_PHYS < 0x100000, "SIPI needs a page below 1 MiB");

void cpu_alloc_stacks(struct percpu *pc)
{
	pc->stack_hi = stack_alloc(STACK_SIZE, &pc->stack_lo);
	for (int i = 1; i <= IST_COUNT; i++)
		pc->ist_hi[i] = stack_alloc(IST_STACK_SIZE, &pc->ist_lo[i]);
}

void cpu_init_this(struct percpu *pc)
{
	gdt_init_this_cpu(pc);
	idt_load();
	mce_init_this_cpu();
	apic_init_this_cpu();
}

__attribute__((noreturn))
void ap_entry(struct percpu *pc);
void ap_entry(struct percpu *pc)
{
	wrmsr(MSR_GS_BASE, (uintptr_t)pc);
	paging_enter_cpu_root(pc);      /* leave the shared root the trampoline used */
	cpu_init_this(pc);
	if (apic_read_id() != pc->apic_id)
		panic("smp: CPU %u came up with APIC ID %u, expected %u", pc->cpu, apic_read_id(), pc->apic_id);
	cpumask_set(&cpu_online_mask, pc->cpu);
	__atomic_fetch_add(&nr_cpus_online, 1, __ATOMIC_SEQ_CST);
	smp_call_loop();        /* sets CPU_IDLE: the BSP's cue */
}

static volatile struct tramp_params *params(void)
{
	return (volatile struct tramp_params *)P2V(TRAMP_PHYS + TRAMP_PARAMS_OFF);
}

static int start_one(struct percpu *pc)
{
	volatile struct tramp_params *tp = params();
	tp->cr3 = (uint32_t)paging_cr3();
	tp->stack_top = pc->stack_hi;
	tp->percpu = (uintptr_t)pc;
	tp->entry = (uintptr_t)ap_entry;
	__atomic_store_n(&tp->started, 0, __ATOMIC_SEQ_CST);
	cpu_set_state(pc, CPU_BOOTING);

	apic_send_init(pc->apic_id);
	mdelay(10);
	apic_send_init_deassert(pc->apic_id);
	uint8_t page = (int)pc->apic_id == park_apic ? PARK_PHYS >> 12 : TRAMP_PHYS >> 12;
	apic_send_sipi(pc->apic_id, page);
	udelay(200);
	if (!__atomic_load_n(&tp->started, __ATOMIC_ACQUIRE))
		apic_send_sipi(pc->apic_id, page);

	uint64_t deadline = tsc_deadline_us(AP_BOOT_TIMEOUT_MS * 1000ull);
	while (cpu_state(pc->cpu) != CPU_IDLE) {
		if (tsc_expired(deadline)) {
			int started = __atomic_load_n(&tp->started, __ATOMIC_ACQUIRE);
			cpu_set_state(pc, CPU_FAILED);
			apic_send_init(pc->apic_id);    /* park it */
			/* It may have put itself online just before the INIT:
			 * take it out again, or every rendezvous would wait for
			 * a CPU that never answers. */
			udelay(1000);
			cpumask_clear(&cpu_online_mask, pc->cpu);
			__atomic_store_n(&nr_cpus_online, cpumask_weight(&cpu_online_mask), __ATOMIC_SEQ_CST);
			printk("smp: CPU with APIC ID %u did not come up within %u ms (%s); continuing without it",
			       pc->apic_id, AP_BOOT_TIMEOUT_MS,
			       started ? "it reached the trampoline, then stalled" : "it never answered the SIPI");
			return -1;
		}
		cpu_relax();
	}
	return 0;
}

void smp_boot(void)
{
	uint32_t bsp_apic = this_cpu()->apic_id;
	if (paging_cr3() >= 0x100000000ull)
		panic("smp: kernel PML4 at %#lx is above 4 GiB; the trampoline loads CR3 in 32-bit mode",
		      paging_cr3());

	memcpy(P2V(TRAMP_PHYS), tramp_start, (size_t)(tramp_end - tramp_start));
	if (park_apic >= 0)
		memcpy(P2V(PARK_PHYS), "\xfa\xf4\xeb\xfd", 4);     /* cli; hlt; jmp $-2 */
	paging_map(TRAMP_PHYS, TRAMP_PHYS, PAGE_SIZE, PTE_P);   /* identity, executable */

	unsigned next = 1, failed = 0;
	bool parked = false;
	for (uint32_t i = 0; i < acpi.n_cpus; i++) {
		uint32_t id = acpi.cpu_apic_id[i];
		if (id == bsp_apic)
			continue;
		struct percpu *pc = &percpu_area[next];
		pc->self = pc;
		pc->cpu = next++;
		pc->apic_id = id;
		cpu_alloc_stacks(pc);
		parked |= (int)id == park_apic;
		if (start_one(pc))
			failed++;
	}
	if (park_apic >= 0 && !parked)
		printk("smp: smp.park_apic=%d names no application processor (the BSP is %u): nothing parked",
		       park_apic, bsp_apic);

	/* The identity mapping lived only in the shared root, which every CPU
	 * has left for its own (paging_enter_cpu_root); drop it anyway. */
	paging_unmap(TRAMP_PHYS, PAGE_SIZE);
	printk("smp: %u of %u CPU(s) online%s", nr_cpus_online, nr_cpus_present,
	       failed ? " (some failed to start)" : "");
}
