/*
 * strategies/ool/ool_reloc.h — out-of-line copies of one instruction, for
 * the out-of-line strategy (strategies/ool/ool.c). Host-buildable (no
 * kernel headers): tests/host/test_ool.c runs it on Debian's libZydis.
 *
 * A copy runs in the slot area instead of the site, then leaves through
 * the area's way out (ool_slots.asm: ool_exit drops the CPU's pin on the
 * batch and returns to the address on top of the stack). E is the site's
 * end (addr + len), T a branch target, X the way out:
 *
 *   the site holds                  its copy
 *   --------------                  --------
 *   anything else (mov, cmp, lea,   the same bytes, a RIP-relative
 *   a RIP-relative load, nop ...)   displacement rewritten for the slot's
 *                                   address; push E; jmp X
 *   jmp rel8/rel32 T                push T; jmp X
 *   jcc rel8/rel32 T                jcc rel8 taken; push E; jmp X;
 *                                   taken: push T; jmp X
 *   call rel32 T                    push E; push T; jmp X
 *   call r/m64 (indirect)           push E; push r/m64 (the same operand: a
 *                                   RIP-relative one relocated, an rsp-based
 *                                   one 8 further, past the pushed E); jmp X
 *   jmp r/m64 (indirect)            push r/m64; jmp X
 *   ret                             jmp X (X's ret pops the return address)
 *
 * "push v" is push imm32, plus mov dword [rsp+4], hi when v is not the
 * sign extension of its low half (never, for kernel addresses); neither
 * it nor jmp touches RFLAGS, and X restores them around its locked
 * subtraction, so a copy leaves the flags as the instruction set them. A
 * call's return address is the site's end, not the slot's: the callee may
 * run for as long as it likes, and return, after the slot is reused.
 *
 * Refused (each with its own PATCH_EOOL_* code, naming the address and
 * whether the old or the new instruction is at fault): a RIP-relative
 * operand the slot area cannot reach with 32 bits; loop, loope, loopne,
 * jrcxz (rel8 only); what traps or saves its own RIP (int n, int3, int1,
 * into, ud0/1/2, syscall, sysenter); what a copy cannot end with a jump
 * back (iret, sysret, sysexit, uiret, xbegin, far call/jmp/ret, ret imm16,
 * an indirect branch with a 66, F2, F3 or F0 prefix, which push r/m would
 * read its own way); hlt, mwait, mwaitx, tpause, umwait (a CPU
 * would sit halted in its slot, holding the batch); call rsp, and an
 * rsp-based indirect call whose displacement cannot absorb the +8; and a
 * relative branch with prefixes (PATCH_EBRANCH_UNCHECKED: the core checks
 * the targets of the unprefixed forms only).
 */
#ifndef XPOKE_STRATEGIES_OOL_OOL_RELOC_H
#define XPOKE_STRATEGIES_OOL_OOL_RELOC_H

#include "patch/validate.h"

#define OOL_AREA_SIZE (32 * 1024)       /* the slot area (ool_slots.asm), whole pages */
#define OOL_COPY_MAX  48                /* room for the longest copy (a jcc: 2 + 13 + 5 + 13 + 5 bytes) */

/* Where copies run: the slot area [lo, hi) and its way out (exit). */
struct ool_area {
	uintptr_t lo, hi, exit;
};

/* The kernel's (strategies/ool/ool.c), or a host test's own. The site
 * check reads it: copies must work anywhere in [lo, hi). */
extern struct ool_area ool_area;

/* Which instruction of a site a copy is of. */
enum ool_which { OOL_OLD, OOL_NEW };

/* Where site i's copies are in the area (offsets from lo). */
struct ool_slot {
	uint32_t old_off, new_off;
};

/*
 * The copy of the instruction bytes[0..len) of the site at addr (len: the
 * site's length), to run at slot and leave through exit: its length
 * (<= OOL_COPY_MAX), out filled; or -PATCH_E* with the reason in why.
 * Calls Zydis (thread context in the kernel).
 */
int ool_build_copy(uintptr_t addr, const uint8_t *bytes, uint8_t len, enum ool_which which, uintptr_t slot,
		   uintptr_t exit, uint8_t out[OOL_COPY_MAX], char *why, size_t why_len);

/* Build the copies of unprefixed call/jmp/jcc rel, ret and mov r32, imm32
 * without Zydis (true: the default); the host tests check both ways give
 * the same bytes. */
extern bool ool_fast_forms;

/*
 * Lay out every copy of a batch (sites[0..nr), the order the #BP handler
 * indexes): site i's old copy at slot[i].old_off and its new one at
 * slot[i].new_off, into image[0..*used) (image: area->hi - area->lo
 * bytes). 0, or -PATCH_E* with why (-PATCH_EOOL_SLOTS_FULL if the copies
 * do not fit).
 */
int ool_plan(const struct poke_site *sites, uint32_t nr, const struct ool_area *area, uint8_t *image,
	     struct ool_slot *slot, uint32_t *used, char *why, size_t why_len);

/* The strategy's check of a site (patch/strategy.h): both its old and its
 * new instruction must run out of line anywhere in ool_area, and the new
 * first byte must not be 03. */
int ool_check_site(const struct poke_site *site, char *why, size_t why_len);

#endif
