/*
 * arch/x86/power.h — leaving the machine: QEMU exit, ACPI poweroff, reset.
 */
#ifndef XPOKE_ARCH_X86_POWER_H
#define XPOKE_ARCH_X86_POWER_H

/* Exit QEMU through isa-debug-exit (status (code << 1) | 1); if that device
 * is absent, power off through ACPI; if that fails, halt. */
__attribute__((noreturn)) void machine_exit(int code);
__attribute__((noreturn)) void machine_poweroff(void);
__attribute__((noreturn)) void machine_reboot(void);

#endif
