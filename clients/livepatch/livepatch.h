/*
 * clients/livepatch/livepatch.h — function livepatching: payloads (ELF
 * relocatable objects built from C, clients/livepatch/payload.h) loaded from
 * Multiboot2 modules, linked into memory that is never writable and
 * executable at once, and applied, reverted and replaced as one batch of
 * the patch core each, with a state per payload and per function (Xen's
 * lesson, seed 004: a revert undoes exactly what the apply did).
 *
 *   load.c      modules → lp_link() each at boot; refusals remembered
 *   elf_link.c  lp_link(): check, lay out, relocate, map (W^X)
 *   lp_mem.c    the payload area: pages mapped RW+NX, then RX or R
 *   apply.c     lp_apply / lp_revert / lp_replace: states, stacking, hooks
 *   console.c   lp list|apply|revert|replace|info
 *
 * Thread context, IRQs on, for everything here (lp_lock serialises).
 */
#ifndef XPOKE_CLIENTS_LIVEPATCH_LIVEPATCH_H
#define XPOKE_CLIENTS_LIVEPATCH_LIVEPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "clients/livepatch/payload.h"

struct patch_strategy;

#define LP_MAX_PAYLOADS 32
#define LP_MAX_FUNCS    128     /* per payload */
#define LP_MAX_REFUSED  32

/* Error codes (returned negated; lp_errname names them, errno_name too). */
enum {
	LP_ENOT_ELF = 1100,     /* not an ELF64 little-endian relocatable object */
	LP_EMACHINE,            /* e_machine is not EM_X86_64 */
	LP_EMALFORMED,          /* a header, section or symbol points outside the image */
	LP_ERELOC_TYPE,         /* a relocation type the loader does not apply */
	LP_ERELOC_RANGE,        /* a relocated value does not fit its field */
	LP_EUNDEF_SYMBOL,       /* undefined symbol, neither the payload's nor the kernel's */
	LP_ENO_NAME,            /* no .livepatch.name, or an empty or too long one */
	LP_ENO_FUNCS,           /* no .livepatch.funcs entry */
	LP_ENO_FUNCTION,        /* a replaced function does not exist in the kernel */
	LP_ENOPATCH,            /* a replaced function is in the no-patch region */
	LP_EFUNC_TOO_SMALL,     /* a replaced function is shorter than LP_PATCH_LEN */
	LP_EBAD_NEW,            /* a new body is not a function of the payload's text */
	LP_EDUP_FUNC,           /* one function replaced twice in one payload */
	LP_EDUP_HOOK,           /* two hooks of one kind, or an unknown kind */
	LP_EDUP_NAME,           /* a payload of that name is loaded already */
	LP_ETOO_MANY,           /* LP_MAX_PAYLOADS or LP_MAX_FUNCS exceeded */
	LP_ENOMEM,              /* the payload area is full */
	LP_EEXPECT,             /* a function's first bytes are not the expected ones */
	LP_EALREADY_APPLIED,    /* apply of an applied payload */
	LP_ENOT_APPLIED,        /* revert of a payload that is not applied */
	LP_ENOT_TOP,            /* revert of a payload that another applied one stacks on */
	LP_EVETO,               /* a pre hook returned nonzero */
	LP_ENO_PAYLOAD,         /* no payload of that name */
	LP_EIN_HOOK,            /* an operation asked for from a hook of another (which holds the lock) */
	LP_EAMBIGUOUS,          /* a replaced function or undefined symbol names several kernel symbols */
	LP_ERR_END
};
const char *lp_errname(int err);        /* "LP_EEXPECT" for -LP_EEXPECT; NULL if not an LP code */

enum lp_payload_state { LP_LOADED, LP_APPLIED, LP_REVERTED };
enum lp_func_state { LP_FUNC_REVERTED, LP_FUNC_APPLIED };  /* REVERTED: also "never applied" */

struct lp_payload;

