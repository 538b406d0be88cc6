/*
 * clients/alternative/site_bytes.c — the two variants of a site's bytes:
 * the old sequence as built (with the assembler's pad), saved before the
 * boot application first writes any site, and the new one (the
 * replacement moved from .altinstr_replacement to the site, then the
 * fewest NOPs that fill the site: each pad is one or two instructions, not
 * a run of 0x90s).
 */
#include "kernel/panic.h"
#include "kernel/string.h"
#include "clients/alternative/alternative.h"

static uint8_t originals[ALT_MAX_SITES][POKE_MAX_LEN];
static uint8_t replacements[ALT_MAX_SITES][POKE_MAX_LEN];     /* relocated to the site */

/* Boot, thread context, before any site is written; panics naming the
 * site on one the client cannot patch (too many, too long, a replacement
 * that cannot run at the site: disasm_relocate_seq). A panic, not a
 * skipped site: the table is built into this kernel, so a bad entry is a
 * build bug, and skipping it would leave a site whose run-time mask or
 * unmask writes the same unchecked bytes. */
void alt_save_variants(void)
{
	char why[128];
	if (alt_nr_sites() > ALT_MAX_SITES)
		panic("alternatives: %u sites, at most %u (ALT_MAX_SITES)", alt_nr_sites(), ALT_MAX_SITES);
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++) {
		unsigned i = (unsigned)(e - __alt_instructions_start);
		if (alt_len(e) > POKE_MAX_LEN || e->repl_len > alt_len(e) || e->feature >= ALT_NR_FEATURES)
			panic("alternatives: site %#lx: %u + %u bytes, replacement %u, feature %u: not patchable",
			      alt_site(e), e->orig_len, e->pad_len, e->repl_len, e->feature);
		memcpy(originals[i], (const void *)alt_site(e), alt_len(e));
		memcpy(replacements[i], (const void *)alt_repl(e), e->repl_len);
		if (disasm_relocate_seq(replacements[i], e->repl_len, alt_repl(e), alt_site(e), why, sizeof(why)))
			panic("alternatives: site %#lx: its replacement (at %#lx, %u bytes) cannot run there: %s",
			      alt_site(e), alt_repl(e), e->repl_len, why);
	}
}

void alt_bytes(const struct alt_entry *e, bool new, uint8_t *out)
{
	unsigned len = alt_len(e);
	if (!new) {
		memcpy(out, originals[e - __alt_instructions_start], len);
		return;
	}
	memcpy(out, replacements[e - __alt_instructions_start], e->repl_len);
	for (unsigned at = e->repl_len; at < len;) {      /* NOPs of 8 bytes at most (the host's CRC check) */
		unsigned n = len - at > 8 ? 8 : len - at;
		insn_nop(n, out + at);
		at += n;
	}
}
