/*
 * clients/livepatch/lp_mem.h — the payload area (arch/x86/layout.h:
 * LP_AREA_BASE): pages for livepatch payloads, never writable and
 * executable at once.
 *
 * A payload's pages are first mapped RW+NX (lp_mem_map: fresh zeroed
 * frames), filled and relocated through that mapping, then each page gets
 * its final rights (lp_mem_seal: text RX, read-only data R, data RW+NX;
 * text and read-only frames lose W in the direct map too),
 * with the TLB flushed on every online CPU. lp_mem_unmap undoes a mapping
 * that was never published (a refused payload) and gives its address
 * range back when it was the last one handed out.
 *
 * Thread context, IRQs on; the callers (the loader) are serialised.
 */
#ifndef XPOKE_CLIENTS_LIVEPATCH_LP_MEM_H
#define XPOKE_CLIENTS_LIVEPATCH_LP_MEM_H

#include <stddef.h>
#include <stdint.h>

enum lp_mem_kind { LP_MEM_TEXT, LP_MEM_RO, LP_MEM_DATA };

/* The address lp_mem_map(pages) will hand out next (so a payload is laid
 * out, and every address in it checked, before anything is mapped), or 0
 * when the area has no room. */
uintptr_t lp_mem_next(size_t pages);

/* Map pages pages RW+NX at a fresh address of the area: 0 and *va, or
 * -LP_ENOMEM when the area is full. */
int lp_mem_map(size_t pages, uintptr_t *va);

/* Give [va, va+pages*PAGE_SIZE) its final rights, by kind, and flush the
 * range on every online CPU: 0, or on_cpus' error when some CPU did not
 * flush before its deadline (on_cpus names it and its RIP). The late CPU
 * still runs the flush later (its argument is static): the caller must
 * not free the frames then, but leak them and the range. */
int lp_mem_seal(uintptr_t va, size_t pages, enum lp_mem_kind kind);

/* Unmap and free the frames of a mapping lp_mem_map made (never
 * published): 0, or on_cpus' error when some CPU did not flush before its
 * deadline; the range, and the frames unless only the last flush was
 * late, are then leaked (said on the console), never handed out again. */
int lp_mem_unmap(uintptr_t va, size_t pages);

/* How many pages of the area are mapped now (a walk of its page tables). */
unsigned lp_mem_mapped_pages(void);

#endif
