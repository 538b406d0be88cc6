/*
 * clients/sites/sites.h — named patch sites, each with named variants (the
 * instructions it may hold), for the console (`sites`, `patch SITE VARIANT`)
 * and the self-tests.
 *
 * A site is one PATCH_SITE() entry (section .patch_sites); its variants are
 * described, not spelled out, because relative branches depend on where the
 * site is: site_encode() produces the bytes.
 */
#ifndef XPOKE_PATCH_SITES_H
#define XPOKE_PATCH_SITES_H

#include <stdint.h>
#include "patch/patch.h"

enum variant_kind { VK_CALL, VK_JMP8, VK_JMP32, VK_JCC8, VK_JCC32, VK_NOP, VK_RET, VK_MOV_EAX };

struct site_variant {
	const char *name;
	uint8_t kind;           /* enum variant_kind */
	uint8_t cc;             /* VK_JCC*: condition code (4 = Z, 5 = NZ, ...) */
	uint8_t len;
	const void *target;     /* VK_CALL/JMP/JCC; VK_MOV_EAX: the immediate */
};

#define V_CALL(n, t)        { (n), VK_CALL, 0, CALL_INSN_SIZE, (const void *)(t) }
#define V_JMP8(n, t)        { (n), VK_JMP8, 0, JMP8_INSN_SIZE, (const void *)(t) }
#define V_JMP32(n, t)       { (n), VK_JMP32, 0, JMP32_INSN_SIZE, (const void *)(t) }
#define V_JCC8(n, cc, t)    { (n), VK_JCC8, (cc), 2, (const void *)(t) }
#define V_JCC32(n, cc, t)   { (n), VK_JCC32, (cc), 6, (const void *)(t) }
#define V_NOP(n, l)         { (n), VK_NOP, 0, (l), 0 }
#define V_RET(n)            { (n), VK_RET, 0, RET_INSN_SIZE, 0 }
#define V_MOV_EAX(n, imm)   { (n), VK_MOV_EAX, 0, MOV_EAX_INSN_SIZE, (const void *)(uintptr_t)(imm) }

struct patch_site_def {
	const char *name;
	const char *help;
	const void *addr;
	uint8_t len;
	uint8_t nvar;
	const struct site_variant *var;
};

#define PATCH_SITE(_id, _help, _addr, _len, ...) \
	static const struct site_variant _id##_variants[] = { __VA_ARGS__ }; \
	static const struct patch_site_def __patch_site_##_id \
	__attribute__((used, section(".patch_sites"), aligned(8))) = { \
		#_id, (_help), (const void *)(_addr), (_len), \
		sizeof(_id##_variants) / sizeof(_id##_variants[0]), _id##_variants }

extern const struct patch_site_def __patch_sites_start[], __patch_sites_end[];

/* The bytes variant v takes at site s: its length, or -1 if it does not fit
 * (wrong length for the site, or a rel8 target out of reach). */
int site_encode(const struct patch_site_def *s, const struct site_variant *v, uint8_t *out);

const struct patch_site_def *site_by_name(const char *name);
const struct site_variant *variant_by_name(const struct patch_site_def *s, const char *name);

/* The variant the site holds right now, or NULL. */
const struct site_variant *site_current_variant(const struct patch_site_def *s);

/* Patch s to variant v (old bytes = whatever is there now), with the
 * default strategy / with strategy (NULL: the default). */
int site_patch(const struct patch_site_def *s, const struct site_variant *v);
int site_patch_by(const struct patch_strategy *strategy, const struct patch_site_def *s, const struct site_variant *v);

/* Would strategy (NULL: the default) accept patching s to v? 0, or the
 * -PATCH_E* refusal; nothing is written (a batch checked, then dropped). */
int site_check_by(const struct patch_strategy *strategy, const struct patch_site_def *s, const struct site_variant *v);

#endif
