/*
 * kernel/crc32.h — CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320):
 * the CRC of zlib's crc32(), Python's zlib.crc32() and `gzip`, so the host
 * can compute the same value from a file.
 */
#ifndef XPOKE_KERNEL_CRC32_H
#define XPOKE_KERNEL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over n more bytes: crc32(0, ...) starts one, and
 * crc32(crc32(0, a, n), b, m) is the CRC of a followed by b.
 * Thread context (the first call fills a table). */
uint32_t crc32(uint32_t crc, const void *buf, size_t n);

#endif
