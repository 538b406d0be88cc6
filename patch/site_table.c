/*
 * patch/site_table.c — see site_table.h. Builds for the kernel and the host.
 */
#include "patch/site_table.h"

void sites_sort(struct poke_site *sites, uint32_t nr)
{
	for (uint32_t i = 1; i < nr; i++) {
		struct poke_site s = sites[i];
		uint32_t j = i;
		while (j && sites[j - 1].addr > s.addr) {
			sites[j] = sites[j - 1];
			j--;
		}
		sites[j] = s;
	}
}
