/*
 * tests/host/test_ool.c — the out-of-line strategy's copies
 * (strategies/ool/ool_reloc.c) and its site check (ool_check.c) on the
 * host, with Debian's libzydis. Every copy is decoded again, by Zydis, and
 * its instructions' meaning checked (where a relocated operand points,
 * what is pushed, where each jump goes), not its bytes. cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <Zydis/Zydis.h>

#include "strategies/ool/ool_reloc.h"

/* A kernel-like layout: the slot area low in the image, sites above it. */
#define AREA   0xffffffff80114000ul
#define EXIT   0xffffffff80113760ul
#define SITE   0xffffffff80125000ul     /* where the instruction is */
#define SLOT   (AREA + 0x100)           /* where its copy runs */
#define DATA   0xffffffff80150000ul     /* what RIP-relative operands point at */

struct ool_area ool_area = { AREA, AREA + OOL_AREA_SIZE, EXIT };

/* One decoded instruction of a copy. */
struct step {
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uintptr_t at;
};

/* Decode the copy out[0..n) (run at slot) into steps; their count. */
static unsigned decode(const uint8_t *out, int n, uintptr_t slot, struct step *s, unsigned max)
{
	ZydisDecoder d;
	unsigned k = 0;
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	for (int off = 0; off < n && k < max; k++) {
		assert_true(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, out + off, (size_t)(n - off), &s[k].insn, s[k].ops)));
		s[k].at = slot + (uintptr_t)off;
		off += s[k].insn.length;
	}
	return k;
}

static uint64_t abs_of(const struct step *s, unsigned op)
{
	ZyanU64 a;
	assert_true(ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&s->insn, &s->ops[op], s->at, &a)));
	return a;
}

/* A "push imm32" (and, if it follows, "mov dword [rsp+4], imm32") at
 * s[*k]: the 64-bit value it leaves on the stack. */
static uint64_t pushed(const struct step *s, unsigned *k)
{
	assert_int_equal(s[*k].insn.mnemonic, ZYDIS_MNEMONIC_PUSH);
	assert_int_equal(s[*k].ops[0].type, ZYDIS_OPERAND_TYPE_IMMEDIATE);
	uint64_t v = (uint64_t)(int64_t)(int32_t)s[*k].ops[0].imm.value.s;
	(*k)++;
	if (s[*k].insn.mnemonic == ZYDIS_MNEMONIC_MOV && s[*k].ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY &&
	    s[*k].ops[0].mem.base == ZYDIS_REGISTER_RSP && s[*k].ops[0].mem.disp.value == 4) {
		v = (v & 0xffffffffu) | ((uint64_t)(uint32_t)s[*k].ops[1].imm.value.u << 32);
		(*k)++;
	}
	return v;
}

/* A jmp rel32 at s[*k] to the way out. */
static void jumps_out(const struct step *s, unsigned *k, uintptr_t exit)
{
	assert_int_equal(s[*k].insn.mnemonic, ZYDIS_MNEMONIC_JMP);
	assert_int_equal(abs_of(&s[*k], 0), exit);
	(*k)++;
}

static int build(uintptr_t at, const uint8_t *b, uint8_t len, uintptr_t slot, uint8_t *out, char *why)
{
	return ool_build_copy(at, b, len, OOL_NEW, slot, EXIT, out, why, POKE_WHY_LEN);
}

/* Each RIP-relative form, relocated: the copy's operand is the same
 * absolute address, the instruction otherwise the same, then push E; jmp X. */
