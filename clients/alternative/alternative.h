/*
 * clients/alternative/alternative.h — CPU-feature alternatives: an
 * instruction sequence compiled inline, replaced at boot (and at run time,
 * from the console) by another one when the CPU has a feature.
 *
 *   asm volatile(ALTERNATIVE("lfence; rdtsc", "rdtscp", ALT_F_RDTSCP) : ...);
 *
 * emits, as Linux's alternatives do:
 *   .text                   the old sequence, NOP-padded to the longer of
 *                           the two (the pad is one multi-byte NOP, .nops)
 *   .altinstr_replacement   the new sequence: linked into .rodata, never
 *                           executed where it lies, only copied
 *   .altinstructions        struct alt_entry {orig, repl, feature,
 *                           orig_len, repl_len, pad_len}, relative
 * A site is orig_len + pad_len bytes (at most 15). The replacement is
 * moved to the site at boot (disasm_relocate_seq: RIP-relative operands
 * and a last direct call adjusted); it must not hold any other relative
 * branch, and may call only as its last instruction (a return address
 * must not point into a sequence): the boot refuses, by panic, naming the
 * site. Both variants of each site are then checked as the run-time path
 * checks them (patch_validate_site_multi, with stop-machine-nmi's rules).
 *
 * Boot (alt_apply_boot, before the APs start): every site whose feature
 * the CPU has (CPUID, features.c) and that is not masked gets the new
 * sequence + NOPs, written in an NMI of the boot CPU (apply_nmi.c). Run
 * time: alt_mask(f, true|false) rewrites every site of f in one batch of
 * a strategy with patch_strategy.multi_insn (stop-machine-nmi) or, for
 * single-instruction sites, any.
 */
#ifndef XPOKE_CLIENTS_ALTERNATIVE_H
#define XPOKE_CLIENTS_ALTERNATIVE_H

#include <stdbool.h>
#include <stdint.h>
#include "patch/patch.h"

/* Features (numbers, so that ALTERNATIVE can put them in its entry). */
#define ALT_F_POPCNT    0
#define ALT_F_RDTSCP    1
#define ALT_F_ERMS      2
#define ALT_F_SSE4_2    3
#define ALT_F_LZCNT     4
#define ALT_F_AVX2      5
#define ALT_F_AVX512F   6               /* not in QEMU's TCG: an absent one */
#define ALT_NR_FEATURES 7

#define ALT_MAX_SITES   64

/* One site, in .altinstructions (16 bytes; offsets from the field). */
struct alt_entry {
	int32_t orig;           /* the site (old sequence, then pad) */
	int32_t repl;           /* the new sequence, in .altinstr_replacement */
	uint16_t feature;       /* ALT_F_* */
	uint8_t orig_len;       /* old sequence */
	uint8_t repl_len;       /* new sequence */
	uint8_t pad_len;        /* NOPs after the old sequence: site = orig_len + pad_len */
	uint8_t reserved[3];
};
_Static_assert(sizeof(struct alt_entry) == 16, "alt_entry: .altinstructions entries are 16 bytes");

extern const struct alt_entry __alt_instructions_start[], __alt_instructions_end[];   /* linker.ld */

#define ALT_STR_(x) #x
#define ALT_STR(x)  ALT_STR_(x)

/* The pad: max(0, repl - orig) bytes. (GAS: a true comparison is -1.) */
#define ALT_PAD_LEN "(-(((774b-773b)-(772b-771b)) > 0) * ((774b-773b)-(772b-771b)))"

#define ALTERNATIVE(oldinstr, newinstr, feature) \
	".pushsection .altinstr_replacement, \"a\"\n" \
	"773:\n\t" newinstr "\n" \
	"774:\n" \
	".popsection\n" \
	"771:\n\t" oldinstr "\n" \
	"772:\n\t" \
	".nops " ALT_PAD_LEN "\n" \
	"775:\n" \
	".pushsection .altinstructions, \"a\"\n\t" \
	".balign 4\n\t" \
	".long 771b - .\n\t" \
	".long 773b - .\n\t" \
	".word " ALT_STR(feature) "\n\t" \
	".byte 772b - 771b\n\t" \
	".byte 774b - 773b\n\t" \
	".byte 775b - 772b\n\t" \
	".byte 0, 0, 0\n" \
	".popsection\n"

