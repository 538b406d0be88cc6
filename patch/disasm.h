/*
 * patch/disasm.h — one instruction to text, with Zydis's Intel formatter;
 * a sequence moved to where it will run.
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

/*
 * Move a sequence of whole instructions assembled at from (the
 * alternatives' .altinstr_replacement) so that it runs at to: a
 * RIP-relative operand's disp32 and a direct call's rel32 grow by
 * from - to. Refuses (-1, why names the byte and the reason; bytes then
 * partly adjusted: use a copy) a sequence that does not decode into whole
 * instructions, any relative branch but a direct call (E8 rel32) as the
 * LAST instruction (a call earlier would leave a return address inside
 * the sequence; a relative jmp or jcc would go who knows where), and a
 * displacement that no longer fits 32 bits. 0 on success.
 */
int disasm_relocate_seq(uint8_t *bytes, size_t len, uintptr_t from, uintptr_t to, char *why, size_t why_len);

#endif
