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
 * live batch with its old bytes. Since each site is whole instructions of
 * the same length before and after (one instruction, or for a multi_insn
 * strategy a sequence; checked below), the instruction boundaries outside
 * the sites are the same in every completed state of the text, and the
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
	/* Optional (NULL: every target outside .text is refused): is addr,
	 * outside .text, in executable memory a new jmp or call may reach
	 * (patch/exec_regions.h: a livepatch payload's text)? If so, *is_fn_start
	 * says whether it is the start of one of its functions (the only
	 * place accepted) and *name names the region. */
	bool (*foreign_target)(const struct patch_env *env, uintptr_t addr, bool *is_fn_start, const char **name);
	/* Debug only (patch.unsafe_targets=1): skip the checks of where a new
	 * branch lands (instruction boundary, function start, sites in flight,
	 * no-patch region), to show what they prevent. */
	bool unchecked_targets;
	/* Optional (NULL: every walk decodes from the function's start): the
	 * instruction starts of the last function walked, kept per caller.
	 * walk_cache_get returns the caller's cache, or NULL when it is in
	 * use (a nested caller) or there is none; walk_cache_put gives it
	 * back. text_stable says whether no batch is being applied, and the
	 * generation of the text (batches published so far): a cache is used
	 * only when both are the same as when it was filled. */
	struct walk_cache *(*walk_cache_get)(const struct patch_env *env);
	void (*walk_cache_put)(const struct patch_env *env, struct walk_cache *c);
	bool (*text_stable)(const struct patch_env *env, uint64_t *gen);
	void *ctx;
};

/* The instruction starts of one function up to reach (fn + reach is a
 * boundary every start below it was decoded from): a batch of many sites
 * in one function (a static key's 76) walks it once, not once per site and
 * per branch target. Functions longer than WALK_CACHE_BYTES are walked
 * from their start each time. */
#define WALK_CACHE_BYTES 8192
struct walk_cache {
	uint32_t busy;                  /* the environment's: held by a caller */
	uint64_t gen;                   /* text_stable()'s generation at fill */
	uintptr_t fn;                   /* 0: empty */
	uint32_t reach;
	uint64_t starts[WALK_CACHE_BYTES / 64];
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
 * The same for a strategy that may or may not replace multi-instruction
 * sites (patch_strategy.multi_insn): old or new bytes that are several
 * whole instructions are -PATCH_EMULTI_INSN unless multi_ok; with it, a
 * call in the old or the new sequence must be its last instruction
 * (-PATCH_EMULTI_CALL_NOT_LAST), the new sequence may not branch but by a
 * direct call there nor hold a privileged instruction
 * (-PATCH_EBRANCH_UNCHECKED), may not fall through off the function's end
 * where the old did not (-PATCH_EFALLS_OFF_END), no relative branch
 * elsewhere in the function may land inside the site
 * (-PATCH_EBRANCH_INTO_SEQ), and site->insns says how many instructions
 * the longer side has.
 * patch_validate_site() is this with multi_ok false.
 */
int patch_validate_site_multi(const struct patch_env *env, patch_site_check_fn check, bool multi_ok,
			      struct poke_site *site, const struct poke_site *batch, uint32_t nr, char *why,
			      size_t why_len);

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
