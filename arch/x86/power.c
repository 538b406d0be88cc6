/*
 * arch/x86/power.c — exit, poweroff and reboot, each saying which method
 * it uses and what happens when that method does nothing.
 */
#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/power.h"
#include "arch/x86/serial.h"
#include "arch/x86/tsc.h"
#include "kernel/printk.h"

#define SLP_EN (1u << 13)

__attribute__((noreturn))
static void halt_forever(const char *why)
{
	printk("%s; halting", why);
	console_panic_flush();
	irq_disable();
	for (;;)
		halt();
}

static void acpi_s5(void)
{
	if (!acpi.have_s5 || !acpi.pm1a_cnt)
		return;
	console_panic_flush();
	outw(acpi.pm1a_cnt, (uint16_t)(acpi.s5_typ_a << 10) | SLP_EN);
	if (acpi.pm1b_cnt)
		outw(acpi.pm1b_cnt, (uint16_t)(acpi.s5_typ_b << 10) | SLP_EN);
	mdelay(100);
}

void machine_exit(int code)
{
	console_panic_flush();
	serial_drain();                         /* QEMU drops what is still queued */
	outb(DEBUG_EXIT_PORT, (uint8_t)code);   /* QEMU exits here if the device exists */
	printk("exit: no isa-debug-exit device at port %#x; powering off (exit code %d lost)",
	       DEBUG_EXIT_PORT, code);
	acpi_s5();
	halt_forever("exit: ACPI S5 poweroff did not take effect");
}

void machine_poweroff(void)
{
	if (!acpi.have_s5)
		halt_forever("poweroff: the DSDT has no \\_S5 object");
	printk("poweroff: ACPI S5 through PM1a_CNT %#x", acpi.pm1a_cnt);
	acpi_s5();
	halt_forever("poweroff: ACPI S5 did not take effect");
}

void machine_reboot(void)
{
	if (acpi.have_reset && acpi.reset_reg.space == 1) {
		printk("reboot: ACPI reset register (I/O %#lx <- %#x)", acpi.reset_reg.address, acpi.reset_value);
		console_panic_flush();
		outb((uint16_t)acpi.reset_reg.address, acpi.reset_value);
		mdelay(100);
	}
	printk("reboot: keyboard controller reset line (port 0x64 <- 0xfe)");
	console_panic_flush();
	for (int i = 0; i < 100000 && (inb(0x64) & 2); i++)
		cpu_relax();
	outb(0x64, 0xfe);
	mdelay(100);
	halt_forever("reboot: no reset method took effect");
}
