/*
 * patch/validate.h — every patch request is checked with Zydis before any
 * byte is written. Builds for the kernel and for the host (tests/host use
 * Debian's libzydis on byte arrays).
 *
 * The environment says what "kernel text" is: its bounds, how to read it,
 * which function contains an address, which code is the patch path's own,
 * and which sites a batch in flight owns.
 */
#ifndef XPOKE_PATCH_VALIDATE_H
#define XPOKE_PATCH_VALIDATE_H

#include "patch/poke_types.h"

struct patch_env {
	uintptr_t text_start, text_end;
	/* Pointer to the current bytes of text at addr (text_start <= addr < text_end). */
	const uint8_t *(*text_ptr)(const struct patch_env *env, uintptr_t addr);
	/* The function containing addr; false if none. */
	bool (*symbol)(const struct patch_env *env, uintptr_t addr, uintptr_t *start, uint64_t *size,
		       const char **name);
	/* Does [addr, addr+len) touch code the patch path runs? what: its name. */
	bool (*protected_code)(const struct patch_env *env, uintptr_t addr, size_t len, const char **what);
	/* Does [addr, addr+len) touch a site of a batch being applied now? */
	bool (*busy)(const struct patch_env *env, uintptr_t addr, size_t len);
	void *ctx;
};

/*
 * Check one request: site->addr, len, old and new. On success fill
 * site->emu and return 0; otherwise return -PATCH_E* and write the reason
 * (naming the address) into why.
 */
int patch_validate_site(const struct patch_env *env, struct poke_site *site, char *why, size_t why_len);

/*
 * Decode new bytes at addr as exactly one instruction of len bytes that the
 * #BP handler can emulate. 0 and *emu filled, or -PATCH_ENEW_* / -PATCH_ENOT_EMULATABLE.
 */
int patch_decode_emulation(uintptr_t addr, const uint8_t *bytes, size_t len, struct emu_insn *emu,
			   char *why, size_t why_len);

#endif
