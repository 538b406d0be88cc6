/*
 * clients/sites/sites.c — encoding and lookup for named sites (see sites.h).
 */
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"

int site_encode(const struct patch_site_def *s, const struct site_variant *v, uint8_t *out)
{
	uintptr_t at = (uintptr_t)s->addr, to = (uintptr_t)v->target;
	bool ok;
	if (v->len != s->len)
		return -1;
	switch (v->kind) {
	case VK_CALL:
		ok = v->len == CALL_INSN_SIZE && insn_call(at, to, out);
		break;
	case VK_JMP32:
		ok = v->len == JMP32_INSN_SIZE && insn_jmp32(at, to, out);
		break;
	case VK_JMP8:
		ok = v->len == JMP8_INSN_SIZE && insn_jmp8(at, to, out);
		break;
	case VK_JCC8:
		ok = v->len == 2 && insn_jcc8(at, v->cc, to, out);
		break;
	case VK_JCC32:
		ok = v->len == 6 && insn_jcc32(at, v->cc, to, out);
		break;
	case VK_NOP:
		ok = insn_nop(v->len, out);
		break;
	case VK_RET:
		out[0] = RET_INSN_OPCODE;
		ok = v->len == RET_INSN_SIZE;
		break;
	case VK_MOV_EAX:
		ok = v->len == MOV_EAX_INSN_SIZE;
		if (ok)
			insn_mov_eax((uint32_t)(uintptr_t)v->target, out);
		break;
	default:
		ok = false;
	}
	return ok ? (int)v->len : -1;
}

const struct patch_site_def *site_by_name(const char *name)
{
	for (const struct patch_site_def *s = __patch_sites_start; s < __patch_sites_end; s++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

const struct site_variant *variant_by_name(const struct patch_site_def *s, const char *name)
{
	for (unsigned i = 0; i < s->nvar; i++)
		if (!strcmp(s->var[i].name, name))
			return &s->var[i];
	return NULL;
}

const struct site_variant *site_current_variant(const struct patch_site_def *s)
{
	uint8_t bytes[POKE_MAX_LEN];
	for (unsigned i = 0; i < s->nvar; i++)
		if (site_encode(s, &s->var[i], bytes) == s->len && !memcmp(bytes, s->addr, s->len))
			return &s->var[i];
	return NULL;
}

int site_patch(const struct patch_site_def *s, const struct site_variant *v)
{
	return site_patch_by(NULL, s, v);
}

int site_check_by(const struct patch_strategy *strategy, const struct patch_site_def *s, const struct site_variant *v)
{
	POKE_BATCH_DEFINE(b, 1);
	uint8_t old[POKE_MAX_LEN], new[POKE_MAX_LEN];
	if (site_encode(s, v, new) != s->len)
		return -PATCH_ENEW_LENGTH;
	memcpy(old, s->addr, s->len);
	b.strategy = strategy;
	b.quiet = 1;
	int err = smp_text_poke_batch_add(&b, (void *)s->addr, old, new, s->len);
	smp_text_poke_batch_reset(&b);
	return err;
}

int site_patch_by(const struct patch_strategy *strategy, const struct patch_site_def *s, const struct site_variant *v)
{
	uint8_t old[POKE_MAX_LEN], new[POKE_MAX_LEN];
	if (site_encode(s, v, new) != s->len)
		return -PATCH_ENEW_LENGTH;
	memcpy(old, s->addr, s->len);
	return smp_text_poke_one(strategy, (void *)s->addr, old, new, s->len);
}
