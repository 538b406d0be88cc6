/*
 * patch/exec_regions.c — the registry of patch/exec_regions.h.
 */
#include "patch/exec_regions.h"
#include "kernel/errno.h"
#include "kernel/spinlock.h"

struct exec_region {
	const char *name;
	uintptr_t start, end;
	const uintptr_t *fn_starts;
	unsigned n;
};

static struct exec_region regions[EXEC_REGIONS_MAX];
static unsigned nr_regions;                     /* published last (release) */
static spinlock_t regions_lock = SPINLOCK_INIT("exec_regions");

int exec_region_add(const char *name, uintptr_t start, uintptr_t end, const uintptr_t *fn_starts, unsigned n)
{
	spin_lock(&regions_lock);
	unsigned i = nr_regions;
	if (i == EXEC_REGIONS_MAX) {
		spin_unlock(&regions_lock);
		return -ENOMEM;
	}
	regions[i] = (struct exec_region){ name, start, end, fn_starts, n };
	__atomic_store_n(&nr_regions, i + 1, __ATOMIC_RELEASE);
	spin_unlock(&regions_lock);
	return 0;
}

bool exec_region_lookup(uintptr_t addr, bool *is_fn_start, const char **name)
{
	unsigned nr = __atomic_load_n(&nr_regions, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < nr; i++) {
		const struct exec_region *r = &regions[i];
		if (addr < r->start || addr >= r->end)
			continue;
		unsigned lo = 0, hi = r->n;             /* binary search of the sorted starts */
		while (lo < hi) {
			unsigned mid = lo + (hi - lo) / 2;
			if (r->fn_starts[mid] < addr)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (is_fn_start)
			*is_fn_start = lo < r->n && r->fn_starts[lo] == addr;
		if (name)
			*name = r->name;
		return true;
	}
	return false;
}
