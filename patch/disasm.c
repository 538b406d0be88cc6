/*
 * patch/disasm.c — see disasm.h.
 */
#include <Zydis/Zydis.h>
#include "kernel/format.h"
#include "kernel/string.h"
#include "patch/disasm.h"

unsigned disasm_one_target(uintptr_t addr, const uint8_t *bytes, size_t len, char *out, size_t out_size,
			   uint64_t *target)
{
	ZydisDecoder dec;
	ZydisFormatter fmt;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	ZyanStatus st;

	*target = 0;
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	st = ZydisDecoderDecodeFull(&dec, bytes, len, &insn, ops);
	if (!ZYAN_SUCCESS(st)) {
		snprintf(out, out_size, st == ZYDIS_STATUS_NO_MORE_DATA ? "(does not decode: incomplete)" :
			 "(does not decode)");
		return 0;
	}
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt, &insn, ops, insn.operand_count_visible,
							  out, out_size, addr, NULL))) {
		snprintf(out, out_size, "(cannot format)");
		return 0;
	}
	ZyanU64 abs;
	if ((insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE) && insn.operand_count_visible >= 1 &&
	    ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
	    ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], addr, &abs)))
		*target = abs;
	return insn.length;
}

unsigned disasm_one(uintptr_t addr, const uint8_t *bytes, size_t len, char *out, size_t out_size)
{
	uint64_t target;
	return disasm_one_target(addr, bytes, len, out, out_size, &target);
}

/* Add delta to the little-endian 32-bit field at p; false if the sum does
 * not fit. */
static bool add_rel32(uint8_t *p, int64_t delta)
{
	int32_t v;
	memcpy(&v, p, 4);
	int64_t sum = (int64_t)v + delta;
	if (sum < INT32_MIN || sum > INT32_MAX)
		return false;
	v = (int32_t)sum;
	memcpy(p, &v, 4);
	return true;
}

int disasm_relocate_seq(uint8_t *bytes, size_t len, uintptr_t from, uintptr_t to, char *why, size_t why_len)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	int64_t delta = (int64_t)(from - to);

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	for (size_t off = 0; off < len; off += insn.length) {
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, bytes + off, len - off, &insn, ops))) {
			snprintf(why, why_len, "byte %zu does not decode into a whole instruction", off);
			return -1;
		}
		const char *name = ZydisMnemonicGetString(insn.mnemonic);
		bool last = off + insn.length == len;
		if (insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE && insn.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE) {
			if (!last || insn.mnemonic != ZYDIS_MNEMONIC_CALL || bytes[off] != 0xe8 || insn.length != 5) {
				snprintf(why, why_len, "%s at byte %zu: a relative branch other than a direct call as the "
					 "last instruction", name, off);
				return -1;
			}
			if (!add_rel32(bytes + off + 1, delta)) {
				snprintf(why, why_len, "call at byte %zu: its target is out of reach from %#lx", off,
					 (unsigned long)(to + off));
				return -1;
			}
			continue;
		}
		if (!(insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE))
			continue;
		/* a RIP-relative memory operand: its disp32 */
		if (insn.raw.disp.size != 32) {
			snprintf(why, why_len, "%s at byte %zu: position-dependent, and not by a 32-bit displacement",
				 name, off);
			return -1;
		}
		if (!add_rel32(bytes + off + insn.raw.disp.offset, delta)) {
			snprintf(why, why_len, "%s at byte %zu: its RIP-relative operand is out of reach from %#lx", name,
				 off, (unsigned long)(to + off));
			return -1;
		}
	}
	return 0;
}
