/*
 * clients/sites/sites.c — encoding and lookup for named sites (see sites.h).
 */
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"

const uint8_t nop_bytes[NOP_MAX_LEN + 1][NOP_MAX_LEN] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	[3] = { 0x0f, 0x1f, 0x00 },
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	[9] = { 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

static void put_rel32(uint8_t *p, int64_t rel)
{
	int32_t r = (int32_t)rel;
	memcpy(p, &r, 4);
}

int site_encode(const struct patch_site_def *s, const struct site_variant *v, uint8_t *out)
{
	uintptr_t at = (uintptr_t)s->addr, to = (uintptr_t)v->target;
	int64_t rel = (int64_t)(to - (at + v->len));
	if (v->len != s->len)
		return -1;
	switch (v->kind) {
	case VK_CALL:
		out[0] = CALL_INSN_OPCODE;
		put_rel32(out + 1, rel);
		break;
	case VK_JMP32:
		out[0] = JMP32_INSN_OPCODE;
		put_rel32(out + 1, rel);
		break;
	case VK_JMP8:
	case VK_JCC8:
		if (rel < -128 || rel > 127)
			return -1;
		out[0] = v->kind == VK_JMP8 ? JMP8_INSN_OPCODE : (uint8_t)(0x70 | v->cc);
		out[1] = (uint8_t)(int8_t)rel;
		break;
	case VK_JCC32:
		out[0] = 0x0f;
		out[1] = (uint8_t)(0x80 | v->cc);
		put_rel32(out + 2, rel);
		break;
	case VK_NOP:
		if (v->len < 1 || v->len > NOP_MAX_LEN)
			return -1;
		memcpy(out, nop_bytes[v->len], v->len);
		break;
	case VK_RET:
		out[0] = RET_INSN_OPCODE;
		break;
	default:
		return -1;
	}
	return v->len;
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
	uint8_t old[POKE_MAX_LEN], new[POKE_MAX_LEN];
	if (site_encode(s, v, new) != s->len)
		return -PATCH_ENEW_LENGTH;
	memcpy(old, s->addr, s->len);
	return smp_text_poke_single((void *)s->addr, old, new, s->len);
}
