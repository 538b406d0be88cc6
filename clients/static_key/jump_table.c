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
#include "kernel/panic.h"
#include "kernel/string.h"
#include "patch/patch.h"

static void jump_entry_set(struct jump_entry *e, uintptr_t code, uintptr_t target, uintptr_t key, unsigned flags)
{
	e->code = (int32_t)(intptr_t)(code - (uintptr_t)&e->code);
	e->target = (int32_t)(intptr_t)(target - (uintptr_t)&e->target);
	e->key = (int64_t)((key | flags) - (uintptr_t)&e->key);
}

static void jump_entry_swap(struct jump_entry *a, struct jump_entry *b)
{
	uintptr_t ac = jump_entry_code(a), at = jump_entry_target(a), ak = (uintptr_t)jump_entry_key(a);
	unsigned af = jump_entry_flags(a);
	jump_entry_set(a, jump_entry_code(b), jump_entry_target(b), (uintptr_t)jump_entry_key(b), jump_entry_flags(b));
	jump_entry_set(b, ac, at, ak, af);
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

/* The compiler's jmp at e: rel8 or rel32 to e's target, or panic. */
static unsigned site_length(const struct jump_entry *e)
{
	const uint8_t *p = (const uint8_t *)jump_entry_code(e);
	uintptr_t at = jump_entry_code(e), to = jump_entry_target(e);
	if (p[0] == JMP8_INSN_OPCODE && at + JMP8_INSN_SIZE + (int8_t)p[1] == to)
		return JMP8_INSN_SIZE;
	int32_t rel;
	memcpy(&rel, p + 1, sizeof(rel));
	if (p[0] == JMP32_INSN_OPCODE && at + JMP32_INSN_SIZE + rel == to)
		return JMP32_INSN_SIZE;
	panic("static_key: site %lx of key %lx holds %02x %02x, not a jmp to its target %lx", at,
	      (uintptr_t)jump_entry_key(e), p[0], p[1], to);
}

void static_key_init(void)
{
	struct jump_entry *t = __jump_table_start;
	size_t n = (size_t)(__jump_table_end - __jump_table_start);
	jump_table_sort(t, n);
	for (size_t i = 0; i < n; i++) {
		struct static_key *k = jump_entry_key(&t[i]);
		if (!static_key_known(k))
			panic("static_key: site %lx names %lx, not a key in .static_keys", jump_entry_code(&t[i]),
			      (uintptr_t)k);
		unsigned flags = site_length(&t[i]) == JMP8_INSN_SIZE ? JUMP_ENTRY_SHORT : 0;
		jump_entry_set(&t[i], jump_entry_code(&t[i]), jump_entry_target(&t[i]), (uintptr_t)k, flags);
		if (!k->nr_sites)
			k->sites = &t[i];
		k->nr_sites++;
	}
	static_key_boot_off();
}
