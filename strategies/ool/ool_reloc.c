/*
 * strategies/ool/ool_reloc.c — the out-of-line copy of one instruction,
 * and the layout of a batch's copies in the slot area (see ool_reloc.h for
 * the shapes of the copies and what is refused). Zydis decodes; the bytes
 * are rewritten here. Builds for the kernel and for the host
 * (tests/host/test_ool.c). In the kernel: thread context only (Zydis is
 * patchable code); the #BP path only reads what this produced.
 */
#include <Zydis/Zydis.h>
#include "strategies/ool/ool_reloc.h"

#ifdef XPOKE_KERNEL
#include "kernel/format.h"
#include "kernel/string.h"
#else
#include <stdio.h>
#include <string.h>
#endif

#define PUSH_IMM32_OPCODE 0x68
#define MODRM_REG_MASK    0x38
#define MODRM_REG_PUSH    (6 << 3)      /* FF /6: push r/m64, the form of FF /2 (call) and FF /4 (jmp) */
#define MODRM_MOD_DISP8   0x40

static const char *const which_name[] = { [OOL_OLD] = "old", [OOL_NEW] = "new" };

/* The copy being written: out[0..n), which will run at address at. */
struct emit {
	uint8_t *out;
	size_t n;
	uintptr_t at;
};

static bool fits32(int64_t v)
{
	return v == (int64_t)(int32_t)v;
}

static uintptr_t here(const struct emit *e)
{
	return e->at + e->n;
}

static void put8(struct emit *e, uint8_t b)
{
	e->out[e->n++] = b;
}

static void put32(struct emit *e, uint32_t v)
{
	memcpy(e->out + e->n, &v, sizeof(v));
	e->n += sizeof(v);
}

/* push v (64 bits), flags untouched: push imm32 sign-extends its operand;
 * when that is not v, the top half is overwritten (mov dword [rsp+4]). */
static void push_abs(struct emit *e, uint64_t v)
{
	put8(e, PUSH_IMM32_OPCODE);
	put32(e, (uint32_t)v);
	if ((uint64_t)(int64_t)(int32_t)(uint32_t)v != v) {
		static const uint8_t mov_hi[] = { 0xc7, 0x44, 0x24, 0x04 };    /* mov dword [rsp+4], imm32 */
		memcpy(e->out + e->n, mov_hi, sizeof(mov_hi));
		e->n += sizeof(mov_hi);
		put32(e, (uint32_t)(v >> 32));
	}
}

/* jmp rel32 to the way out; false if it is out of reach of this slot. */
static bool jmp_exit(struct emit *e, uintptr_t exit)
{
	int64_t d = (int64_t)(exit - (here(e) + JMP32_INSN_SIZE));
	if (!fits32(d))
		return false;
	put8(e, JMP32_INSN_OPCODE);
	put32(e, (uint32_t)(int32_t)d);
	return true;
}

/* Refuse, naming which instruction and what it is. */
static int refuse(int err, enum ool_which which, const ZydisDecodedInstruction *insn, const char *what, uintptr_t addr,
		  char *why, size_t why_len)
{
	char detail[192];
	snprintf(detail, sizeof(detail), "%s instruction %s%s%s", which_name[which],
		 ZydisMnemonicGetString(insn->mnemonic), what ? ": " : "", what ? what : "");
	return patch_refuse(err, why, why_len, addr, detail);
}

/* Rewrite the RIP-relative displacement of insn (its bytes at b, to run at
 * run_at) for its target mem_target; false if 32 bits cannot reach it. */
static bool relocate_disp(const ZydisDecodedInstruction *insn, uint8_t *b, size_t n, uintptr_t run_at,
			  uint64_t mem_target, int64_t *disp)
{
	*disp = (int64_t)(mem_target - (run_at + n));
	if (!fits32(*disp))
		return false;
	int32_t d = (int32_t)*disp;
	memcpy(b + insn->raw.disp.offset, &d, sizeof(d));
	return true;
}

static int reach_refusal(enum ool_which which, const ZydisDecodedInstruction *insn, uintptr_t addr, uint64_t target,
			 uintptr_t run_at, int64_t disp, char *why, size_t why_len)
{
	char what[128];
	snprintf(what, sizeof(what), "operand %#llx is %lld bytes from its copy at %#lx", (unsigned long long)target,
		 (long long)disp, (unsigned long)run_at);
	return refuse(PATCH_EOOL_RIP_REACH, which, insn, what, addr, why, why_len);
}