static void rip_relative_relocated(void **state)
{
	(void)state;
	static const struct { const char *what; uint8_t len, b[POKE_MAX_LEN]; } forms[] = {
		{ "lea rax, [rip+d]", 7, { 0x48, 0x8d, 0x05 } },
		{ "mov eax, [rip+d]", 6, { 0x8b, 0x05 } },
		{ "cmp dword [rip+d], 7 (an immediate after the displacement)", 7, { 0x83, 0x3d, 0, 0, 0, 0, 7 } },
		{ "vmovdqu ymm0, [rip+d] (VEX)", 8, { 0xc5, 0xfe, 0x6f, 0x05 } },
		{ "mov r8, [rip+d] (REX)", 7, { 0x4c, 0x8b, 0x05 } },
	};
	for (unsigned i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		uint8_t b[POKE_MAX_LEN], out[OOL_COPY_MAX];
		char why[POKE_WHY_LEN];
		struct step s[8];
		memcpy(b, forms[i].b, forms[i].len);
		/* the disp32 sits just before any immediate: find it with Zydis */
		ZydisDecoder d;
		ZydisDecodedInstruction insn;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		assert_true(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, b, forms[i].len, &insn, ops)));
		int32_t disp = (int32_t)(DATA - (SITE + forms[i].len));
		memcpy(b + insn.raw.disp.offset, &disp, 4);

		int n = build(SITE, b, forms[i].len, SLOT, out, why);
		assert_true(n > 0);
		unsigned k = 0, steps = decode(out, n, SLOT, s, 8);
		assert_int_equal(s[0].insn.mnemonic, insn.mnemonic);
		assert_int_equal(s[0].insn.length, forms[i].len);
		unsigned mem = s[0].ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY ? 0 : 1;
		assert_int_equal(s[0].ops[mem].mem.base, ZYDIS_REGISTER_RIP);
		assert_int_equal(abs_of(&s[0], mem), DATA);      /* the same address, from the slot */
		k = 1;
		assert_int_equal(pushed(s, &k), SITE + forms[i].len);
		jumps_out(s, &k, EXIT);
		assert_int_equal(k, steps);
	}
}

/* Beyond 32 bits from the slot: refused, naming the operand; the check
 * refuses what one end of the area cannot reach, though the site can. */
static void rip_reach_refused(void **state)
{
	(void)state;
	uint8_t lea[7] = { 0x48, 0x8d, 0x05, 0xf0, 0xff, 0xff, 0x7f }, out[OOL_COPY_MAX];
	char why[POKE_WHY_LEN];
	assert_int_equal(build(SITE, lea, 7, SLOT, out, why), -PATCH_EOOL_RIP_REACH);
	assert_non_null(strstr(why, "new instruction lea"));
	assert_non_null(strstr(why, "0xffffffff80125000: "));

	struct poke_site site = { .addr = SITE, .len = 7 };
	memcpy(site.old, lea, 7);
	memcpy(site.new, lea, 7);
	/* a target 0x7fff0000 above the site: reachable from the site, and
	 * from the area's top only if the area is near enough */
	int32_t d = 0x7fff0000;
	memcpy(site.new + 3, &d, 4);
	memcpy(site.old + 3, &d, 4);
	struct ool_area keep = ool_area;
	ool_area.lo = SITE + 0x20000;           /* the whole area 128 KiB above: reaches it */
	ool_area.hi = ool_area.lo + OOL_AREA_SIZE;
	assert_int_equal(ool_check_site(&site, why, sizeof(why)), 0);
	ool_area.lo = SITE - 0x20000;           /* 128 KiB below: the far end does not */
	ool_area.hi = ool_area.lo + OOL_AREA_SIZE;
	assert_int_equal(ool_check_site(&site, why, sizeof(why)), -PATCH_EOOL_RIP_REACH);
	ool_area = keep;
}

/* call rel32: push E (the site's end, never the slot's); push T; jmp X. And
 * with addresses that are not sign-extended 32-bit values. */
static void call_pushes_site_end(void **state)
{
	(void)state;
	static const uintptr_t sites[] = { SITE, 0x00007f1234560000ul };
	for (unsigned i = 0; i < 2; i++) {
		uintptr_t at = sites[i], t = at + 0x1000, slot = at - 0x40000;
		uint8_t call[5] = { 0xe8 }, out[OOL_COPY_MAX];
		char why[POKE_WHY_LEN];
		struct step s[8];
		int32_t rel = (int32_t)(t - (at + 5));
		memcpy(call + 1, &rel, 4);
		int n = ool_build_copy(at, call, 5, OOL_OLD, slot, slot - 0x100, out, why, sizeof(why));
		assert_true(n > 0);
		unsigned k = 0, steps = decode(out, n, slot, s, 8);
		assert_int_equal(pushed(s, &k), at + 5);        /* the return address */
		assert_int_equal(pushed(s, &k), t);             /* where the way out goes */
		jumps_out(s, &k, slot - 0x100);
		assert_int_equal(k, steps);
	}
}

