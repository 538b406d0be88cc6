/*
 * arch/x86/apic.c — local APIC.
 *
 * ICR and NMI safety. In x2APIC mode the ICR is one 64-bit MSR write:
 * atomic. In xAPIC mode it is two MMIO writes, ICR_HI (destination) then
 * ICR_LO (which sends). An NMI arriving between them on the same CPU, whose
 * handler sends an IPI of its own, would leave its destination in ICR_HI.
 * Every sender therefore saves ICR_HI, writes, sends, waits for delivery
 * and restores ICR_HI, with IRQs off:
 *
 *   thread                          NMI on the same CPU
 *   ------                          -------------------
 *   save hi0; write ICR_HI = A
 *             ----- NMI ---------->  save hi = A; write ICR_HI = B
 *                                    write ICR_LO (sends to B)
 *                                    restore ICR_HI = A
 *             <---- IRET ----------
 *   write ICR_LO (sends to A)       correct: A is back in ICR_HI
 *   restore ICR_HI = hi0
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeatures.h"
#include "arch/x86/irq.h"
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"

#define APIC_BASE_ENABLE    (1u << 11)
#define APIC_BASE_X2APIC    (1u << 10)
#define APIC_BASE_BSP       (1u << 8)

/* Register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + off / 16). */
#define APIC_ID             0x020
#define APIC_TPR            0x080
#define APIC_EOI            0x0b0
#define APIC_SVR            0x0f0
#define APIC_ESR            0x280
#define APIC_ICR_LO         0x300
#define APIC_ICR_HI         0x310
#define APIC_LVT_TIMER      0x320
#define APIC_LVT_LINT0      0x350
#define APIC_LVT_LINT1      0x360
#define APIC_LVT_ERROR      0x370
#define APIC_TIMER_INIT     0x380
#define APIC_TIMER_CUR      0x390
#define APIC_TIMER_DIV      0x3e0

#define SVR_ENABLE          (1u << 8)
#define LVT_MASKED          (1u << 16)
#define DM_FIXED            (0u << 8)
#define DM_NMI              (4u << 8)
#define DM_INIT             (5u << 8)
#define DM_STARTUP          (6u << 8)
#define ICR_PENDING         (1u << 12)
#define ICR_ASSERT          (1u << 14)
#define ICR_LEVEL           (1u << 15)
#define SH_NONE             (0u << 18)
#define SH_SELF             (1u << 18)
#define SH_ALL              (2u << 18)
#define SH_ALL_BUT_SELF     (3u << 18)
#define TIMER_DIV_16        0x3

bool apic_x2apic;
static volatile uint32_t *apic_mmio;
static uint64_t apic_timer_khz;         /* timer counts per ms, after calibration */

static uint32_t apic_read(uint32_t reg)
{
	if (apic_x2apic)
		return (uint32_t)rdmsr(0x800 + reg / 16);
	return apic_mmio[reg / 4];
}

static void apic_write(uint32_t reg, uint32_t v)
{
	if (apic_x2apic)
		wrmsr(0x800 + reg / 16, v);
	else
		apic_mmio[reg / 4] = v;
}

/* Globally enable this CPU's APIC in the chosen mode. x2APIC registers are
 * MSRs that fault until EXTD is set, so this comes before any access.
 * (xAPIC -> x2APIC is a legal transition; the reverse is not needed.) */
static void apic_enable_mode(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;
	wrmsr(MSR_APIC_BASE, base);
	if (apic_x2apic)
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_X2APIC);
}

void apic_init_bsp(void)
{
	apic_x2apic = cpu_features.x2apic;
	uint64_t phys = rdmsr(MSR_APIC_BASE) & 0xffffff000ull;
	apic_mmio = (volatile uint32_t *)P2V(phys);
	apic_enable_mode();
	printk("apic: %s, registers at %#lx", apic_x2apic ? "x2APIC (MSRs)" : "xAPIC", phys);
}

void apic_init_this_cpu(void)
{
	apic_enable_mode();

	apic_write(APIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_LVT_LINT0, LVT_MASKED);
	/* LINT1 as NMI on every CPU: external NMIs (QEMU's `nmi`) reach all. */
	apic_write(APIC_LVT_LINT1, DM_NMI);
	apic_write(APIC_LVT_ERROR, VEC_APIC_ERROR);
	apic_write(APIC_ESR, 0);
	apic_write(APIC_ESR, 0);
	apic_eoi();
}

