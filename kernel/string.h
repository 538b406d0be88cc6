/*
 * kernel/string.h — the libc string subset the kernel (and GCC) needs.
 */
#ifndef XPOKE_KERNEL_STRING_H
#define XPOKE_KERNEL_STRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
size_t strlcpy(char *dst, const char *src, size_t size);

/* Does the n-byte buffer hay contain the string needle? */
bool mem_contains(const void *hay, size_t n, const char *needle);

/* Parse an unsigned number (decimal, or hex with 0x). Returns false on junk. */
bool parse_u64(const char *s, uint64_t *out);

/* Shell-style match: '*' any run, '?' one character. */
bool glob_match(const char *pattern, const char *s);

#endif