/* Indirect calls: push E, then push the same operand, 8 bytes further when
 * it is rsp-based, relocated when RIP-relative; jmp X. Indirect jmps: the
 * operand as it is. */
static void indirect_branches(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		uint8_t len, b[8];
		bool call;
		ZydisRegister reg;              /* register operand, or base of the memory one */
		int64_t disp;                   /* the pushed memory operand's displacement */
	} forms[] = {
		{ "call rax", 2, { 0xff, 0xd0 }, true, ZYDIS_REGISTER_RAX, 0 },
		{ "call r11", 3, { 0x41, 0xff, 0xd3 }, true, ZYDIS_REGISTER_R11, 0 },
		{ "call [rsp]", 3, { 0xff, 0x14, 0x24 }, true, ZYDIS_REGISTER_RSP, 8 },
		{ "call [rsp+0x10]", 4, { 0xff, 0x54, 0x24, 0x10 }, true, ZYDIS_REGISTER_RSP, 0x18 },
		{ "call [rsp+0x1000]", 7, { 0xff, 0x94, 0x24, 0x00, 0x10, 0x00, 0x00 }, true, ZYDIS_REGISTER_RSP, 0x1008 },
		{ "call [rax+rbx*8+0x20]", 4, { 0xff, 0x54, 0xd8, 0x20 }, true, ZYDIS_REGISTER_RAX, 0x20 },
		{ "call [r12]", 4, { 0x41, 0xff, 0x14, 0x24 }, true, ZYDIS_REGISTER_R12, 0 },
		{ "jmp [rsp+8]", 4, { 0xff, 0x64, 0x24, 0x08 }, false, ZYDIS_REGISTER_RSP, 8 },
		{ "jmp rsp", 2, { 0xff, 0xe4 }, false, ZYDIS_REGISTER_RSP, 0 },
	};
	for (unsigned i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		uint8_t out[OOL_COPY_MAX];
		char why[POKE_WHY_LEN];
		struct step s[8];
		int n = build(SITE, forms[i].b, forms[i].len, SLOT, out, why);
		if (n < 0)
			fail_msg("%s: %s", forms[i].what, why);
		unsigned k = 0, steps = decode(out, n, SLOT, s, 8);
		if (forms[i].call)
			assert_int_equal(pushed(s, &k), SITE + forms[i].len);
		assert_int_equal(s[k].insn.mnemonic, ZYDIS_MNEMONIC_PUSH);
		assert_int_equal(s[k].insn.operand_width, 64);
		if (s[k].ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
			assert_int_equal(s[k].ops[0].reg.value, forms[i].reg);
		} else {
			assert_int_equal(s[k].ops[0].type, ZYDIS_OPERAND_TYPE_MEMORY);
			assert_int_equal(s[k].ops[0].mem.base, forms[i].reg);
			assert_int_equal(s[k].ops[0].mem.disp.value, forms[i].disp);
		}
		k++;
		jumps_out(s, &k, EXIT);
		assert_int_equal(k, steps);
	}

	/* call [rip+d]: push [rip+d'], the same absolute address */
	uint8_t icall[6] = { 0xff, 0x15 }, out[OOL_COPY_MAX];
	char why[POKE_WHY_LEN];
	struct step s[8];
	int32_t d = (int32_t)(DATA - (SITE + 6));
	memcpy(icall + 2, &d, 4);
	int n = build(SITE, icall, 6, SLOT, out, why);
	assert_true(n > 0);
	unsigned k = 0;
	decode(out, n, SLOT, s, 8);
	assert_int_equal(pushed(s, &k), SITE + 6);
	assert_int_equal(s[k].insn.mnemonic, ZYDIS_MNEMONIC_PUSH);
	assert_int_equal(abs_of(&s[k], 0), DATA);

	/* what cannot be rebuilt around the pushed return address */
	uint8_t call_rsp[2] = { 0xff, 0xd4 }, call_rsp_7c[4] = { 0xff, 0x54, 0x24, 0x7c };
	assert_int_equal(build(SITE, call_rsp, 2, SLOT, out, why), -PATCH_EOOL_RSP_TARGET);
	assert_int_equal(build(SITE, call_rsp_7c, 4, SLOT, out, why), -PATCH_EOOL_RSP_TARGET);
}

