/*
 * patch/validate.c — Zydis checks for patch requests (see validate.h).
 *
 * Order of checks (the first failure is the error):
 *   1. length 1..15
 *   2. [addr, addr+len) inside .text (start outside, or end past the end)
 *   3. not in the patch path's own code
 *   4. not a site of a batch being applied, nor of its own batch
 *   5. at an instruction boundary: decode forward from the containing
 *      function's start, through the view (validate.h)
 *   6. the current bytes are the expected old bytes (compare-and-patch)
 *   7. old bytes: exactly one instruction of len bytes, not an int $3
 *   8. new bytes: exactly one instruction of len bytes, accepted by the
 *      strategy's own check (int3: emulatable by #BP), not falling through past the end of the function where the old
 *      one could not (a ret becoming a nop at the very end), branching (if
 *      at all) into .text, or onto the start of a function of a region
 *      env->foreign_target registers (a livepatch payload's text)
 *   7, 8 of a multi-instruction site (a strategy with multi_insn): old
 *      and new are whole instructions; in either a call only as the last;
 *      new: no other branch, no system instruction, the call direct to a
 *      function's start; a new sequence that falls through where the old
 *      did not, at the function's end, refused; and no relative branch
 *      elsewhere in the function lands inside the site. An old first
 *      instruction that is a REP string op the new bytes do not repeat
 *      marks the site start_inside (a CPU at its start may be mid-way)
 *   9. not into its own tail or the tail of another site of its batch,
 *      not into the no-patch region, not into the tail of a site in
 *      flight, onto an instruction boundary of the function containing
 *      the target, and for a call, onto the start of a function; nor does
 *      another site of the batch branch into its tail (all skipped with
 *      env->unchecked_targets)
 * Steps 4 and 9 against the other sites of the batch are done here one
 * site at a time (O(nr) each) when the caller passes the batch; the
 * kernel's batches pass none and check the whole sorted batch at once in
 * patch_validate_batch() (O(nr log nr): the mass patcher's 38252 sites).
 * Runs in thread context only (it calls Zydis, which may be patched).
 */
