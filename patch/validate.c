/*
 * patch/validate.c — Zydis checks for patch requests (see validate.h).
 *
 * Order of checks (the first failure is the error):
 *   1. length 1..15
 *   2. [addr, addr+len) inside .text (start outside, or end past the end)
 *   3. not in the patch path's own code
 *   4. not a site of a batch being applied
 *   5. at an instruction boundary: decode forward from the containing
 *      function's start
 *   6. the current bytes are the expected old bytes (compare-and-patch)
 *   7. old bytes: exactly one instruction of len bytes
 *   8. new bytes: exactly one instruction of len bytes, emulatable by #BP,
 *      branching (if at all) into .text
 * Runs in thread context only (it calls Zydis, which may be patched).
 */
#include <Zydis/Zydis.h>
#include "patch/validate.h"

#ifdef XPOKE_KERNEL
#include "kernel/format.h"
#include "kernel/string.h"
#else
#include <stdio.h>
#include <string.h>
#endif

static const char *const err_names[] = {
	[PATCH_ELEN_ZERO - PATCH_ELEN_ZERO] = "PATCH_ELEN_ZERO",
	[PATCH_ELEN_TOO_LONG - PATCH_ELEN_ZERO] = "PATCH_ELEN_TOO_LONG",
	[PATCH_EOUTSIDE_TEXT - PATCH_ELEN_ZERO] = "PATCH_EOUTSIDE_TEXT",
	[PATCH_ESTRADDLES_TEXT_END - PATCH_ELEN_ZERO] = "PATCH_ESTRADDLES_TEXT_END",
	[PATCH_ENO_SYMBOL - PATCH_ELEN_ZERO] = "PATCH_ENO_SYMBOL",
	[PATCH_EMID_INSN - PATCH_ELEN_ZERO] = "PATCH_EMID_INSN",
	[PATCH_EOLD_MISMATCH - PATCH_ELEN_ZERO] = "PATCH_EOLD_MISMATCH",
	[PATCH_EOLD_LENGTH - PATCH_ELEN_ZERO] = "PATCH_EOLD_LENGTH",
	[PATCH_EOLD_MULTI - PATCH_ELEN_ZERO] = "PATCH_EOLD_MULTI",
	[PATCH_ENEW_UNDECODABLE - PATCH_ELEN_ZERO] = "PATCH_ENEW_UNDECODABLE",
	[PATCH_ENEW_LENGTH - PATCH_ELEN_ZERO] = "PATCH_ENEW_LENGTH",
	[PATCH_ENEW_MULTI - PATCH_ELEN_ZERO] = "PATCH_ENEW_MULTI",
	[PATCH_ENOT_EMULATABLE - PATCH_ELEN_ZERO] = "PATCH_ENOT_EMULATABLE",
	[PATCH_ETARGET_OUTSIDE_TEXT - PATCH_ELEN_ZERO] = "PATCH_ETARGET_OUTSIDE_TEXT",
	[PATCH_EPROTECTED - PATCH_ELEN_ZERO] = "PATCH_EPROTECTED",
	[PATCH_EOVERLAP - PATCH_ELEN_ZERO] = "PATCH_EOVERLAP",
	[PATCH_EBUSY - PATCH_ELEN_ZERO] = "PATCH_EBUSY",
	[PATCH_EBATCH_FULL - PATCH_ELEN_ZERO] = "PATCH_EBATCH_FULL",
};

static const char *const err_text[] = {
	[PATCH_ELEN_ZERO - PATCH_ELEN_ZERO] = "length is 0",
	[PATCH_ELEN_TOO_LONG - PATCH_ELEN_ZERO] = "length exceeds 15 bytes",
	[PATCH_EOUTSIDE_TEXT - PATCH_ELEN_ZERO] = "address is outside kernel .text",
	[PATCH_ESTRADDLES_TEXT_END - PATCH_ELEN_ZERO] = "site runs past the end of .text",
	[PATCH_ENO_SYMBOL - PATCH_ELEN_ZERO] = "no function contains the address",
	[PATCH_EMID_INSN - PATCH_ELEN_ZERO] = "address is not at an instruction boundary",
	[PATCH_EOLD_MISMATCH - PATCH_ELEN_ZERO] = "current bytes differ from the expected old bytes",
	[PATCH_EOLD_LENGTH - PATCH_ELEN_ZERO] = "old instruction is longer than the site",
	[PATCH_EOLD_MULTI - PATCH_ELEN_ZERO] = "old bytes hold more than one instruction",
	[PATCH_ENEW_UNDECODABLE - PATCH_ELEN_ZERO] = "new bytes do not decode",
	[PATCH_ENEW_LENGTH - PATCH_ELEN_ZERO] = "new instruction is longer than the site",
	[PATCH_ENEW_MULTI - PATCH_ELEN_ZERO] = "new bytes hold more than one instruction",
	[PATCH_ENOT_EMULATABLE - PATCH_ELEN_ZERO] = "the #BP handler cannot emulate the new instruction",
	[PATCH_ETARGET_OUTSIDE_TEXT - PATCH_ELEN_ZERO] = "new branch target is outside kernel .text",
	[PATCH_EPROTECTED - PATCH_ELEN_ZERO] = "site is inside the patch path's own code",
	[PATCH_EOVERLAP - PATCH_ELEN_ZERO] = "site overlaps another site of the batch",
	[PATCH_EBUSY - PATCH_ELEN_ZERO] = "site is part of a batch being applied",
	[PATCH_EBATCH_FULL - PATCH_ELEN_ZERO] = "the batch is full",
};

