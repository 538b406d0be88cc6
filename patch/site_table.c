/*
 * patch/site_table.c — see site_table.h. Builds for the kernel and the host.
 */
#include "patch/site_table.h"

static void swap_sites(struct poke_site *a, struct poke_site *b)
{
	struct poke_site t = *a;
	*a = *b;
	*b = t;
}

/* Restore the max-heap below root, in sites[0..n). */
static void sift_down(struct poke_site *sites, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t big = root, l = 2 * root + 1, r = l + 1;
		if (l < n && sites[l].addr > sites[big].addr)
			big = l;
		if (r < n && sites[r].addr > sites[big].addr)
			big = r;
		if (big == root)
			return;
		swap_sites(&sites[root], &sites[big]);
		root = big;
	}
}

void sites_sort(struct poke_site *sites, uint32_t nr)
{
	uint32_t i = 1;
	while (i < nr && sites[i - 1].addr <= sites[i].addr)
		i++;
	if (i >= nr)
		return;                 /* already in order: the common case (clients add in order) */
	for (uint32_t k = nr / 2; k-- > 0;)
		sift_down(sites, k, nr);
	for (uint32_t end = nr - 1; end > 0; end--) {
		swap_sites(&sites[0], &sites[end]);
		sift_down(sites, 0, end);
	}
}