#include <Zydis/Zydis.h>
#include "patch/site_table.h"
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
	[PATCH_ETARGET_NO_FUNCTION - PATCH_ELEN_ZERO] = "PATCH_ETARGET_NO_FUNCTION",
	[PATCH_ETARGET_MID_INSN - PATCH_ELEN_ZERO] = "PATCH_ETARGET_MID_INSN",
	[PATCH_ECALL_NOT_FUNCTION - PATCH_ELEN_ZERO] = "PATCH_ECALL_NOT_FUNCTION",
	[PATCH_ETARGET_IN_SITE - PATCH_ELEN_ZERO] = "PATCH_ETARGET_IN_SITE",
	[PATCH_ETARGET_PROTECTED - PATCH_ELEN_ZERO] = "PATCH_ETARGET_PROTECTED",
	[PATCH_EFALLS_OFF_END - PATCH_ELEN_ZERO] = "PATCH_EFALLS_OFF_END",
	[PATCH_EOLD_INT3 - PATCH_ELEN_ZERO] = "PATCH_EOLD_INT3",
	[PATCH_EBRANCH_UNCHECKED - PATCH_ELEN_ZERO] = "PATCH_EBRANCH_UNCHECKED",
	[PATCH_EOOL_RIP_REACH - PATCH_ELEN_ZERO] = "PATCH_EOOL_RIP_REACH",
	[PATCH_EOOL_REL8_ONLY - PATCH_ELEN_ZERO] = "PATCH_EOOL_REL8_ONLY",
	[PATCH_EOOL_SAVES_RIP - PATCH_ELEN_ZERO] = "PATCH_EOOL_SAVES_RIP",
	[PATCH_EOOL_FLOW - PATCH_ELEN_ZERO] = "PATCH_EOOL_FLOW",
	[PATCH_EOOL_WAITS - PATCH_ELEN_ZERO] = "PATCH_EOOL_WAITS",
	[PATCH_EOOL_RSP_TARGET - PATCH_ELEN_ZERO] = "PATCH_EOOL_RSP_TARGET",
	[PATCH_EOOL_SLOTS_FULL - PATCH_ELEN_ZERO] = "PATCH_EOOL_SLOTS_FULL",
	[PATCH_EFIRST_BYTE_03 - PATCH_ELEN_ZERO] = "PATCH_EFIRST_BYTE_03",
	[PATCH_EMULTI_INSN - PATCH_ELEN_ZERO] = "PATCH_EMULTI_INSN",
	[PATCH_EMULTI_CALL_NOT_LAST - PATCH_ELEN_ZERO] = "PATCH_EMULTI_CALL_NOT_LAST",
	[PATCH_EINSIDE_SEQ - PATCH_ELEN_ZERO] = "PATCH_EINSIDE_SEQ",
	[PATCH_EBRANCH_INTO_SEQ - PATCH_ELEN_ZERO] = "PATCH_EBRANCH_INTO_SEQ",
};
_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == PATCH_ERR_END - PATCH_ELEN_ZERO,
	       "one name per patch error");

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
	[PATCH_ETARGET_NO_FUNCTION - PATCH_ELEN_ZERO] = "no function contains the new branch target",
	[PATCH_ETARGET_MID_INSN - PATCH_ELEN_ZERO] = "new branch target is not an instruction boundary",
	[PATCH_ECALL_NOT_FUNCTION - PATCH_ELEN_ZERO] = "new call target is not the start of a function",
	[PATCH_ETARGET_IN_SITE - PATCH_ELEN_ZERO] = "new branch target is inside a site being patched",
	[PATCH_ETARGET_PROTECTED - PATCH_ELEN_ZERO] = "new branch target is inside the patch path's own code",
	[PATCH_EFALLS_OFF_END - PATCH_ELEN_ZERO] = "new instruction would fall through past the end of its function",
	[PATCH_EOLD_INT3 - PATCH_ELEN_ZERO] = "old instruction is an int $3, which traps past itself",
	[PATCH_EBRANCH_UNCHECKED - PATCH_ELEN_ZERO] = "new instruction changes control flow where the core cannot check it",
	[PATCH_EOOL_RIP_REACH - PATCH_ELEN_ZERO] = "RIP-relative operand is out of reach of the out-of-line slot area",
	[PATCH_EOOL_REL8_ONLY - PATCH_ELEN_ZERO] = "relative branch has no 32-bit form to reach back from an out-of-line slot",
	[PATCH_EOOL_SAVES_RIP - PATCH_ELEN_ZERO] = "instruction traps or saves its own address: out of line it would be the slot's",
	[PATCH_EOOL_FLOW - PATCH_ELEN_ZERO] = "control transfer an out-of-line copy cannot reproduce",
	[PATCH_EOOL_WAITS - PATCH_ELEN_ZERO] = "instruction waits for an interrupt: a CPU would hold the batch halted in its slot",
	[PATCH_EOOL_RSP_TARGET - PATCH_ELEN_ZERO] = "indirect call through rsp cannot be rebuilt around the pushed return address",
	[PATCH_EOOL_SLOTS_FULL - PATCH_ELEN_ZERO] = "the batch's out-of-line copies do not fit the slot area",
	[PATCH_EFIRST_BYTE_03 - PATCH_ELEN_ZERO] = "new instruction begins with 03, the last byte of an int $3",
	[PATCH_EMULTI_INSN - PATCH_ELEN_ZERO] = "several instructions, and the strategy cannot tell whether a CPU "
						"is inside the sequence it rewrites",
	[PATCH_EMULTI_CALL_NOT_LAST - PATCH_ELEN_ZERO] = "a call that is not the last instruction of a multi-instruction "
							 "site: its return address would point into the sequence",
	[PATCH_EINSIDE_SEQ - PATCH_ELEN_ZERO] = "a CPU stayed stopped inside a multi-instruction site: its rest "
						"would run in the other variant's bytes",
	[PATCH_EBRANCH_INTO_SEQ - PATCH_ELEN_ZERO] = "a branch elsewhere in the function lands inside the "
						     "multi-instruction site: after the rewrite, maybe mid-instruction",
};
_Static_assert(sizeof(err_text) / sizeof(err_text[0]) == PATCH_ERR_END - PATCH_ELEN_ZERO,
	       "one text per patch error");

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

int patch_refuse(int err, char *why, size_t why_len, uintptr_t addr, const char *detail)
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

/* Are bytes[0..len) exactly one instruction? ops: its operands too (NULL:
 * not needed; the instruction alone decodes in a fraction of the time,
 * which counts at 38252 sites a batch). */
static enum one_insn decode_one(const uint8_t *bytes, size_t len, ZydisDecodedInstruction *insn,
				ZydisDecodedOperand *ops)
{
	ZydisDecoder d;
	decoder_init(&d);
	/* ops NULL: the instruction only (its raw fields), no operands, which
	 * is most of a decode's cost */
	ZyanStatus st = ops ? ZydisDecoderDecodeFull(&d, bytes, len, insn, ops) :
			      ZydisDecoderDecodeInstruction(&d, NULL, bytes, len, insn);
	if (st == ZYDIS_STATUS_NO_MORE_DATA)
		return ONE_TOO_LONG;
	if (!ZYAN_SUCCESS(st))
		return ONE_UNDECODABLE;
	return insn->length == len ? ONE_OK : ONE_MULTI;
}

/* How many whole instructions bytes[0..len) are: n >= 1 if they end
 * exactly at len, 0 if the last one runs past len or something does not
 * decode. *last: the offset of the last one. */
static unsigned count_seq(const uint8_t *bytes, size_t len, size_t *last)
{
	ZydisDecoder d;
	ZydisDecodedInstruction insn;
	decoder_init(&d);
	unsigned n = 0;
	for (size_t off = 0; off < len; off += insn.length, n++) {
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, bytes + off, len - off, &insn)))
			return 0;
		*last = off;
	}
	return n;
}

