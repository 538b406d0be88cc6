/*
 * arch/x86/acpi.h — what xpoke reads from the ACPI tables.
 *
 * RSDP (from the bootloader) -> XSDT (64-bit entries) or RSDT (32-bit)
 *   -> MADT "APIC": processors, IOAPIC, interrupt overrides
 *   -> FADT "FACP": PM timer, PM1 control (S5 poweroff), reset register
 *        -> DSDT: the \_S5 sleep type, for poweroff
 * Every table's checksum is verified; a bad one is a boot failure.
 */
#ifndef XPOKE_ARCH_X86_ACPI_H
#define XPOKE_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/layout.h"

struct acpi_gas {
	uint8_t space;          /* 0 memory, 1 I/O port */
	uint8_t bit_width, bit_offset, access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_iso {               /* ISA IRQ -> GSI override */
	uint8_t irq;
	uint32_t gsi;
	uint16_t flags;         /* MPS INTI flags: polarity bits 1:0, trigger 3:2 */
};

struct acpi_info {
	char oem[7];
	uint32_t root_tag;              /* 'R' RSDT or 'X' XSDT */
	uint64_t lapic_phys;
	bool pcat_compat;               /* legacy 8259 PICs present */
	uint32_t n_cpus;                /* enabled processors, MADT order */
	uint32_t cpu_apic_id[MAX_CPUS];
	uint32_t n_cpus_disabled;       /* listed but not enabled */
	bool have_ioapic;
	uint64_t ioapic_phys;
	uint32_t ioapic_gsi_base;
	struct acpi_iso iso[16];
	uint32_t n_iso;
	uint16_t pm_tmr_port;           /* 0: none */
	bool pm_tmr_32bit;
	uint16_t pm1a_cnt, pm1b_cnt;
	bool have_s5;
	uint8_t s5_typ_a, s5_typ_b;
	bool have_reset;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
};

extern struct acpi_info acpi;

void acpi_init(void);

/* ACPI PM timer (3.579545 MHz) ticks, or 0 if there is none. */
uint32_t acpi_pm_timer_read(void);
#define ACPI_PM_TIMER_HZ 3579545u

#endif