/* jmp rel8 becomes push T; jmp X. jcc rel8 and rel32: a jcc rel8 in the
 * copy to the taken path; not taken: push E; jmp X; taken: push T; jmp X. */
static void branches_widened(void **state)
{
	(void)state;
	uint8_t out[OOL_COPY_MAX];
	char why[POKE_WHY_LEN];
	struct step s[8];
	uint8_t jmp8[2] = { 0xeb, 0x10 };
	int n = build(SITE, jmp8, 2, SLOT, out, why);
	unsigned k = 0, steps = decode(out, n, SLOT, s, 8);
	assert_int_equal(pushed(s, &k), SITE + 2 + 0x10);
	jumps_out(s, &k, EXIT);
	assert_int_equal(k, steps);

	static const struct { uint8_t len, b[6]; ZydisMnemonic m; int64_t rel; } jccs[] = {
		{ 2, { 0x74, 0xf0 }, ZYDIS_MNEMONIC_JZ, -0x10 },
		{ 2, { 0x7f, 0x7f }, ZYDIS_MNEMONIC_JNLE, 0x7f },
		{ 6, { 0x0f, 0x85, 0x00, 0x00, 0x01, 0x00 }, ZYDIS_MNEMONIC_JNZ, 0x10000 },
	};
	for (unsigned i = 0; i < 3; i++) {
		n = build(SITE, jccs[i].b, jccs[i].len, SLOT, out, why);
		assert_true(n > 0);
		k = 0;
		steps = decode(out, n, SLOT, s, 8);
		assert_int_equal(s[0].insn.mnemonic, jccs[i].m);        /* the same condition */
		uint64_t taken = abs_of(&s[0], 0);
		k = 1;
		assert_int_equal(pushed(s, &k), SITE + jccs[i].len);    /* not taken: the site's end */
		jumps_out(s, &k, EXIT);
		assert_int_equal(s[k].at, taken);
		assert_int_equal(pushed(s, &k), SITE + jccs[i].len + jccs[i].rel);
		jumps_out(s, &k, EXIT);
		assert_int_equal(k, steps);
	}

	uint8_t ret[1] = { 0xc3 }, rep_ret[2] = { 0xf3, 0xc3 };
	n = build(SITE, ret, 1, SLOT, out, why);
	k = 0;
	assert_int_equal(decode(out, n, SLOT, s, 8), 1);        /* the way out's ret pops for it */
	jumps_out(s, &k, EXIT);
	assert_true(build(SITE, rep_ret, 2, SLOT, out, why) > 0);
}

/* Nothing a copy adds writes RFLAGS: push, mov to [rsp+4], jmp, and the
 * jcc that only reads them. */
static void copies_keep_flags(void **state)
{
	(void)state;
	static const struct { uint8_t len, b[8]; } forms[] = {
		{ 6, { 0x81, 0xff, 0x11, 0, 0, 0 } },   /* cmp edi, 0x11 */
		{ 5, { 0xe8, 0, 0, 0, 0 } },
		{ 2, { 0x74, 0x00 } },
		{ 2, { 0xff, 0xd0 } },
	};
	for (unsigned i = 0; i < 4; i++) {
		uint8_t out[OOL_COPY_MAX];
		char why[POKE_WHY_LEN];
		struct step s[8];
		uintptr_t at = 0x00007f0000000000ul;    /* the longest pushes */
		int n = ool_build_copy(at, forms[i].b, forms[i].len, OOL_NEW, at + 0x100, at + 0x40, out, why, sizeof(why));
		assert_true(n > 0 && n <= OOL_COPY_MAX);
		unsigned steps = decode(out, n, at + 0x100, s, 8);
		for (unsigned k = forms[i].b[0] == 0x81 ? 1 : 0; k < steps; k++)
			assert_int_equal(s[k].insn.cpu_flags ? s[k].insn.cpu_flags->modified : 0, 0);
	}
}

