/*
 * patch/disasm.c — see disasm.h.
 */
#include <Zydis/Zydis.h>
#include "kernel/format.h"
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
