/*
 * patch/poke_types.h — the data the patch core works on, shared by the
 * kernel and the host tests (no kernel headers here).
 *
 * Nomenclature, used throughout patch/:
 *   site     an instruction in kernel .text being replaced: addr, len (1..15)
 *   old/new  the bytes there now / the bytes it is becoming (one instruction each)
 *   emu      how the #BP handler executes the new instruction for a CPU that
 *            hits the site's int3 mid-patch (struct emu_insn)
 *   batch    sites patched together, sorted by address, with one set of
 *            rendezvous rounds for all of them
 *   round    one sync: every other CPU serializes and acknowledges
 */
#ifndef XPOKE_PATCH_POKE_TYPES_H
#define XPOKE_PATCH_POKE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POKE_MAX_LEN        15
#define INT3_INSN_OPCODE    0xcc
#define INT3_INSN_SIZE      1
#define CALL_INSN_OPCODE    0xe8
#define CALL_INSN_SIZE      5
#define JMP32_INSN_OPCODE   0xe9
#define JMP32_INSN_SIZE     5
#define JMP8_INSN_OPCODE    0xeb
#define JMP8_INSN_SIZE      2
#define RET_INSN_OPCODE     0xc3
#define RET_INSN_SIZE       1

/* What the new instruction does to control flow (decoded by the core;
 * the int3 strategy executes it in place of the instruction). */
enum emu_kind {
	EMU_OTHER = 0,          /* none of the below: the strategy decides */
	EMU_NOP,                /* rip = next */
	EMU_JMP,                /* rip = target */
	EMU_CALL,               /* push next; rip = target */
	EMU_JCC,                /* rip = cc(rflags) ? target : next */
	EMU_RET,                /* rip = pop */
};

struct emu_insn {
	uint8_t kind;           /* enum emu_kind */
	uint8_t cc;             /* EMU_JCC: condition code, the low nibble of 7x / 0F 8x */
	uint8_t len;
	uint16_t mnemonic;      /* Zydis' mnemonic of the new instruction */
	uint64_t target;        /* EMU_JMP/CALL/JCC: absolute destination */
};

struct poke_site {
	uintptr_t addr;
	uint8_t len;
	uint8_t old[POKE_MAX_LEN];
	uint8_t new[POKE_MAX_LEN];
	struct emu_insn emu;
	uint8_t insns;          /* instructions in the longer of old and new (1 unless the strategy is multi_insn) */
	/* Multi-instruction sites: a CPU whose RIP is addr may be partway
	 * through the old first instruction (a REP string op, interrupted
	 * between iterations with RCX/RSI/RDI advanced) that the new bytes do
	 * not repeat: it counts as inside (strategies/stop_machine). */
	bool start_inside;
};

#define POKE_WHY_LEN 192

struct patch_strategy;           /* patch/strategy.h (kernel only) */

/* A batch: the caller owns the storage (POKE_BATCH_DEFINE). */
struct poke_batch {
	const struct patch_strategy *strategy;  /* NULL: the default (patch.strategy) */
	struct poke_site *sites;
	uint32_t nr;
	uint32_t cap;
	bool quiet;             /* the caller reports refusals itself: do not print them */
	bool defer_idle;        /* rounds skip CPUs halted in the idle loop (or patch.defer_idle=1) */
	bool recheck;           /* the core's: a batch was in flight while a site was checked */
	uint64_t gen;           /* the core's: batches published when the first site was added */
	char why[POKE_WHY_LEN]; /* the last refusal: address and reason ("" if none) */
};