const char *patch_errname(int err)
{
	err = err < 0 ? -err : err;
	if (err == 0)
		return "PATCH_OK";
	if (err < PATCH_ELEN_ZERO || err >= PATCH_ERR_END)
		return "PATCH_E?";
	return err_names[err - PATCH_ELEN_ZERO];
}

const char *patch_strerror(int err)
{
	err = err < 0 ? -err : err;
	if (err == 0)
		return "success";
	if (err < PATCH_ELEN_ZERO || err >= PATCH_ERR_END)
		return "unknown patch error";
	return err_text[err - PATCH_ELEN_ZERO];
}

static int fail(int err, char *why, size_t why_len, uintptr_t addr, const char *detail)
{
	if (why)
		snprintf(why, why_len, "%#lx: %s%s%s", (unsigned long)addr, patch_strerror(err),
			 detail && *detail ? ": " : "", detail ? detail : "");
	return -err;
}

static void decoder_init(ZydisDecoder *d)
{
	ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
}

enum one_insn { ONE_OK, ONE_UNDECODABLE, ONE_TOO_LONG, ONE_MULTI };

/* Are bytes[0..len) exactly one instruction? */
static enum one_insn decode_one(const uint8_t *bytes, size_t len, ZydisDecodedInstruction *insn,
				ZydisDecodedOperand *ops)
{
	ZydisDecoder d;
	decoder_init(&d);
	ZyanStatus st = ZydisDecoderDecodeFull(&d, bytes, len, insn, ops);
	if (st == ZYDIS_STATUS_NO_MORE_DATA)
		return ONE_TOO_LONG;
	if (!ZYAN_SUCCESS(st))
		return ONE_UNDECODABLE;
	return insn->length == len ? ONE_OK : ONE_MULTI;
}

int patch_decode_emulation(uintptr_t addr, const uint8_t *bytes, size_t len, struct emu_insn *emu,
			   char *why, size_t why_len)
{
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	char detail[96];

	switch (decode_one(bytes, len, &insn, ops)) {
	case ONE_UNDECODABLE:
		return fail(PATCH_ENEW_UNDECODABLE, why, why_len, addr, NULL);
	case ONE_TOO_LONG:
		return fail(PATCH_ENEW_LENGTH, why, why_len, addr, NULL);
	case ONE_MULTI:
		snprintf(detail, sizeof(detail), "the first is %u of %u bytes", insn.length, (unsigned)len);
		return fail(PATCH_ENEW_MULTI, why, why_len, addr, detail);
	case ONE_OK:
		break;
	}

	emu->kind = 0;
	emu->len = (uint8_t)len;
	emu->cc = 0;
	emu->target = 0;
	uint8_t op0 = bytes[insn.raw.prefix_count];     /* first opcode byte */
	bool rel = insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE;
	switch (insn.mnemonic) {
	case ZYDIS_MNEMONIC_NOP:
		emu->kind = EMU_NOP;
		return 0;
	case ZYDIS_MNEMONIC_RET:
		if (insn.length == 1 && bytes[0] == RET_INSN_OPCODE) {
			emu->kind = EMU_RET;
			return 0;
		}
		break;
	case ZYDIS_MNEMONIC_CALL:
		if (rel && op0 == CALL_INSN_OPCODE && insn.raw.prefix_count == 0)
			emu->kind = EMU_CALL;
		break;
	case ZYDIS_MNEMONIC_JMP:
		if (rel && (op0 == JMP32_INSN_OPCODE || op0 == JMP8_INSN_OPCODE) && insn.raw.prefix_count == 0)
			emu->kind = EMU_JMP;
		break;
	case ZYDIS_MNEMONIC_JB: case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JNLE:
	case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JNP: case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JS: case ZYDIS_MNEMONIC_JZ:
		if (rel && insn.raw.prefix_count == 0) {
			if (op0 >= 0x70 && op0 <= 0x7f)
				emu->cc = op0 & 0xf;
			else if (op0 == 0x0f && bytes[1] >= 0x80 && bytes[1] <= 0x8f)
				emu->cc = bytes[1] & 0xf;
			else
				break;
			emu->kind = EMU_JCC;
		}
		break;
	default:
		break;
	}
	if (emu->kind != EMU_CALL && emu->kind != EMU_JMP && emu->kind != EMU_JCC) {
		emu->kind = 0;
		snprintf(detail, sizeof(detail), "%s (only call/jmp/jcc rel, nop, ret)",
			 ZydisMnemonicGetString(insn.mnemonic));
		return fail(PATCH_ENOT_EMULATABLE, why, why_len, addr, detail);
	}
	ZyanU64 target;
	if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], addr, &target)))
		return fail(PATCH_ENEW_UNDECODABLE, why, why_len, addr, "no branch target");
	emu->target = target;
	return 0;
}