static inline uintptr_t alt_site(const struct alt_entry *e) { return (uintptr_t)&e->orig + e->orig; }
static inline uintptr_t alt_repl(const struct alt_entry *e) { return (uintptr_t)&e->repl + e->repl; }
static inline unsigned alt_len(const struct alt_entry *e) { return e->orig_len + e->pad_len; }
static inline unsigned alt_nr_sites(void) { return (unsigned)(__alt_instructions_end - __alt_instructions_start); }

/* features.c: the feature table, read from CPUID once (alt_features_detect). */
struct alt_feature {
	const char *name;
	uint32_t leaf, subleaf;
	uint8_t reg;            /* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint8_t bit;
	bool present;           /* CPUID says so */
	bool masked;            /* alt mask: treated as absent */
};
extern struct alt_feature alt_features[ALT_NR_FEATURES];
void alt_features_detect(void);
int alt_feature_find(const char *name);         /* ALT_F_*, or -1 */
unsigned alt_feature_sites(unsigned f);
/* Does the site run the new sequence now (feature present, not masked)? */
static inline bool alt_feature_on(unsigned f) { return alt_features[f].present && !alt_features[f].masked; }

/* site_bytes.c: the bytes a site holds with the old sequence (as built,
 * saved at boot: alt_save_variants) or with the new one (the replacement
 * relocated to the site at boot, then NOPs to the site's length). Thread
 * context. */
void alt_save_variants(void);
void alt_bytes(const struct alt_entry *e, bool new, uint8_t *out);

/* apply_boot.c: boot, the BSP alone, after patch_init and before
 * smp_boot: every site to its variant, in an NMI of the boot CPU. Panics
 * if that NMI does not come. */
void alt_apply_boot(void);

/* What the boot application did (the tests check it). */
struct alt_boot_record {
	uint32_t sites, written;        /* sites, and how many needed new bytes */
	uint32_t ran_in_nmi;            /* the NMI applier ran (and how many times: 1) */
	uint32_t nmi_depth;             /* this_cpu()->nmi_depth it saw */
	uint32_t cpu;                   /* the CPU it ran on */
	uint32_t cpus_online;           /* nr_cpus_online then: 1, the APs not started */
};
extern struct alt_boot_record alt_boot;

/* The plan alt_apply_boot hands its NMI: the sites to write, sorted. */
struct alt_plan {
	uint32_t armed;                 /* set by the thread, cleared by the NMI */
	uint32_t n;
	uintptr_t addr[ALT_MAX_SITES];
	uint8_t len[ALT_MAX_SITES];
	uint8_t bytes[ALT_MAX_SITES][POKE_MAX_LEN];
};
extern struct alt_plan alt_plan;

/* apply_nmi.c: NMI context (arch/x86/nmi.c, reason NMI_ALT): write the
 * plan alt_apply_boot prepared. No lock, no print, nothing patchable. */
void alt_apply_nmi(void);

/* repatch.c: run time. Mask (or unmask) feature f: every site of f to the
 * variant it implies, ONE batch of strategy s (NULL: stop-machine-nmi).
 * 0, or -PATCH_E* (printed unless quiet; nothing written, f unchanged);
 * -PATCH_EBUSY if another alt_mask runs. Unmasking a feature the CPU
 * lacks is -ENODEV (kernel/errno.h; nothing written). Thread context,
 * IRQs on. */
struct alt_result {
	unsigned sites, rounds;
	uint64_t us;
	const struct patch_strategy *strategy;
	char why[POKE_WHY_LEN + 64];    /* a refusal: code, strategy, the batch's why */
};
int alt_mask(unsigned f, bool mask, const struct patch_strategy *s, bool quiet, struct alt_result *res);

#endif
