/*
 * clients/static_call/static_call.h — static calls: a call whose target is
 * patched into the text instead of loaded from a pointer.
 *
 *   DECLARE_STATIC_CALL(name, fn);         where static_call(name) is used (a header)
 *   DEFINE_STATIC_CALL(name, fn);          once, in a .c: a call of fn's type, first target fn
 *   STATIC_CALL_ALLOW(name, other_fn);     a target the console may set (call-set)
 *   r = static_call(name, args...);        an inline 5-byte "call rel32" (0..3
 *                                          integer or pointer arguments)
 *   static_call_addr(name)                 the trampoline, for callers that need an
 *                                          address: &STATIC_CALL_TRAMP(name)
 *   err = static_call_update(name, fn2);   every site and the trampoline, one batch
 *   static_call_update(name, NULL);        sites become 5-byte NOPs, the trampoline returns
 *   static_call_update_ret0(name);         every call returns 0 (static_call_ret0)
 *
 * Each static_call() site is recorded in section .static_call_sites as
 * {site address, key}. A site calls fn directly from the start (the first
 * target is a link-time constant, __sc_first_<name>); the trampoline is a
 * function of its own holding "jmp rel32" to it. static_call_update()
 * type-checks fn against the call's
 * type at compile time (an assignment to a pointer of the trampoline's
 * type), so a function of another type does not compile.
 *
 * Unlike Linux, which pokes each site with its own three rounds, an update
 * queues all sites of the call and its trampoline in ONE batch of the patch
 * core: as many rendezvous rounds for 64 sites as for 1.
 *
 * Arguments go in rdi, rsi, rdx (the SysV ABI), the result comes back in
 * rax; a site clobbers the caller-saved registers, as a call does. The
 * kernel has no SSE (-mgeneral-regs-only) nor red zone, so no more is needed.
 */
#ifndef XPOKE_CLIENTS_STATIC_CALL_H
#define XPOKE_CLIENTS_STATIC_CALL_H

#include <stdint.h>
#include "patch/patch.h"

struct static_call_key {
	const char *name;
	void *func;             /* the current target; NULL: sites are NOPs */
	void *first;            /* the target it was defined with */
	void *tramp;            /* the trampoline: one "jmp rel32" (padded to 8 bytes with int3) */
};

/* One site: the address of its 5-byte call (or NOP), and its call. */
struct static_call_site {
	uintptr_t addr;
	struct static_call_key *key;
};

/* A target the console may set on a call (besides its first target, NULL
 * and static_call_ret0, which every call allows). */
struct static_call_allow {
	struct static_call_key *key;
	void *fn;
};

extern struct static_call_key __static_call_keys_start[], __static_call_keys_end[];
extern const struct static_call_site __static_call_sites_start[], __static_call_sites_end[];
extern const struct static_call_allow __static_call_allow_start[], __static_call_allow_end[];

/* The "return 0" target, and where a NULL call's trampoline jumps (a ret). */
long static_call_ret0(void);
void static_call_return(void);

#define STATIC_CALL_KEY(name)   __sck_##name
#define STATIC_CALL_TRAMP(name) __sct_##name
#define __SC_STR(x)             #x
#define __SC_XSTR(x)            __SC_STR(x)

/* __sc_first_<name>: the first target, a link-time constant the sites'
 * asm can name ("i"), so that a site calls it directly from the start. */
#define DECLARE_STATIC_CALL(name, fn) \
	extern struct static_call_key STATIC_CALL_KEY(name); \
	extern __typeof__(fn) STATIC_CALL_TRAMP(name); \
	static __typeof__(fn) *const __sc_first_##name __attribute__((unused)) = (fn)

/* The trampoline is "jmp rel32" spelled as bytes (e9 + rel32), so the
 * assembler cannot shorten it to a 2-byte jmp: it must hold any target. */