/* Does an instruction that ends with insn fall through to what follows? */
static bool falls_through(const ZydisDecodedInstruction *insn)
{
	return insn->mnemonic != ZYDIS_MNEMONIC_JMP && insn->mnemonic != ZYDIS_MNEMONIC_RET &&
	       insn->mnemonic != ZYDIS_MNEMONIC_UD2 && insn->mnemonic != ZYDIS_MNEMONIC_INT3;
}

/*
 * The old or new bytes of a site that are a sequence of whole
 * instructions, for a strategy that makes multi-instruction sites safe.
 * In either, a call may only be the LAST instruction: an earlier one
 * leaves a return address inside the sequence on the stack of every CPU
 * running its callee, which no inside check sees (it is no interrupted
 * RIP), and that CPU would return into the other variant's bytes. New
 * bytes may not branch at all otherwise (the core could check neither
 * where nor that no CPU is sent into the middle), and that last call must
 * be a direct one to the start of a function in .text; the last may also
 * be a direct jmp rel32 to a function's start, in .text or in a region of
 * env->foreign_target, outside the no-patch region, from a site at a
 * function's start (a livepatch over a multi-instruction prologue); nor may they hold
 * a privileged instruction (hlt, mov to a control register, wrmsr, lidt,
 * swapgs...: Zydis's "privileged", since its category SYSTEM also holds
 * rdtsc and rdtscp, which alternatives use), which the single-instruction
 * path refuses through the strategy's check (PATCH_EBRANCH_UNCHECKED). *falls: whether the last
 * instruction falls through.
 */
static int check_seq(const struct patch_env *env, struct poke_site *site, bool is_new, bool *falls,
		     size_t *rep_len, char *why, size_t why_len)
{
	ZydisDecoder d;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	char detail[128];
	const uint8_t *bytes = is_new ? site->new : site->old;
	const char *side = is_new ? "new" : "old";
	decoder_init(&d);
	for (size_t off = 0; off < site->len; off += insn.length) {
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, bytes + off, site->len - off, &insn, ops)))
			return patch_refuse(is_new ? PATCH_ENEW_UNDECODABLE : PATCH_EOLD_LENGTH, why, why_len, site->addr,
					    NULL);
		bool last = off + insn.length == site->len;
		if (last)
			*falls = falls_through(&insn);
		if (!off && insn.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE))
			*rep_len = insn.length;         /* a REP string op first */
		if (insn.meta.category == ZYDIS_CATEGORY_CALL && !last) {
			snprintf(detail, sizeof(detail), "%s at byte %zu of %u in the %s bytes",
				 ZydisMnemonicGetString(insn.mnemonic), off, site->len, side);
			return patch_refuse(PATCH_EMULTI_CALL_NOT_LAST, why, why_len, site->addr, detail);
		}
		if (!is_new)
			continue;       /* what the old bytes do otherwise, they did already */
		switch (insn.meta.category) {
		case ZYDIS_CATEGORY_CALL: {
			ZyanU64 t;
			uintptr_t fn;
			uint64_t size;
			const char *name;
			if (bytes[off] != CALL_INSN_OPCODE || insn.length != CALL_INSN_SIZE ||
			    !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], site->addr + off, &t)) ||
			    t < env->text_start || t >= env->text_end || !env->symbol(env, t, &fn, &size, &name) ||
			    fn != t) {
				snprintf(detail, sizeof(detail), "the last instruction is a call, but not a direct one to "
					 "the start of a function in .text");
				return patch_refuse(PATCH_EBRANCH_UNCHECKED, why, why_len, site->addr, detail);
			}
			break;
		}
		case ZYDIS_CATEGORY_UNCOND_BR: {
			/* As the last instruction, a direct jmp rel32 to the
			 * start of a function, in .text or in a registered
			 * region, from a site at a function's start (a
			 * livepatch over a multi-instruction prologue, all
			 * this is for): it goes nowhere the core cannot check,
			 * and, as a single jmp's target, not into the no-patch
			 * region */
			ZyanU64 t;
			uintptr_t fn;
			uint64_t size;
			const char *name;
			bool fn_start = false;
			if (last && bytes[off] == JMP32_INSN_OPCODE && insn.length == JMP32_INSN_SIZE &&
			    ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[0], site->addr + off, &t)) &&
			    (t >= env->text_start && t < env->text_end ? env->symbol(env, t, &fn, &size, &name) && fn == t
			     : env->foreign_target && env->foreign_target(env, t, &fn_start, &name) && fn_start)) {
				const char *what;
				if (env->protected_code && env->protected_code(env, (uintptr_t)t, 1, &what)) {
					snprintf(detail, sizeof(detail), "the last jmp's target %#lx is in %s",
						 (unsigned long)t, what);
					return patch_refuse(PATCH_ETARGET_PROTECTED, why, why_len, site->addr, detail);
				}
				if (!env->symbol(env, site->addr, &fn, &size, &name) || fn != site->addr) {
					snprintf(detail, sizeof(detail), "a multi-instruction site ending with a jmp rel32 "
						 "must start at a function's start (a replaced entry)");
					return patch_refuse(PATCH_EBRANCH_UNCHECKED, why, why_len, site->addr, detail);
				}
				break;
			}
			snprintf(detail, sizeof(detail), "%s at byte %zu of a multi-instruction site (only a last jmp "
				 "rel32 to a function's start is checked)", ZydisMnemonicGetString(insn.mnemonic), off);
			return patch_refuse(PATCH_EBRANCH_UNCHECKED, why, why_len, site->addr, detail);
		}
		case ZYDIS_CATEGORY_COND_BR:
		case ZYDIS_CATEGORY_RET:
		case ZYDIS_CATEGORY_INTERRUPT:
		case ZYDIS_CATEGORY_SYSCALL:
		case ZYDIS_CATEGORY_SYSRET:
			snprintf(detail, sizeof(detail), "%s at byte %zu of a multi-instruction site",
				 ZydisMnemonicGetString(insn.mnemonic), off);
			return patch_refuse(PATCH_EBRANCH_UNCHECKED, why, why_len, site->addr, detail);
		default:
			if (insn.meta.branch_type == ZYDIS_BRANCH_TYPE_NONE &&
			    !(insn.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED))
				break;
			snprintf(detail, sizeof(detail), "%s at byte %zu of a multi-instruction site",
				 ZydisMnemonicGetString(insn.mnemonic), off);
			return patch_refuse(PATCH_EBRANCH_UNCHECKED, why, why_len, site->addr, detail);
		}
	}
	if (is_new)
		site->emu = (struct emu_insn){ .kind = EMU_OTHER, .len = site->len };
	return 0;
}

