/*
 * patch/disasm.c — see disasm.h.
 */
#include <Zydis/Zydis.h>
#include "kernel/format.h"
#include "patch/disasm.h"

unsigned disasm_one(uintptr_t addr, const uint8_t *bytes, size_t len, char *out, size_t out_size)
{
	ZydisDecoder dec;
	ZydisFormatter fmt;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, bytes, len, &insn, ops))) {
		snprintf(out, out_size, "(does not decode)");
		return 0;
	}
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt, &insn, ops, insn.operand_count_visible,
							  out, out_size, addr, NULL))) {
		snprintf(out, out_size, "(cannot format)");
		return 0;
	}
	return insn.length;
}
