/*
 * kernel/ksyms.h — the kernel's own symbol table, for RIP → name+offset.
 *
 * scripts/gen-ksyms.py writes build/gen/ksyms.c from `nm` of a first link;
 * the Makefile links again with it (section .ksyms sits last in .rodata, so
 * .text addresses do not move) and checks the result. Text symbols only.
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
const struct ksym *ksym_find(const char *name);
static inline const char *ksym_name(const struct ksym *s) { return ksym_strings + s->name; }

#endif
