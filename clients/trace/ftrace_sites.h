/*
 * clients/trace/ftrace_sites.h — the fentry sites (section __mcount_loc,
 * sorted in place the first time they are asked for) and their hit
 * counters: internal to clients/trace/.
 *
 * ftrace_site_index() is inline and calls nothing: trace_hit() runs it in
 * whatever context a traced function runs in (IRQ; not NMI or #MC, whose
 * paths call nothing patchable).
 */
#ifndef XPOKE_CLIENTS_TRACE_FTRACE_SITES_H
#define XPOKE_CLIENTS_TRACE_FTRACE_SITES_H

#include <stdint.h>
#include "mass/mass_corpus.h"                /* build/gen/mass/: MASS_N */

/* Room for the corpus and every kernel function. */
#define FTRACE_SITES_MAX (MASS_N + 16384)
#define FTRACE_NONE      UINT32_MAX

extern uintptr_t *ftrace_sites;         /* sorted; NULL until ftrace_sites_init() */
extern uint32_t ftrace_nr;
extern uint64_t ftrace_hits[FTRACE_SITES_MAX];

/* Sort the table (once). Thread context. */
void ftrace_sites_init(void);

/* The index of the site at addr, or FTRACE_NONE: a binary search. Any
 * context; no lock, no call. */
static inline uint32_t ftrace_site_index(uintptr_t addr)
{
	const uintptr_t *t = __atomic_load_n(&ftrace_sites, __ATOMIC_ACQUIRE);
	uint32_t lo = 0, hi = t ? ftrace_nr : 0;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t[mid] == addr)
			return mid;
		if (t[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return FTRACE_NONE;
}

#endif
