/*
 * patch/insn.h — encoders for the instructions patch sites are made of:
 * call/jmp rel32, jmp/jcc rel8, jcc rel32, the recommended NOP of each
 * length, ret. The one place those bytes are spelled out (clients, tests
 * and the lab use these). Any context: pure computation, no kernel
 * headers (the host tests may use them too).
 */
#ifndef XPOKE_PATCH_INSN_H
#define XPOKE_PATCH_INSN_H

#include <stdbool.h>
#include <stdint.h>
#include "patch/poke_types.h"

#define INSN_NOP_MAX 9          /* longest recommended NOP (Intel SDM, NOP) */

/* The recommended NOP of len bytes (1..INSN_NOP_MAX): insn_nop_bytes[len]. */
extern const uint8_t insn_nop_bytes[INSN_NOP_MAX + 1][INSN_NOP_MAX];

/* Write the instruction at runtime address at into out; false (out
 * untouched) if the target is out of the encoding's reach. */
bool insn_call(uintptr_t at, uintptr_t target, uint8_t out[CALL_INSN_SIZE]);
bool insn_jmp32(uintptr_t at, uintptr_t target, uint8_t out[JMP32_INSN_SIZE]);
bool insn_jmp8(uintptr_t at, uintptr_t target, uint8_t out[JMP8_INSN_SIZE]);
bool insn_jcc8(uintptr_t at, uint8_t cc, uintptr_t target, uint8_t out[2]);        /* 7x rel8 */
bool insn_jcc32(uintptr_t at, uint8_t cc, uintptr_t target, uint8_t out[6]);       /* 0f 8x rel32 */
/* mov $imm, %eax (b8 imm32), 5 bytes. */
#define MOV_EAX_INSN_OPCODE 0xb8
#define MOV_EAX_INSN_SIZE   5
void insn_mov_eax(uint32_t imm, uint8_t out[MOV_EAX_INSN_SIZE]);
/* The recommended NOP of len bytes; false if len is not 1..INSN_NOP_MAX. */
bool insn_nop(unsigned len, uint8_t *out);

#endif
