/*
 * clients/livepatch/payload.h — what a livepatch payload carries: the ABI
 * between a payload's C source and the kernel's loader. A payload source
 * includes this header only (no other kernel header is needed; it may
 * declare any kernel function or variable it uses as extern).
 *
 *   #include "clients/livepatch/payload.h"
 *   LIVEPATCH_NAME("fix_answer");
 *   int lp_demo_answer_v2(void) { return 42; }
 *   LIVEPATCH_FUNC(lp_demo_answer, lp_demo_answer_v2);   // replaces the kernel's lp_demo_answer
 *   static int refuse(void) { return 1; }               // nonzero: veto (the apply is refused)
 *   LIVEPATCH_HOOK(LP_HOOK_PRE_APPLY, refuse);
 *
 * Built by `make payload SRC=fix_answer.c` (scripts/lp-build.py) into
 * build/payloads/fix_answer.lp: an ELF64 relocatable object (gcc -c with the
 * kernel's code model, -mcmodel=kernel), whose .livepatch.funcs entries the
 * build completes with each replaced function's expected first
 * LP_PATCH_LEN bytes, read from the kernel ELF it was built against (Xen's
 * "expectations"). Any `gcc -c` output with these sections loads too; an
 * entry without expectations (expect_set 0) is then applied over whatever
 * the patch core accepts as the function's first instruction.
 *
 * Sections (all SHF_ALLOC; the loader refuses a payload without a name or
 * without a function):
 *   .livepatch.name    the payload's name, a NUL-terminated string (< LP_NAME_MAX)
 *   .livepatch.funcs   struct lp_func_desc[], one per replaced function
 *   .livepatch.hooks   struct lp_hook_desc[], optional
 *
 * Apply writes "jmp rel32" (LP_PATCH_LEN bytes) to the new body at the
 * entry of each replaced function; the loader maps the payload within
 * ±2 GiB of kernel .text, so rel32 always reaches.
 */
#ifndef XPOKE_CLIENTS_LIVEPATCH_PAYLOAD_H
#define XPOKE_CLIENTS_LIVEPATCH_PAYLOAD_H

#include <stdint.h>

#define LP_NAME_MAX     32      /* with the NUL */
#define LP_SYM_MAX      64      /* a replaced function's name, with the NUL */
#define LP_PATCH_LEN    5       /* jmp rel32 */

/* How an entry's expect[] was set. */
#define LP_EXPECT_NONE   0      /* not given: no expectation checked */
#define LP_EXPECT_SOURCE 1      /* written in the source (LIVEPATCH_FUNC_EXPECT) */
#define LP_EXPECT_BUILD  2      /* filled in by scripts/lp-build.py from the kernel ELF */

struct lp_func_desc {
	char old_name[LP_SYM_MAX];      /* the kernel function replaced, by symbol */
	void *new_addr;                 /* its replacement, in this payload */
	uint8_t expect[LP_PATCH_LEN];   /* the old function's first LP_PATCH_LEN bytes */
	uint8_t expect_set;             /* LP_EXPECT_* */
	uint8_t reserved[2];            /* 0 */
};                                      /* 80 bytes; the section is an array of them */

/* Hooks run with the livepatch lock held, in thread context, around the
 * operation's one batch: a hook may not call lp_apply, lp_revert,
 * lp_replace or lp_check_consistency (each returns -LP_EIN_HOOK at once
 * instead of waiting for the lock its own operation holds), nor make
 * another CPU call them and wait for it (that CPU would wait for the lock
 * until its deadline panics). */
enum lp_hook_kind {
	LP_HOOK_PRE_APPLY,              /* int fn(void): nonzero vetoes the apply */
	LP_HOOK_POST_APPLY,             /* void fn(void): after the last round */
	LP_HOOK_PRE_REVERT,             /* int fn(void): nonzero vetoes the revert */
	LP_HOOK_POST_REVERT,            /* void fn(void): after the last round */
	LP_HOOK_KINDS
};

struct lp_hook_desc {
	uint32_t kind;                  /* enum lp_hook_kind; at most one of each kind */
	uint32_t reserved;              /* 0 */
	void *fn;
};

#define LP_CAT_(a, b) a##b
#define LP_CAT(a, b) LP_CAT_(a, b)

#define LIVEPATCH_NAME(str) \
	static const char __lp_name[] __attribute__((section(".livepatch.name"), used)) = str

#define LIVEPATCH_FUNC(old, new_fn) \
	static const struct lp_func_desc LP_CAT(__lp_func_, __COUNTER__) \
	__attribute__((section(".livepatch.funcs"), used, aligned(8))) = { \
		.old_name = #old, .new_addr = (void *)(new_fn), .expect_set = LP_EXPECT_NONE }

/* With the expected first bytes written out (e.g. to pin a prologue). */
#define LIVEPATCH_FUNC_EXPECT(old, new_fn, b0, b1, b2, b3, b4) \
	static const struct lp_func_desc LP_CAT(__lp_func_, __COUNTER__) \
	__attribute__((section(".livepatch.funcs"), used, aligned(8))) = { \
		.old_name = #old, .new_addr = (void *)(new_fn), \
		.expect = { b0, b1, b2, b3, b4 }, .expect_set = LP_EXPECT_SOURCE }

#define LIVEPATCH_HOOK(kind_, fn_) \
	static const struct lp_hook_desc LP_CAT(__lp_hook_, __COUNTER__) \
	__attribute__((section(".livepatch.hooks"), used, aligned(8))) = { .kind = (kind_), .fn = (void *)(fn_) }

#endif