/* patch_decode_new() for bytes already decoded: decode_one() said one (its
 * first instruction: insn). */
static int decode_new_from(uintptr_t addr, const uint8_t *bytes, size_t len, enum one_insn one,
			   const ZydisDecodedInstruction *ip, struct emu_insn *emu, char *why, size_t why_len)
{
	const ZydisDecodedInstruction insn = *ip;
	char detail[96];

	switch (one) {
	case ONE_UNDECODABLE:
		return patch_refuse(PATCH_ENEW_UNDECODABLE, why, why_len, addr, NULL);
	case ONE_TOO_LONG:
		return patch_refuse(PATCH_ENEW_LENGTH, why, why_len, addr, NULL);
	case ONE_MULTI:
		snprintf(detail, sizeof(detail), "the first is %u of %u bytes", insn.length, (unsigned)len);
		return patch_refuse(PATCH_ENEW_MULTI, why, why_len, addr, detail);
	case ONE_OK:
		break;
	}

	emu->kind = EMU_OTHER;
	emu->len = (uint8_t)len;
	emu->cc = 0;
	emu->mnemonic = (uint16_t)insn.mnemonic;
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
	if (emu->kind != EMU_CALL && emu->kind != EMU_JMP && emu->kind != EMU_JCC)
		return 0;               /* EMU_OTHER: the strategy's check decides */
	/* A relative call/jmp/jcc: its one immediate is the displacement
	 * from the next instruction. */
	if (!insn.raw.imm[0].size || !insn.raw.imm[0].is_relative)
		return patch_refuse(PATCH_ENEW_UNDECODABLE, why, why_len, addr, "no branch target");
	emu->target = addr + insn.length + (uint64_t)insn.raw.imm[0].value.s;
	return 0;
}

int patch_decode_new(uintptr_t addr, const uint8_t *bytes, size_t len, struct emu_insn *emu,
		     char *why, size_t why_len)
{
	ZydisDecodedInstruction insn;
	enum one_insn one = decode_one(bytes, len, &insn, NULL);
	return decode_new_from(addr, bytes, len, one, &insn, emu, why, why_len);
}

/*
 * Walk the function containing addr from its start to addr, through the
 * view, a window of VIEW_WINDOW bytes at a time. Each window is one
 * consistent read (validate.h); between windows another batch may complete,
 * which moves no instruction boundary.
 */
#define VIEW_WINDOW 128

struct fn_walk {
	uintptr_t fn;           /* the containing function */
	uint64_t size;
	const char *name;
	uintptr_t stop;         /* where decoding stopped: addr if it is a boundary */
	bool undecodable;       /* stopped on bytes that do not decode */
};

static bool cache_has(const struct walk_cache *c, uint32_t off)
{
	return c->starts[off / 64] >> (off % 64) & 1;
}

/* Decode w's function from pc (a boundary) until addr or past it; with a
 * cache c, record each start and the reach. Sets w->stop, w->undecodable. */