#define POKE_BATCH_INIT(storage, capacity) { .sites = (storage), .nr = 0, .cap = (capacity) }
#define POKE_BATCH_DEFINE(name, capacity) \
	static struct poke_site name##_storage[capacity]; \
	static struct poke_batch name = POKE_BATCH_INIT(name##_storage, capacity)

/* Error codes of the patch core (returned negated). Each names one reason a
 * request is refused; a refused request changes no byte. */
enum patch_err {
	PATCH_OK = 0,
	PATCH_ELEN_ZERO = 200,          /* length is 0 */
	PATCH_ELEN_TOO_LONG,            /* length exceeds 15 */
	PATCH_EOUTSIDE_TEXT,            /* address outside kernel .text */
	PATCH_ESTRADDLES_TEXT_END,      /* starts in .text, ends past its end */
	PATCH_ENO_SYMBOL,               /* no function contains the address */
	PATCH_EMID_INSN,                /* not at an instruction boundary */
	PATCH_EOLD_MISMATCH,            /* current bytes are not the expected old bytes */
	PATCH_EOLD_LENGTH,              /* old instruction longer than the site */
	PATCH_EOLD_MULTI,               /* old bytes hold more than one instruction */
	PATCH_ENEW_UNDECODABLE,         /* new bytes are not an instruction */
	PATCH_ENEW_LENGTH,              /* new instruction longer than the site */
	PATCH_ENEW_MULTI,               /* new bytes hold more than one instruction */
	PATCH_ENOT_EMULATABLE,          /* #BP cannot emulate the new instruction */
	PATCH_ETARGET_OUTSIDE_TEXT,     /* new call/jmp/jcc leaves kernel .text */
	PATCH_EPROTECTED,               /* site inside the patch path's own code */
	PATCH_EOVERLAP,                 /* overlaps another site of the batch */
	PATCH_EBUSY,                    /* part of a batch being applied now */
	PATCH_EBATCH_FULL,              /* the batch has no room left */
	PATCH_ETARGET_NO_FUNCTION,      /* no function contains the new branch target */
	PATCH_ETARGET_MID_INSN,         /* new branch target is not an instruction boundary */
	PATCH_ECALL_NOT_FUNCTION,       /* new call target is not the start of a function */
	PATCH_ETARGET_IN_SITE,          /* new branch target is inside a site being patched */
	PATCH_ETARGET_PROTECTED,        /* new branch target is in the no-patch region */
	PATCH_EFALLS_OFF_END,           /* new instruction would run past its function's end */
	PATCH_EOLD_INT3,                /* old instruction is an int $3 (CD 03) */
	PATCH_EBRANCH_UNCHECKED,        /* new instruction changes control flow in a way the core cannot check */
	/* The out-of-line strategy (strategies/ool/): what cannot run as an
	 * out-of-line copy followed by a jump back. */
	PATCH_EOOL_RIP_REACH,           /* RIP-relative operand out of reach of the slot area */
	PATCH_EOOL_REL8_ONLY,           /* relative branch with no 32-bit form (loop, jrcxz) */
	PATCH_EOOL_SAVES_RIP,           /* traps or saves its own RIP (int n, int3, ud2, syscall) */
	PATCH_EOOL_FLOW,                /* transfer a copy cannot reproduce (iret, sysret, far, ret imm16) */
	PATCH_EOOL_WAITS,               /* waits for an interrupt (hlt, mwait) holding the batch */
	PATCH_EOOL_RSP_TARGET,          /* indirect call through rsp that the pushed return address moves */
	PATCH_EOOL_SLOTS_FULL,          /* the batch's copies do not fit the slot area */
	PATCH_EFIRST_BYTE_03,           /* new instruction begins with 03, which #BP could take for an int $3's end */
	/* Multi-instruction sites (alternatives, clients/alternative/): only a
	 * strategy with patch_strategy.multi_insn may replace them. */
	PATCH_EMULTI_INSN,              /* old or new bytes are several instructions: a CPU may be inside the sequence */
	PATCH_EMULTI_CALL_NOT_LAST,     /* a call that is not the sequence's last instruction */
	PATCH_EINSIDE_SEQ,              /* a CPU stayed stopped inside a multi-instruction site */
	PATCH_EBRANCH_INTO_SEQ,         /* a branch of the function lands inside a multi-instruction site */
	PATCH_ERR_END
};

const char *patch_errname(int err);     /* "PATCH_EMID_INSN" */
const char *patch_strerror(int err);    /* "not at an instruction boundary" */

#endif
