/*
 * clients/imv/imv.h — immediate values (Desnoyers, seed 003): a read-mostly
 * variable whose value lives in the text, as the immediate of a
 * "mov $imm32, %reg" at each place it is read, instead of in memory.
 *
 *   DECLARE_IMV(type, name, init);   where imv_read(name) is used (a header)
 *   DEFINE_IMV(type, name, init);    once, in a .c (same type and init)
 *   v = imv_read(name);              "mov $imm32, %r32" (5 bytes, 6 with REX)
 *   err = imv_set(name, v);          every site's immediate, ONE batch (ool)
 *
 * type: a 32-bit integer type (uint32_t, int32_t, ...); others do not
 * compile. Each imv_read() records {address of its mov, the mov's length,
 * the variable} in section .imv_sites. The mov's last four bytes are the
 * immediate, so a site's new instruction is its old one with those four
 * bytes replaced.
 *
 * init is repeated in DECLARE_IMV so that every reader, in any file, can
 * emit it as a constant ("i"); DEFINE_IMV needs the DECLARE_IMV in scope
 * and fails to compile if its type or init differ from it.
 */
#ifndef XPOKE_CLIENTS_IMV_H
#define XPOKE_CLIENTS_IMV_H

#include <stdbool.h>
#include <stdint.h>
#include "patch/patch.h"

struct imv_var {
	const char *name;
	uint32_t value;         /* the immediate every site holds now */
	uint32_t is_signed;     /* for the console: print as signed */
};

/* One site: its mov's address and length (5 or 6), its variable. */
struct imv_site {
	uintptr_t addr;
	struct imv_var *var;
	uint64_t len;
};

extern struct imv_var __imv_vars_start[], __imv_vars_end[];
extern const struct imv_site __imv_sites_start[], __imv_sites_end[];

#define IMV_VAR(name)   __imv_##name
#define IMV_IMM_SIZE    4               /* the immediate: the mov's last 4 bytes */
#define IMV_MAX_SITES   255

#define DECLARE_IMV(type, name, init) \
	_Static_assert(sizeof(type) == 4 && (type)0.5 == 0, "imv " #name ": a 32-bit integer type only"); \
	typedef type __imv_type_##name; \
	enum { __imv_init_##name = (int64_t)(type)(init) }; \
	extern struct imv_var IMV_VAR(name)

#define DEFINE_IMV(type, name, init) \
	_Static_assert(__builtin_types_compatible_p(type, __imv_type_##name) && \
		       __imv_init_##name == (int64_t)(type)(init), "imv " #name ": DEFINE_IMV differs from DECLARE_IMV"); \
	struct imv_var IMV_VAR(name) __attribute__((used, section(".imv_vars"), aligned(8))) = { \
		#name, (uint32_t)(type)(init), (type)-1 < (type)1 }

/* "1: mov $init, %r32; 2:" and {1b, var, 2b-1b} in .imv_sites. volatile: a
 * read in a loop must run the site each time, not be hoisted out of it. */
#define imv_read(name) ({ \
	uint32_t __imv_v; \
	__asm__ volatile("1:\tmovl %[init], %k[v]\n2:\n\t" \
			 ".pushsection .imv_sites, \"a\"\n\t" \
			 ".balign 8\n\t" \
			 ".quad 1b, %c[var], 2b - 1b\n\t" \
			 ".popsection" \
			 : [v] "=r"(__imv_v) \
			 : [init] "i"((uint32_t)__imv_init_##name), [var] "i"(&IMV_VAR(name))); \
	(__imv_type_##name)__imv_v; })

/* What imv_set did: sites rewritten, the batch's rendezvous rounds, its
 * time, the strategy. */
struct imv_result {
	unsigned sites, rounds;
	uint64_t us;
	const struct patch_strategy *strategy;
};

/* Write v into the immediate of every site of var, in ONE batch of the ool
 * strategy. 0, or -PATCH_E* (printed unless quiet; nothing written):
 * -PATCH_EBUSY if another imv_set is running, -PATCH_EBATCH_FULL for more
 * than IMV_MAX_SITES sites, -PATCH_EOLD_MISMATCH if a site's immediate is
 * not var's value. res may be NULL. Thread context, IRQs on. */
int imv_set_var(struct imv_var *var, uint32_t v, bool quiet, struct imv_result *res);

#define imv_set(name, v) imv_set_var(&IMV_VAR(name), (uint32_t)(__imv_type_##name)(v), false, NULL)

/* Lookups, for the console and the tests. */
struct imv_var *imv_find(const char *name);
unsigned imv_nr_sites(const struct imv_var *var);

#endif
