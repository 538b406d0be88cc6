/*
 * kernel/format.h — printf-style formatting into a buffer.
 *
 * Supported: %d %i %u %x %X %o %p %s %c %%, flags '-' '0' ' ' '+', width and
 * precision (also '*'), length modifiers hh h l ll z t j. Reentrant and
 * lock-free: safe in NMI, #MC and #BP context.
 */
#ifndef XPOKE_KERNEL_FORMAT_H
#define XPOKE_KERNEL_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/* Like C's vsnprintf: returns the length the full output would have. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
