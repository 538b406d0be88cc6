/*
 * clients/livepatch/lp_mem.c — the payload area (lp_mem.h).
 *
 * Addresses are handed out upwards from LP_AREA_BASE and never reused
 * (payloads are never unloaded), except that a refused payload's range,
 * the last one handed out, is given back. Frames come from the physical
 * allocator one at a time.
 *
 * Rights: a page is W+NX while the loader writes it, and loses W before it
 * gains X (one PTE store: the new entry has no W), so no instant has it
 * both. Every frame also has a second address, in the direct map (RW+NX
 * for all RAM, arch/x86/paging.c): a text or read-only frame loses W
 * there too, before its payload address gains X, so no mapping anywhere
 * lets the payload's code be written once sealed. The other CPUs never
 * touched these addresses, but a CPU may cache any present translation
 * (speculatively too), so after sealing we flush both addresses of every
 * page on every online CPU before the text is published:
 *
 *   loader (lp_mem_seal)                   any other CPU
 *   PTEs RW+NX; copy, relocate
 *                                          may cache a translation of the
 *                                          range or of the frames' direct-
 *                                          map addresses (speculation): RW
 *   direct map: its 2 MiB page split
 *   (same rights)
 *   on_cpus(flush_here) ---------------->  invlpg: the 2 MiB translation
 *                                          of the frames is gone
 *   direct map: W cleared (4 KiB entry)
 *   PTE = RX (one store: W gone before
 *   X comes)
 *   on_cpus(flush_here) ---------------->  invlpg every page of the range
 *                                          and its direct-map address
 *   <---- all done, or the deadline
 *         (on_cpus names who and where;
 *         the payload is then refused, its
 *         range and frames leaked)
 *   exec_region_add(): published --------> a patched jmp may lead here;
 *                                          both walks find no W
 *
 * lp_mem_unmap gives a refused payload's frames their direct-map W back
 * and flushes every CPU before freeing them.
 */
#include "clients/livepatch/livepatch.h"
#include "clients/livepatch/lp_mem.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/paging.h"
#include "arch/x86/pmm.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"

static uintptr_t area_next = LP_AREA_BASE;

#define RW_FLAGS (PTE_P | PTE_G | PTE_W | PTE_NX)

uintptr_t lp_mem_next(size_t pages)
{
	if (!pages || pages * PAGE_SIZE > LP_AREA_BASE + LP_AREA_SIZE - area_next)
		return 0;
	return area_next;
}

int lp_mem_map(size_t pages, uintptr_t *va)
{
	size_t size = pages * PAGE_SIZE;
	if (!pages || size > LP_AREA_BASE + LP_AREA_SIZE - area_next)
		return -LP_ENOMEM;
	uintptr_t base = area_next;
	area_next += size;
	for (size_t i = 0; i < pages; i++)
		paging_map(base + i * PAGE_SIZE, pmm_alloc_page(), PAGE_SIZE, RW_FLAGS);
	*va = base;
	return 0;
}

struct flush_range { uintptr_t va; size_t pages; };

/* The flushes' argument lives here, not on the caller's stack: when
 * on_cpus gives up on a late CPU, the work stays queued there and reads
 * it whenever that CPU gets to it, after the caller returned. It may then
 * see a later flush's range (or half of one): an invlpg of any address is
 * harmless, and the page tables it walks are never freed. */
static struct flush_range flush_arg;

/* Drop this CPU's translations of the range and, while it is mapped, of
 * its frames' direct-map addresses. */
static void flush_here(void *arg)
{
	const struct flush_range *r = arg;
	for (size_t i = 0; i < r->pages; i++) {
		uintptr_t a = r->va + i * PAGE_SIZE;
		uint64_t *e = paging_lookup(a, NULL);
		if (e)
			invlpg(P2V(*e & PTE_ADDR));
		invlpg((void *)a);
	}
}

/* flush_here on every online CPU: 0, or on_cpus' error (it names the CPUs
 * that did not answer and their RIP). */
static int flush_all(uintptr_t va, size_t pages)
{
	flush_arg.va = va;
	flush_arg.pages = pages;
	return on_cpus(&cpu_online_mask, flush_here, &flush_arg);
}

int lp_mem_seal(uintptr_t va, size_t pages, enum lp_mem_kind kind)
{
	uint64_t flags = kind == LP_MEM_TEXT ? PTE_P | PTE_G
		       : kind == LP_MEM_RO ? PTE_P | PTE_G | PTE_NX : RW_FLAGS;
	if (kind != LP_MEM_DATA) {
		/* The frames' 2 MiB direct-map pages split first, and every CPU
		 * rid of the 2 MiB translation, before a 4 KiB entry loses W:
		 * no TLB ever holds both with different rights. */
		bool split = false;
		for (size_t i = 0; i < pages; i++) {
			uint64_t *e = paging_lookup(va + i * PAGE_SIZE, NULL);
			if (e)
				split |= paging_direct_split(*e & PTE_ADDR);
		}
		int err = split ? flush_all(va, pages) : 0;
		if (err)
			return err;
	}
	for (size_t i = 0; i < pages; i++) {
		uintptr_t a = va + i * PAGE_SIZE;
		uint64_t *e = paging_lookup(a, NULL);
		if (!e)
			continue;
		uint64_t pa = *e & PTE_ADDR;
		if (kind != LP_MEM_DATA)
			paging_direct_set_writable(pa, 0);
		paging_map(a, pa, PAGE_SIZE, flags);
	}
	return flush_all(va, pages);
}

int lp_mem_unmap(uintptr_t va, size_t pages)
{
	/* The frames get their direct-map W back (all RAM has it), and every
	 * CPU forgets that read-only entry, before anyone else may get them;
	 * a CPU that does not answer may still hold it, so the frames and
	 * the range are then leaked, never freed. Nothing ever ran or wrote
	 * through the range (it was never published): a translation of it
	 * cached meanwhile only matters once the range is handed out again,
	 * after the second flush. */
	for (size_t i = 0; i < pages; i++) {
		uint64_t *e = paging_lookup(va + i * PAGE_SIZE, NULL);
		if (e)
			paging_direct_set_writable(*e & PTE_ADDR, 1);
	}
	int err = flush_all(va, pages);
	bool frames_freed = !err;
	for (size_t i = 0; !err && i < pages; i++) {
		uintptr_t a = va + i * PAGE_SIZE;
		uint64_t *e = paging_lookup(a, NULL);
		if (!e)
			continue;
		uint64_t pa = *e & PTE_ADDR;
		paging_unmap(a, PAGE_SIZE);
		pmm_free_page(pa);
	}
	if (!err)
		err = flush_all(va, pages);
	if (err) {
		printk("livepatch: [%#lx, %#lx) leaked%s: not every CPU flushed it", va,
		       va + pages * PAGE_SIZE, frames_freed ? "" : ", and its frames");
		return err;
	}
	if (va + pages * PAGE_SIZE == area_next)
		area_next = va;
	return 0;
}

unsigned lp_mem_mapped_pages(void)
{
	unsigned n = 0;
	for (uintptr_t a = LP_AREA_BASE; a < area_next + 16 * PAGE_SIZE; a += PAGE_SIZE)
		if (paging_lookup(a, NULL))
			n++;
	return n;
}