/* Does insn have a relative immediate (a branch displacement)? Zydis's
 * ZYDIS_ATTRIB_IS_RELATIVE also covers RIP-relative memory operands. */
static bool has_rel_imm(const ZydisDecodedInstruction *insn)
{
	return insn->raw.imm[0].is_relative || insn->raw.imm[1].is_relative;
}

/* Can insn have a RIP-relative memory operand (ModRM mod 00, rm 101)? Only
 * then are its operands decoded (they cost more than the instruction). */
static bool maybe_rip_relative(const ZydisDecodedInstruction *insn)
{
	return (insn->attributes & ZYDIS_ATTRIB_HAS_MODRM) && insn->raw.modrm.mod == 0 && insn->raw.modrm.rm == 5;
}

/* The memory operand of insn based on RIP (or, with an address-size
 * prefix, EIP), if any. */
static const ZydisDecodedOperand *rip_operand(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops)
{
	for (unsigned i = 0; i < insn->operand_count; i++)
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (ops[i].mem.base == ZYDIS_REGISTER_RIP || ops[i].mem.base == ZYDIS_REGISTER_EIP))
			return &ops[i];
	return NULL;
}

/* EIP-relative (67 prefix): the address is truncated to 32 bits, which a
 * displacement rewritten for the slot cannot keep. */
static int eip_refusal(enum ool_which which, const ZydisDecodedInstruction *insn, uintptr_t addr, char *why,
		       size_t why_len)
{
	return refuse(PATCH_EOOL_RIP_REACH, which, insn, "EIP-relative (an address-size prefix)", addr, why, why_len);
}

/* A relative jmp, jcc or call (no prefix: the core checked where the new
 * one goes only then). */
static int relative_branch(struct emit *e, const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
			   const uint8_t *bytes, uintptr_t addr, enum ool_which which, uintptr_t exit, char *why,
			   size_t why_len)
{
	uintptr_t end = addr + insn->length;
	ZyanU64 t;
	if (insn->raw.prefix_count)
		return refuse(PATCH_EBRANCH_UNCHECKED, which, insn, "a relative branch with prefixes", addr, why, why_len);
	if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, &ops[0], addr, &t)))
		return refuse(PATCH_EBRANCH_UNCHECKED, which, insn, "no target", addr, why, why_len);
	if (insn->mnemonic == ZYDIS_MNEMONIC_JMP) {
		push_abs(e, t);
	} else if (insn->mnemonic == ZYDIS_MNEMONIC_CALL && bytes[0] == CALL_INSN_OPCODE) {
		push_abs(e, end);               /* the real return address */
		push_abs(e, t);
	} else if (insn->meta.category == ZYDIS_CATEGORY_COND_BR &&
		   ((bytes[0] & 0xf0) == 0x70 || (bytes[0] == 0x0f && (bytes[1] & 0xf0) == 0x80))) {
		uint8_t cc = (bytes[0] == 0x0f ? bytes[1] : bytes[0]) & 0x0f;
		size_t jcc = e->n;
		put8(e, 0x70 | cc);             /* jcc rel8 to the taken path, below */
		put8(e, 0);
		push_abs(e, end);               /* not taken */
		if (!jmp_exit(e, exit))
			return -1;
		e->out[jcc + 1] = (uint8_t)(e->n - (jcc + 2));
		push_abs(e, t);                 /* taken */
	} else {
		return refuse(PATCH_EBRANCH_UNCHECKED, which, insn, "an unknown relative form", addr, why, why_len);
	}
	return jmp_exit(e, exit) ? 0 : -1;
}

/* call r/m64 or jmp r/m64: push the same operand, then leave through the
 * way out, which "returns" to it. */