struct lp_func {
	const char *name;               /* the replaced function (in the payload's R data) */
	uintptr_t old_addr;             /* its entry in kernel .text */
	uint32_t old_size;
	uintptr_t new_addr;             /* the replacement, in the payload's RX text */
	uint8_t expect[LP_PATCH_LEN];
	uint8_t expect_set;             /* LP_EXPECT_* */
	enum lp_func_state state;
	/* Set by apply, used by revert: the bytes at old_addr just before, and
	 * whose version they were (NULL: the kernel's own). */
	uint8_t saved[LP_PATCH_LEN];
	struct lp_payload *under;
};

/* What the link did, for lp info. */
struct lp_link_stats {
	uint32_t pc32, plt32, abs64, abs32s;    /* relocations applied, by type */
	uint32_t to_kernel, to_self;            /* of which against kernel / own symbols */
	uint32_t text_bytes, ro_bytes, data_bytes;
};

typedef int (*lp_pre_hook_fn)(void);
typedef void (*lp_post_hook_fn)(void);

struct lp_payload {
	char name[LP_NAME_MAX];
	char module[64];                /* the Multiboot2 module's string (its file) */
	enum lp_payload_state state;
	uint32_t nfuncs;
	struct lp_func funcs[LP_MAX_FUNCS];
	void *hooks[LP_HOOK_KINDS];     /* NULL: none; pre: lp_pre_hook_fn, post: lp_post_hook_fn */
	struct lp_link_stats link;
	uintptr_t text_start, text_end; /* RX */
	uintptr_t mem_start, mem_end;   /* every page of it */
	uint32_t stack_pos;             /* 1-based place in the applied stack; 0: not applied */
};

/* A module the loader refused, kept so lp list and the tests can say why. */
struct lp_refusal {
	char module[64];
	int err;                        /* -LP_E* */
	char why[192];
};

/* --- the loader (load.c, elf_link.c) --- */

/* Link the ELF image [img, img+len) as a payload into *p (zeroed first).
 * Every check is made before anything is mapped: on any error nothing is
 * left (no page mapped, no text registered) and why says what and where.
 * Thread context. */
int lp_link(const char *module, const void *img, size_t len, struct lp_payload *p, char *why, size_t why_len);

/* Boot: link every Multiboot2 module as a payload (after patch_init). */
void lp_load_modules(void);

/* The payloads loaded (in load order), and the refused modules. */
unsigned lp_count(void);
struct lp_payload *lp_at(unsigned i);
struct lp_payload *lp_find(const char *name);
unsigned lp_refusal_count(void);
const struct lp_refusal *lp_refusal_at(unsigned i);

/* --- apply, revert, replace (apply.c) --- */

/* What one operation did, for the console's result line. */
struct lp_result {
	uint32_t funcs;                 /* sites written */
	uint32_t rounds;                /* rendezvous rounds of the batch; 0 (and strategy the one
					 * asked for) when another client's batch completed around
					 * it, so its figures could not be told from ours */
	const struct patch_strategy *strategy;
	uint64_t ns;                    /* the whole operation, hooks included */
};

/* s: NULL for the default strategy. Each is all or nothing: on error no
 * byte of text and no state changed, and why names the payload, the
 * function and the reason. */
int lp_apply(struct lp_payload *p, const struct patch_strategy *s, struct lp_result *r, char *why, size_t why_len);
int lp_revert(struct lp_payload *p, const struct patch_strategy *s, struct lp_result *r, char *why, size_t why_len);
/* Revert every applied payload and apply p, in one batch. */
int lp_replace(struct lp_payload *p, const struct patch_strategy *s, struct lp_result *r, char *why, size_t why_len);

/* Walk every payload's functions and check that each state matches the
 * bytes in the text (the topmost applied version of each function is the
 * jmp written, a function no applied payload replaces holds no payload's
 * jmp). 0, or -LP_EEXPECT with why naming the first mismatch. */
int lp_check_consistency(char *why, size_t why_len);

const char *lp_state_name(enum lp_payload_state s);
const char *lp_func_state_name(enum lp_func_state s);

#endif
