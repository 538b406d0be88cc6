/*
 * kernel/callable.c — the console's `call` command (kernel/callable.h).
 * Thread context, on the shell's CPU.
 */
#include "kernel/callable.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"

extern const struct console_callable __console_callable_start[], __console_callable_end[];  /* linker.ld */

const struct console_callable *console_callable_find(const char *name)
{
	for (const struct console_callable *c = __console_callable_start; c < __console_callable_end; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

int64_t console_callable_call(const struct console_callable *c, const uint64_t *args)
{
	uint64_t a[3] = { 0, 0, 0 };
	for (unsigned i = 0; i < c->nargs && i < 3; i++)
		a[i] = args[i];
	/* Through a pointer of the widest type: extra arguments land in
	 * registers the callee does not read (SysV). */
	uint64_t (*fn)(uint64_t, uint64_t, uint64_t) = (uint64_t (*)(uint64_t, uint64_t, uint64_t))(uintptr_t)c->fn;
	uint64_t r = fn(a[0], a[1], a[2]);
	return c->int_result ? (int64_t)(int32_t)r : (int64_t)r;
}

static int cmd_call(int argc, char **argv)
{
	if (argc < 2) {
		printk("call: usage: call FUNCTION [ARG...]; callable functions:");
		for (const struct console_callable *c = __console_callable_start; c < __console_callable_end; c++)
			printk("  %s (%u argument%s)", c->name, c->nargs, c->nargs == 1 ? "" : "s");
		return -EREPORTED;
	}
	const struct console_callable *c = console_callable_find(argv[1]);
	if (!c) {
		printk("call: bad input: %s is not a callable function (call with no argument lists them)", argv[1]);
		return -EREPORTED;
	}
	if (argc - 2 != c->nargs) {
		printk("call: bad input: %s takes %u argument%s, got %d", c->name, c->nargs, c->nargs == 1 ? "" : "s",
		       argc - 2);
		return -EREPORTED;
	}
	uint64_t args[3];
	char shown[96] = "";
	size_t at = 0;
	for (int i = 0; i < c->nargs; i++) {
		const char *s = argv[2 + i];
		bool neg = s[0] == '-';
		if (!parse_u64(s + neg, &args[i])) {
			printk("call: bad input: argument %d, '%s', is not a number", i + 1, s);
			return -EREPORTED;
		}
		if (neg)
			args[i] = -args[i];
		at += (size_t)snprintf(shown + at, sizeof(shown) - at, "%s%s", i ? ", " : "", s);
		if (at >= sizeof(shown))
			at = sizeof(shown) - 1;
	}
	int64_t r = console_callable_call(c, args);
	printk("%s(%s) = %ld (%#lx)", c->name, shown, r, (uint64_t)r);
	return 0;
}
SHELL_CMD("call", "FUNCTION [ARG...]", "call a registered kernel function (no argument: the list)", cmd_call);