static int indirect_branch(struct emit *e, const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
			   const uint8_t *bytes, uintptr_t addr, enum ool_which which, uintptr_t exit, char *why,
			   size_t why_len)
{
	bool call = insn->mnemonic == ZYDIS_MNEMONIC_CALL;
	const ZydisDecodedOperand *op = &ops[0];
	uint8_t b[POKE_MAX_LEN + 1];
	size_t n = insn->length, mo = insn->raw.modrm.offset;

	if ((!call && insn->mnemonic != ZYDIS_MNEMONIC_JMP) || !(insn->attributes & ZYDIS_ATTRIB_HAS_MODRM) ||
	    bytes[mo - 1] != 0xff)
		return refuse(PATCH_EBRANCH_UNCHECKED, which, insn, "an unknown indirect form", addr, why, why_len);
	/* push r/m reads an operand-size or repeat prefix its own way (66:
	 * a 16-bit push, where a call in 64-bit mode may ignore it). */
	for (unsigned i = 0; i < insn->raw.prefix_count; i++)
		if (bytes[i] == 0x66 || bytes[i] == 0xf2 || bytes[i] == 0xf3 || bytes[i] == 0xf0)
			return refuse(PATCH_EOOL_FLOW, which, insn, "with an operand-size, repeat or lock prefix", addr,
				      why, why_len);
	if (insn->operand_width != 64)
		return refuse(PATCH_EOOL_FLOW, which, insn, "a 16-bit indirect branch", addr, why, why_len);
	if (call && op->type == ZYDIS_OPERAND_TYPE_REGISTER && op->reg.value == ZYDIS_REGISTER_RSP)
		return refuse(PATCH_EOOL_RSP_TARGET, which, insn, "call rsp", addr, why, why_len);
	memcpy(b, bytes, n);
	b[mo] = (uint8_t)((b[mo] & ~MODRM_REG_MASK) | MODRM_REG_PUSH);
	if (call && op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.base == ZYDIS_REGISTER_RSP) {
		/* After "push E" the operand is 8 bytes further from rsp. */
		size_t at = insn->raw.disp.offset;
		if (insn->raw.disp.size == 0) {         /* [rsp]: becomes [rsp+8], mod 01 + disp8 after the SIB */
			at = insn->raw.sib.offset + 1u;
			memmove(b + at + 1, b + at, n - at);
			b[at] = 8;
			b[mo] |= MODRM_MOD_DISP8;
			n++;
		} else if (insn->raw.disp.size == 8) {
			int v = (int8_t)b[at] + 8;
			if (v > INT8_MAX)
				return refuse(PATCH_EOOL_RSP_TARGET, which, insn, "[rsp+disp8] with disp8 past 119", addr,
					      why, why_len);
			b[at] = (uint8_t)(int8_t)v;
		} else {
			int32_t d;
			memcpy(&d, b + at, sizeof(d));
			if (d > INT32_MAX - 8)
				return refuse(PATCH_EOOL_RSP_TARGET, which, insn, "[rsp+disp32] at the top of its range",
					      addr, why, why_len);
			d += 8;
			memcpy(b + at, &d, sizeof(d));
		}
	}
	if (call)
		push_abs(e, addr + insn->length);       /* the real return address */
	if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.base == ZYDIS_REGISTER_EIP)
		return eip_refusal(which, insn, addr, why, why_len);
	if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.base == ZYDIS_REGISTER_RIP) {
		ZyanU64 t;
		int64_t disp;
		if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, op, addr, &t)))
			return refuse(PATCH_EOOL_RIP_REACH, which, insn, "no operand address", addr, why, why_len);
		if (!relocate_disp(insn, b, n, here(e), t, &disp))
			return reach_refusal(which, insn, addr, t, here(e), disp, why, why_len);
	}
	memcpy(e->out + e->n, b, n);
	e->n += n;
	return jmp_exit(e, exit) ? 0 : -1;
}

/* Anything else: the instruction itself, relocated; then back to E. */
static int plain(struct emit *e, const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
		 const uint8_t *bytes, uintptr_t addr, enum ool_which which, uintptr_t exit, char *why, size_t why_len)
{
	uint8_t b[POKE_MAX_LEN];
	size_t n = insn->length;
	const ZydisDecodedOperand *rip = ops ? rip_operand(insn, ops) : NULL;
	memcpy(b, bytes, n);
	if (rip && rip->mem.base == ZYDIS_REGISTER_EIP)
		return eip_refusal(which, insn, addr, why, why_len);
	if (rip) {
		ZyanU64 t;
		int64_t disp;
		if (insn->raw.disp.size != 32 || !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, rip, addr, &t)))
			return refuse(PATCH_EOOL_RIP_REACH, which, insn, "no operand address", addr, why, why_len);
		if (!relocate_disp(insn, b, n, here(e), t, &disp))
			return reach_refusal(which, insn, addr, t, here(e), disp, why, why_len);
	}
	memcpy(e->out + e->n, b, n);
	e->n += n;
	push_abs(e, addr + n);
	return jmp_exit(e, exit) ? 0 : -1;
}

/* The copy's jmp cannot reach the way out: only the kernel's own layout
 * (or a host test's) could be that far off. */