/* Each kind no copy can stand for is refused with its own code, as the new
 * instruction and as the old one. */
static void refusals(void **state)
{
	(void)state;
	static const struct { const char *what; uint8_t len, b[8]; int err; } bad[] = {
		{ "loop", 2, { 0xe2, 0xfe }, PATCH_EOOL_REL8_ONLY },
		{ "loope", 2, { 0xe1, 0x00 }, PATCH_EOOL_REL8_ONLY },
		{ "loopne", 2, { 0xe0, 0x00 }, PATCH_EOOL_REL8_ONLY },
		{ "jrcxz", 2, { 0xe3, 0x00 }, PATCH_EOOL_REL8_ONLY },
		{ "jecxz", 3, { 0x67, 0xe3, 0x00 }, PATCH_EOOL_REL8_ONLY },
		{ "int3", 1, { 0xcc }, PATCH_EOOL_SAVES_RIP },
		{ "int $3", 2, { 0xcd, 0x03 }, PATCH_EOOL_SAVES_RIP },
		{ "int1", 1, { 0xf1 }, PATCH_EOOL_SAVES_RIP },
		{ "ud2", 2, { 0x0f, 0x0b }, PATCH_EOOL_SAVES_RIP },
		{ "ud1", 3, { 0x0f, 0xb9, 0xc0 }, PATCH_EOOL_SAVES_RIP },
		{ "syscall", 2, { 0x0f, 0x05 }, PATCH_EOOL_SAVES_RIP },
		{ "sysenter", 2, { 0x0f, 0x34 }, PATCH_EOOL_SAVES_RIP },
		{ "iretq", 2, { 0x48, 0xcf }, PATCH_EOOL_FLOW },
		{ "iretd", 1, { 0xcf }, PATCH_EOOL_FLOW },
		{ "sysret", 2, { 0x0f, 0x07 }, PATCH_EOOL_FLOW },
		{ "sti (its shadow)", 1, { 0xfb }, PATCH_EOOL_FLOW },
		{ "mov ss, ax (its shadow)", 2, { 0x8e, 0xd0 }, PATCH_EOOL_FLOW },
		{ "sysexit", 2, { 0x0f, 0x35 }, PATCH_EOOL_FLOW },
		{ "ret $8", 3, { 0xc2, 0x08, 0x00 }, PATCH_EOOL_FLOW },
		{ "retf", 1, { 0xcb }, PATCH_EOOL_FLOW },
		{ "jmp far [rax]", 2, { 0xff, 0x28 }, PATCH_EOOL_FLOW },
		{ "call far [rax]", 2, { 0xff, 0x18 }, PATCH_EOOL_FLOW },
		{ "call rax with an operand-size prefix", 3, { 0x66, 0xff, 0xd0 }, PATCH_EOOL_FLOW },
		{ "bnd jmp rax", 3, { 0xf2, 0xff, 0xe0 }, PATCH_EOOL_FLOW },
		{ "xbegin", 6, { 0xc7, 0xf8, 0, 0, 0, 0 }, PATCH_EOOL_FLOW },
		{ "hlt", 1, { 0xf4 }, PATCH_EOOL_WAITS },
		{ "mwait", 3, { 0x0f, 0x01, 0xc9 }, PATCH_EOOL_WAITS },
		{ "tpause", 4, { 0x66, 0x0f, 0xae, 0xf0 }, PATCH_EOOL_WAITS },
		{ "call rsp", 2, { 0xff, 0xd4 }, PATCH_EOOL_RSP_TARGET },
		{ "mov eax, [eip+0x10]", 7, { 0x67, 0x8b, 0x05, 0x10, 0, 0, 0 }, PATCH_EOOL_RIP_REACH },
		{ "jz with a branch hint", 3, { 0x2e, 0x74, 0x00 }, PATCH_EBRANCH_UNCHECKED },
		{ "call rel32 with a REX prefix", 6, { 0x48, 0xe8, 0, 0, 0, 0 }, PATCH_EBRANCH_UNCHECKED },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct poke_site site = { .addr = SITE, .len = bad[i].len };
		char why[POKE_WHY_LEN];
		/* as the new instruction, over a nop of its length */
		memset(site.old, 0x90, sizeof(site.old));
		if (bad[i].len > 1) {                   /* one nop of that length: 66 ... 90 */
			memset(site.old, 0x66, bad[i].len - 1);
			site.old[bad[i].len - 1] = 0x90;
		}
		memcpy(site.new, bad[i].b, bad[i].len);
		int err = ool_check_site(&site, why, sizeof(why));
		if (err != -bad[i].err)
			fail_msg("%s as new: %s (%d, expected %d)", bad[i].what, why, err, -bad[i].err);
		assert_non_null(strstr(why, "new instruction"));
		/* as the old one, becoming that nop */
		memcpy(site.new, site.old, sizeof(site.new));
		memcpy(site.old, bad[i].b, bad[i].len);
		err = ool_check_site(&site, why, sizeof(why));
		if (err != -bad[i].err)
			fail_msg("%s as old: %s (%d, expected %d)", bad[i].what, why, err, -bad[i].err);
		assert_non_null(strstr(why, "old instruction"));
	}

	/* A new first byte 03 (add r32, r/m32). */
	struct poke_site add = { .addr = SITE, .len = 2, .old = { 0x66, 0x90 }, .new = { 0x03, 0xc0 } };
	char why[POKE_WHY_LEN];
	assert_int_equal(ool_check_site(&add, why, sizeof(why)), -PATCH_EFIRST_BYTE_03);
	/* and what is fine: mov, cmp, lea, push, rep stosb */
	static const struct { uint8_t len, b[8]; } good[] = {
		{ 5, { 0xb8, 1, 2, 3, 4 } }, { 6, { 0x81, 0xff, 1, 0, 0, 0 } }, { 4, { 0x48, 0x8d, 0x04, 0x24 } },
		{ 1, { 0x50 } }, { 2, { 0xf3, 0xaa } }, { 3, { 0x0f, 0x1f, 0x00 } },
	};
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct poke_site s = { .addr = SITE, .len = good[i].len };
		memcpy(s.old, good[i].b, good[i].len);
		memcpy(s.new, good[i].b, good[i].len);
		if (ool_check_site(&s, why, sizeof(why)))
			fail_msg("good form %u refused: %s", i, why);
	}
}