static void walk_from(const struct patch_env *env, uintptr_t pc, uintptr_t addr, struct fn_walk *w,
		      struct walk_cache *c)
{
	uintptr_t end = w->fn + w->size, base = pc;
	uint8_t win[VIEW_WINDOW];
	size_t have = 0;
	ZydisDecoder d;
	decoder_init(&d);
	w->undecodable = false;
	while (pc < addr) {
		/* Refill when fewer than a longest instruction's bytes are left
		 * (or the window ends at the function's end anyway). */
		if (pc + POKE_MAX_LEN > base + have && base + have < end) {
			base = pc;
			have = end - pc < VIEW_WINDOW ? end - pc : VIEW_WINDOW;
			env->read(env, base, win, have);
		}
		ZydisDecodedInstruction insn;
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, win + (pc - base), base + have - pc, &insn))) {
			w->undecodable = true;
			break;
		}
		if (c) {
			uint32_t off = (uint32_t)(pc - w->fn);
			c->starts[off / 64] |= 1ull << (off % 64);
			c->reach = off + insn.length;
		}
		pc += insn.length;
	}
	w->stop = pc;
}

/* With the cache c for w's function at text generation gen: addr below the
 * reach is answered from it, else the walk goes on from the reach. */
static void walk_cached(const struct patch_env *env, struct walk_cache *c, uint64_t gen, uintptr_t addr,
			struct fn_walk *w)
{
	if (c->fn != w->fn || c->gen != gen) {
		c->fn = w->fn;
		c->gen = gen;
		c->reach = 0;
		memset(c->starts, 0, (w->size + 63) / 64 * sizeof(c->starts[0]));
	}
	uint32_t off = (uint32_t)(addr - w->fn);
	if (off >= c->reach) {
		walk_from(env, w->fn + c->reach, addr, w, c);
		return;
	}
	while (off < c->reach && !cache_has(c, off))    /* the first start at or after addr */
		off++;
	w->stop = w->fn + off;
	w->undecodable = false;
}

static bool walk_to(const struct patch_env *env, uintptr_t addr, struct fn_walk *w)
{
	if (!env->symbol(env, addr, &w->fn, &w->size, &w->name) || w->fn > addr || w->fn < env->text_start ||
	    w->size > env->text_end - w->fn)
		return false;
	uint64_t gen = 0, gen_after = 0;
	struct walk_cache *c;
	if (w->size <= WALK_CACHE_BYTES && env->walk_cache_get && env->text_stable(env, &gen) &&
	    (c = env->walk_cache_get(env))) {
		walk_cached(env, c, gen, addr, w);
		/* A whole batch may have come and gone between text_stable()'s
		 * two reads or during the walk: then neither the cache nor its
		 * answer is kept; the walk is done again from the start. */
		bool stale = !env->text_stable(env, &gen_after) || gen_after != gen;
		if (stale)
			c->fn = 0;
		env->walk_cache_put(env, c);
		if (!stale)
			return true;
	}
	walk_from(env, w->fn, addr, w, NULL);
	return true;
}

/* Is t inside bytes 1..len-1 of the site at a? */
static bool in_tail(uintptr_t t, uintptr_t a, size_t len)
{
	return t > a && t < a + len;
}

/*
 * Does a relative branch elsewhere in w's function land strictly inside
 * (addr, addr+len)? After a multi-instruction site is rewritten, such a
 * target may be mid-instruction, and a CPU about to take that branch is
 * not inside the site (no inside check sees it). The whole function is
 * decoded, uncached (the walk cache keeps instruction starts only, and
 * multi-instruction sites are few). Indirect branches (jump tables) are
 * not seen. *from, *to: the first such branch and its target.
 */
static bool branch_into_site(const struct patch_env *env, const struct fn_walk *w, uintptr_t addr, size_t len,
			     uintptr_t *from, uintptr_t *to)
{
	uintptr_t pc = w->fn, end = w->fn + w->size, base = pc;
	uint8_t win[VIEW_WINDOW];
	size_t have = 0;
	ZydisDecoder d;
	decoder_init(&d);
	while (pc < end) {
		if (pc + POKE_MAX_LEN > base + have && base + have < end) {
			base = pc;
			have = end - pc < VIEW_WINDOW ? end - pc : VIEW_WINDOW;
			env->read(env, base, win, have);
		}
		ZydisDecodedInstruction insn;
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, win + (pc - base), base + have - pc, &insn)))
			return false;   /* padding or data: the boundary walk judged what matters */
		if ((pc < addr || pc >= addr + len) && (insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE) &&
		    insn.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE && insn.raw.imm[0].size && insn.raw.imm[0].is_relative) {
			uintptr_t t = pc + insn.length + (uint64_t)insn.raw.imm[0].value.s;
			if (in_tail(t, addr, len)) {
				*from = pc;
				*to = t;
				return true;
			}
		}
		pc += insn.length;
	}
	return false;
}

/* The detail of a failed walk: why addr is not a boundary of w->fn. */
static void walk_detail(const struct fn_walk *w, uintptr_t addr, char *detail, size_t size)
{
	if (w->undecodable)
		snprintf(detail, size, "%s+%#lx does not decode", w->name, (unsigned long)(w->stop - w->fn));
	else
		snprintf(detail, size, "an instruction of %s spans %s+%#lx", w->name, w->name,
			 (unsigned long)(addr - w->fn));
}