static int exit_refusal(enum ool_which which, const ZydisDecodedInstruction *insn, uintptr_t addr, uintptr_t slot,
			uintptr_t exit, char *why, size_t why_len)
{
	char what[96];
	snprintf(what, sizeof(what), "the way out %#lx is out of a jmp's reach from %#lx", (unsigned long)exit,
		 (unsigned long)slot);
	return refuse(PATCH_EOOL_RIP_REACH, which, insn, what, addr, why, why_len);
}

/* The forms most batches hold (the int3 strategy's, mov $imm), built
 * without Zydis: decoding costs microseconds a copy under TCG, and the
 * copies of a batch are built while it is published. 0 and the copy in e,
 * -1 (a jmp out of reach), or 1: not one of these, decode it. */
bool ool_fast_forms = true;     /* tests/host/test_ool.c compares both ways */

static int fast_copy(struct emit *e, uintptr_t addr, const uint8_t *b, uint8_t len, uintptr_t exit)
{
	uintptr_t end = addr + len;
	int32_t rel32;
	if (!ool_fast_forms)
		return 1;
	if (len == CALL_INSN_SIZE && (b[0] == CALL_INSN_OPCODE || b[0] == JMP32_INSN_OPCODE)) {
		memcpy(&rel32, b + 1, sizeof(rel32));
		if (b[0] == CALL_INSN_OPCODE)
			push_abs(e, end);       /* the real return address */
		push_abs(e, end + (int64_t)rel32);
	} else if (len == JMP8_INSN_SIZE && b[0] == JMP8_INSN_OPCODE) {
		push_abs(e, end + (int64_t)(int8_t)b[1]);
	} else if ((len == 2 && (b[0] & 0xf0) == 0x70) || (len == 6 && b[0] == 0x0f && (b[1] & 0xf0) == 0x80)) {
		uint64_t t = len == 2 ? end + (int64_t)(int8_t)b[1] : end + (int64_t)(int32_t)(b[2] | b[3] << 8 |
										      b[4] << 16 | (uint32_t)b[5] << 24);
		size_t jcc = e->n;
		put8(e, 0x70 | (b[len == 2 ? 0 : 1] & 0x0f));
		put8(e, 0);
		push_abs(e, end);
		if (!jmp_exit(e, exit))
			return -1;
		e->out[jcc + 1] = (uint8_t)(e->n - (jcc + 2));
		push_abs(e, t);
	} else if (len == RET_INSN_SIZE && b[0] == RET_INSN_OPCODE) {
		/* the way out returns for it */
	} else if (len == 5 && (b[0] & 0xf8) == 0xb8) {                 /* mov r32, imm32 */
		memcpy(e->out + e->n, b, len);
		e->n += len;
		push_abs(e, end);
	} else {
		return 1;
	}
	return jmp_exit(e, exit) ? 0 : -1;
}

