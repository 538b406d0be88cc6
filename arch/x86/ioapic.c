/*
 * arch/x86/ioapic.c — program the first IOAPIC of the MADT.
 *
 * Registers are reached indirectly: write the index to IOREGSEL (offset 0),
 * then read or write IOWIN (offset 0x10). Redirection entry n is the 64-bit
 * pair at index 0x10 + 2n (low) and 0x11 + 2n (high, destination APIC ID in
 * bits 63:56). ISA IRQs are edge-triggered active-high unless a MADT
 * interrupt source override says otherwise. Boot-time only: no locking.
 */
#include "arch/x86/acpi.h"
#include "arch/x86/ioapic.h"
#include "arch/x86/paging.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"

#define IOREGSEL    0x00
#define IOWIN       0x10
#define IOAPICVER   0x01
#define REDIR_LO(n) (0x10 + 2 * (n))
#define REDIR_HI(n) (0x11 + 2 * (n))
#define RED_MASKED  (1u << 16)
#define RED_LEVEL   (1u << 15)
#define RED_LOW     (1u << 13)

static volatile uint32_t *ioapic;
static unsigned n_inputs;

static uint32_t io_read(uint32_t reg)
{
	ioapic[IOREGSEL / 4] = reg;
	return ioapic[IOWIN / 4];
}

static void io_write(uint32_t reg, uint32_t v)
{
	ioapic[IOREGSEL / 4] = reg;
	ioapic[IOWIN / 4] = v;
}

void ioapic_init(void)
{
	if (!acpi.have_ioapic)
		panic("ioapic: the MADT lists no IOAPIC; the serial console needs one");
	ioapic = P2V(acpi.ioapic_phys);
	n_inputs = ((io_read(IOAPICVER) >> 16) & 0xff) + 1;
	for (unsigned i = 0; i < n_inputs; i++) {
		io_write(REDIR_LO(i), RED_MASKED);
		io_write(REDIR_HI(i), 0);
	}
	printk("ioapic: %u inputs at %#lx, GSI base %u", n_inputs, acpi.ioapic_phys, acpi.ioapic_gsi_base);
}

void ioapic_route_isa_irq(unsigned irq, uint8_t vector, unsigned cpu)
{
	uint32_t gsi = irq, flags = 0;
	for (unsigned i = 0; i < acpi.n_iso; i++)
		if (acpi.iso[i].irq == irq) {
			gsi = acpi.iso[i].gsi;
			flags = acpi.iso[i].flags;
		}
	if (gsi < acpi.ioapic_gsi_base || gsi - acpi.ioapic_gsi_base >= n_inputs)
		panic("ioapic: ISA IRQ %u maps to GSI %u, not on this IOAPIC", irq, gsi);
	unsigned pin = gsi - acpi.ioapic_gsi_base;
	uint32_t lo = vector;
	if ((flags & 3) == 3)
		lo |= RED_LOW;
	if (((flags >> 2) & 3) == 3)
		lo |= RED_LEVEL;
	io_write(REDIR_HI(pin), percpu_of(cpu)->apic_id << 24);
	io_write(REDIR_LO(pin), lo);
}
