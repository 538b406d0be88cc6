/*
 * patch/site_table.h — batches are kept sorted by address so the #BP handler
 * finds a site by binary search.
 *
 * site_find() is inline and calls nothing: it runs in #BP context.
 */
#ifndef XPOKE_PATCH_SITE_TABLE_H
#define XPOKE_PATCH_SITE_TABLE_H

#include "patch/poke_types.h"

/* Sort sites by address: O(n) when they already are, else a heapsort
 * (O(n log n), no allocation; not stable: equal addresses overlap, which
 * patch_validate_batch() refuses). */
void sites_sort(struct poke_site *sites, uint32_t nr);

/* The site starting exactly at addr, or NULL. #BP-safe. */
static inline const struct poke_site *site_find(const struct poke_site *sites, uint32_t nr, uintptr_t addr)
{
	uint32_t lo = 0, hi = nr;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sites[mid].addr == addr)
			return &sites[mid];
		if (sites[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A site of sorted, non-overlapping sites that overlaps [addr, addr+len),
 * or NULL. #BP-safe. */
static inline const struct poke_site *site_overlapping(const struct poke_site *sites, uint32_t nr, uintptr_t addr,
						       size_t len)
{
	uint32_t lo = 0, hi = nr;       /* the first site ending after addr */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sites[mid].addr + sites[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nr && sites[lo].addr < addr + len ? &sites[lo] : NULL;
}

/* Put the old bytes of every site overlapping [addr, addr+n) into buf,
 * which holds those n bytes of text (the validation view). */
static inline void sites_overlay_old(const struct poke_site *sites, uint32_t nr, uintptr_t addr, uint8_t *buf,
				     size_t n)
{
	for (const struct poke_site *s = site_overlapping(sites, nr, addr, n); s && s < sites + nr &&
	     s->addr < addr + n; s++)
		for (unsigned i = 0; i < s->len; i++)
			if (s->addr + i >= addr && s->addr + i < addr + n)
				buf[s->addr + i - addr] = s->old[i];
}

#endif
