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

/* The first row of ksym_by_name whose name is >= name. */
static uint32_t by_name_lower_bound(const char *name)
{
	uint32_t lo = 0, hi = ksym_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (strcmp(ksym_name(&ksym_table[ksym_by_name[mid]]), name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

unsigned ksym_find_all(const char *name, const struct ksym **out, unsigned max)
{
	unsigned n = 0;
	for (uint32_t i = by_name_lower_bound(name);
	     i < ksym_count && !strcmp(ksym_name(&ksym_table[ksym_by_name[i]]), name); i++, n++)
		if (n < max)
			out[n] = &ksym_table[ksym_by_name[i]];
	return n;
}

unsigned ksym_data_count_named(const char *name)
{
	const struct ksym_data *d = ksym_data_find(name);
	if (!d)
		return 0;
	const struct ksym_data *lo = d, *hi = d + 1, *end = ksym_data_table + ksym_data_count;
	while (lo > ksym_data_table && !strcmp(ksym_data_strings + lo[-1].name, name))
		lo--;
	while (hi < end && !strcmp(ksym_data_strings + hi->name, name))
		hi++;
	return hi - lo;
}

const struct ksym *ksym_find(const char *name)
{
	uint32_t lo = 0, hi = ksym_count;
	while (lo < hi) {               /* the first row of the index whose name >= name */
		uint32_t mid = lo + (hi - lo) / 2;
		if (strcmp(ksym_name(&ksym_table[ksym_by_name[mid]]), name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ksym_count || strcmp(ksym_name(&ksym_table[ksym_by_name[lo]]), name))
		return NULL;
	return &ksym_table[ksym_by_name[lo]];
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
