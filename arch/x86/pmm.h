/*
 * arch/x86/pmm.h — the physical page allocator.
 */
#ifndef XPOKE_ARCH_X86_PMM_H
#define XPOKE_ARCH_X86_PMM_H

#include <stdint.h>

struct bootinfo;

void pmm_init(const struct bootinfo *bi);
/* A zeroed 4 KiB frame (physical address). Lowest addresses first, so early
 * page tables land below 4 GiB (the AP trampoline loads CR3 in 32-bit mode).
 * Panics when memory is exhausted. */
uint64_t pmm_alloc_page(void);
void pmm_free_page(uint64_t pa);
uint64_t pmm_free_count(void);
uint64_t pmm_top_of_ram(void);  /* end of the highest usable RAM range */

#endif
