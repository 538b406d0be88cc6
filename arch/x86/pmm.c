/*
 * arch/x86/pmm.c — a bump allocator over the Multiboot2 memory map, with a
 * free list for returned frames.
 *
 * Usable frames: type-1 (available) ranges, above 1 MiB (the real-mode area
 * holds the BIOS data, the EBDA and the AP trampoline), outside the kernel
 * image and outside every Multiboot2 module (livepatch payloads, read in
 * place by clients/livepatch/load.c, never handed out). The Multiboot2 information was copied out by bootinfo_parse(), so
 * its frames are free to reuse.
 */
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/pmm.h"
#include "kernel/bootinfo.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"

#define MAX_RANGES 64

extern char __kernel_phys_end[];        /* linker.ld */

struct range { uint64_t next, end; };

static struct range ranges[MAX_RANGES];
static unsigned n_ranges;
static uint64_t free_list;              /* physical address of a free frame, 0 = none */
static uint64_t free_frames;
static uint64_t top_of_ram;
static spinlock_t pmm_lock = SPINLOCK_INIT("pmm");

static void add_range_raw(uint64_t start, uint64_t end)
{
	start = (start + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	end &= ~(uint64_t)(PAGE_SIZE - 1);
	if (start >= end)
		return;
	if (n_ranges == MAX_RANGES)
		panic("pmm: more than %d usable memory ranges", MAX_RANGES);
	/* keep sorted by start address */
	unsigned i = n_ranges++;
	while (i && ranges[i - 1].next > start) {
		ranges[i] = ranges[i - 1];
		i--;
	}
	ranges[i] = (struct range){ start, end };
	free_frames += (end - start) / PAGE_SIZE;
}

/* Add [start, end) minus every module's frames (whole pages around them). */
static void add_range(uint64_t start, uint64_t end, const struct bootinfo *bi, unsigned from)
{
	for (unsigned i = from; i < bi->n_mods; i++) {
		uint64_t ms = bi->mods[i].start & ~(uint64_t)(PAGE_SIZE - 1);
		uint64_t me = (bi->mods[i].end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
		if (ms < end && me > start) {
			if (start < ms)
				add_range(start, ms, bi, i + 1);
			if (me < end)
				add_range(me, end, bi, i + 1);
			return;
		}
	}
	add_range_raw(start, end);
}

void pmm_init(const struct bootinfo *bi)
{
	uint64_t kstart = KERNEL_PHYS, kend = (uint64_t)(uintptr_t)__kernel_phys_end;
	for (unsigned i = 0; i < bi->n_mmap; i++) {
		const struct mmap_entry *e = &bi->mmap[i];
		if (e->type != MMAP_AVAILABLE)
			continue;
		uint64_t s = e->base, t = e->base + e->len;
		if (t > top_of_ram)
			top_of_ram = t;
		if (s < 0x100000)
			s = 0x100000;
		if (s < kend && t > kstart) {   /* split around the kernel image */
			add_range(s, kstart, bi, 0);
			add_range(kend, t, bi, 0);
		} else {
			add_range(s, t, bi, 0);
		}
	}
	if (!n_ranges)
		panic("pmm: the memory map has no usable RAM above 1 MiB");
	printk("pmm: %lu MiB usable in %u range(s), RAM ends at %#lx",
	       free_frames * PAGE_SIZE >> 20, n_ranges, top_of_ram);
}

uint64_t pmm_alloc_page(void)
{
	uint64_t pa = 0;
	spin_lock(&pmm_lock);
	if (free_list) {
		pa = free_list;
		free_list = *(uint64_t *)P2V(pa);
	} else {
		for (unsigned i = 0; i < n_ranges; i++)
			if (ranges[i].next < ranges[i].end) {
				pa = ranges[i].next;
				ranges[i].next += PAGE_SIZE;
				break;
			}
	}
	if (pa)
		free_frames--;
	spin_unlock(&pmm_lock);
	if (!pa)
		panic("pmm: out of physical memory");
	memset(P2V(pa), 0, PAGE_SIZE);
	return pa;
}

void pmm_free_page(uint64_t pa)
{
	spin_lock(&pmm_lock);
	*(uint64_t *)P2V(pa) = free_list;
	free_list = pa;
	free_frames++;
	spin_unlock(&pmm_lock);
}

uint64_t pmm_free_count(void) { return free_frames; }
uint64_t pmm_top_of_ram(void) { return top_of_ram; }