int ool_build_copy(uintptr_t addr, const uint8_t *bytes, uint8_t len, enum ool_which which, uintptr_t slot,
		   uintptr_t exit, uint8_t out[OOL_COPY_MAX], char *why, size_t why_len)
{
	ZydisDecoder d;
	ZydisDecoderContext ctx;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	struct emit e = { out, 0, slot };
	int err = fast_copy(&e, addr, bytes, len, exit);

	if (err == 0)
		return (int)e.n;
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, &ctx, bytes, len, &insn)) || insn.length != len)
		return patch_refuse(which == OOL_NEW ? PATCH_ENEW_UNDECODABLE : PATCH_EOLD_LENGTH, why, why_len, addr,
				    which == OOL_NEW ? "new instruction" : "old instruction");
	if (err == -1)
		return exit_refusal(which, &insn, addr, slot, exit, why, why_len);

	switch (insn.mnemonic) {
	case ZYDIS_MNEMONIC_INT: case ZYDIS_MNEMONIC_INT3: case ZYDIS_MNEMONIC_INT1: case ZYDIS_MNEMONIC_INTO:
	case ZYDIS_MNEMONIC_UD0: case ZYDIS_MNEMONIC_UD1: case ZYDIS_MNEMONIC_UD2:
	case ZYDIS_MNEMONIC_SYSCALL: case ZYDIS_MNEMONIC_SYSENTER:
		return refuse(PATCH_EOOL_SAVES_RIP, which, &insn, NULL, addr, why, why_len);
	case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ: case ZYDIS_MNEMONIC_UIRET:
	case ZYDIS_MNEMONIC_SYSRET: case ZYDIS_MNEMONIC_SYSEXIT: case ZYDIS_MNEMONIC_XBEGIN:
		return refuse(PATCH_EOOL_FLOW, which, &insn, NULL, addr, why, why_len);
	case ZYDIS_MNEMONIC_HLT: case ZYDIS_MNEMONIC_MWAIT: case ZYDIS_MNEMONIC_MWAITX: case ZYDIS_MNEMONIC_TPAUSE:
	case ZYDIS_MNEMONIC_UMWAIT:
		return refuse(PATCH_EOOL_WAITS, which, &insn, NULL, addr, why, why_len);
	case ZYDIS_MNEMONIC_STI:
		/* Its interrupt shadow would cover the copy's way back, not the
		 * instruction after the site ("sti; hlt" would lose its wake-up). */
		return refuse(PATCH_EOOL_FLOW, which, &insn, "interrupt shadow", addr, why, why_len);
	case ZYDIS_MNEMONIC_MOV:
		if (insn.opcode == 0x8e && insn.raw.modrm.reg == 2)     /* mov ss, r/m: a shadow too */
			return refuse(PATCH_EOOL_FLOW, which, &insn, "interrupt shadow", addr, why, why_len);
		break;
	case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE: case ZYDIS_MNEMONIC_LOOPNE:
	case ZYDIS_MNEMONIC_JRCXZ: case ZYDIS_MNEMONIC_JECXZ: case ZYDIS_MNEMONIC_JCXZ:
		return refuse(PATCH_EOOL_REL8_ONLY, which, &insn, NULL, addr, why, why_len);
	default:
		break;
	}
	if (insn.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return refuse(PATCH_EOOL_FLOW, which, &insn, "far", addr, why, why_len);

	bool branch = insn.meta.category == ZYDIS_CATEGORY_COND_BR || insn.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
		      insn.meta.category == ZYDIS_CATEGORY_CALL;
	bool with_ops = branch || maybe_rip_relative(&insn);
	if (with_ops && !ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&d, &ctx, &insn, ops, insn.operand_count)))
		return refuse(which == OOL_NEW ? PATCH_ENEW_UNDECODABLE : PATCH_EOLD_LENGTH, which, &insn,
			      "its operands do not decode", addr, why, why_len);
	if (insn.meta.category == ZYDIS_CATEGORY_RET) {
		if (insn.operand_count_visible)
			return refuse(PATCH_EOOL_FLOW, which, &insn, "with an immediate", addr, why, why_len);
		err = jmp_exit(&e, exit) ? 0 : -1;      /* the way out returns for it */
	} else if (branch) {
		if (has_rel_imm(&insn))
			err = relative_branch(&e, &insn, ops, bytes, addr, which, exit, why, why_len);
		else
			err = indirect_branch(&e, &insn, ops, bytes, addr, which, exit, why, why_len);
	} else {
		if (has_rel_imm(&insn))
			return refuse(PATCH_EBRANCH_UNCHECKED, which, &insn, "a relative operand", addr, why, why_len);
		err = plain(&e, &insn, with_ops ? ops : NULL, bytes, addr, which, exit, why, why_len);
	}
	if (err == -1)
		return exit_refusal(which, &insn, addr, slot, exit, why, why_len);
	return err ? err : (int)e.n;
}

int ool_plan(const struct poke_site *sites, uint32_t nr, const struct ool_area *area, uint8_t *image,
	     struct ool_slot *slot, uint32_t *used, char *why, size_t why_len)
{
	size_t cap = area->hi - area->lo, off = 0;
	for (uint32_t i = 0; i < nr; i++) {
		const struct poke_site *s = &sites[i];
		for (int which = OOL_OLD; which <= OOL_NEW; which++) {
			uint8_t copy[OOL_COPY_MAX];
			int n = ool_build_copy(s->addr, which == OOL_NEW ? s->new : s->old, s->len, (enum ool_which)which,
					       area->lo + off, area->exit, copy, why, why_len);
			if (n < 0)
				return n;
			if (off + (size_t)n > cap) {
				char detail[128];
				snprintf(detail, sizeof(detail), "site %u of %u: %zu bytes of copies so far, the area "
					 "holds %zu", i + 1, nr, off, cap);
				return patch_refuse(PATCH_EOOL_SLOTS_FULL, why, why_len, s->addr, detail);
			}
			memcpy(image + off, copy, (size_t)n);
			if (which == OOL_NEW)
				slot[i].new_off = (uint32_t)off;
			else
				slot[i].old_off = (uint32_t)off;
			off += (size_t)n;
		}
	}
	*used = (uint32_t)off;
	return 0;
}