static bool has_target(const struct emu_insn *emu)
{
	return emu->kind == EMU_CALL || emu->kind == EMU_JMP || emu->kind == EMU_JCC;
}

/* Step 9: where the new branch of site lands. batch[0..nr): the other
 * sites of its batch. */
static int check_target(const struct patch_env *env, const struct poke_site *site, const struct poke_site *batch,
			uint32_t nr, char *why, size_t why_len)
{
	uintptr_t addr = site->addr, t = site->emu.target;
	char detail[256], where[96];
	const char *what;
	uintptr_t s;
	uint8_t s_len;

	if (in_tail(t, addr, site->len)) {
		snprintf(detail, sizeof(detail), "target %#lx is byte %lu of this very site", (unsigned long)t,
			 (unsigned long)(t - addr));
		return patch_refuse(PATCH_ETARGET_IN_SITE, why, why_len, addr, detail);
	}
	for (uint32_t i = 0; i < nr; i++)
		if (in_tail(t, batch[i].addr, batch[i].len)) {
			snprintf(detail, sizeof(detail), "target %#lx is byte %lu of site %#lx+%u of this batch",
				 (unsigned long)t, (unsigned long)(t - batch[i].addr), (unsigned long)batch[i].addr,
				 batch[i].len);
			return patch_refuse(PATCH_ETARGET_IN_SITE, why, why_len, addr, detail);
		}
	if (env->protected_code && env->protected_code(env, t, 1, &what)) {
		snprintf(detail, sizeof(detail), "target %#lx is in %s", (unsigned long)t, what);
		return patch_refuse(PATCH_ETARGET_PROTECTED, why, why_len, addr, detail);
	}
	if (env->live_site && env->live_site(env, t, 1, &s, &s_len) && t != s) {
		snprintf(detail, sizeof(detail), "target %#lx is byte %lu of site %#lx+%u of a batch in flight",
			 (unsigned long)t, (unsigned long)(t - s), (unsigned long)s, s_len);
		return patch_refuse(PATCH_ETARGET_IN_SITE, why, why_len, addr, detail);
	}
	struct fn_walk w;
	if (!walk_to(env, t, &w)) {
		snprintf(detail, sizeof(detail), "target %#lx", (unsigned long)t);
		return patch_refuse(PATCH_ETARGET_NO_FUNCTION, why, why_len, addr, detail);
	}
	bool mid = w.undecodable || w.stop != t, not_fn = site->emu.kind == EMU_CALL && t != w.fn;
	if (!mid && !not_fn)
		return 0;
	snprintf(where, sizeof(where), "%s+%#lx", w.name, (unsigned long)(t - w.fn));      /* refusals only */
	if (mid) {
		char how[96];
		walk_detail(&w, t, how, sizeof(how));
		snprintf(detail, sizeof(detail), "target %#lx (%s): %s", (unsigned long)t, where, how);
		return patch_refuse(PATCH_ETARGET_MID_INSN, why, why_len, addr, detail);
	}
	snprintf(detail, sizeof(detail), "target %#lx is %s", (unsigned long)t, where);
	return patch_refuse(PATCH_ECALL_NOT_FUNCTION, why, why_len, addr, detail);
}

int patch_validate_site(const struct patch_env *env, patch_site_check_fn check, struct poke_site *site,
			const struct poke_site *batch, uint32_t nr, char *why, size_t why_len)
{
	return patch_validate_site_multi(env, check, false, site, batch, nr, why, why_len);
}

