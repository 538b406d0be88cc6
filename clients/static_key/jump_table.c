/*
 * clients/static_key/jump_table.c — the __jump_table at boot: sorted by key,
 * then by code address, so that each key's sites are one run (found by the
 * key in O(1) after init) in address order.
 *
 * Entries are relative to their own fields, so moving one re-bases its three
 * offsets (jump_entry_move). Heap sort: no allocation, O(n log n) for the
 * mass-patch sizes to come.
 */
#include "clients/static_key/static_key.h"
#include "kernel/printk.h"

static void jump_entry_set(struct jump_entry *e, uintptr_t code, uintptr_t target, uintptr_t key)
{
	e->code = (int32_t)(intptr_t)(code - (uintptr_t)&e->code);
	e->target = (int32_t)(intptr_t)(target - (uintptr_t)&e->target);
	e->key = (int64_t)(key - (uintptr_t)&e->key);
}

static void jump_entry_swap(struct jump_entry *a, struct jump_entry *b)
{
	uintptr_t ac = jump_entry_code(a), at = jump_entry_target(a), ak = (uintptr_t)jump_entry_key(a);
	jump_entry_set(a, jump_entry_code(b), jump_entry_target(b), (uintptr_t)jump_entry_key(b));
	jump_entry_set(b, ac, at, ak);
}

static bool jump_entry_less(const struct jump_entry *a, const struct jump_entry *b)
{
	uintptr_t ka = (uintptr_t)jump_entry_key(a), kb = (uintptr_t)jump_entry_key(b);
	return ka != kb ? ka < kb : jump_entry_code(a) < jump_entry_code(b);
}

static void sift_down(struct jump_entry *t, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && jump_entry_less(&t[child], &t[child + 1]))
			child++;
		if (!jump_entry_less(&t[root], &t[child]))
			return;
		jump_entry_swap(&t[root], &t[child]);
		root = child;
	}
}

static void jump_table_sort(struct jump_entry *t, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(t, i, n);
	for (size_t end = n; end > 1; end--) {
		jump_entry_swap(&t[0], &t[end - 1]);
		sift_down(t, 0, end - 1);
	}
}

void static_key_init(void)
{
	struct jump_entry *t = __jump_table_start;
	size_t n = (size_t)(__jump_table_end - __jump_table_start);
	jump_table_sort(t, n);
	for (size_t i = 0; i < n; i++) {
		struct static_key *k = jump_entry_key(&t[i]);
		if (!static_key_known(k)) {
			printk("static_key: site %lx names %lx, not a key in .static_keys: ignored",
			       jump_entry_code(&t[i]), (uintptr_t)k);
			continue;
		}
		if (!k->nr_sites)
			k->sites = &t[i];
		k->nr_sites++;
	}
}