int patch_validate_site(const struct patch_env *env, struct poke_site *site, char *why, size_t why_len)
{
	uintptr_t addr = site->addr;
	size_t len = site->len;
	char detail[128];
	const char *what;

	/* 1. length */
	if (len == 0)
		return fail(PATCH_ELEN_ZERO, why, why_len, addr, NULL);
	if (len > POKE_MAX_LEN)
		return fail(PATCH_ELEN_TOO_LONG, why, why_len, addr, NULL);

	/* 2. inside .text */
	if (addr < env->text_start || addr >= env->text_end)
		return fail(PATCH_EOUTSIDE_TEXT, why, why_len, addr, NULL);
	if (addr + len > env->text_end) {
		snprintf(detail, sizeof(detail), ".text ends at %#lx", (unsigned long)env->text_end);
		return fail(PATCH_ESTRADDLES_TEXT_END, why, why_len, addr, detail);
	}

	/* 3, 4. not the patch path's own code, not in flight */
	if (env->protected_code && env->protected_code(env, addr, len, &what))
		return fail(PATCH_EPROTECTED, why, why_len, addr, what);
	if (env->busy && env->busy(env, addr, len))
		return fail(PATCH_EBUSY, why, why_len, addr, NULL);

	/* 5. instruction boundary */
	uintptr_t fn;
	uint64_t fn_size;
	const char *fn_name;
	if (!env->symbol(env, addr, &fn, &fn_size, &fn_name))
		return fail(PATCH_ENO_SYMBOL, why, why_len, addr, NULL);
	ZydisDecoder d;
	decoder_init(&d);
	uintptr_t pc = fn, fn_end = fn + fn_size < env->text_end ? fn + fn_size : env->text_end;
	while (pc < addr) {
		ZydisDecodedInstruction insn;
		size_t avail = fn_end - pc < POKE_MAX_LEN ? fn_end - pc : POKE_MAX_LEN;
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, env->text_ptr(env, pc), avail, &insn))) {
			snprintf(detail, sizeof(detail), "%s+%#lx does not decode", fn_name, (unsigned long)(pc - fn));
			return fail(PATCH_EMID_INSN, why, why_len, addr, detail);
		}
		pc += insn.length;
	}
	if (pc != addr) {
		snprintf(detail, sizeof(detail), "an instruction of %s spans %s+%#lx", fn_name, fn_name,
			 (unsigned long)(addr - fn));
		return fail(PATCH_EMID_INSN, why, why_len, addr, detail);
	}

	/* 6. compare-and-patch */
	const uint8_t *cur = env->text_ptr(env, addr);
	for (size_t i = 0; i < len; i++)
		if (cur[i] != site->old[i]) {
			snprintf(detail, sizeof(detail), "byte %zu is %02x, expected %02x", i, cur[i], site->old[i]);
			return fail(PATCH_EOLD_MISMATCH, why, why_len, addr, detail);
		}

	/* 7. old: one instruction */
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	switch (decode_one(site->old, len, &insn, ops)) {
	case ONE_UNDECODABLE:
		return fail(PATCH_EOLD_LENGTH, why, why_len, addr, "the old bytes do not decode at all");
	case ONE_TOO_LONG:
		return fail(PATCH_EOLD_LENGTH, why, why_len, addr, NULL);
	case ONE_MULTI:
		snprintf(detail, sizeof(detail), "the first is %u of %zu bytes", insn.length, len);
		return fail(PATCH_EOLD_MULTI, why, why_len, addr, detail);
	case ONE_OK:
		break;
	}

	/* 8. new: one emulatable instruction, branching into .text */
	int err = patch_decode_emulation(addr, site->new, len, &site->emu, why, why_len);
	if (err)
		return err;
	if (site->emu.kind == EMU_CALL || site->emu.kind == EMU_JMP || site->emu.kind == EMU_JCC) {
		if (site->emu.target < env->text_start || site->emu.target >= env->text_end) {
			snprintf(detail, sizeof(detail), "target %#lx", (unsigned long)site->emu.target);
			return fail(PATCH_ETARGET_OUTSIDE_TEXT, why, why_len, addr, detail);
		}
	}
	return 0;
}
