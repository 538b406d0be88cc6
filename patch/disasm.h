/*
 * patch/disasm.h — one instruction to text, with Zydis's Intel formatter.
 * Thread context (Zydis is ordinary, patchable code).
 */
#ifndef XPOKE_PATCH_DISASM_H
#define XPOKE_PATCH_DISASM_H

#include <stddef.h>
#include <stdint.h>

/* Disassemble the instruction at bytes (runtime address addr) into out.
 * Returns its length, or 0 (out says why) if it does not decode. */
unsigned disasm_one(uintptr_t addr, const uint8_t *bytes, size_t len, char *out, size_t out_size);

/* The same, and *target gets the absolute destination of a relative call,
 * jmp or jcc (0 for any other instruction, or when it does not decode). */
unsigned disasm_one_target(uintptr_t addr, const uint8_t *bytes, size_t len, char *out, size_t out_size,
			   uint64_t *target);

#endif