/* A batch's copies are laid out one after the other, old then new for each
 * site, into the image; too many for the area: PATCH_EOOL_SLOTS_FULL with
 * nothing to undo. */
static void plan_layout(void **state)
{
	(void)state;
	static uint8_t image[OOL_AREA_SIZE];
	struct poke_site sites[3] = {
		{ .addr = SITE, .len = 5, .old = { 0xb8, 1, 0, 0, 0 }, .new = { 0xb8, 2, 0, 0, 0 } },
		{ .addr = SITE + 0x10, .len = 5, .old = { 0xe8, 0, 0, 0, 0 }, .new = { 0xe8, 0x10, 0, 0, 0 } },
		{ .addr = SITE + 0x20, .len = 2, .old = { 0x74, 0 }, .new = { 0x75, 0 } },
	};
	struct ool_slot slot[3];
	uint32_t used;
	char why[POKE_WHY_LEN];
	assert_int_equal(ool_plan(sites, 3, &ool_area, image, slot, &used, why, sizeof(why)), 0);
	uint32_t off = 0;
	for (unsigned i = 0; i < 3; i++) {
		uint8_t out[OOL_COPY_MAX];
		assert_int_equal(slot[i].old_off, off);
		int n = ool_build_copy(sites[i].addr, sites[i].old, sites[i].len, OOL_OLD, AREA + off, EXIT, out, why, sizeof(why));
		assert_memory_equal(image + off, out, (size_t)n);
		off += (uint32_t)n;
		assert_int_equal(slot[i].new_off, off);
		n = ool_build_copy(sites[i].addr, sites[i].new, sites[i].len, OOL_NEW, AREA + off, EXIT, out, why, sizeof(why));
		assert_memory_equal(image + off, out, (size_t)n);
		off += (uint32_t)n;
	}
	assert_int_equal(used, off);

	struct ool_area tiny = { AREA, AREA + 40, EXIT };
	assert_int_equal(ool_plan(sites, 3, &tiny, image, slot, &used, why, sizeof(why)), -PATCH_EOOL_SLOTS_FULL);
	assert_non_null(strstr(why, "0xffffffff80125010: "));   /* the site whose copy did not fit */
}

