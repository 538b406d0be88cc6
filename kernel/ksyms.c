/*
 * kernel/ksyms.c — lookups in the generated symbol table (see ksyms.h).
 */
#include <stddef.h>
#include "kernel/ksyms.h"
#include "kernel/string.h"

const struct ksym *ksym_lookup(uintptr_t addr)
{
	uint32_t lo = 0, hi = ksym_count;
	while (lo < hi) {               /* last symbol with start <= addr */
		uint32_t mid = lo + (hi - lo) / 2;
		if (ksym_table[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct ksym *s = &ksym_table[lo - 1];
	return addr < s->addr + s->size ? s : NULL;
}

const struct ksym *ksym_function(uintptr_t addr)
{
	const struct ksym *s = ksym_lookup(addr);
	if (!s)
		return NULL;
	while (s > ksym_table && !s->fn_size)
		s--;
	return s->fn_size && addr < s->addr + s->fn_size ? s : NULL;
}

const struct ksym *ksym_find(const char *name)
{
	for (uint32_t i = 0; i < ksym_count; i++)
		if (!strcmp(ksym_name(&ksym_table[i]), name))
			return &ksym_table[i];
	return NULL;
}

const struct ksym_data *ksym_data_find(const char *name)
{
	uint32_t lo = 0, hi = ksym_data_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ksym_data_strings + ksym_data_table[mid].name, name);
		if (c == 0)
			return &ksym_data_table[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
