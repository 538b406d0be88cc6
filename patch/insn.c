/*
 * patch/insn.c — see insn.h. Pure computation.
 */
#include "patch/insn.h"

const uint8_t insn_nop_bytes[INSN_NOP_MAX + 1][INSN_NOP_MAX] = {
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

/* Displacement from the end of an instruction of len bytes at at. */
static int64_t rel_from(uintptr_t at, unsigned len, uintptr_t target)
{
	return (int64_t)(target - (at + len));
}

static bool put_rel32(uint8_t *out, unsigned nop, const uint8_t *op, uintptr_t at, uintptr_t target)
{
	int64_t rel = rel_from(at, nop + 4, target);
	if (rel < INT32_MIN || rel > INT32_MAX)
		return false;
	uint32_t r = (uint32_t)(int32_t)rel;
	for (unsigned i = 0; i < nop; i++)
		out[i] = op[i];
	for (unsigned i = 0; i < 4; i++)
		out[nop + i] = (uint8_t)(r >> (8 * i));
	return true;
}

static bool put_rel8(uint8_t *out, uint8_t op, uintptr_t at, uintptr_t target)
{
	int64_t rel = rel_from(at, 2, target);
	if (rel < -128 || rel > 127)
		return false;
	out[0] = op;
	out[1] = (uint8_t)(int8_t)rel;
	return true;
}

bool insn_call(uintptr_t at, uintptr_t target, uint8_t out[CALL_INSN_SIZE])
{
	static const uint8_t op[] = { CALL_INSN_OPCODE };
	return put_rel32(out, 1, op, at, target);
}

bool insn_jmp32(uintptr_t at, uintptr_t target, uint8_t out[JMP32_INSN_SIZE])
{
	static const uint8_t op[] = { JMP32_INSN_OPCODE };
	return put_rel32(out, 1, op, at, target);
}

bool insn_jmp8(uintptr_t at, uintptr_t target, uint8_t out[JMP8_INSN_SIZE])
{
	return put_rel8(out, JMP8_INSN_OPCODE, at, target);
}

bool insn_jcc8(uintptr_t at, uint8_t cc, uintptr_t target, uint8_t out[2])
{
	return put_rel8(out, (uint8_t)(0x70 | (cc & 0xf)), at, target);
}

bool insn_jcc32(uintptr_t at, uint8_t cc, uintptr_t target, uint8_t out[6])
{
	const uint8_t op[] = { 0x0f, (uint8_t)(0x80 | (cc & 0xf)) };
	return put_rel32(out, 2, op, at, target);
}

void insn_mov_eax(uint32_t imm, uint8_t out[MOV_EAX_INSN_SIZE])
{
	out[0] = MOV_EAX_INSN_OPCODE;
	for (unsigned i = 0; i < 4; i++)
		out[1 + i] = (uint8_t)(imm >> (8 * i));
}

bool insn_nop(unsigned len, uint8_t *out)
{
	if (len < 1 || len > INSN_NOP_MAX)
		return false;
	for (unsigned i = 0; i < len; i++)
		out[i] = insn_nop_bytes[len][i];
	return true;
}
