/*
 * kernel/ksyms.h — the kernel's own symbol table, for RIP → name+offset.
 *
 * scripts/gen-ksyms.py writes build/gen/ksyms.c from `nm` of a first link;
 * the Makefile links again with it (section .ksyms sits last in .rodata, so
 * .text addresses do not move) and checks the result. RIP → name uses the
 * text symbols only; a second table, of data symbols (.rodata, .data,
 * .bss) sorted by name, serves lookups by name (the livepatch loader's
 * relocations) and never a RIP. Three links keep .data from moving: see
 * scripts/gen-ksyms.py.
 */
#ifndef XPOKE_KERNEL_KSYMS_H
#define XPOKE_KERNEL_KSYMS_H

#include <stdint.h>

struct ksym {
	uint64_t addr;
	uint32_t size;          /* from the ELF symbol, or the gap to the next one */
	uint32_t name;          /* offset into ksym_strings */
	uint32_t fn_size;       /* a function (scripts/gen-ksyms.py): its size; 0: a mere label */
};

extern const uint32_t ksym_count;
extern const struct ksym ksym_table[];   /* sorted by addr */
extern const char ksym_strings[];

/* The symbol containing addr, or NULL. NMI-safe (read-only data). */
const struct ksym *ksym_lookup(uintptr_t addr);
/* The function containing addr (labels inside it do not count), or NULL. */
const struct ksym *ksym_function(uintptr_t addr);
/* The function or label of that name (binary search of ksym_by_name; of
 * several local symbols of one name, the lowest), or NULL. */
const struct ksym *ksym_find(const char *name);
/* How many functions or labels are named name (several local symbols may
 * share one); the first max of them, in ksym_by_name order, go to out. */
unsigned ksym_find_all(const char *name, const struct ksym **out, unsigned max);
extern const uint32_t ksym_by_name[];   /* indices of ksym_table, sorted by name (bytewise) */
struct ksym_data {
	uint64_t addr;
	uint32_t size;
	uint32_t name;          /* offset into ksym_data_strings */
};

extern const uint32_t ksym_data_count;
extern const struct ksym_data ksym_data_table[];        /* sorted by name (bytewise) */
extern const char ksym_data_strings[];

/* The data symbol of that name, or NULL (binary search). */
const struct ksym_data *ksym_data_find(const char *name);
/* How many data symbols are named name (its neighbours in the sorted table). */
unsigned ksym_data_count_named(const char *name);

static inline const char *ksym_name(const struct ksym *s) { return ksym_strings + s->name; }

#endif