int patch_validate_site_multi(const struct patch_env *env, patch_site_check_fn check, bool multi_ok,
			      struct poke_site *site, const struct poke_site *batch, uint32_t nr, char *why,
			      size_t why_len)
{
	uintptr_t addr = site->addr;
	size_t len = site->len;
	char detail[160];
	const char *what;
	uintptr_t s;
	uint8_t s_len;

	/* 1. length */
	if (len == 0)
		return patch_refuse(PATCH_ELEN_ZERO, why, why_len, addr, NULL);
	if (len > POKE_MAX_LEN)
		return patch_refuse(PATCH_ELEN_TOO_LONG, why, why_len, addr, NULL);

	/* 2. inside .text */
	if (addr < env->text_start || addr >= env->text_end)
		return patch_refuse(PATCH_EOUTSIDE_TEXT, why, why_len, addr, NULL);
	if (len > env->text_end - addr) {
		snprintf(detail, sizeof(detail), ".text ends at %#lx", (unsigned long)env->text_end);
		return patch_refuse(PATCH_ESTRADDLES_TEXT_END, why, why_len, addr, detail);
	}

	/* 3, 4. not the patch path's own code, not in flight */
	if (env->protected_code && env->protected_code(env, addr, len, &what))
		return patch_refuse(PATCH_EPROTECTED, why, why_len, addr, what);
	if (env->live_site && env->live_site(env, addr, len, &s, &s_len)) {
		snprintf(detail, sizeof(detail), "site %#lx+%u", (unsigned long)s, s_len);
		return patch_refuse(PATCH_EBUSY, why, why_len, addr, detail);
	}
	for (uint32_t i = 0; i < nr; i++)
		if (addr < batch[i].addr + batch[i].len && addr + len > batch[i].addr) {
			snprintf(detail, sizeof(detail), "%#lx+%u is already in the batch", (unsigned long)batch[i].addr,
				 batch[i].len);
			return patch_refuse(PATCH_EOVERLAP, why, why_len, addr, detail);
		}

	/* 5. instruction boundary */
	struct fn_walk w;
	if (!walk_to(env, addr, &w))
		return patch_refuse(PATCH_ENO_SYMBOL, why, why_len, addr, NULL);
	if (w.undecodable || w.stop != addr) {
		walk_detail(&w, addr, detail, sizeof(detail));
		return patch_refuse(PATCH_EMID_INSN, why, why_len, addr, detail);
	}

	/* 6. compare-and-patch */
	uint8_t cur[POKE_MAX_LEN];
	env->read(env, addr, cur, len);
	for (size_t i = 0; i < len; i++)
		if (cur[i] != site->old[i]) {
			snprintf(detail, sizeof(detail), "byte %zu is %02x, expected %02x", i, cur[i], site->old[i]);
			return patch_refuse(PATCH_EOLD_MISMATCH, why, why_len, addr, detail);
		}

	/* 7, 8 for a site of several whole instructions (old or new): only
	 * a strategy that makes that safe (patch_strategy.multi_insn) may
	 * take it; without it, a CPU stopped or trapped after the first
	 * instruction resumes in bytes rewritten under it (Jan Beulich's
	 * point, seed 000). */
	/* Each side's first instruction, decoded once for steps 7 and 8; a
	 * side is counted whole only when it is more than one. */
	ZydisDecodedInstruction insn, new_insn;
	enum one_insn old_one = decode_one(site->old, len, &insn, NULL);
	enum one_insn new_one = decode_one(site->new, len, &new_insn, NULL);
	size_t last_old = 0, last_new = 0;
	unsigned n_old = old_one == ONE_OK ? 1 : old_one == ONE_MULTI ? count_seq(site->old, len, &last_old) : 0;
	unsigned n_new = new_one == ONE_OK ? 1 : new_one == ONE_MULTI ? count_seq(site->new, len, &last_new) : 0;
	if (n_old > 1 || n_new > 1) {
		snprintf(detail, sizeof(detail), "old bytes are %u instruction(s), new %u", n_old, n_new);
		if (!multi_ok)
			return patch_refuse(PATCH_EMULTI_INSN, why, why_len, addr, detail);
		if (!n_old)
			return patch_refuse(PATCH_EOLD_LENGTH, why, why_len, addr, "the old bytes are not whole instructions");
		if (!n_new)
			return patch_refuse(PATCH_ENEW_LENGTH, why, why_len, addr, "the new bytes are not whole instructions");
		/* The strategy's own check judges one instruction (site->emu);
		 * of a sequence the core checks every instruction instead, of
		 * the old bytes as of the new. */
		bool old_falls = true, new_falls = true;
		size_t old_rep = 0, new_rep = 0;
		int err = check_seq(env, site, false, &old_falls, &old_rep, why, why_len);
		if (!err)
			err = check_seq(env, site, true, &new_falls, &new_rep, why, why_len);
		if (err)
			return err;
		/* A CPU interrupted between the iterations of a REP string op
		 * has its RIP at that op, its registers partly advanced: if the
		 * site starts with one the new bytes do not repeat, such a CPU
		 * would run the new sequence on that state. */
		site->start_inside = old_rep && memcmp(site->old, site->new, old_rep);
		if (new_falls && !old_falls && addr + len >= w.fn + w.size) {
			snprintf(detail, sizeof(detail), "the sequence ends %s, which ends at %#lx: the old one did not "
				 "fall through", w.name,
				 (unsigned long)(w.fn + w.size));
			return patch_refuse(PATCH_EFALLS_OFF_END, why, why_len, addr, detail);
		}
		uintptr_t from, to;
		if (branch_into_site(env, &w, addr, len, &from, &to)) {
			snprintf(detail, sizeof(detail), "%s+%#lx branches to %#lx, byte %lu of this site", w.name,
				 (unsigned long)(from - w.fn), (unsigned long)to, (unsigned long)(to - addr));
			return patch_refuse(PATCH_EBRANCH_INTO_SEQ, why, why_len, addr, detail);
		}
		site->insns = (uint8_t)(n_old > n_new ? n_old : n_new);
		return 0;
	}
	site->insns = 1;

	/* 7. old: one instruction */
	switch (old_one) {
	case ONE_UNDECODABLE:
		return patch_refuse(PATCH_EOLD_LENGTH, why, why_len, addr, "the old bytes do not decode at all");
	case ONE_TOO_LONG:
		return patch_refuse(PATCH_EOLD_LENGTH, why, why_len, addr, NULL);
	case ONE_MULTI:
		snprintf(detail, sizeof(detail), "the first is %u of %zu bytes", insn.length, len);
		return patch_refuse(PATCH_EOLD_MULTI, why, why_len, addr, detail);
	case ONE_OK:
		break;
	}
	/* A CPU that executed it traps with RIP two bytes on; if its handler
	 * looks only once the site has changed, it sees neither CD 03 nor an
	 * int3 there and would take it for a vanished one (patch/trap.c). */
	if (insn.mnemonic == ZYDIS_MNEMONIC_INT && insn.raw.imm[0].size && insn.raw.imm[0].value.u == 3)
		return patch_refuse(PATCH_EOLD_INT3, why, why_len, addr, "the #BP handler could not tell it from a vanished int3");

	/* 8. new: one instruction, one the strategy can install, not running
	 * off its function's end where the old one did not, branching into
	 * .text */
	bool old_falls = falls_through(&insn);
	int err = decode_new_from(addr, site->new, len, new_one, &new_insn, &site->emu, why, why_len);
	if (!err && check)
		err = check(site, why, why_len);
	if (err)
		return err;
	bool new_falls = site->emu.kind != EMU_JMP && site->emu.kind != EMU_RET;
	if (new_falls && !old_falls && addr + len >= w.fn + w.size) {
		snprintf(detail, sizeof(detail), "it is the last instruction of %s, which ends at %#lx", w.name,
			 (unsigned long)(w.fn + w.size));
		return patch_refuse(PATCH_EFALLS_OFF_END, why, why_len, addr, detail);
	}
	if (!has_target(&site->emu))
		return 0;
	bool outside = site->emu.target < env->text_start || site->emu.target >= env->text_end;
	if (outside) {
		/* Outside .text: only onto a function of a registered region
		 * (a payload's text, never a site itself, so step 9's checks of
		 * .text do not apply to it) */
		bool fn_start = false;
		const char *region = NULL;
		if (!env->foreign_target || !env->foreign_target(env, site->emu.target, &fn_start, &region)) {
			snprintf(detail, sizeof(detail), "target %#lx", (unsigned long)site->emu.target);
			return patch_refuse(PATCH_ETARGET_OUTSIDE_TEXT, why, why_len, addr, detail);
		}
		if (!fn_start) {
			snprintf(detail, sizeof(detail), "target %#lx is inside %s but not the start of one of its "
				 "functions", (unsigned long)site->emu.target, region ? region : "a region");
			return patch_refuse(PATCH_ETARGET_MID_INSN, why, why_len, addr, detail);
		}
	}

	/* 9. and where it lands */
	if (env->unchecked_targets)
		return 0;
	err = outside ? 0 : check_target(env, site, batch, nr, why, why_len);
	if (err)
		return err;
	/* and no other site of the batch branches into this one's tail (its
	 * target would not be a boundary either: belt and braces) */
	for (uint32_t i = 0; i < nr; i++)
		if (has_target(&batch[i].emu) && in_tail(batch[i].emu.target, addr, len)) {
			snprintf(detail, sizeof(detail), "site %#lx of this batch branches to %#lx, byte %lu of this one",
				 (unsigned long)batch[i].addr, (unsigned long)batch[i].emu.target,
				 (unsigned long)(batch[i].emu.target - addr));
			return patch_refuse(PATCH_ETARGET_IN_SITE, why, why_len, addr, detail);
		}
	return 0;
}

