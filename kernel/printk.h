/*
 * kernel/printk.h — the kernel console: whole lines, any CPU, any context.
 *
 * printk() formats into a buffer on the caller's stack and commits the result
 * to a lock-free ring of fixed-size slots as one record; whoever holds the
 * console drains records to COM1 in order. A record is never split by
 * another record, so lines from different CPUs never interleave, and no
 * context ever spins on a lock another context of the same CPU may hold:
 * an NMI that lands while its own CPU is draining only queues its line, and
 * the interrupted drain prints it after the NMI returns. See printk.c.
 */
#ifndef XPOKE_KERNEL_PRINTK_H
#define XPOKE_KERNEL_PRINTK_H

#include <stddef.h>
#include <stdint.h>

/* Print one or more complete lines; a trailing newline is added if missing.
 * Safe from thread, IRQ, NMI, #MC and #BP context. */
int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Raw console output with no newline added (shell prompt and echo). */
void console_write(const char *s, size_t n);

/* Drain queued records now, unless another context owns the console. */
void console_flush(void);

/* Panic: take the console from whoever holds it and drain synchronously. */
void console_panic_flush(void);

struct printk_stats {
	uint64_t records;           /* records committed */
	uint64_t dropped;           /* records lost because the ring was full */
	uint64_t deferred_self;     /* records queued by an interrupt whose own CPU
	                               held the console (printed after it returned) */
};
void printk_get_stats(struct printk_stats *out);

/*
 * Test hook: records beginning with prefix are copied to buf (and, when
 * quiet, not sent to the UART). One capture at a time.
 */
struct console_capture {
	const char *prefix;
	char *buf;
	size_t size;
	size_t len;                 /* bytes captured */
	size_t overflow;            /* bytes that did not fit */
	int quiet;
};
void console_capture_start(struct console_capture *c);
void console_capture_stop(void);

/* The CPU draining the console right now, or -1 (a racy snapshot, for tests
 * that want to interrupt it). */
int console_owner_cpu(void);

/* Test hook: hold the console as if draining, without draining. */
int console_trylock(void);
void console_unlock(void);      /* releases and drains what queued meanwhile */

#endif
