/*
 * arch/x86/serial.c — COM1 16550: 115200 8N1, FIFOs on.
 *
 * Output is polled with a bounded wait for "transmit holding register empty",
 * so a missing or wedged UART slows printing instead of hanging a CPU.
 * Input arrives by interrupt (ISA IRQ 4 through the IOAPIC) into a small
 * single-producer/single-consumer ring read by the shell.
 */
#include <stdint.h>
#include "arch/x86/cpu.h"
#include "arch/x86/ioapic.h"
#include "arch/x86/irq.h"
#include "arch/x86/layout.h"
#include "arch/x86/serial.h"

#define COM1            0x3f8
#define COM2            0x2f8
#define UART_SCRATCH    7
#define UART_DATA       0
#define UART_IER        1
#define UART_FCR        2
#define UART_LCR        3
#define UART_MCR        4
#define UART_LSR        5
#define LSR_DATA_READY  0x01
#define LSR_THR_EMPTY   0x20
#define LSR_TX_EMPTY    0x40
#define COM1_ISA_IRQ    4

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80);    /* DLAB: divisor follows */
	outb(COM1 + UART_DATA, 1);      /* 115200 baud */
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x03);    /* 8N1 */
	outb(COM1 + UART_FCR, 0xc7);    /* FIFOs on, cleared, 14-byte trigger */
	outb(COM1 + UART_MCR, 0x0b);    /* DTR, RTS, OUT2 (gates the IRQ line) */
}

static void serial_putc(char c)
{
	for (int spins = 0; spins < 100000; spins++)
		if (inb(COM1 + UART_LSR) & LSR_THR_EMPTY)
			break;
	outb(COM1 + UART_DATA, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

void serial_drain(void)
{
	for (int spins = 0; spins < 1000000; spins++)
		if (inb(COM1 + UART_LSR) & LSR_TX_EMPTY)
			return;
}

/* Receive ring: written by the IRQ handler, read by the shell, both on the BSP. */
static char rx_ring[256];
static volatile uint32_t rx_head, rx_tail;

static void serial_rx_irq(struct regs *r)
{
	(void)r;
	while (inb(COM1 + UART_LSR) & LSR_DATA_READY) {
		char c = (char)inb(COM1 + UART_DATA);
		if (rx_head - rx_tail < sizeof(rx_ring)) {
			rx_ring[rx_head % sizeof(rx_ring)] = c;
			__atomic_store_n(&rx_head, rx_head + 1, __ATOMIC_RELEASE);
		}
	}
}

int serial_getc(void)
{
	if (__atomic_load_n(&rx_head, __ATOMIC_ACQUIRE) == rx_tail)
		return -1;
	char c = rx_ring[rx_tail % sizeof(rx_ring)];
	__atomic_store_n(&rx_tail, rx_tail + 1, __ATOMIC_RELEASE);
	return (unsigned char)c;
}

void serial_enable_rx_irq(void)
{
	irq_register(VEC_SERIAL, serial_rx_irq);
	ioapic_route_isa_irq(COM1_ISA_IRQ, VEC_SERIAL, 0);
	while (inb(COM1 + UART_LSR) & LSR_DATA_READY)   /* drop stale input */
		(void)inb(COM1 + UART_DATA);
	outb(COM1 + UART_IER, 0x01);    /* interrupt on received data */
}

int serial_control_present(void)
{
	outb(COM2 + UART_SCRATCH, 0x5a);
	if (inb(COM2 + UART_SCRATCH) != 0x5a)
		return 0;
	outb(COM2 + UART_SCRATCH, 0xa5);
	return inb(COM2 + UART_SCRATCH) == 0xa5;
}

void serial_control_init(void)
{
	outb(COM2 + UART_IER, 0x00);
	outb(COM2 + UART_LCR, 0x80);
	outb(COM2 + UART_DATA, 1);
	outb(COM2 + UART_IER, 0);
	outb(COM2 + UART_LCR, 0x03);
	outb(COM2 + UART_FCR, 0xc7);
	outb(COM2 + UART_MCR, 0x03);    /* DTR, RTS; no OUT2: polled */
}

int serial_control_getc(void)
{
	if (!(inb(COM2 + UART_LSR) & LSR_DATA_READY))
		return -1;
	return inb(COM2 + UART_DATA);
}
