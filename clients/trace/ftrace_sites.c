/*
 * clients/trace/ftrace_sites.c — see ftrace_sites.h.
 */
#include "kernel/panic.h"
#include "kernel/spinlock.h"
#include "clients/trace/ftrace_sites.h"

extern uintptr_t __mcount_loc_start[], __mcount_loc_end[];      /* linker.ld (.data) */
extern char __text_start[], __text_end[];

uintptr_t *ftrace_sites;
uint32_t ftrace_nr;
uint64_t ftrace_hits[FTRACE_SITES_MAX];

static void sift_down(uintptr_t *a, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t big = root, l = 2 * root + 1, r = l + 1;
		if (l < n && a[l] > a[big])
			big = l;
		if (r < n && a[r] > a[big])
			big = r;
		if (big == root)
			return;
		uintptr_t t = a[root];
		a[root] = a[big];
		a[big] = t;
		root = big;
	}
}

static void sort_sites(void)
{
	uintptr_t *a = __mcount_loc_start;
	uint32_t n = (uint32_t)(__mcount_loc_end - __mcount_loc_start);
	if (n > FTRACE_SITES_MAX)
		panic("trace: %u fentry sites, room for %u (FTRACE_SITES_MAX)", n, FTRACE_SITES_MAX);
	/* Link order is nearly address order, but .text.unlikely and
	 * .text.startup parts are not: a heapsort. */
	for (uint32_t k = n / 2; k-- > 0;)
		sift_down(a, k, n);
	for (uint32_t end = n; end-- > 1;) {
		uintptr_t t = a[0];
		a[0] = a[end];
		a[end] = t;
		sift_down(a, 0, end);
	}
	for (uint32_t i = 0; i < n; i++)
		if (a[i] < (uintptr_t)__text_start || a[i] + 5 > (uintptr_t)__text_end || (i && a[i] == a[i - 1]))
			panic("trace: fentry site %u of %u at %#lx is outside .text or recorded twice", i, n, a[i]);
	ftrace_nr = n;
	__atomic_store_n(&ftrace_sites, a, __ATOMIC_RELEASE);
}

/* Thread context. The first caller sorts the table in place; init_lock
 * keeps a second one (another CPU's console or test) from sorting it at
 * the same time or using it half sorted. */
static spinlock_t init_lock = SPINLOCK_INIT("ftrace_sites_init");

void ftrace_sites_init(void)
{
	if (__atomic_load_n(&ftrace_sites, __ATOMIC_ACQUIRE))
		return;
	spin_lock_timeout(&init_lock, 60000);
	if (!ftrace_sites)
		sort_sites();
	spin_unlock(&init_lock);
}