uint32_t apic_read_id(void)
{
	uint32_t id = apic_read(APIC_ID);
	return apic_x2apic ? id : id >> 24;
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

static void icr_wait_idle(void)
{
	if (apic_x2apic)
		return;                 /* x2APIC has no delivery-status bit */
	for (int i = 0; i < 1000000 && (apic_read(APIC_ICR_LO) & ICR_PENDING); i++)
		cpu_relax();
}

/* Any context: see the ICR comment at the top of the file. */
/* Fixed and NMI IPIs sent by this CPU, one per destination CPU (figures:
 * make compare's IPIs per batch). A locked add: an NMI handler sending
 * in the middle of it loses no count. */
static void count_sent(uint32_t low)
{
	uint32_t dm = low & (7u << 8), sh = low & (3u << 18);
	if (dm != DM_FIXED && dm != DM_NMI)
		return;
	uint64_t n = sh == SH_ALL ? nr_cpus_online : sh == SH_ALL_BUT_SELF ? nr_cpus_online - 1 : 1;
	__atomic_fetch_add(&this_cpu()->ipis_sent, n, __ATOMIC_RELAXED);
}

static void icr_send(uint32_t dest, uint32_t low)
{
	count_sent(low);
	uint64_t flags = irq_save();
	if (apic_x2apic) {
		wrmsr(0x830, ((uint64_t)dest << 32) | low);
	} else {
		uint32_t saved_hi = apic_read(APIC_ICR_HI);
		icr_wait_idle();
		apic_write(APIC_ICR_HI, dest << 24);
		apic_write(APIC_ICR_LO, low);
		icr_wait_idle();
		apic_write(APIC_ICR_HI, saved_hi);
	}
	irq_restore(flags);
}

void apic_send_ipi(uint32_t apic_id, uint8_t vector) { icr_send(apic_id, SH_NONE | DM_FIXED | vector); }
void apic_send_ipi_self(uint8_t vector) { icr_send(0, SH_SELF | DM_FIXED | vector); }
void apic_send_ipi_all(uint8_t vector) { icr_send(0, SH_ALL | DM_FIXED | vector); }
void apic_send_ipi_allbutself(uint8_t vector) { icr_send(0, SH_ALL_BUT_SELF | DM_FIXED | vector); }

void apic_send_nmi(uint32_t apic_id) { icr_send(apic_id, SH_NONE | DM_NMI); }
/* The SDM forbids the "self" shorthand with NMI delivery: address ourselves. */
void apic_send_nmi_self(void) { icr_send(this_cpu()->apic_id, SH_NONE | DM_NMI); }
void apic_send_nmi_all(void) { icr_send(0, SH_ALL | DM_NMI); }
void apic_send_nmi_allbutself(void) { icr_send(0, SH_ALL_BUT_SELF | DM_NMI); }

void apic_send_init(uint32_t apic_id) { icr_send(apic_id, DM_INIT | ICR_LEVEL | ICR_ASSERT); }
/* x2APIC has no INIT level de-assert (the SDM: not supported); only the
 * 82489DX ever needed it. */
void apic_send_init_deassert(uint32_t apic_id)
{
	if (!apic_x2apic)
		icr_send(apic_id, DM_INIT | ICR_LEVEL);
}
void apic_send_sipi(uint32_t apic_id, uint8_t page) { icr_send(apic_id, DM_STARTUP | page); }

void apic_timer_calibrate(void)
{
	apic_write(APIC_TIMER_DIV, TIMER_DIV_16);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TIMER_INIT, 0xffffffff);
	mdelay(10);
	uint32_t left = apic_read(APIC_TIMER_CUR);
	apic_write(APIC_TIMER_INIT, 0);
	apic_timer_khz = (0xffffffffu - left) / 10;
	if (!apic_timer_khz)
		panic("apic: the timer did not count during calibration");
	printk("apic: timer %lu kHz (divide by 16)", apic_timer_khz);
}

void apic_timer_oneshot(uint64_t us)
{
	if (!us) {
		apic_write(APIC_TIMER_INIT, 0);
		apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
		return;
	}
	uint64_t count = us * apic_timer_khz / 1000;
	if (count > 0xffffffffu)
		count = 0xffffffffu;    /* caller re-arms if still early */
	if (!count)
		count = 1;
	apic_write(APIC_TIMER_DIV, TIMER_DIV_16);
	apic_write(APIC_LVT_TIMER, VEC_TIMER);  /* one-shot, unmasked */
	apic_write(APIC_TIMER_INIT, (uint32_t)count);
}

void cpu_nap(uint64_t us)
{
	if (!irqs_enabled())
		panic("cpu_nap: IRQs are off: nothing could wake this CPU");
	irq_disable();
	apic_timer_oneshot(us);
	irq_enable_and_halt();
}