/* The forms built without Zydis (ool_fast_forms) come out exactly as the
 * decoded way builds them. */
static void fast_forms_match_decoded(void **state)
{
	(void)state;
	static const struct { uint8_t len, b[6]; } forms[] = {
		{ 5, { 0xe8, 0x10, 0x00, 0x00, 0x00 } }, { 5, { 0xe8, 0xf0, 0xff, 0xff, 0xff } },
		{ 5, { 0xe9, 0x00, 0x01, 0x00, 0x00 } }, { 2, { 0xeb, 0x80 } }, { 2, { 0xeb, 0x7f } },
		{ 2, { 0x74, 0x7f } }, { 2, { 0x7c, 0x80 } }, { 6, { 0x0f, 0x84, 0x00, 0x00, 0x00, 0x80 } },
		{ 6, { 0x0f, 0x8f, 0x10, 0x20, 0x30, 0x40 } }, { 1, { 0xc3 } }, { 5, { 0xb8, 1, 2, 3, 4 } },
		{ 5, { 0xbf, 0xff, 0xff, 0xff, 0xff } },
	};
	static const uintptr_t at[] = { SITE, 0x00007f0000001000ul };
	for (unsigned i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		for (unsigned a = 0; a < 2; a++) {
			uint8_t fast[OOL_COPY_MAX], slow[OOL_COPY_MAX];
			char why[POKE_WHY_LEN];
			ool_fast_forms = true;
			int nf = ool_build_copy(at[a], forms[i].b, forms[i].len, OOL_NEW, at[a] - 0x1000, at[a] - 0x800,
						fast, why, sizeof(why));
			ool_fast_forms = false;
			int ns = ool_build_copy(at[a], forms[i].b, forms[i].len, OOL_NEW, at[a] - 0x1000, at[a] - 0x800,
						slow, why, sizeof(why));
			ool_fast_forms = true;
			if (nf <= 0 || nf != ns || memcmp(fast, slow, (size_t)nf))
				fail_msg("form %u at %#lx: %d bytes without Zydis, %d with", i, (unsigned long)at[a], nf, ns);
		}
}

static void error_names(void **state)
{
	(void)state;
	for (int e = PATCH_EOOL_RIP_REACH; e <= PATCH_EOOL_SLOTS_FULL; e++) {
		assert_non_null(strstr(patch_errname(e), "PATCH_EOOL_"));
		assert_string_not_equal(patch_strerror(e), "unknown patch error");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rip_relative_relocated),
		cmocka_unit_test(rip_reach_refused),
		cmocka_unit_test(call_pushes_site_end),
		cmocka_unit_test(indirect_branches),
		cmocka_unit_test(branches_widened),
		cmocka_unit_test(copies_keep_flags),
		cmocka_unit_test(refusals),
		cmocka_unit_test(plan_layout),
		cmocka_unit_test(fast_forms_match_decoded),
		cmocka_unit_test(error_names),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	int total = (int)(sizeof(tests) / sizeof(tests[0]));
	printf("RESULT passed=%d failed=%d\n", total - failed, failed);
	return failed ? 1 : 0;
}
