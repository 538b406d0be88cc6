/*
 * arch/x86/paging.h — the kernel page tables (one set, shared by all CPUs).
 *
 * Page table entry (4-level, 4 KiB leaf):
 *
 *   63  62..52 51............12 11..9 8 7  6 5 4   3   2  1 0
 *  +--+-------+----------------+-----+-+--+-+-+---+---+--+-+-+
 *  |NX| avail | frame address  |avail|G|PS|D|A|PCD|PWT|US|W|P|
 *  +--+-------+----------------+-----+-+--+-+-+---+---+--+-+-+
 *
 * PS in a PD entry makes it a 2 MiB leaf. xpoke never sets US.
 */
#ifndef XPOKE_ARCH_X86_PAGING_H
#define XPOKE_ARCH_X86_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86/layout.h"

struct percpu;

#define PTE_P       (1ull << 0)
#define PTE_W       (1ull << 1)
#define PTE_PWT     (1ull << 3)
#define PTE_PCD     (1ull << 4)
#define PTE_PS      (1ull << 7)
#define PTE_G       (1ull << 8)
#define PTE_NX      (1ull << 63)
#define PTE_ADDR    0x000ffffffffff000ull

#define P2V(pa)     ((void *)((uintptr_t)(pa) + DIRECT_MAP_BASE))
#define V2P(va)     ((uintptr_t)(va) - DIRECT_MAP_BASE)     /* direct map only */
#define KIMG_V2P(va) ((uintptr_t)(va) - KERNEL_VMA)         /* kernel image only */

/* Build the final W^X tables and switch this CPU to them. */
void paging_init(void);
uint64_t paging_cr3(void);

/* Map/unmap 4 KiB pages in the shared tables (caller flushes other CPUs). */
void paging_map(uintptr_t va, uint64_t pa, size_t size, uint64_t flags);
void paging_unmap(uintptr_t va, size_t size);

/* Split the direct map's 2 MiB page holding frame pa into 4 KiB entries
 * of the same frames and rights, unless it is split already; true if it
 * was split now. No TLB is flushed: the caller flushes P2V(pa) on every
 * CPU before any of the new entries changes its rights (the SDM leaves it
 * undefined which applies when a TLB holds translations of one address of
 * two page sizes with different rights). Thread context. */
bool paging_direct_split(uint64_t pa);

/* Give the direct map's 4 KiB entry for frame pa W (writable) or not; its
 * page must be split (paging_direct_split, then a flush everywhere; panics
 * otherwise). Only the calling CPU's TLB is flushed: the caller flushes
 * P2V(pa) on the others before it relies on the change. Thread context. */
void paging_direct_set_writable(uint64_t pa, int writable);

/* The leaf entry mapping va and its level (1: 4 KiB, 2: 2 MiB), or NULL. */
uint64_t *paging_lookup(uintptr_t va, int *level);

/*
 * Per-CPU roots. Every CPU runs on its own PML4, a copy of the kernel half of
 * the shared root plus a private slot (POKE_AREA_BASE) no other CPU maps.
 * The shared tables below the PML4 are the same pages, so every mapping made
 * later in the kernel half is seen by all CPUs; creating a new PML4 entry
 * after the first root exists is refused.
 */
void paging_enter_cpu_root(struct percpu *pc);

/* Map up to two consecutive physical pages at window `slot` of this CPU's
 * private area and return its address; unmap them again (with a local
 * INVLPG). IRQs off. Each slot is two pages of its own, so a writer that
 * interrupts another on the same CPU (a trap handler's, at a deeper
 * nesting level: patch/text_poke.c) never touches the mapping it
 * interrupted. Any context; slot < POKE_WINDOWS. */
#define POKE_WINDOWS 8
void *poke_window_map(unsigned slot, uint64_t pa0, uint64_t pa1);
void poke_window_unmap(unsigned slot);

/* A new kernel stack with an unmapped guard page below it. Returns the top;
 * *lo gets the lowest mapped address. */
uintptr_t stack_alloc(size_t size, uintptr_t *lo);

/* Linker symbols (linker.ld). */
extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __kernel_end[];

#endif