#define DEFINE_STATIC_CALL(name, fn) \
	extern struct static_call_key STATIC_CALL_KEY(name); \
	extern __typeof__(fn) STATIC_CALL_TRAMP(name); \
	struct static_call_key STATIC_CALL_KEY(name) \
	__attribute__((used, section(".static_call_keys"), aligned(8))) = { \
		#name, (void *)(fn), (void *)(fn), (void *)&STATIC_CALL_TRAMP(name) }; \
	__asm__(".pushsection .text\n\t" \
		".globl " __SC_XSTR(STATIC_CALL_TRAMP(name)) "\n\t" \
		".type " __SC_XSTR(STATIC_CALL_TRAMP(name)) ", @function\n\t" \
		".balign 8\n" \
		__SC_XSTR(STATIC_CALL_TRAMP(name)) ":\n\t" \
		".byte 0xe9\n\t" \
		".long " #fn " - . - 4\n\t" \
		".byte 0xcc, 0xcc, 0xcc\n\t" \
		".size " __SC_XSTR(STATIC_CALL_TRAMP(name)) ", 8\n\t" \
		".popsection")

#define STATIC_CALL_ALLOW(name, fn) \
	_Static_assert(__builtin_types_compatible_p(__typeof__(fn), __typeof__(STATIC_CALL_TRAMP(name))), \
		       #fn " does not have the type of static call " #name); \
	static const struct static_call_allow __sca_##name##_##fn \
	__attribute__((used, section(".static_call_allow"), aligned(8))) = { &STATIC_CALL_KEY(name), (void *)(fn) }

#define static_call_addr(name)  (&STATIC_CALL_TRAMP(name))

/* The site: "1: call first-target", and {1b, key} in .static_call_sites. */
#define __SC_SITE(name, a1, a2, a3) ({ \
	register uint64_t __rax __asm__("rax"); \
	register uint64_t __rdi __asm__("rdi") = (a1); \
	register uint64_t __rsi __asm__("rsi") = (a2); \
	register uint64_t __rdx __asm__("rdx") = (a3); \
	register uint64_t __rcx __asm__("rcx"); \
	register uintptr_t __sp __asm__("rsp"); \
	__asm__ volatile("1:\tcall %P[first]\n\t" \
			 ".pushsection .static_call_sites, \"a\"\n\t" \
			 ".balign 8\n\t" \
			 ".quad 1b, %c[key]\n\t" \
			 ".popsection" \
			 : "=r"(__rax), "+r"(__rdi), "+r"(__rsi), "+r"(__rdx), "=r"(__rcx), "+r"(__sp) \
			 : [first] "i"(__sc_first_##name), [key] "i"(&STATIC_CALL_KEY(name)) \
			 : "r8", "r9", "r10", "r11", "memory", "cc"); \
	__rax; })

/* The call's type checks the arguments and gives the result's type
 * (sizeof: nothing is evaluated twice, nothing called). */
#define __SC_RESULT(name, call, ...) \
	((void)sizeof(STATIC_CALL_TRAMP(name)(__VA_ARGS__)), \
	 (__typeof__(STATIC_CALL_TRAMP(name)(__VA_ARGS__)))(call))

#define __SC_ARG(x)             ((uint64_t)(uintptr_t)(x))
#define __sc_call0(name)        __SC_RESULT(name, __SC_SITE(name, 0, 0, 0))
#define __sc_call1(name, a)     __SC_RESULT(name, __SC_SITE(name, __SC_ARG(a), 0, 0), a)
#define __sc_call2(name, a, b)  __SC_RESULT(name, __SC_SITE(name, __SC_ARG(a), __SC_ARG(b), 0), a, b)
#define __sc_call3(name, a, b, c) \
	__SC_RESULT(name, __SC_SITE(name, __SC_ARG(a), __SC_ARG(b), __SC_ARG(c)), a, b, c)
#define __SC_PICK(_0, _1, _2, _3, n, ...) n
#define static_call(name, ...) \
	__SC_PICK(_0, ##__VA_ARGS__, __sc_call3, __sc_call2, __sc_call1, __sc_call0)(name, ##__VA_ARGS__)

/* What an update did: sites patched (the trampoline not counted), the
 * batch's rendezvous rounds, its time. */
struct static_call_result {
	unsigned sites, rounds;
	uint64_t us;
};

/* Point every site of k and its trampoline at fn (NULL: NOPs at the sites,
 * the trampoline returns) in one batch of strategy s (NULL: the default).
 * 0, or -PATCH_E* (printed unless quiet; nothing written): -PATCH_EBUSY if
 * another update of any call is running, -PATCH_EBATCH_FULL for more than
 * STATIC_CALL_MAX_SITES sites, -PATCH_EOLD_MISMATCH if a site holds none
 * of the call's instructions. res may be NULL. Thread context, IRQs on. */
#define STATIC_CALL_MAX_SITES 255
int static_call_update_key(struct static_call_key *k, void *fn, const struct patch_strategy *s, bool quiet,
			   struct static_call_result *res);

#define static_call_update(name, fn) \
	static_call_update_key(&STATIC_CALL_KEY(name), \
			       (void *)(__typeof__(&STATIC_CALL_TRAMP(name))){ (fn) }, NULL, false, NULL)
#define static_call_update_ret0(name) \
	static_call_update_key(&STATIC_CALL_KEY(name), (void *)static_call_ret0, NULL, false, NULL)

/* Lookups, for the console and the tests. */
struct static_call_key *static_call_find(const char *name);
unsigned static_call_nr_sites(const struct static_call_key *k);
/* Is fn a target the console may set on k (its first target, one of its
 * STATIC_CALL_ALLOW()s, NULL or static_call_ret0)? */
bool static_call_allowed(const struct static_call_key *k, const void *fn);
/* Where the sites of k call now: the target (NULL when they are NOPs). */
void *static_call_current(const struct static_call_key *k);

#endif
