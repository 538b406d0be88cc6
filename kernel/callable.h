/*
 * kernel/callable.h — kernel functions the console may call by name:
 *
 *   CONSOLE_CALLABLE(fn, nargs);   next to fn's definition (0..3 integer arguments)
 *   xpoke> call fn 21              prints "fn(21) = 42 (0x2a)"
 *
 * Each entry sits in section .console_callable. Only registered functions
 * can be called: the console never jumps to an arbitrary address. The call
 * goes through the function's entry, so a livepatched function runs its
 * replacement (clients/livepatch/: the README's walkthrough calls
 * lp_demo_answer before and after applying a payload). Arguments are
 * passed in rdi, rsi, rdx and the result read from rax, as the SysV ABI
 * does for integer and pointer types; a function returning int has its
 * result printed sign-extended (say so with `signed`).
 */
#ifndef XPOKE_KERNEL_CALLABLE_H
#define XPOKE_KERNEL_CALLABLE_H

#include <stdbool.h>
#include <stdint.h>

struct console_callable {
	const char *name;
	const void *fn;
	uint8_t nargs;
	bool int_result;                /* 32-bit signed result: print sign-extended */
};

#define CONSOLE_CALLABLE_(f, n, i) \
	static const struct console_callable __console_callable_##f \
	__attribute__((used, section(".console_callable"), aligned(8))) = { #f, (const void *)(f), (n), (i) }
#define CONSOLE_CALLABLE(f, n)     CONSOLE_CALLABLE_(f, n, false)
#define CONSOLE_CALLABLE_INT(f, n) CONSOLE_CALLABLE_(f, n, true)

/* The entry named name, or NULL. */
const struct console_callable *console_callable_find(const char *name);

/* Call c with args[0..c->nargs); the result as c says (int: sign-extended). */
int64_t console_callable_call(const struct console_callable *c, const uint64_t *args);

#endif