int patch_validate_batch(const struct patch_env *env, const struct poke_site *sorted, uint32_t nr, char *why,
			 size_t why_len)
{
	char detail[160];

	/* Sorted by address: a site overlaps another only if it overlaps the
	 * one before it. */
	for (uint32_t i = 1; i < nr; i++)
		if (sorted[i].addr < sorted[i - 1].addr + sorted[i - 1].len) {
			snprintf(detail, sizeof(detail), "%#lx+%u is already in the batch",
				 (unsigned long)sorted[i - 1].addr, sorted[i - 1].len);
			return patch_refuse(PATCH_EOVERLAP, why, why_len, sorted[i].addr, detail);
		}
	if (env->unchecked_targets)
		return 0;
	/* No new branch lands in bytes 1..len-1 of a site of the batch: one
	 * binary search per branch. */
	for (uint32_t i = 0; i < nr; i++) {
		if (!has_target(&sorted[i].emu))
			continue;
		uintptr_t t = sorted[i].emu.target;
		const struct poke_site *s = site_overlapping(sorted, nr, t, 1);
		if (s && in_tail(t, s->addr, s->len)) {
			snprintf(detail, sizeof(detail), "target %#lx is byte %lu of site %#lx+%u of this batch",
				 (unsigned long)t, (unsigned long)(t - s->addr), (unsigned long)s->addr, s->len);
			return patch_refuse(PATCH_ETARGET_IN_SITE, why, why_len, sorted[i].addr, detail);
		}
	}
	return 0;
}
