/*
 * kernel/sort.h — sorting small arrays of figures in place (insertion
 * sort: stable, no allocation). Thread context.
 */
#ifndef XPOKE_KERNEL_SORT_H
#define XPOKE_KERNEL_SORT_H

#include <stdint.h>

static inline void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

#endif
