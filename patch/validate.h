/*
 * patch/validate.h — every patch request is checked with Zydis before any
 * byte is written. Builds for the kernel and for the host (tests/host and
 * tests/fuzz use it on byte arrays).
 *
 * The environment says what "kernel text" is: its bounds, how to read it,
 * which function contains an address, which code is the patch path's own,
 * and which sites a batch in flight owns.
 *
 * The view. Another CPU may be applying a batch in the function being
 * validated: live text then holds int3s and half-written tails, which a
 * decoder walking forward from the function's start would misread. So the
 * validator reads text only through env->read, which shows every site of a
 * live batch with its old bytes. Since each site is exactly one instruction
 * of the same length before and after (checked below), instruction
 * boundaries are the same in every completed state of the text, and the
 * view shows one of them.
 */
#ifndef XPOKE_PATCH_VALIDATE_H
#define XPOKE_PATCH_VALIDATE_H

#include "patch/poke_types.h"

struct patch_env {
	uintptr_t text_start, text_end;
	/* Copy n bytes (n <= 128, [addr, addr+n) inside .text) as the view
	 * shows them: every site of a live batch holds its old bytes. */
	void (*read)(const struct patch_env *env, uintptr_t addr, uint8_t *buf, size_t n);
	/* The function containing addr; false if none. */
	bool (*symbol)(const struct patch_env *env, uintptr_t addr, uintptr_t *start, uint64_t *size,
		       const char **name);
	/* Does [addr, addr+len) touch code the patch path runs? what: its name. */
	bool (*protected_code)(const struct patch_env *env, uintptr_t addr, size_t len, const char **what);
	/* Does [addr, addr+len) touch a site of a batch being applied now? If
	 * so, *site and *site_len say which. */
	bool (*live_site)(const struct patch_env *env, uintptr_t addr, size_t len, uintptr_t *site,
			  uint8_t *site_len);
	/* Debug only (patch.unsafe_targets=1): skip the checks of where a new
	 * branch lands (instruction boundary, function start, sites in flight,
	 * no-patch region), to show what they prevent. */
	bool unchecked_targets;
	void *ctx;
};

/*
 * A strategy's own check of one site, after the core decoded its new
 * instruction into site->emu (EMU_OTHER: not a nop, ret, or relative
 * call/jmp/jcc). 0, or -PATCH_E* with the reason in why (patch_refuse).
 */
typedef int (*patch_site_check_fn)(const struct poke_site *site, char *why, size_t why_len);

/*
 * Check one request: site->addr, len, old and new, as a member of a batch
 * whose other sites are batch[0..nr) (already checked; NULL, 0 for none),
 * for a strategy whose own check is check (NULL: the core's checks only).
 * On success fill site->emu and return 0; otherwise return -PATCH_E* and
 * write the reason (starting with the address) into why. Among the
 * checks: no overlap with the batch, and no new branch landing inside
 * bytes 1..len-1 of a site of the batch or of a batch in flight (a CPU
 * emulated into the middle of a site whose tail is being rewritten would
 * execute a torn instruction: the int3 guards only the first byte).
 */
int patch_validate_site(const struct patch_env *env, patch_site_check_fn check, struct poke_site *site,
			const struct poke_site *batch, uint32_t nr, char *why, size_t why_len);

/*
 * The checks of a whole batch against itself, on its sites sorted by
 * address (each already checked alone by patch_validate_site with no
 * batch): no two overlap, and no new branch lands inside bytes
 * 1..len-1 of a site of the batch (skipped with env->unchecked_targets).
 * O(nr log nr). 0, or -PATCH_EOVERLAP / -PATCH_ETARGET_IN_SITE with the
 * reason, naming both sites, in why.
 */
int patch_validate_batch(const struct patch_env *env, const struct poke_site *sorted, uint32_t nr, char *why,
			 size_t why_len);

/*
 * Decode new bytes at addr as exactly one instruction of len bytes, and
 * say what it does to control flow. 0 and *emu filled (kind EMU_OTHER for
 * anything but a nop, a ret or a relative call/jmp/jcc), or -PATCH_ENEW_*.
 */
int patch_decode_new(uintptr_t addr, const uint8_t *bytes, size_t len, struct emu_insn *emu,
		     char *why, size_t why_len);

/* Refuse: write "ADDR: <reason of err>[ (detail)]" into why (if any) and
 * return -err. */
int patch_refuse(int err, char *why, size_t why_len, uintptr_t addr, const char *detail);

#endif
