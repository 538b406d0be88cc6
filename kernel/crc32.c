/*
 * kernel/crc32.c — CRC-32, one table lookup per byte (see crc32.h).
 */
#include <stdbool.h>
#include "kernel/crc32.h"

static uint32_t table[256];
static bool table_ready;

static void fill_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	table_ready = true;
}

uint32_t crc32(uint32_t crc, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	if (!table_ready)
		fill_table();
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
