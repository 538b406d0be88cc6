/*
 * lab/fixture_sites.h — the functions of fixture_sites_code.asm.
 */
#ifndef XPOKE_LAB_FIXTURE_SITES_H
#define XPOKE_LAB_FIXTURE_SITES_H

#include <stdint.h>

/* The assembly's too (lab/fixture_sites_code.asm, through asm-offsets.inc). */
#define FLIP_A 0xa
#define FLIP_B 0xb
#define BATCH_SITES 256

typedef uint32_t (*flip_fn_t)(void);

#define SITE_FN(name) uint32_t flip_##name##_fn(void); extern const char flip_##name##_site[]
SITE_FN(call);
SITE_FN(jmp8);
SITE_FN(jmp32);
SITE_FN(jcc8);
SITE_FN(jcc32);
SITE_FN(nop2);
SITE_FN(nop5);
SITE_FN(ret);
#undef SITE_FN

extern const char flip_ret_a[], flip_ret_b[], flip_jmp8_a[], flip_jmp8_b[], flip_jmp32_a[], flip_jmp32_b[];
extern const char flip_jcc8_a[], flip_jcc32_a[], flip_jcc32_b[], flip_nop2_b[], flip_set_b[];
extern const char two_nops_site[];
/* view_fn: an early site at +0 and a late one at +view_late_off, both nop5 */
uint32_t view_fn(void);
extern const char view_late_off[];      /* absolute: its address is the offset */
#define VIEW_LATE_SITE ((uintptr_t)view_fn + (uintptr_t)view_late_off)
extern uint32_t (*const batch_fns[BATCH_SITES])(void);
extern const char batch_ret_a[], batch_ret_b[];

/* Flip the first n batch sites, each to the call target it does not have
 * now, as one batch b of strategy st (NULL: the default); TSC cycles the
 * finish took, or 0 if a site was refused (b is then emptied, b->why says
 * why and *err, unless err is NULL, holds the -PATCH_E* code). Thread
 * context. */
struct poke_batch;
struct patch_strategy;
uint64_t batch_sites_flip(struct poke_batch *b, const struct patch_strategy *st, unsigned n, int *err);

#endif
