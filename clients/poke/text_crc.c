/*
 * clients/poke/text_crc.c — see text_crc.h.
 */
#include "arch/x86/paging.h"
#include "kernel/crc32.h"
#include "patch/patch.h"
#include "clients/poke/text_crc.h"

uint32_t text_crc(void)
{
	uintptr_t start = (uintptr_t)__text_start, end = (uintptr_t)__text_end;
	patch_text_lock();
	uint32_t crc = crc32(0, (const void *)start, end - start);
	patch_text_unlock();
	return crc;
}
