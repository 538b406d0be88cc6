/*
 * arch/x86/serial.h — the 16550 UART on COM1: polled output, IRQ-driven input.
 */
#ifndef XPOKE_ARCH_X86_SERIAL_H
#define XPOKE_ARCH_X86_SERIAL_H

#include <stddef.h>

void serial_init(void);
/* Polled write; "\n" goes out as "\r\n". NMI-safe: no locks (callers serialize). */
void serial_write(const char *s, size_t n);
/* Wait (bounded) until the UART has sent every byte: before QEMU exits. */
void serial_drain(void);
/* Route COM1 receive interrupts to VEC_SERIAL on the BSP (needs the IOAPIC). */
void serial_enable_rx_irq(void);
/* Next received byte, or -1. Single consumer (the shell on the BSP). */
int serial_getc(void);

/*
 * COM2, the host's control line for host+guest tests (scripts/run-qemu.py
 * --control): polled, input only. present() probes the scratch register.
 */
int serial_control_present(void);
void serial_control_init(void);
int serial_control_getc(void);          /* next byte, or -1 */

#endif
